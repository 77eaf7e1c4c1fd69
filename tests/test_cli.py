"""The real entry points, run in a subprocess as a user runs them, writing into temporary directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from cluster_logreg.metrics import LEARNED, TEST, TRAIN, TRUE, VALIDATION, shown
from cluster_logreg.sweep_summary import job_dirs
from helpers import run_entry, the_error_line

LOGGED = (*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED)
TIMES_AND_PATHS = ("fit_seconds", "samples_per_second", "best_checkpoint")

pytestmark = pytest.mark.cli


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def train_into(run_dir: Path, *overrides: str):
    result = run_entry("train", f"hydra.run.dir={run_dir}", *overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[Path, str]:
    """`python src/train.py` with nothing changed: the tutorial's 1000 full-batch epochs."""
    run_dir = tmp_path_factory.mktemp("default") / "run"
    result = train_into(run_dir)
    return run_dir, result.stdout + result.stderr


def test_default_run_reproduces_the_tutorial_above_99_percent(default_run):
    run_dir, output = default_run
    metrics = read_metrics(run_dir)
    assert metrics["acc/test"] >= 0.99 and metrics["acc/val"] >= 0.99
    assert metrics["epochs"] == 1000 and metrics["seed"] == 0 and metrics["accelerator"] == "cpu"
    assert metrics["fit_seconds"] > 0
    assert abs(metrics["bayes_acc"] - 0.9998) < 1e-4
    # On the clusters' distribution: within 0.05 percentage points of the best possible.
    assert 0 < metrics["acc/excess_error"] < 5e-4
    assert metrics["acc/true"] == pytest.approx(metrics["bayes_acc"] - metrics["acc/excess_error"], abs=1e-15)
    assert metrics["optimized_metric"] == "acc/true"
    assert f"Run directory: {run_dir}" in output


def test_run_directory_holds_config_log_events_checkpoints_and_metrics(default_run):
    run_dir, _ = default_run
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert "Run directory" in (run_dir / "train.log").read_text()
    assert list(run_dir.glob("events.out.tfevents.*"))  # in the run directory: TensorBoard names the run after it
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert Path(read_metrics(run_dir)["best_checkpoint"]) == run_dir / "checkpoints" / "best.ckpt"
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "decision_boundary.png").read_bytes().startswith(b"\x89PNG")


def test_last_checkpoint_holds_the_final_epoch(default_run):
    run_dir, _ = default_run
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 1000


def test_same_config_and_seed_give_the_same_metrics(default_run, tmp_path):
    first, _ = default_run
    train_into(tmp_path / "again")
    again = read_metrics(tmp_path / "again")
    expected = read_metrics(first)
    for key in TIMES_AND_PATHS:
        again.pop(key), expected.pop(key)
    assert again == expected


def test_tensorboard_events_hold_every_metric_as_curves_from_step_0(default_run):
    run_dir, _ = default_run
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert set(LOGGED) == tags  # no Lightning `epoch` counter, no hp_metric placeholder
    # Every curve: a point before training, then one per validation (every 10 epochs), x = the step.
    for tag in (*TRAIN, "loss/val", "acc/val", *TRUE, *LEARNED):
        assert [e.step for e in events.Scalars(tag)] == list(range(0, 1001, 10)), tag
    assert [e.step for e in events.Scalars("acc/val_best")] == list(range(10, 1001, 10))
    assert [e.step for e in events.Scalars("acc/test")] == [1000]
    # The learned linear map points the Bayes-optimal way (the clusters are that easy).
    assert events.Scalars("model/cosine_to_bayes")[-1].value > 0.999
    assert events.Tags()["images"] == ["model/decision_boundary"]
    for label in (0, 1):  # how the model scores each class, before training, every 100 epochs
        assert [h.step for h in events.Histograms(f"model/logit_class{label}")] == list(range(0, 1001, 100))
    # The curves' last values (what the HParams tab shows as metrics) are the run's final ones.
    metrics = read_metrics(run_dir)
    for tag in (*VALIDATION, *TEST, *TRUE, *LEARNED):
        assert events.Scalars(tag)[-1].value == pytest.approx(metrics[tag], rel=1e-6)


def test_tensorboard_gets_the_settings_without_an_experiment_record(default_run):
    run_dir, _ = default_run
    events = EventAccumulator(str(run_dir))
    events.Reload()
    records = events.PluginTagToContent("hparams")
    # Without Lightning's experiment record, TensorBoard orders the HParams columns itself: the
    # settings that differ between runs first.
    assert set(records) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(records["_hparams_/session_start_info"])
    logged = start.session_start_info.hparams
    assert logged["optimizer/lr"].number_value == pytest.approx(0.01)
    assert logged["trainer/accelerator"].string_value == "cpu"
    assert logged["data/batch_size"].string_value == "full"


