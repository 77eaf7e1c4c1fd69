"""A sweep's summary as tables: one row per job, read back from the job directories (their metrics,
Hydra's record of their overrides and the outcome the summary callback recorded)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from cluster_logreg.core.files import read_json
from cluster_logreg.core.metrics import SUMMARY_COLUMNS, shown
from cluster_logreg.core.overrides import saved_overrides, split_override
from cluster_logreg.core.run_dir import RunDir


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job directories in job order (named `<number>_<what it varies>`, `003_lr=0.1`)."""
    dirs = [d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()]
    return sorted(dirs, key=lambda d: (job_number(d), d.name))


def job_number(job_dir: Path) -> int:
    """The number a job directory's name starts with (`003_lr=0.1`: 3); -1 where none."""
    return int(m.group()) if (m := re.match(r"\d+", job_dir.name)) else -1


def job_row(job_dir: Path) -> dict[str, Any]:
    run = RunDir(job_dir)
    status_file, metrics_file = run.job_status, run.metrics
    overrides = saved_overrides(run.overrides)
    row: dict[str, Any]
    if status_file.is_file():
        row = json.loads(status_file.read_text())
    else:  # still running, or killed before Hydra could record its end
        row = {"job": job_number(job_dir), "overrides": " ".join(overrides), "status": "incomplete"}
        row["reason"] = ""
    metrics = read_json(metrics_file)
    if metrics.get("status") == "diverged":  # the job ran to its end: divergence is its result
        row |= {"status": "diverged", "reason": metrics["reason"]}
    row["settings"] = dict(split_override(o) for o in overrides if "=" in o)
    return metrics | row  # the record's status wins over the metrics'


def bayes_accuracy(rows: list[dict[str, Any]]) -> float | None:
    """The ceiling of the exact accuracy for the sweep's data, where its distribution is known."""
    return next((r["bayes_acc"] for r in rows if isinstance(r.get("bayes_acc"), float)), None)


def columns(rows: list[dict[str, Any]], ranked_by: list[str], mark: str) -> list[str]:
    # The metrics some job has (the exact ones only where the data's distribution is known), and the
    # ranking metric, e.g. the best validation accuracy on data without a population.
    metrics = [m for m in SUMMARY_COLUMNS if any(m in row for row in rows) or not rows]
    extra = [m for m in ranked_by if m not in metrics]
    return ["job", "overrides", "status", "reason", *metrics, *extra, "accelerator", mark]


def as_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def markdown(rows: list[dict[str, Any]], columns: list[str]) -> str:
    mark = columns[-1]

    def cell(row: dict[str, Any], column: str) -> str:
        value = row.get(column, "")
        if column == "status" and row.get("reason"):
            value = f"{value}: {row['reason']}"
        if column == mark:
            value = f"**{mark}**" if value else ""
        if isinstance(value, float):
            value = shown(column, value)
        return str(value).replace("|", "\\|")

    visible = [c for c in columns if c != "reason"]
    lines = ["| " + " | ".join(visible) + " |", "|" + "---|" * len(visible)]
    lines += ["| " + " | ".join(cell(row, c) for c in visible) + " |" for row in rows]
    return "\n".join(lines) + "\n"
