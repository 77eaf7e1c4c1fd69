"""The TensorBoard address that opens a sweep at its answer: each setting's runs in one colour (the
seeds of a setting share it), no smoothing, and the ranked metric's curves with what explains them
pinned at the top of the Time Series tab. TensorBoard 2.21 reads these from the address's query:
`runColorGroup=regex:<re>` gives the runs whose names' capture groups match the same colour,
`smoothing`, and `pinnedCards` (a JSON list of scalar tags). Torch-free."""

from __future__ import annotations

import json
import re
import urllib.parse

from cluster_logreg.config.resolvers import job_name
from cluster_logreg.core.metrics import (
    ACC_TRUE,
    ANGLE_TO_BAYES,
    CURVES,
    EXCESS_ERROR,
    EXCESS_ERROR_LOG10,
    LOSS_VAL,
    OFFSET_TO_BAYES,
)
from cluster_logreg.sweeps.settings_table import is_repeat_key

ADDRESS = "http://127.0.0.1:6006/"  # `tensorboard --logdir ...`'s, with the README's --host 127.0.0.1
# The ranked metric in the form that separates runs on a linear axis, and its decomposition.
PINNED = {
    ACC_TRUE: (EXCESS_ERROR_LOG10, ANGLE_TO_BAYES, OFFSET_TO_BAYES),
    EXCESS_ERROR: (EXCESS_ERROR_LOG10, ANGLE_TO_BAYES, OFFSET_TO_BAYES),
}


def colour_regex(swept: list[str]) -> str:
    """A regex on the runs' names whose capture groups are the run's job name without its seed:
    `003_lr=0.1,seed=0` (or `<sweep>/003_lr=0.1,seed=0` under a wider --logdir) -> (`lr=0.1`, ``), what
    tells settings apart."""
    job = r"(?:^|/)\d+_"  # hydra.sweep.subdir: the job's number, then its name
    repeats = [key for key in swept if is_repeat_key(key)]
    if not repeats:
        return rf"{job}([^/]*)$"  # no seeds: each run its own setting
    # The seed's key as the job's name shortens it, among the other swept keys (each in the name: a
    # preset left out of it names the whole sweep, the same in every job, so it is not swept).
    named = job_name([f"{key}=" for key in swept], left_out=()).split(",")
    seed = re.escape(named[swept.index(repeats[0])].removesuffix("="))
    return rf"{job}(?:([^/]*?),)?{seed}=[^,/]*([^/]*)$"  # within the last part of the name


def tensorboard_address(swept: list[str], ranked_by: str) -> str:
    """The address for a sweep that varied `swept` (dotted keys) and is ranked by `ranked_by`."""
    pinned = PINNED.get(ranked_by) or tuple(dict.fromkeys(m for m in (ranked_by, LOSS_VAL) if m in CURVES))
    query = {
        "runColorGroup": f"regex:{colour_regex(swept)}",
        "smoothing": "0",
        "pinnedCards": json.dumps([{"plugin": "scalars", "tag": tag} for tag in pinned], separators=(",", ":")),
    }
    return f"{ADDRESS}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}#timeseries"
