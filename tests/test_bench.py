"""The benchmark's code paths on tiny sizes, so that it does not rot. No time is asserted."""

import json
import sys

import pytest

from helpers import run_command

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def test_quick_benchmark_writes_its_table_results_and_plot(tmp_path):
    result = run_command([sys.executable, "bench/benchmark.py", "--quick", "--out", str(tmp_path)], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    full, mini = results["fit_loop"]
    for fit in (full, mini):
        assert all(fit[f"{impl}_ms_per_step"] > 0 for impl in ("project", "plain", "floor"))
        assert fit["steps"] == 1000  # both rows compare 1000 steps
    assert full["batch_size"] == 1600 and mini["batch_size"] == 64
    assert full["fresh_draw_points"] == 200_000 and 0.99 < full["fresh_draw_acc"] <= 1
    assert [row["size"] for row in results["scale"]] == [1000]
    impls = ("project", "plain", "floor")
    assert all(row[impl]["samples_per_second"] > 0 for row in results["scale"] for impl in impls)
    assert all(len(walls) == 1 for walls in results["end_to_end"].values())
    assert results["usual_ms_per_epoch"] > 0 and results["startup"]["help_s"] > 0
    table = (tmp_path / "benchmark.md").read_text()
    for measure in ("full-batch", "mini-batches of 64", "End to end", "Throughput", "Peak memory", "usual Lightning"):
        assert measure in table
    assert "Lightning floor" in table and "--help" in table and "fresh draw" in table
    assert (tmp_path / "scale.png").read_bytes().startswith(b"\x89PNG")


def test_the_fit_profile_prints_a_row_for_each_configuration():
    command = [sys.executable, "bench/profile_fit.py", "--epochs", "20", "--repeats", "1"]
    result = run_command(command, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    peers = ["plain PyTorch loop", "Lightning bare floor (barebones, training_step only)", "project default fit"]
    assert names[:3] == peers
    assert "default without every callback and the logger" in names and len(names) == 13
