"""What goes wrong in real use: a diverging learning rate, checkpoints from strangers, runs started
together, outputs that cannot be written, data that cannot fit in memory."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.errors import UserError
from cluster_logreg.core.run_dir import RunDir
from helpers import (
    REPO,
    entry_config,
    evaluate_in_process,
    read_metrics,
    refusal,
    resume_in_process,
    run_command,
    run_entry,
    started,
    the_error_line,
    without_privilege,
)

# -- divergence ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.cli
def test_a_diverging_run_stops_early_and_says_so(tmp_path):
    result = run_entry("train", "model.optimizer.lr=1e6", f"hydra.run.dir={tmp_path}")
    line = the_error_line(result, status=3)
    assert "the run diverged: loss/train became nan by epoch 10" in line
    assert "model.optimizer.lr=1000000.0" in line and "valid: a smaller model.optimizer.lr" in line
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "diverged" and metrics["epochs"] == 10  # stopped at once, not after 1000
    assert torch.load(RunDir(tmp_path).last_checkpoint, weights_only=True)["epoch"] == 10


@pytest.mark.slow
@pytest.mark.cli
def test_a_run_that_diverges_before_any_validation_is_diverged_too(tmp_path):
    """5 epochs, fewer than one validation interval: the final weights say it diverged, not a check."""
    result = run_entry("train", "model.optimizer.lr=1e6", "trainer.max_epochs=5", f"hydra.run.dir={tmp_path}")
    line = the_error_line(result, status=3)
    assert line.startswith("error: the run diverged: its weights or losses are not finite after its last epoch, 5 ")
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "diverged" and metrics["epochs"] == 5 and "loss/val" not in metrics
    # Nothing classifies with its weights: predict and eval refuse its checkpoint.
    checkpoint = RunDir(tmp_path).last_checkpoint
    with pytest.raises(UserError, match=r"holds weights that are not finite \(its run diverged\)"):
        evaluate_in_process(tmp_path / "eval", f"ckpt_path={checkpoint}")


# -- checkpoints are data, not code ---------------------------------------------------------------


class CreatesAFile:
    """Unpickling this calls Path.touch: what a crafted checkpoint does to run code on load."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def crafted(trained: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of `trained`'s last checkpoint that would run code on load, and the file that code makes."""
    marker = tmp_path / "code_ran"
    checkpoint = torch.load(RunDir(trained).last_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["note"] = CreatesAFile(marker)
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    return path, marker


def test_eval_refuses_a_checkpoint_that_would_run_code(default_run, tmp_path):
    path, marker = crafted(default_run, tmp_path)
    with pytest.raises(UserError) as refused:
        evaluate_in_process(tmp_path / "eval", f"ckpt_path={path}")
    line = str(refused.value)
    assert line.startswith(f"ckpt_path='{path}' is refused: loading it would run code, not just read data")
    assert "(it would call getattr)" in line  # how pickle reaches Path.touch
    assert not marker.exists()


def test_resume_refuses_a_checkpoint_that_would_run_code(finished_run, tmp_path):
    run_dir = finished_run
    path, marker = crafted(run_dir, tmp_path)
    last = RunDir(run_dir).last_checkpoint
    path.replace(last)
    with pytest.raises(UserError) as refused:
        resume_in_process(run_dir)
    assert str(refused.value).startswith(f"resume='{last}' is refused: loading it would run code")
    assert not marker.exists()


def test_resume_refuses_a_checkpoint_of_another_model_shape(finished_run):
    run_dir = finished_run
    with pytest.raises(UserError) as refused:
        resume_in_process(run_dir, "model.hidden_dim=7")
    assert str(refused.value) == (
        f"resume='{RunDir(run_dir).last_checkpoint}' does not fit this model: net.0.bias is [5] in the file, "
        "[7] in the model (model.hidden_dim=7, 2 features in the data); valid: a checkpoint of the same model shape, "
        "or the settings it was trained with"
    )


@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_resume_from_a_damaged_last_checkpoint_names_the_file(damage, finished_run):
    run_dir = finished_run
    last = RunDir(run_dir).last_checkpoint
    last.write_bytes(b"not a checkpoint\n" if damage == "text" else last.read_bytes()[:500])
    # Refused before the run (a pre-flight check), in the words the command line prints.
    with pytest.raises(UserError) as refused:
        entry_config("train", run_dir, [f"resume={run_dir}"])
    line = str(refused.value)
    assert line.startswith(f"resume='{last}' is not a checkpoint (not a complete zip archive)")


@pytest.mark.parametrize(("setting", "changed"), [("hidden_dim", 7), ("n_features", 3)])
def test_eval_of_a_checkpoint_whose_weights_do_not_fit_its_settings(setting, changed, default_run, tmp_path):
    checkpoint = torch.load(RunDir(default_run).last_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"][setting] = changed  # the settings now describe another model shape
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(UserError) as refused:
        evaluate_in_process(tmp_path / "eval", f"ckpt_path={path}")
    line = str(refused.value)
    assert line.startswith(f"ckpt_path='{path}' does not fit this model: net.0.")
    assert f"{setting}={changed}" in line and "in its hyper_parameters" in line


# -- runs never share a directory ------------------------------------------------------------------


@pytest.mark.cli
@pytest.mark.slow
def test_runs_started_together_get_a_complete_directory_each(tmp_path):
    # From another working directory, so the default outputs/train/runs/<time>_<pid> pattern is the one used.
    command = [sys.executable, str(REPO / "src" / "train.py"), "trainer.max_epochs=5"]
    with contextlib.ExitStack() as stack:
        start = lambda: stack.enter_context(started(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True))  # noqa: E731
        processes = [start() for _ in range(3)]
        for process in processes:
            assert process.wait(timeout=300) == 0, process.stderr.read()
    run_dirs = list((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(run_dirs) == 3
    for run_dir in run_dirs:
        assert read_metrics(run_dir)["epochs"] == 5
        assert RunDir(run_dir).last_checkpoint.is_file()
        # TensorBoard names its files after the writing process: here only this run's (named <time>_<pid>).
        events = run_dir.glob("events.out.tfevents.*")
        assert {re.search(r"\.(\d+)\.\d+$", e.name).group(1) for e in events} == {run_dir.name.rsplit("_", 1)[1]}


# -- outputs that cannot be written, data that cannot fit ------------------------------------------


@pytest.mark.cli
@pytest.mark.parametrize("script", ["train", "eval"])
def test_an_unwritable_outputs_location_is_refused_at_start(script, default_run, tmp_path):
    (tmp_path / "outputs").write_text("a file where the outputs directory should be\n")
    command = [sys.executable, str(REPO / "src" / f"{script}.py")]
    if script == "eval":
        command.append(f"ckpt_path={RunDir(default_run).last_checkpoint}")
    result = run_command(command, cwd=tmp_path)
    line = the_error_line(result)
    assert line.startswith("error: the run directory cannot be written: Not a directory: 'outputs/")
    assert "valid: a location you can write to" in line
    assert "epoch" not in result.stdout  # refused before any training


@pytest.mark.parametrize("key", ["logger.tensorboard.save_dir", "callbacks.last_checkpoint.path", "run_dir"])
def test_an_output_path_inside_a_file_is_refused_before_training(key, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = refusal(f"{key}={blocker}/out")
    assert line.startswith(f"{key}='{blocker}/out' cannot be written")


def test_data_too_large_for_memory_is_refused_before_allocation():
    line = refusal("data.n_per_class=100000000000")
    assert line.startswith("data.n_per_class=100000000000 (with data.n_features=2, data.batch_size=null, ")
    # Why, in the line's own figures: the estimate is more than the memory this machine has free.
    said = r"needs about (\S+) GB of memory, more than this machine has free; valid: settings that fit in the (\S+) GB"
    needed, free = map(float, re.search(said, line).groups())
    assert needed > free


# -- files a command may not read or write: one line, also where the tests run as root ----------------


def run_unprivileged(script: str, *overrides: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return run_command(without_privilege([sys.executable, str(REPO / "src" / f"{script}.py"), *overrides]), cwd=cwd)


@pytest.mark.cli
def test_a_read_only_outputs_directory_is_refused_at_start(tmp_path):
    (tmp_path / "outputs").mkdir(mode=0o555)
    result = run_unprivileged("train", cwd=tmp_path)
    assert "Permission denied" in the_error_line(result)


@pytest.mark.cli
@pytest.mark.parametrize("key", ["data.path", "input", "ckpt_path", "evaluate_on", "resume"])
def test_a_file_that_cannot_be_read_is_one_line(key, default_run, tmp_path):
    """An unreadable table, predict input, checkpoint, eval file or run directory's record."""
    table, points, run = tmp_path / "table.csv", tmp_path / "points.csv", tmp_path / "run"
    table.write_text("x0,x1,label\n1,2,0\n-1,-2,1\n")
    points.write_text("x0,x1\n1,2\n")
    shutil.copytree(default_run / "checkpoints", run / "checkpoints")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")
    unreadable = {
        "data.path": table,
        "input": points,
        "ckpt_path": RunDir(run).last_checkpoint,
        "evaluate_on": table,
        "resume": RunDir(run).overrides,
    }[key]
    unreadable.chmod(0)
    command = {
        "data.path": ("train", "data=csv", f"data.path={table}", "data.target=label"),
        "input": ("predict", f"ckpt_path={run}", f"input={points}"),
        "ckpt_path": ("predict", f"ckpt_path={run}", f"input={points}"),
        "evaluate_on": ("eval", f"ckpt_path={run}", f"evaluate_on={table}"),
        "resume": ("train", f"resume={run}"),
    }[key]
    result = run_unprivileged(*command, f"hydra.run.dir={tmp_path / 'new'}")
    line = the_error_line(result)
    shown = run if key == "resume" else unreadable
    assert line.startswith(f"error: {key}='{shown}' cannot be read: permission denied"), line
    assert not (tmp_path / "new" / "metrics.json").exists() and not (tmp_path / "new" / "checkpoints").exists()
