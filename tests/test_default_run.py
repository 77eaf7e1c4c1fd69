"""The default run (the tutorial's 1000 full-batch epochs, conftest.default_run), in process: its metrics,
checkpoints, TensorBoard events, and eval on its checkpoint. What only the command line shows is
test_cli.py's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from cluster_logreg.core.metrics import LEARNED, TEST, TRAIN, TRUE, VALIDATION
from cluster_logreg.core.run_dir import RunDir
from helpers import evaluate_in_process, read_metrics, refusal, train_in_process

LOGGED = (*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED)


def test_default_run_reproduces_the_tutorial_above_99_percent(default_run):
    metrics = read_metrics(default_run)
    assert metrics["status"] == "completed"
    assert metrics["acc/test"] >= 0.99 and metrics["acc/val"] >= 0.99
    assert metrics["epochs"] == 1000 and metrics["seed"] == 0 and metrics["accelerator"] == "cpu"
    assert metrics["fit_seconds"] > 0
    assert abs(metrics["bayes_acc"] - 0.9998) < 1e-4
    # On the clusters' distribution: within 0.05 percentage points of the best possible.
    assert 0 < metrics["acc/excess_error"] < 5e-4
    assert metrics["acc/true"] == pytest.approx(metrics["bayes_acc"] - metrics["acc/excess_error"], abs=1e-15)
    assert metrics["optimized_metric"] == "acc/true"


def test_run_directory_holds_events_checkpoints_picture_and_metrics(default_run):
    run = RunDir(default_run)
    assert list(default_run.glob("events.out.tfevents.*"))  # in the run directory: TensorBoard names the run after it
    assert run.last_checkpoint.is_file()
    assert Path(read_metrics(default_run)["best_checkpoint"]) == run.checkpoints / "best.ckpt"
    assert (run.checkpoints / "best.ckpt").is_file()
    assert run.decision_boundary.read_bytes().startswith(b"\x89PNG")


def test_last_checkpoint_holds_the_final_epoch(default_run):
    checkpoint = torch.load(RunDir(default_run).last_checkpoint, weights_only=True)
    assert checkpoint["global_step"] == 1000


def test_tensorboard_events_hold_every_metric_as_curves_from_step_0(default_run):
    events = EventAccumulator(str(default_run), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
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
    assert events.Tags()["images"] == ["picture/decision_boundary"]
    # Each validation point's margin, every 100 epochs (not the untrained model's: its scale would rule).
    assert [h.step for h in events.Histograms("picture/margin")] == list(range(100, 1001, 100))
    assert events.Histograms("picture/margin")[-1].histogram_value.num == 200  # the validation split
    # The learned map as text, against the Bayes-optimal log-odds, with the angle and offset of its boundary.
    (text,) = events.Tensors("picture/linear_map/text_summary")
    written = text.tensor_proto.string_val[0].decode()
    metrics = read_metrics(default_run)
    assert "w* = [-5.0, -5.0], c* = 13.0000" in written
    assert f"turned {metrics['model/angle_to_bayes']:.3f} degrees" in written
    assert f"shifted {metrics['model/offset_to_bayes']:+.3f} std towards class 1" in written
    # The curves' last values (what the HParams tab shows as metrics) are the run's final ones.
    for tag in (*VALIDATION, *TEST, *TRUE, *LEARNED):
        assert events.Scalars(tag)[-1].value == pytest.approx(metrics[tag], rel=1e-6)


def test_tensorboard_gets_the_settings_as_the_command_line_names_them_and_how_the_run_ended(default_run):
    events = EventAccumulator(str(default_run))
    events.Reload()
    records = events.PluginTagToContent("hparams")
    # No experiment record: TensorBoard makes the HParams columns from the runs' settings and scalars.
    assert set(records) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(records["_hparams_/session_start_info"])
    logged = start.session_start_info.hparams
    assert logged["model.optimizer.lr"].number_value == pytest.approx(0.01)
    assert logged["model/optimizer"].string_value == "sgd" and logged["data"].string_value == "clusters"
    assert logged["trainer.accelerator"].string_value == "cpu"
    assert logged["data.batch_size"].string_value == "null"
    assert logged["seed"].number_value == 0 and "data.seed" not in logged  # data.seed is seed's: one column
    end = plugin_data_pb2.HParamsPluginData.FromString(records["_hparams_/session_end_info"])
    assert end.session_end_info.status == api_pb2.STATUS_SUCCESS


def test_eval_on_last_checkpoint_reports_the_same_test_metrics(default_run, tmp_path):
    evaluated = evaluate_in_process(tmp_path, f"ckpt_path={RunDir(default_run).last_checkpoint}")
    trained = read_metrics(default_run)
    for key in ("acc/test", "loss/test", *TRUE, *LEARNED):
        assert evaluated[key] == trained[key], key  # the same weights, the same thread count: to the last bit


def test_without_callbacks_no_checkpoint_is_written(tmp_path):
    metrics = train_in_process(tmp_path, "~callbacks", "trainer.max_epochs=10")
    assert metrics["best_checkpoint"] is None
    assert not list(tmp_path.rglob("*.ckpt"))  # Lightning adds no ModelCheckpoint of its own


@pytest.mark.parametrize("case", ["missing", "no_such_file", "directory", "text_file", "truncated"])
def test_bad_checkpoint_is_refused_by_name(case, default_run, tmp_path):
    text_file = tmp_path / "notes.ckpt"
    text_file.write_text("not a checkpoint\n")
    truncated = tmp_path / "truncated.ckpt"
    data = RunDir(default_run).last_checkpoint.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    ckpt = {
        "missing": None,
        "no_such_file": tmp_path / "nope.ckpt",
        "directory": tmp_path,
        "text_file": text_file,
        "truncated": truncated,
    }[case]
    line = refusal(*([f"ckpt_path={ckpt}"] if ckpt else []), config_name="eval")
    assert line.startswith("ckpt_path") and "valid:" in line


def test_other_feature_counts_get_the_score_picture(tmp_path):
    from matplotlib.image import imread

    train_in_process(tmp_path, "data.n_features=3", "trainer.max_epochs=5")
    height, width, _ = imread(RunDir(tmp_path).decision_boundary).shape
    assert (width, height) == (480, 380)  # the per-class score histograms (the boundary picture is 480 x 510)
