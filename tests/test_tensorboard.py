"""Real TensorBoard servers against real sweeps: what a user sees through TensorBoard's HTTP data API.

The session's two sweeps side by side, as `outputs/train/multiruns` holds them (conftest.py): the
learning rate (one of them diverges) by seed, with the basic launcher, and the grid of every setting
a stack may vary, stacked. TensorBoard serves the first alone and both together."""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster_logreg.core.metrics import LEARNED, TEST, TRAIN, TRUE, VALIDATION
from helpers import DIVERGING, GRID, LRS, SEEDS, read_metrics

pytestmark = [pytest.mark.cli, pytest.mark.slow]

# Each run is named after its job's directory: its number (3 digits: names sort in job order) and
# what it varies.
RUNS = [f"{job:03d}_lr={lr},seed={seed}" for job, (lr, seed) in enumerate((a, b) for a in LRS for b in SEEDS)]
# The metric columns TensorBoard makes from the runs are every scalar tag, by name: the excess error
# and its log10 (what separates good settings) among the five it ticks.
FIRST_METRICS = ["acc/excess_error", "acc/excess_error_log10", "acc/test", "acc/train", "acc/true"]
ALL_STATUSES = ["STATUS_FAILURE", "STATUS_RUNNING", "STATUS_SUCCESS", "STATUS_UNKNOWN"]

Fetch = Callable[..., bytes]


@pytest.fixture(scope="module")
def sweep_dir(lr_sweep) -> Path:
    return lr_sweep.path


