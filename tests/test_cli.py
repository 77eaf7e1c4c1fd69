"""What only the command line shows: the console, the run's log file, exit statuses, the one error
line; and a multirun. The pipeline itself is tested in process (test_default_run.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cluster_logreg.core.metrics import shown
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.summary_table import job_dirs
from helpers import (
    DIVERGING,
    LRS,
    SEEDS,
    final_metrics,
    read_metrics,
    refusal,
    run_entry,
    the_error_line,
)

pytestmark = pytest.mark.cli


@pytest.mark.slow
def test_the_console_shows_the_epochs_the_results_and_where_they_are_and_nothing_else(cli_run):
    assert f"Run directory: {cli_run.path}" in cli_run.output
    # Quiet: Lightning's model table, accelerator lines and checkpoint notices are not there.
    assert "model: LogisticClassifier, 21 parameters" in cli_run.output
    for noise in ("weights_only", "Trainable params", "GPU available", "TPU available", "Tip", "stopped"):
        assert noise not in cli_run.output, noise
    assert (cli_run.path / ".hydra" / "config.yaml").is_file()
    assert "Run directory" in (cli_run.path / "train.log").read_text()


@pytest.mark.slow
def test_the_command_line_and_the_pipeline_in_process_give_the_same_metrics(cli_run, default_run):
    assert final_metrics(default_run) == final_metrics(cli_run.path)


@pytest.mark.slow
def test_the_epoch_line_shows_the_values_logged_at_that_epoch(cli_run):
    events = EventAccumulator(str(cli_run.path), size_guidance={"scalars": 0})
    events.Reload()
    lines = [line for line in cli_run.output.splitlines() if "epoch " in line and "/1000" in line]
    assert [line.split("epoch")[1].split("/")[0].strip() for line in lines] == [str(e) for e in range(100, 1001, 100)]
    for line in lines:
        epoch = int(line.split("epoch")[1].split("/")[0])
        for tag in ("loss/train", "acc/train", "loss/val", "acc/val", "acc/true", "acc/excess_error"):
            logged = next(e.value for e in events.Scalars(tag) if e.step == epoch)
            assert f"{tag}={shown(tag, logged)}" in line, (tag, epoch, line)


@pytest.mark.slow
def test_multirun_writes_one_complete_directory_per_job(lr_sweep):
    jobs = job_dirs(lr_sweep.path)
    # Named by number and what they vary: TensorBoard names each run after its directory.
    expected = [(lr, seed) for lr in LRS for seed in SEEDS]
    assert [p.name for p in jobs] == [f"{n:03d}_lr={lr},seed={seed}" for n, (lr, seed) in enumerate(expected)]
    for job, (lr, seed) in zip(jobs, expected, strict=True):
        assert read_metrics(job)["epochs"] == (10 if lr == DIVERGING else 1000)  # a diverged job stops at once
        assert list(job.glob("events.out.tfevents.*"))
        assert RunDir(job).overrides.read_text() == f"- model.optimizer.lr={lr}\n- seed={seed}\n"
    assert read_metrics(jobs[0])["loss/test"] != read_metrics(jobs[1])["loss/test"]


BAD_TRAIN_INPUTS = [
    ("data.n_per_class=0", "data.n_per_class"),
    ("model.hidden_dim=0", "model.hidden_dim"),
    ("model.optimizer.lr=-1", "model.optimizer.lr"),
    ("trainer.max_epochs=0", "trainer.max_epochs"),
    ("data.val_fraction=0.0001", "data.val_fraction"),
    ("data.test_fraction=0.0001", "data.test_fraction"),
    ("data.val_fraction=0.5 data.test_fraction=0.5", "data.val_fraction + data.test_fraction"),
    ("data.n_per_class=abc", "data.n_per_class"),  # wrong type
    ("data.n_per_clas=10", "data.n_per_clas"),  # unknown key
    ("trainer=nope", "trainer='nope' is not an option of trainer; valid: cpu | ddp | ddp_sim | default | gpu"),
    ("trainer.accelerator=warp", "trainer.accelerator"),
]
# One of each way a mistake is found: by a rule (a wrong value, a wrong type), by a rule that needs
# torch, by Hydra (an unknown key, an unknown option).
ON_THE_COMMAND_LINE = ("data.n_per_class=0", "data.val_fraction=0.0001", "data.n_per_class=abc", "data.n_per_clas=10")
ON_THE_COMMAND_LINE += ("trainer=nope",)


@pytest.mark.parametrize(("overrides", "key"), BAD_TRAIN_INPUTS)
def test_bad_train_input_is_refused_by_name(overrides, key):
    assert key in refusal(*overrides.split())


def assert_refused_cleanly(result, key: str, run_dir: Path) -> None:
    assert key in the_error_line(result)
    assert not RunDir(run_dir).metrics.exists()


@pytest.mark.parametrize(("overrides", "key"), [(o, k) for o, k in BAD_TRAIN_INPUTS if o in ON_THE_COMMAND_LINE])
def test_bad_train_input_gives_one_clear_line(overrides, key, tmp_path):
    result = run_entry("train", *overrides.split(), f"hydra.run.dir={tmp_path}")
    assert_refused_cleanly(result, key, tmp_path)
    assert the_error_line(result) == f"error: {refusal(*overrides.split())}"  # what the tests in process see


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_where_there_is_none_gives_one_clear_line(tmp_path):
    result = run_entry("train", "trainer.accelerator=gpu", f"hydra.run.dir={tmp_path}")
    assert_refused_cleanly(result, "trainer.accelerator", tmp_path)
    assert "no CUDA GPU" in result.stderr
    assert "error: trainer.accelerator='gpu'" in (tmp_path / "train.log").read_text()  # the run says why it stopped


@pytest.mark.gpu
def test_training_on_the_gpu(tmp_path):
    result = run_entry("train", f"hydra.run.dir={tmp_path}", "trainer.accelerator=gpu", "trainer.max_epochs=50")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(tmp_path)
    assert metrics["accelerator"] == "cuda" and metrics["acc/test"] >= 0.95 and metrics["acc/true"] >= 0.95


@pytest.mark.slow
def test_multirun_with_a_bad_job_runs_the_good_one_and_fails_at_the_end(tmp_path):
    result = run_entry("train", "-m", "data.n_per_class=100,0", "trainer.max_epochs=10", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data.n_per_class=0")
    assert "Traceback" not in result.stderr
    good, bad = job_dirs(tmp_path)
    assert RunDir(good).metrics.is_file() and not RunDir(bad).metrics.exists()
    # The table and where it is are still printed at the end, before the error line.
    assert "Sweep summary" in result.stdout and "failed: data.n_per_class=0" in result.stdout
    with open(tmp_path / "summary.csv", newline="") as file:
        ok, failed = csv.DictReader(file)
    assert ok["status"] == "ok" and ok["best"] == "yes" and float(ok["acc/true"]) > 0.9
    assert failed["status"] == "failed" and failed["reason"].startswith("data.n_per_class=0 is not valid")
    assert failed["acc/test"] == ""


def test_a_bad_checkpoint_gives_one_clear_line(tmp_path):
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    run_dir = tmp_path / "eval"
    result = run_entry("eval", f"ckpt_path={text_file}", f"hydra.run.dir={run_dir}")
    assert_refused_cleanly(result, "ckpt_path", run_dir)
