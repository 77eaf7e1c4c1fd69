"""summary.md's verdict on the best setting against the runner-up, on real sweeps through the command line:
"beyond seed noise" only at one-sided p < 0.05 of the exact Wilcoxon signed-rank test over the seeds,
the gap always shown, and how many seeds it takes where there are too few."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from cluster_logreg.core.metrics import ACC_TRUE, EXCESS_ERROR
from cluster_logreg.sweeps.summary_table import job_dirs
from helpers import read_metrics, run_entry

pytestmark = [pytest.mark.cli, pytest.mark.slow]

GAP = "the gap (best minus runner-up, median and range over those seeds)"
NUMBER = r"[+-]?[0-9.e+-]+"


def verdict_of(sweep_dir: Path, *overrides: str) -> str:
    """The first line of summary.md after `python src/train.py -m hydra/launcher=stacked <overrides>`."""
    result = run_entry("train", "-m", "hydra/launcher=stacked", *overrides, f"hydra.sweep.dir={sweep_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return (sweep_dir / "summary.md").read_text().splitlines()[0]


def by_setting_and_seed(sweep_dir: Path, metric: str) -> dict[str, dict[str, float]]:
    """Each job's `metric` from its own metrics.json, by its learning rate (and momentum) and then its seed."""
    values: dict[str, dict[str, float]] = {}
    for job in job_dirs(sweep_dir):
        setting, seed = job.name.split("_", 1)[1].rsplit(",seed=", 1)
        values.setdefault(setting, {})[seed] = read_metrics(job)[metric]
    return values


def test_a_three_seed_lead_of_a_few_millionths_is_not_called_beyond_seed_noise(tmp_path):
    # The sweep: two settings of the same effective step lr / (1 - momentum), 3e-6 apart in median.
    overrides = ("model.optimizer.lr=0.01,0.1,1.0", "model.optimizer.momentum=0,0.9", "seed=0,1,2")
    verdict = verdict_of(tmp_path, *overrides)
    assert "beyond seed noise" not in verdict
    best, runner_up = (
        "model.optimizer.lr=1.0 model.optimizer.momentum=0",
        "model.optimizer.lr=0.1 model.optimizer.momentum=0.9",
    )
    gap = rf"({NUMBER}) \(({NUMBER})\.\.({NUMBER})\)"
    pattern = (
        rf"Best setting by acc/true \(median of 3 seeds\): {best}, ahead of {runner_up} in 3 of 3 shared seeds;"
        rf" {re.escape(GAP)}: acc/true {gap}, acc/excess_error {gap}, where the runner-up's median is ({NUMBER});"
        r" one-sided exact Wilcoxon signed-rank p = 0\.125, not < 0\.05: too few seeds to tell \(3 seeds can never"
        r" reach it; run at least 5\)"
    )
    match = re.fullmatch(pattern, verdict)
    assert match, verdict
    # The gap it shows is the median and range of the paired differences in the jobs' own metrics.
    accs, excess = by_setting_and_seed(tmp_path, ACC_TRUE), by_setting_and_seed(tmp_path, EXCESS_ERROR)
    ours, theirs = "lr=1.0,momentum=0", "lr=0.1,momentum=0.9"
    differences = [accs[ours][seed] - accs[theirs][seed] for seed in "012"]
    shown = [float(x) for x in match.groups()]
    expected = [statistics.median(differences), min(differences), max(differences)]
    assert shown[:3] == pytest.approx(expected, rel=0.05)
    assert shown[3:6] == pytest.approx([-expected[0], -expected[2], -expected[1]], rel=0.05)  # excess = Bayes - acc
    assert shown[6] == pytest.approx(statistics.median(excess[theirs].values()), rel=0.05)
    assert 0 < expected[0] < 1e-4  # a lead, and a tiny one


def test_a_real_gap_over_five_seeds_is_called_beyond_seed_noise(tmp_path):
    verdict = verdict_of(tmp_path, "model.optimizer.lr=0.01,0.1", "seed=0,1,2,3,4")
    assert verdict.startswith(
        "Best setting by acc/true (median of 5 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=0.01"
        f" in 5 of 5 shared seeds; {GAP}: acc/true +"
    )
    assert verdict.endswith("; one-sided exact Wilcoxon signed-rank p = 0.0312 < 0.05: beyond seed noise")
    # The gap is real: in every seed lr=0.1 is at most 2/3 as far below the Bayes-optimal accuracy as lr=0.01.
    excess = by_setting_and_seed(tmp_path, EXCESS_ERROR)
    assert all(excess["lr=0.1"][seed] < 2 / 3 * excess["lr=0.01"][seed] for seed in "01234"), excess