@contextlib.contextmanager
def serving(logdir: Path, runs: int) -> Iterator[Fetch]:
    """`tensorboard --logdir <logdir>` on a free loopback port, once it lists `runs` runs with scalars;
    yields a getter; stopped by its PID."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--reload_interval", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def fetch(path: str, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if len(json.loads(fetch("/data/plugin/scalars/tags"))) >= runs:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"tensorboard did not start: {server.stderr.read()[-500:] if server.poll() else 'timeout'}")
            time.sleep(0.5)
        yield fetch
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.poll() is not None


@pytest.fixture(scope="module")
def tensorboard(sweep_dir) -> Iterator[Fetch]:
    with serving(sweep_dir, len(RUNS)) as fetch:
        yield fetch


def experiment(fetch: Fetch) -> dict:
    return json.loads(fetch("/data/plugin/hparams/experiment", {"experimentName": ""}))


def session_groups(fetch: Fetch) -> list[dict]:
    request = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0}
    return json.loads(fetch("/data/plugin/hparams/session_groups", request | {"sliceSize": 100}))["sessionGroups"]


def test_every_run_is_a_job_listed_in_job_order_and_serves_our_scalars(tensorboard):
    # No run that is not a job; their names, sorted, in job order (RUNS' order).
    assert sorted(json.loads(tensorboard("/data/runs"))) == RUNS
    tags = json.loads(tensorboard("/data/plugin/scalars/tags"))
    assert sorted(tags) == sorted(RUNS)
    for run in RUNS:
        if DIVERGING not in run:
            assert set(tags[run]) == {*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED}


def test_the_groups_a_user_sees_put_the_ranked_metric_first_and_pictures_apart(tensorboard):
    # TensorBoard's Time Series tab groups every chart by the part of its tag before the first slash
    # and sorts the groups by name: accuracy (with the ranked metric's log10, which separates runs on
    # a linear axis), loss, the learned model's scalars, and the pictures and histogram on their own.
    groups: dict[str, set[str]] = {}
    for plugin in ("scalars", "images", "histograms"):
        for run_tags in json.loads(tensorboard(f"/data/plugin/{plugin}/tags")).values():
            for tag in run_tags:
                groups.setdefault(tag.split("/", 1)[0], set()).add(plugin)
    assert sorted(groups) == ["acc", "loss", "model", "picture"]
    assert groups["model"] == {"scalars"} and groups["picture"] == {"images", "histograms"}


def test_the_log_of_the_excess_error_spreads_the_runs_over_a_linear_axis(tensorboard, sweep_dir):
    curves: dict[str, dict[str, list[float]]] = {"acc/excess_error": {}, "acc/excess_error_log10": {}}
    for tag, by_run in curves.items():
        for run in RUNS:
            if DIVERGING not in run:
                query = urllib.parse.urlencode({"run": run, "tag": tag})
                points = json.loads(tensorboard(f"/data/plugin/scalars/scalars?{query}"))
                assert [step for _, step, _ in points] == list(range(0, 1001, 10))  # from the untrained model on
                by_run[run] = [value for _, _, value in points]
    for run, values in curves["acc/excess_error_log10"].items():
        expected = [math.log10(v) for v in curves["acc/excess_error"][run]]
        assert values == pytest.approx(expected, abs=1e-5)
        assert 10 ** values[-1] == pytest.approx(read_metrics(sweep_dir / run)["acc/excess_error"], rel=1e-5)

    def share_of_the_axis(by_run: dict[str, list[float]]) -> float:
        """How much of a chart's y range (TensorBoard's default: linear, every point shown) the runs'
        final values span: the untrained model's excess error squeezes them onto the axis's floor."""
        last, every = [v[-1] for v in by_run.values()], [x for v in by_run.values() for x in v]
        return (max(last) - min(last)) / (max(every) - min(every))

    assert share_of_the_axis(curves["acc/excess_error_log10"]) > 3 * share_of_the_axis(curves["acc/excess_error"])


def test_decision_boundary_image_is_served_and_saved(tensorboard, sweep_dir):
    tag = "picture/decision_boundary"
    served = json.loads(tensorboard("/data/plugin/images/tags"))
    assert all(tag in served[run] for run in RUNS if DIVERGING not in run)
    query = urllib.parse.urlencode({"run": RUNS[0], "tag": tag})
    samples = json.loads(tensorboard(f"/data/plugin/images/images?{query}"))
    image = tensorboard(f"/data/plugin/images/individualImage?{samples[-1]['query']}")
    assert image.startswith(b"\x89PNG")
    assert (sweep_dir / RUNS[0] / "decision_boundary.png").read_bytes() == image


def test_one_margin_histogram_per_run_from_the_first_trained_step(tensorboard):
    served = json.loads(tensorboard("/data/plugin/histograms/tags"))
    for run in RUNS:
        if DIVERGING not in run:
            assert list(served[run]) == ["picture/margin"]
            query = urllib.parse.urlencode({"run": run, "tag": "picture/margin"})
            steps = [step for _, step, _ in json.loads(tensorboard(f"/data/plugin/histograms/histograms?{query}"))]
            assert steps == list(range(100, 1001, 100))  # every 100 epochs; not the untrained model at step 0


def test_hparams_columns_start_with_what_the_sweep_varied_under_its_command_line_names(tensorboard):
    # No experiment record: TensorBoard makes the columns from the runs' settings and scalars.
    served = experiment(tensorboard)
    columns = [info["name"] for info in served["hparamInfos"]]
    # TensorBoard's table ticks the first five columns: the swept settings, named as on the command
    # line, then the others by name.
    assert columns[:2] == ["model.optimizer.lr", "seed"] and columns[2:] == sorted(columns[2:])
    assert [info["differs"] for info in served["hparamInfos"]] == [True, True] + [False] * (len(columns) - 2)
    assert {"model/optimizer", "data", "model.hidden_dim", "trainer.accelerator"} <= set(columns)
    assert "data.seed" not in columns and len(columns) == len(set(columns))  # once each
    metrics = [info["name"]["tag"] for info in served["metricInfos"]]
    assert metrics[: len(FIRST_METRICS)] == FIRST_METRICS and metrics == sorted(metrics)
    assert {*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED} == set(metrics)


def test_hparams_sessions_end_as_their_runs_did_with_their_real_metrics(tensorboard, sweep_dir):
    groups = session_groups(tensorboard)
    assert sorted(group["name"] for group in groups) == sorted(RUNS)
    for group in groups:
        (session,) = group["sessions"]
        lr, seed = (LRS[RUNS.index(group["name"]) // 2], SEEDS[RUNS.index(group["name"]) % 2])
        assert group["hparams"]["model.optimizer.lr"] == pytest.approx(float(lr))
        assert group["hparams"]["seed"] == int(seed) and group["hparams"]["model/optimizer"] == "sgd"
        metrics = read_metrics(sweep_dir / group["name"])
        if lr == DIVERGING:  # its loss became NaN: a failure, not "Success"
            assert session["status"] == "STATUS_FAILURE" and metrics["status"] == "diverged"
            continue
        assert session["status"] == "STATUS_SUCCESS"
        served = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        for tag in ["acc/true", "acc/excess_error", "acc/excess_error_log10", "acc/val_best", "acc/test", "loss/val"]:
            assert served[tag] == pytest.approx(metrics[tag], rel=1e-6)


def test_several_sweeps_in_one_logdir_show_every_sweep_s_columns_and_runs(multiruns, lr_sweep, stacked_grid):
    # TensorBoard makes the columns from every run of every sweep: what either sweep varied first.
    grid = [override.split("=")[0] for override in GRID]
    with serving(multiruns, len(RUNS) + 2 ** len(GRID)) as fetch:
        runs = json.loads(fetch("/data/runs"))
        served = experiment(fetch)
        groups = session_groups(fetch)
    # Every run a job of one of them (a run's name is its sweep's directory, then its own), by name in job order.
    assert len(runs) == len(RUNS) + 2 ** len(GRID)
    assert sorted(run for run in runs if run.startswith("lr/")) == [f"lr/{run}" for run in RUNS]
    grid_runs = sorted(run for run in runs if run.startswith("grid/"))
    assert [run.split("_")[0] for run in grid_runs] == [f"grid/{n:03d}" for n in range(2 ** len(GRID))]
    columns = [info["name"] for info in served["hparamInfos"]]
    differing = [info["name"] for info in served["hparamInfos"] if info["differs"]]
    assert columns[: len(differing)] == differing == sorted(differing)
    assert set(grid) <= set(differing)  # the lr sweep's lr and seed among them
    assert [info["name"]["tag"] for info in served["metricInfos"]][: len(FIRST_METRICS)] == FIRST_METRICS
    assert sorted(group["name"] for group in groups) == sorted(runs)
    stacked = [g for g in groups if g["name"].startswith("grid/")]
    assert {g["hparams"]["model.optimizer.momentum"] for g in stacked} == {0.0, 0.9}
    assert {g["sessions"][0]["status"] for g in stacked} == {"STATUS_SUCCESS"}


def test_the_summary_s_tensorboard_address_colours_by_setting_and_pins_what_is_served(tensorboard, sweep_dir):
    address = re.search(r"<(http://127\.0\.0\.1:6006/\?[^>]+)>", (sweep_dir / "summary.md").read_text()).group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(address).query)
    assert query["smoothing"] == ["0"] and address.endswith("#timeseries")
    # TensorBoard gives the runs whose names' capture groups are the same one colour: here, one per lr.
    pattern = re.compile(query["runColorGroup"][0].removeprefix("regex:"))
    colours = {run: pattern.search(run).groups() for run in RUNS}
    assert {lr: {colours[run] for run in RUNS if f"lr={lr}," in run} for lr in LRS} == {
        lr: {(f"lr={lr}", "")} for lr in LRS
    }
    pinned = [card["tag"] for card in json.loads(query["pinnedCards"][0])]
    assert pinned == ["acc/excess_error_log10", "model/angle_to_bayes", "model/offset_to_bayes"]
    served = json.loads(tensorboard("/data/plugin/scalars/tags"))
    assert all(set(pinned) <= set(served[run]) for run in RUNS if DIVERGING not in run)
