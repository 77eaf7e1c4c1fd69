"""A Hydra callback that keeps summary.csv and summary.md in a sweep directory, one row per job.

Every job records its outcome (ok, or failed with the one-line reason) in its own directory as it
ends, and the summary is rebuilt from those records under a file lock. This works the same with
every launcher (jobs in this process, in joblib workers, or on SLURM through submitit), and the
summary is complete even when a failed job makes Hydra end the sweep with an error.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.errors import is_user_error, one_line
from cluster_logreg.files import write_json, write_text_atomically

log = logging.getLogger(__name__)

JOB_STATUS = "job_status.json"
METRIC_COLUMNS = (
    *("val/loss", "val/acc", "val/acc_best", "test/acc", "test/loss"),
    *("epochs", "fit_seconds", "samples_per_second"),
)
COLUMNS = ("job", "overrides", "status", "reason", *METRIC_COLUMNS, "accelerator", "best")


class SweepSummary(Callback):
    """Marks as best the ok job with the highest (mode=max) or lowest (mode=min) `rank_by`.

    mode=None means min for a loss, max otherwise. Ties (several jobs at val/acc_best = 1.0, say)
    go to the lowest val/loss.
    """

    def __init__(self, rank_by: str = "val/acc_best", mode: str | None = None):
        if mode not in ("max", "min", None):
            raise ValueError(f"hydra.callbacks.sweep_summary.mode={mode!r} is not valid; valid: max | min | null")
        self.rank_by = rank_by
        self.mode = mode or ("min" if rank_by.endswith("loss") else "max")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        log.info(f"Sweep directory: {config.hydra.sweep.dir} (summary.md there is updated as jobs end)")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        failed = job_return.status != JobStatus.COMPLETED
        record = {
            "job": config.hydra.job.num,
            "overrides": " ".join(job_return.overrides or []),
            "status": "failed" if failed else "ok",
            # The exception itself: reading `return_value` would re-raise it.
            "reason": _reason(job_return._return_value) if failed else "",
        }
        write_json(Path(config.hydra.runtime.output_dir) / JOB_STATUS, record)
        self.write(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        table = self.write(Path(config.hydra.sweep.dir))
        log.info(f"Sweep summary ({config.hydra.sweep.dir}/summary.md):\n{table}")

    def write(self, sweep_dir: Path) -> str:
        """Rebuild both summary files from the job directories; return the Markdown table."""
        with open(sweep_dir / ".summary.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs ending together take turns
            rows = self._rows(sweep_dir)
            table = markdown(rows)
            write_text_atomically(sweep_dir / "summary.csv", as_csv(rows))
            write_text_atomically(sweep_dir / "summary.md", table)
        return table

    def _rows(self, sweep_dir: Path) -> list[dict[str, Any]]:
        job_dirs = [d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()]
        # Shorter names first, then alphabetical: 0, 1, ..., 9, 10 for Hydra's numbered job directories.
        rows = [job_row(d) for d in sorted(job_dirs, key=lambda d: (len(d.name), d.name))]
        ranked = [r for r in rows if r["status"] == "ok" and isinstance(r.get(self.rank_by), float)]
        if ranked:
            sign = 1 if self.mode == "max" else -1
            max(ranked, key=lambda r: (sign * r[self.rank_by], -r["val/loss"]))["best"] = "yes"
        return rows


def _reason(error: BaseException) -> str:
    # A user's mistake explains itself; for our bugs the exception's type is part of the story.
    return one_line(error) if is_user_error(error) else f"{type(error).__name__}: {one_line(error)}"


def job_row(job_dir: Path) -> dict[str, Any]:
    status_file, metrics_file = job_dir / JOB_STATUS, job_dir / "metrics.json"
    if status_file.is_file():
        row = json.loads(status_file.read_text())
    else:  # still running, or killed before Hydra could record its end
        overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
        row = {"job": job_dir.name, "overrides": " ".join(overrides), "status": "incomplete", "reason": ""}
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    if metrics.get("status") == "diverged":  # the job ran to its end: divergence is its result
        row |= {"status": "diverged", "reason": metrics["reason"]}
    return row | {k: metrics.get(k, "") for k in (*METRIC_COLUMNS, "accelerator")} | {"best": ""}


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], column: str) -> str:
        value = row[column]
        if column == "status" and row["reason"]:
            value = f"{value}: {row['reason']}"
        if column == "best":
            value = "**best**" if value else ""
        if isinstance(value, float):
            value = f"{value:.3g}" if "loss" in column else f"{value:.4f}"
        return str(value).replace("|", "\\|")

    shown = [c for c in COLUMNS if c != "reason"]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(cell(row, c) for c in shown) + " |" for row in rows]
    return "\n".join(lines) + "\n"
