"""Runs killed part-way (SIGINT, SIGTERM, SIGKILL) resume to exactly the metrics of an uninterrupted run,
and a save killed half-way leaves the previous checkpoint whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.run_dir import RunDir
from helpers import REPO, files_of, final_metrics, run_entry, started, the_error_line, train_in_process

# Several batches per epoch (1600 training points, batches of 600), so the shuffling state must
# survive the interruption too; last.ckpt every 20 epochs, so SIGKILL loses a few epochs.
SETTINGS = ("trainer.max_epochs=300", "data.batch_size=600", "callbacks.last_checkpoint.every_n_epochs=20")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    train_in_process(run_dir, *SETTINGS)
    return final_metrics(run_dir)


def start_and_stop(
    run_dir: Path, signum: signal.Signals, *overrides: str, checkpoint: Path | None = None
) -> subprocess.CompletedProcess:
    """Start a run, send it `signum` once its first last checkpoint is written (part-way), wait for the end."""
    command = [sys.executable, "src/train.py", f"hydra.run.dir={run_dir}", *SETTINGS, *overrides]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started(command, cwd=REPO, **pipes) as process:
        checkpoint = checkpoint or RunDir(run_dir).last_checkpoint
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # a few epochs past the save
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.cli
@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "kept_elsewhere"),
    # SIGTERM (Ctrl-C's SIGINT takes the same handler: the test below) with the last checkpoint kept
    # elsewhere (callbacks.last_checkpoint.path): every save, the hint and resume follow the setting.
    # SIGKILL: no chance to save, the run continues from its last periodic checkpoint.
    [(signal.SIGTERM, True), (signal.SIGKILL, False)],
    ids=["SIGTERM-checkpoint-elsewhere", "SIGKILL"],
)
def test_a_killed_run_resumes_to_the_uninterrupted_metrics(signum, kept_elsewhere, uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    last = tmp_path / "elsewhere" / "last.ckpt" if kept_elsewhere else RunDir(run_dir).last_checkpoint
    setting = [f"callbacks.last_checkpoint.path={last}"] if kept_elsewhere else []
    stopped = start_and_stop(run_dir, signum, *setting, checkpoint=last)
    assert stopped.returncode in (128 + signum, -signum), stopped.stderr[-3000:]
    assert not RunDir(run_dir).metrics.exists()  # nothing that looks finished
    if signum != signal.SIGKILL:  # it saves the epoch it stops after, and says how to go on
        assert f"interrupted: stopped by {signum.name} after epoch" in stopped.stderr
        assert f"{last} holds it: continue with python src/train.py resume={run_dir}" in stopped.stderr
        assert "Traceback" not in stopped.stderr

    resumed = run_entry("train", f"resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    epoch = int(resumed.stdout.split(f"from {last} (epoch ")[1].split(")")[0])  # "resume: continuing ... (epoch N)"
    assert 0 < epoch < 300  # it really was stopped part-way
    assert final_metrics(run_dir) == uninterrupted
    assert RunDir(run_dir).last_checkpoint.exists() != kept_elsewhere  # the setting is honoured by every save


@pytest.mark.cli
def test_resume_of_something_that_is_not_a_run_directory_is_refused(tmp_path):
    result = run_entry("train", f"resume={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: resume='{tmp_path}' is not a run directory; valid:")


SAVER = """
import sys, torch
from cluster_logreg.training.checkpoints import AtomicCheckpointIO
AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(2**27)}, "epoch": 2}, sys.argv[1])
"""


@pytest.mark.cli
def test_a_command_refused_in_a_finished_runs_directory_changes_nothing_there(finished_run):
    """Hydra writes .hydra/ before any check: another command line in a run's directory is refused first."""
    before = files_of(finished_run)
    last = RunDir(finished_run).last_checkpoint
    for script, overrides in [
        ("train", [f"+ckpt_path={last}"]),  # the quoted case: once it left max_epochs: 2 in .hydra/
        ("train", ["trainer.max_epochs=2"]),
        ("eval", [f"ckpt_path={finished_run}"]),  # eval's metrics.json would replace the run's
    ]:
        result = run_entry(script, *overrides, f"hydra.run.dir={finished_run}")
        assert the_error_line(result) == (
            f"error: hydra.run.dir='{finished_run}' holds another run (its .hydra/ records another command line); "
            f"valid: a new directory, or resume={finished_run} to continue that run"
        )
        assert files_of(finished_run) == before  # its .hydra/ too: `resume=` reads the run's command line


