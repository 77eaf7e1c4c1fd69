"""The benchmark's code paths on tiny sizes, so that it does not rot. No time is asserted."""

import json
import subprocess
import sys

import pytest

from helpers import REPO

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def test_quick_benchmark_writes_its_table_results_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench/benchmark.py", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    fit = results["fit_loop"][0]
    assert fit["project_ms_per_epoch"] > 0 and fit["plain_ms_per_epoch"] > 0
    assert fit["fresh_draw_points"] == 200_000 and 0.99 < fit["fresh_draw_acc"] <= 1
    assert [row["size"] for row in results["scale"]] == [1000]
    assert all(row[impl]["samples_per_second"] > 0 for row in results["scale"] for impl in ("project", "plain"))
    assert results["usual_ms_per_epoch"] > 0 and results["startup"]["help_s"] > 0
    table = (tmp_path / "benchmark.md").read_text()
    for measure in ("Fit loop", "End to end", "Throughput", "Peak memory", "Usual Lightning", "--help", "fresh draw"):
        assert measure in table
    assert (tmp_path / "scale.png").read_bytes().startswith(b"\x89PNG")
