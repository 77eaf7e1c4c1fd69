"""TensorBoard's HParams records as this project writes them (core/hparams_records.py), read back
from real events files with TensorBoard's own reader."""

from __future__ import annotations

import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from cluster_logreg.core.hparams_records import ENDED, experiment, session_end, session_start, settings_of_session


def write(directory, *summaries):
    writer = EventFileWriter(str(directory))
    for summary in summaries:
        writer.add_event(Event(wall_time=time.time(), summary=summary))
    writer.close()


def records(directory) -> dict[str, plugin_data_pb2.HParamsPluginData]:
    events = EventAccumulator(str(directory))
    events.Reload()
    try:
        content = events.PluginTagToContent("hparams")
    except KeyError:  # no record at all
        return {}
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(data) for tag, data in content.items()}


def test_a_session_s_settings_and_its_end_are_read_back_as_written(tmp_path):
    settings = {"model.optimizer.lr": 0.1, "seed": 3, "model/optimizer": "sgd", "data.shuffle": True}
    write(tmp_path, session_start(settings), session_end("diverged"))
    assert settings_of_session(tmp_path) == settings
    assert records(tmp_path)["_hparams_/session_end_info"].session_end_info.status == api_pb2.STATUS_FAILURE


def test_every_way_a_run_ends_has_a_status_tensorboard_knows():
    expected = {"completed": "SUCCESS", "fast_dev_run": "SUCCESS", "failed": "FAILURE", "diverged": "FAILURE"}
    assert set(ENDED) == set(expected)
    for status, shown in expected.items():
        end = plugin_data_pb2.HParamsPluginData.FromString(session_end(status).value[0].metadata.plugin_data.content)
        assert api_pb2.Status.Name(end.session_end_info.status) == f"STATUS_{shown}"


def test_a_run_without_a_session_record_has_no_settings(tmp_path):
    write(tmp_path)
    assert settings_of_session(tmp_path) is None


def test_the_experiment_marks_what_varied_types_each_setting_and_keeps_the_metrics_order(tmp_path):
    settings = {"seed": [0, 1], "model.optimizer.lr": [0.01, 0.1, 1.0], "data": ["clusters"], "flag": [True]}
    write(tmp_path, experiment(settings, ["seed", "model.optimizer.lr"], ["acc/true", "loss/val", "acc/test"]))
    record = records(tmp_path)["_hparams_/experiment"].experiment
    infos = {info.name: info for info in record.hparam_infos}
    assert [name for name, info in infos.items() if info.differs] == ["model.optimizer.lr", "seed"]
    lr = infos["model.optimizer.lr"]
    assert lr.type == api_pb2.DATA_TYPE_FLOAT64
    assert (lr.domain_interval.min_value, lr.domain_interval.max_value) == (0.01, 1.0)
    assert infos["data"].type == api_pb2.DATA_TYPE_STRING and list(infos["data"].domain_discrete.values) != []
    assert infos["flag"].type == api_pb2.DATA_TYPE_BOOL and not infos["flag"].differs
    assert [m.name.tag for m in record.metric_infos] == ["acc/true", "loss/val", "acc/test"]


def test_a_run_that_fails_ends_its_session_as_failed_and_one_that_diverges_keeps_its_own(tmp_path):
    import types

    from lightning.pytorch.loggers import TensorBoardLogger

    from cluster_logreg.core.errors import Diverged
    from cluster_logreg.training.hparams import failing_session

    for name, error, expected in [
        ("crashed", RuntimeError("boom"), "STATUS_FAILURE"),
        ("diverged", Diverged("nan"), None),
    ]:
        logger = TensorBoardLogger(str(tmp_path / name), name="", version="")
        trainer = types.SimpleNamespace(loggers=[logger])  # what failing_session reads of a Trainer
        with pytest.raises(type(error)), failing_session(trainer):
            raise error
        logger.experiment.flush()
        ended = records(tmp_path / name).get("_hparams_/session_end_info")
        status = api_pb2.Status.Name(ended.session_end_info.status) if ended else None
        assert status == expected  # a divergence was recorded as such where it was found: not again here
