"""On a real SLURM (`bash .ci/slurm.sh start`, which .ci/run does): the SLURM sweep, a DDP sweep and
`srun` DDP give the single process's metrics; a request the cluster cannot run ends in one line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cluster_logreg.sweep_summary import job_dirs
from helpers import REPO, read_metrics, run_entry, the_error_line, train_in_process

pytestmark = [pytest.mark.slurm, pytest.mark.cli]
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the [sweep] extra")
EPOCHS = "trainer.max_epochs=20"
COMPARED = ("loss/val", "acc/val", "loss/test", "acc/test", "acc/true", "acc/excess_error")


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    return train_in_process(tmp_path_factory.mktemp("single"), EPOCHS)


def assert_same_metrics(metrics: dict, expected: dict, rel: float = 0.0) -> None:
    for key in COMPARED:
        assert metrics[key] == pytest.approx(expected[key], rel=rel), key


@pytest.mark.slow
def test_a_sweep_on_slurm_runs_each_job_as_a_slurm_job(single, tmp_path):
    result = run_entry("train", "-m", "hydra/launcher=slurm", "seed=0,1", EPOCHS, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = job_dirs(tmp_path)
    assert_same_metrics(read_metrics(first), single)  # seed 0: the run in this process, to the last bit
    assert read_metrics(second)["seed"] == 1
    assert list((tmp_path / ".submitit").iterdir())  # submitted through sbatch


@pytest.mark.slow
def test_a_ddp_sweep_on_slurm_matches_a_single_process(single, tmp_path):
    settings = ("hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2")
    result = run_entry("train", "-m", "hydra/launcher=slurm", *settings, EPOCHS, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (job,) = job_dirs(tmp_path)
    assert_same_metrics(read_metrics(job), single, rel=1e-4)


@pytest.mark.slow
def test_srun_ddp_matches_a_single_process(single, tmp_path):
    command = ["srun", "-N1", "--ntasks-per-node=2", "--cpus-per-task=1", sys.executable, "src/train.py"]
    command += ["trainer=ddp", "trainer.devices=2", EPOCHS, f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_metrics(read_metrics(tmp_path), single, rel=1e-4)


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("hydra.launcher.gpus_per_node=1", "Invalid generic resource"),  # no GPU on this cluster
        ("hydra.launcher.cpus_per_task=4096", "Requested node configuration is not available"),
        ("hydra.launcher.partition=nowhere", "invalid partition"),
    ],
)
def test_a_request_the_cluster_cannot_run_ends_at_once_in_one_line(setting, said, tmp_path):
    start = time.monotonic()
    result = run_entry("train", "-m", "hydra/launcher=slurm", setting, EPOCHS, f"hydra.sweep.dir={tmp_path}")
    line = the_error_line(result)
    assert line.startswith("error: SLURM cannot run the sweep's jobs") and said in line and setting in line
    assert time.monotonic() - start < 60
    assert not list(tmp_path.glob("*/metrics.json"))
