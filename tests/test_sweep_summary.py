"""The sweep summary rebuilt from job directories as a sweep leaves them (written here by hand)."""

import csv
import json
from pathlib import Path

from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.summary import SweepSummary


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def job(sweep_dir: Path, number: int, record: dict | None, metrics: dict | None) -> None:
    """A job directory: Hydra's record of its overrides, its status record and its metrics where given."""
    run = RunDir(sweep_dir / f"{number}_seed={number}")
    run.overrides.parent.mkdir(parents=True)
    run.overrides.write_text(f"- seed={number}\n")
    if record is not None:
        run.job_status.write_text(json.dumps({"job": number, "overrides": f"seed={number}", **record}))
    if metrics is not None:
        run.metrics.write_text(json.dumps(metrics))


def test_summary_of_a_sweep_with_an_unfinished_job_ranking_by_a_loss(tmp_path):
    for number, (status, loss) in enumerate([("ok", 0.3), ("ok", 0.1), ("failed", None), (None, None)]):
        record = {"status": status, "reason": "boom" if status == "failed" else ""} if status else None
        job(tmp_path, number, record, {"loss/val": loss, "acc/val_best": 1.0} if loss is not None else None)
    table = SweepSummary(rank_by="loss/val").write(tmp_path)
    rows = read_summary(tmp_path)
    assert [(r["job"], r["status"], r["best"]) for r in rows] == [
        ("0", "ok", ""),
        ("1", "ok", "yes"),
        ("2", "failed", ""),
        ("3", "incomplete", ""),
    ]
    assert "failed: boom" in table and "seed=3" in table
    assert table.startswith("Best by loss/val (lowest): job 1, seed=1")


def test_data_without_a_known_distribution_is_ranked_by_a_validation_metric(tmp_path):
    # A job's metrics name the metric `optimized_metric=auto` stood for: here what it falls back to.
    for number, acc in enumerate((0.9, 0.95)):
        metrics = {"acc/val_best": acc, "loss/val": 0.2, "optimized_metric": "acc/val_best"}
        job(tmp_path, number, {"status": "ok", "reason": ""}, metrics)
    table = SweepSummary().write(tmp_path)
    assert table.startswith("Best by acc/val_best (highest): job 1, seed=1")
    assert [r["best"] for r in read_summary(tmp_path)] == ["", "yes"]
    header = next(line for line in table.splitlines() if line.startswith("| job"))
    assert "acc/val_best" in header  # its column is shown
