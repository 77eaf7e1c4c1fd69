"""What goes wrong in real use: a diverging learning rate, checkpoints from strangers, runs started
together, outputs that cannot be written, data that cannot fit in memory."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cluster_logreg.sweep_summary import job_dirs
from helpers import REPO, run_entry, the_error_line

pytestmark = pytest.mark.cli


# -- divergence ---------------------------------------------------------------------------------


def test_a_diverging_run_stops_early_and_says_so(tmp_path):
    result = run_entry("train", "model.optimizer.lr=1e6", f"hydra.run.dir={tmp_path}")
    line = the_error_line(result, status=3)
    assert "the run diverged: loss/train became nan by epoch 10" in line
    assert "model.optimizer.lr=1000000.0" in line and "valid: a smaller model.optimizer.lr" in line
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["epochs"] == 10  # stopped at once, not after 1000
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 10


def test_a_sweep_shows_the_diverged_job_and_completes_the_others(tmp_path):
    result = run_entry(
        "train", "-m", "model.optimizer.lr=0.01,1e6,0.1", "trainer.max_epochs=30", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = [line for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith("| ")][1:]
    statuses = [row.split(" | ")[2] for row in summary]
    assert statuses[0] == "ok" and statuses[2] == "ok"
    assert statuses[1].startswith("diverged: the run diverged: loss/train became nan")
    assert "**best**" not in summary[1]
    _, diverged, completed = job_dirs(tmp_path)
    assert json.loads((diverged / "metrics.json").read_text())["status"] == "diverged"
    assert json.loads((completed / "metrics.json").read_text())["status"] == "completed"


# -- checkpoints are data, not code ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = run_entry("train", f"hydra.run.dir={run_dir}", "trainer.max_epochs=20")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


class CreatesAFile:
    """Unpickling this calls Path.touch: what a crafted checkpoint does to run code on load."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def crafted(trained: Path, tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    checkpoint = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["note"] = CreatesAFile(marker)
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    return path, marker


def test_eval_refuses_a_checkpoint_that_would_run_code(trained, tmp_path):
    path, marker = crafted(trained, tmp_path)
    line = the_error_line(run_entry("eval", f"ckpt_path={path}", f"hydra.run.dir={tmp_path}/eval"))
    assert line.startswith(f"error: ckpt_path='{path}' is refused: loading it would run code, not just read data")
    assert "(it would call getattr)" in line  # how pickle reaches Path.touch
    assert not marker.exists()


def copy_of(trained: Path, tmp_path: Path) -> Path:
    """A run directory of its own to damage, as a finished run leaves it."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def test_resume_refuses_a_checkpoint_that_would_run_code(trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    path, marker = crafted(trained, tmp_path)
    path.replace(run_dir / "checkpoints" / "last.ckpt")
    line = the_error_line(run_entry("train", f"resume={run_dir}"))
    assert line.startswith(f"error: resume='{run_dir}/checkpoints/last.ckpt' is refused: loading it would run code")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_resume_from_a_damaged_last_checkpoint_names_the_file(damage, trained, tmp_path):
    run_dir = copy_of(trained, tmp_path)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(b"not a checkpoint\n" if damage == "text" else last.read_bytes()[:500])
    line = the_error_line(run_entry("train", f"resume={run_dir}"))
    assert line.startswith(f"error: resume='{last}' is not a checkpoint (not a complete zip archive)")


@pytest.mark.parametrize(("setting", "changed"), [("hidden_dim", 7), ("n_features", 3)])
def test_eval_of_a_checkpoint_whose_weights_do_not_fit_its_settings(setting, changed, trained, tmp_path):
    checkpoint = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"][setting] = changed  # the settings now describe another model shape
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
    line = the_error_line(run_entry("eval", f"ckpt_path={path}", f"hydra.run.dir={tmp_path}/eval"))
    assert line.startswith(f"error: ckpt_path='{path}' does not fit this model: net.0.")
    assert f"{setting}={changed}" in line and "in its hyper_parameters" in line


# -- runs never share a directory ------------------------------------------------------------------


def test_four_runs_started_together_get_four_complete_directories(tmp_path):
    # From another working directory, so the default outputs/train/runs/<time>_<pid> pattern is the one used.
    command = [sys.executable, str(REPO / "src" / "train.py"), "trainer.max_epochs=5"]
    processes = [subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    run_dirs = list((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(run_dirs) == 4
    for run_dir in run_dirs:
        assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 5
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        # TensorBoard names its files after the writing process: here only this run's (named <time>_<pid>).
        events = run_dir.glob("events.out.tfevents.*")
        assert {re.search(r"\.(\d+)\.\d+$", e.name).group(1) for e in events} == {run_dir.name.rsplit("_", 1)[1]}


# -- outputs that cannot be written, data that cannot fit ------------------------------------------


@pytest.mark.parametrize("script", ["train", "eval"])
def test_an_unwritable_outputs_location_is_refused_at_start(script, trained, tmp_path):
    (tmp_path / "outputs").write_text("a file where the outputs directory should be\n")
    command = [sys.executable, str(REPO / "src" / f"{script}.py")]
    if script == "eval":
        command.append(f"ckpt_path={trained}/checkpoints/last.ckpt")
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = the_error_line(result)
    assert line.startswith("error: the run directory cannot be written: Not a directory: 'outputs/")
    assert "valid: a location you can write to" in line
    assert "epoch" not in result.stdout  # refused before any training


def test_an_output_path_inside_a_file_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_entry("train", f"hydra.run.dir={tmp_path}/run", f"logger.tensorboard.save_dir={blocker}/tb")
    line = the_error_line(result)
    assert line.startswith(f"error: logger.tensorboard.save_dir='{blocker}/tb' cannot be written")
    assert "epoch" not in result.stdout and not (tmp_path / "run" / "metrics.json").exists()


def test_data_too_large_for_memory_is_refused_before_allocation(tmp_path):
    result = run_entry("train", "data.n_per_class=100000000000", f"hydra.run.dir={tmp_path}")
    line = the_error_line(result)
    assert line.startswith("error: data.n_per_class=100000000000 (with data.n_features=2, data.batch_size=null, ")
    assert "needs about 1.84e+04 GB of memory" in line and "valid: settings that fit in the" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_outputs_directory_is_refused_at_start(tmp_path):
    (tmp_path / "outputs").mkdir(mode=0o555)
    result = subprocess.run(
        [sys.executable, str(REPO / "src" / "train.py")], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert "Permission denied" in the_error_line(result)
