"""A real TensorBoard server against a real 3-job sweep: what a user sees through its HTTP data API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from cluster_logreg.core.metrics import LEARNED, TEST, TRAIN, TRUE, VALIDATION
from helpers import read_metrics, run_entry

pytestmark = [pytest.mark.cli, pytest.mark.slow]

LRS = ("0.01", "0.1", "0.3")
# Each run is named after its job's directory: its number and what it varies.
RUNS = [f"{job}_lr={lr},max_epochs=20" for job, lr in enumerate(LRS)]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = run_entry(
        "train", "-m", f"model.optimizer.lr={','.join(LRS)}", "trainer.max_epochs=20", f"hydra.sweep.dir={sweep_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir


@pytest.fixture(scope="module")
def tensorboard(sweep_dir):
    """`tensorboard --logdir <sweep>` on a free loopback port; yields a getter; stopped by its PID."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(sweep_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            "0",
        ],
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
                if set(RUNS) <= set(json.loads(fetch("/data/runs"))):
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


def test_every_run_serves_our_scalars(tensorboard):
    tags = json.loads(tensorboard("/data/plugin/scalars/tags"))
    assert sorted(tags) == RUNS
    for run in RUNS:
        assert set(tags[run]) == {*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED}


def test_the_first_groups_a_user_sees_are_accuracy_and_loss(tensorboard):
    # TensorBoard's Time Series tab groups every chart by the part of its tag before the first slash,
    # sorts the groups by name and opens the first two.
    groups = set()
    for plugin in ("scalars", "images", "histograms"):
        for run_tags in json.loads(tensorboard(f"/data/plugin/{plugin}/tags")).values():
            groups |= {tag.split("/", 1)[0] for tag in run_tags}
    assert sorted(groups) == ["acc", "loss", "model"]


def test_decision_boundary_image_is_served_and_saved(tensorboard, sweep_dir):
    tag = "model/decision_boundary"
    assert all(tag in tags for tags in json.loads(tensorboard("/data/plugin/images/tags")).values())
    query = urllib.parse.urlencode({"run": RUNS[0], "tag": tag})
    samples = json.loads(tensorboard(f"/data/plugin/images/images?{query}"))
    image = tensorboard(f"/data/plugin/images/individualImage?{samples[-1]['query']}")
    assert image.startswith(b"\x89PNG")
    assert all((sweep_dir / run / "decision_boundary.png").read_bytes().startswith(b"\x89PNG") for run in RUNS)


def test_score_histograms_are_served(tensorboard):
    tags = json.loads(tensorboard("/data/plugin/histograms/tags"))
    assert all({"model/logit_class0", "model/logit_class1"} <= set(tags[run]) for run in RUNS)


def test_hparams_table_starts_with_what_the_sweep_varied(tensorboard):
    experiment = json.loads(tensorboard("/data/plugin/hparams/experiment", {"experimentName": ""}))
    columns = [info["name"] for info in experiment["hparamInfos"]]
    # TensorBoard's table shows the first five columns: the setting swept here comes first.
    assert columns[0] == "optimizer/lr" and experiment["hparamInfos"][0]["differs"]
    assert not any(info["differs"] for info in experiment["hparamInfos"][1:])
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert "acc/true" in metrics[:5] and "acc/excess_error" in metrics[:5]  # shown by default, too


def test_hparams_table_has_one_row_per_job_with_its_real_metrics(tensorboard, sweep_dir):
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_FAILURE", "STATUS_RUNNING", "STATUS_SUCCESS", "STATUS_UNKNOWN"],
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 100,
    }
    groups = json.loads(tensorboard("/data/plugin/hparams/session_groups", request))["sessionGroups"]
    assert sorted(group["name"] for group in groups) == RUNS
    for group in groups:
        job = RUNS.index(group["name"])
        assert group["hparams"]["optimizer/lr"] == pytest.approx(float(LRS[job]))
        for name in (
            "optimizer/name",
            "optimizer/momentum",
            "model/hidden_dim",
            "data/batch_size",
            "data/n_per_class",
            "trainer/accelerator",
            "seed",
        ):
            assert name in group["hparams"]
        served = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        metrics = read_metrics(sweep_dir / group["name"])
        for tag in ("acc/true", "acc/excess_error", "acc/val_best", "acc/test", "loss/test"):
            assert served[tag] == pytest.approx(metrics[tag], rel=1e-6)