def test_the_epoch_line_shows_the_values_logged_at_that_epoch(default_run):
    run_dir, output = default_run
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    lines = [line for line in output.splitlines() if "epoch " in line and "/1000" in line]
    assert [line.split("epoch")[1].split("/")[0].strip() for line in lines] == [str(e) for e in range(100, 1001, 100)]
    for line in lines:
        epoch = int(line.split("epoch")[1].split("/")[0])
        for tag in ("loss/train", "acc/train", "loss/val", "acc/val", "acc/true", "acc/excess_error"):
            logged = next(e.value for e in events.Scalars(tag) if e.step == epoch)
            assert f"{tag}={shown(tag, logged)}" in line, (tag, epoch, line)


def test_eval_on_last_checkpoint_reports_the_same_test_metrics(default_run, tmp_path):
    run_dir, _ = default_run
    result = run_entry("eval", f"ckpt_path={run_dir}/checkpoints/last.ckpt", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated, trained = read_metrics(tmp_path), read_metrics(run_dir)
    for key in ("acc/test", "loss/test", *TRUE, *LEARNED):
        assert evaluated[key] == trained[key], key  # the same weights, the same thread count: to the last bit
    assert "acc/test=" in result.stdout + result.stderr


def test_multirun_writes_one_complete_directory_per_job(tmp_path):
    result = run_entry(
        "train", "-m", "model.optimizer.lr=0.01,0.1", "trainer.max_epochs=20", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_dirs(tmp_path)
    # Named by number and what they vary: TensorBoard names each run after its directory.
    assert [p.name for p in jobs] == ["0_lr=0.01,max_epochs=20", "1_lr=0.1,max_epochs=20"]
    for job, lr in zip(jobs, ("0.01", "0.1"), strict=True):
        assert read_metrics(job)["epochs"] == 20
        assert list(job.glob("events.out.tfevents.*"))
        assert f"model.optimizer.lr={lr}" in (job / ".hydra" / "overrides.yaml").read_text()
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
    ("trainer=nope", "trainer/nope"),  # unknown config group option
    ("trainer.accelerator=warp", "trainer.accelerator"),
]


def assert_refused_cleanly(result, key: str, run_dir: Path) -> None:
    assert key in the_error_line(result)
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize(("overrides", "key"), BAD_TRAIN_INPUTS)
def test_bad_train_input_gives_one_clear_line(overrides, key, tmp_path):
    result = run_entry("train", *overrides.split(), f"hydra.run.dir={tmp_path}")
    assert_refused_cleanly(result, key, tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_where_there_is_none_gives_one_clear_line(tmp_path):
    result = run_entry("train", "trainer.accelerator=gpu", f"hydra.run.dir={tmp_path}")
    assert_refused_cleanly(result, "trainer.accelerator", tmp_path)
    assert "no CUDA GPU" in result.stderr
    assert "error: trainer.accelerator='gpu'" in (tmp_path / "train.log").read_text()  # the run says why it stopped


@pytest.mark.gpu
def test_training_on_the_gpu(tmp_path):
    train_into(tmp_path, "trainer.accelerator=gpu", "trainer.max_epochs=50")
    metrics = read_metrics(tmp_path)
    assert metrics["accelerator"] == "cuda" and metrics["acc/test"] >= 0.95 and metrics["acc/true"] >= 0.95


def test_multirun_with_a_bad_job_runs_the_good_one_and_fails(tmp_path):
    result = run_entry("train", "-m", "data.n_per_class=100,0", "trainer.max_epochs=10", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data.n_per_class=0")
    assert "Traceback" not in result.stderr
    good, bad = job_dirs(tmp_path)
    assert (good / "metrics.json").is_file() and not (bad / "metrics.json").exists()
    # The table and where it is are still printed at the end, before the error line.
    assert "Sweep summary" in result.stdout and "failed: data.n_per_class=0" in result.stdout


def _truncated(default_run, tmp_path):
    data = (default_run[0] / "checkpoints" / "last.ckpt").read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("case", ["missing", "no_such_file", "directory", "text_file", "truncated"])
def test_bad_checkpoint_gives_one_clear_line(case, default_run, tmp_path):
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    ckpt = {
        "missing": None,
        "no_such_file": tmp_path / "nope.ckpt",
        "directory": tmp_path,
        "text_file": text_file,
        "truncated": _truncated(default_run, tmp_path) if case == "truncated" else None,
    }[case]
    run_dir = tmp_path / "eval"
    overrides = [f"hydra.run.dir={run_dir}"] + ([f"ckpt_path={ckpt}"] if ckpt else [])
    assert_refused_cleanly(run_entry("eval", *overrides), "ckpt_path", run_dir)
