"""The columns of TensorBoard's HParams tab on a sweep: the settings it varied first, under their
command-line names, then the constant ones; the metric it is ranked by first, then what explains
the ranking and separates runs, then the splits. Written as the sweep ends (the summary callback),
as an experiment record in the sweep directory's `hparams_columns/`. Torch-free.

TensorBoard takes the columns from one experiment record, and where its logdir holds several (say
`outputs/train/multiruns`, a record per sweep) from any one of them. So each record has a column
for every setting and metric of all the sweeps beside it (`hydra.sweep.dir`'s parent; each sweep's
own kept in `hparams_columns/columns.json`, and the records of the others written again when a sweep adds
one): on several sweeps every one has its columns, whichever record TensorBoard reads, but the
settings ticked first are those that sweep's record varied. A running TensorBoard keeps the record
it read first: started again, it reads the new one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event  # type: ignore[import-untyped]
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # type: ignore[import-untyped]

from cluster_logreg.core.files import read_json, write_json
from cluster_logreg.core.hparams_records import experiment, settings_of_session
from cluster_logreg.core.metrics import CURVES, HPARAMS_METRICS, TRAIN

# In the sweep directory: a run of its own for TensorBoard (named so in its list of runs), holding
# the experiment record and the sweep's own columns (its settings' values, its metrics).
RECORD_DIR, COLUMNS_FILE = "hparams_columns", "columns.json"

log = logging.getLogger(__name__)


def write_hparams_columns(sweep_dir: Path, jobs: list[Path], rows: list[dict[str, Any]], ranked_by: list[str]) -> None:
    """Keep this sweep's columns (its `jobs`' directories and summary `rows`), then give it and the
    sweeps beside it their records."""
    (sweep_dir / RECORD_DIR).mkdir(exist_ok=True)
    write_json(sweep_dir / RECORD_DIR / COLUMNS_FILE, _own_columns(jobs, rows, ranked_by))
    sweeps = {d: columns for d in sorted(sweep_dir.parent.iterdir()) if (columns := _columns_of(d)) is not None}
    settings: dict[str, list[Any]] = {}
    for columns in sweeps.values():
        _add_values(settings, columns["settings"])
    metrics = [m for m in HPARAMS_METRICS if any(m in columns["metrics"] for columns in sweeps.values())]
    for directory, columns in sweeps.items():
        if directory == sweep_dir or set(settings) - set(columns["settings"]) or set(metrics) - set(columns["metrics"]):
            own = columns["metrics"]
            varied = [name for name, values in columns["settings"].items() if len(values) > 1]
            record = experiment(settings, varied, [*own, *(m for m in metrics if m not in own)])
            try:
                _replace_record(directory / RECORD_DIR, record)
            except OSError as error:  # another's sweep, say: its columns stay as they were
                if directory == sweep_dir:
                    raise
                log.warning(f"HParams columns of {directory} not brought up to date: {error}")


def _columns_of(directory: Path) -> dict[str, Any] | None:
    """A sweep's own columns, where `directory` is a sweep that wrote them (and one we may read)."""
    try:
        file = directory / RECORD_DIR / COLUMNS_FILE
        return read_json(file) if file.is_file() else None
    except (OSError, ValueError):  # another user's directory, a file being written
        return None


def _add_values(settings: dict[str, list[Any]], more: dict[str, list[Any]]) -> None:
    """Each setting's values of `more` added to its values in `settings`, each value once."""
    for name, values in more.items():
        known = settings.setdefault(name, [])
        known += [v for v in values if v not in known]


def _own_columns(jobs: list[Path], rows: list[dict[str, Any]], ranked_by: list[str]) -> dict[str, Any]:
    """Each setting's values over the jobs' session records; the metrics the jobs have, ranked first."""
    settings: dict[str, list[Any]] = {}
    for job_dir in jobs:
        _add_values(settings, {name: [value] for name, value in (settings_of_session(job_dir) or {}).items()})
    # The curves the jobs have (TensorBoard's metric columns are curves: not the fit's seconds, say).
    curves = {key for row in rows for key in row if key in CURVES} | set(TRAIN)
    order = [*ranked_by, *HPARAMS_METRICS]
    return {"settings": settings, "metrics": list(dict.fromkeys(m for m in order if m in curves))}


def _replace_record(directory: Path, record: Any) -> None:
    """The older record's file removed, the record written to a new one (not the same file rewritten:
    TensorBoard reads an events file as one that only grows)."""
    for old in directory.glob("events.out.tfevents.*"):
        old.unlink()
    writer = EventFileWriter(str(directory))
    writer.add_event(Event(wall_time=time.time(), summary=record))
    writer.close()