@pytest.mark.slow
def test_a_save_killed_half_way_leaves_the_previous_checkpoint_loadable(tmp_path):
    from cluster_logreg.training.checkpoints import AtomicCheckpointIO, read_checkpoint

    last = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 1}, last)
    # A 512 MB save takes long enough to be caught in the middle: kill it once its file is growing.
    with started([sys.executable, "-c", SAVER, str(last)], cwd=REPO) as saver:
        partial = None
        while partial is None and saver.poll() is None:
            partial = next((p for p in tmp_path.glob(".last.ckpt.*.partial") if p.stat().st_size > 0), None)
        saver.kill()
        saver.wait()
    assert partial is not None, "the save ended before it could be killed"
    assert partial.exists()  # killed before its rename: the half-written file is the hidden one

    checkpoint = read_checkpoint(last)
    assert checkpoint["epoch"] == 1 and torch.equal(checkpoint["state_dict"]["w"], torch.zeros(3))


def test_sigterm_before_training_started_exits_as_interrupted():
    # Between Lightning's own SIGTERM handler and ours (setup, sanity check) the signal is only noted.
    from types import SimpleNamespace

    from cluster_logreg.core.errors import Interrupted
    from cluster_logreg.training.callbacks import StopOnSignal

    with pytest.raises(Interrupted, match="before training started") as stopped:
        StopOnSignal().on_train_start(SimpleNamespace(received_sigterm=True), None)
    assert stopped.value.exit_status == 128 + signal.SIGTERM


def test_sigterm_in_the_sanity_check_is_interrupted_not_a_clean_exit(monkeypatch, tmp_path):
    """Lightning's own handler then ends its loop with SIGTERMException, a SystemExit: exit status 0."""
    from cluster_logreg.core.errors import Interrupted
    from cluster_logreg.model.classifier import LogisticClassifier

    validate = LogisticClassifier.validation_step

    def sigterm_at_the_first_batch(self, batch, batch_idx):
        if batch_idx == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return validate(self, batch, batch_idx)

    monkeypatch.setattr(LogisticClassifier, "validation_step", sigterm_at_the_first_batch)
    with pytest.raises(Interrupted, match="before training started") as stopped:  # 200 points: 4 batches
        train_in_process(tmp_path / "run", "data.batch_size=50")
    assert stopped.value.exit_status == 128 + signal.SIGTERM
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_ctrl_c_stops_at_the_end_of_the_epoch_as_sigterm_does_and_a_second_one_at_once():
    from types import SimpleNamespace

    from cluster_logreg.training.callbacks import StopOnSignal

    stop, previous = StopOnSignal(), {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    any_process = SimpleNamespace(reduce_boolean_decision=lambda decision, all: decision)  # one process: its own
    trainer = SimpleNamespace(received_sigterm=False, strategy=any_process, should_stop=False)
    try:
        stop.on_train_start(trainer, None)  # its handlers, as a fit installs them
        for signum in (signal.SIGTERM, signal.SIGINT):
            stop.received, trainer.should_stop = None, False
            os.kill(os.getpid(), signum)
            assert stop.received == signum and not trainer.should_stop  # the epoch goes on to its end
            stop.on_train_epoch_end(trainer, None)
            assert trainer.should_stop and stop.received == signum  # then the fit stops, saying which signal
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C again: at once
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
