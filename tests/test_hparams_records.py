"""TensorBoard's HParams records as a run writes them (training/hparams.py): its settings as it starts
and its status as it ends, read back from its events files with TensorBoard's own reader."""

from __future__ import annotations

import types

import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata

from cluster_logreg.core.errors import Diverged
from cluster_logreg.training.hparams import ENDED, end_session, failing_session, log_hparams, run_settings
from helpers import compose_config


def a_run(directory) -> tuple[TensorBoardLogger, types.SimpleNamespace]:
    """A TensorBoard logger in `directory`, and what the records read of a Trainer."""
    logger = TensorBoardLogger(str(directory), name="", version="")
    return logger, types.SimpleNamespace(
        loggers=[logger], strategy=types.SimpleNamespace(root_device=torch.device("cpu"))
    )


def records(directory) -> dict[str, bytes]:
    events = EventAccumulator(str(directory))
    events.Reload()
    try:
        return events.PluginTagToContent(metadata.PLUGIN_NAME)
    except KeyError:  # no record at all
        return {}


def status(directory) -> str | None:
    ended = records(directory).get(metadata.SESSION_END_INFO_TAG)
    return api_pb2.Status.Name(metadata.parse_session_end_info_plugin_data(ended).status) if ended else None


def test_a_run_s_settings_are_read_back_as_the_command_line_names_them_each_run_its_own_row(tmp_path):
    cfg = compose_config(overrides=["model.optimizer.lr=0.1", "seed=3"])
    logger, trainer = a_run(tmp_path)
    log_hparams(trainer, cfg)
    start = metadata.parse_session_start_info_plugin_data(records(tmp_path)[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["model.optimizer.lr"].number_value == pytest.approx(0.1)
    assert start.hparams["seed"].number_value == 3 and start.hparams["model/optimizer"].string_value == "sgd"
    assert set(start.hparams) == set(run_settings(cfg, "cpu"))
    assert start.group_name == ""  # a group of its own: not one row with another run of the same settings
    assert metadata.SESSION_END_INFO_TAG not in records(tmp_path)  # running: no end yet


@pytest.mark.parametrize(
    ("ended", "shown"),
    [("completed", "SUCCESS"), ("fast_dev_run", "SUCCESS"), ("failed", "FAILURE"), ("diverged", "FAILURE")],
)
def test_every_way_a_run_ends_has_a_status_tensorboard_knows_even_once_lightning_closed_its_writer(
    tmp_path, ended, shown
):
    assert set(ENDED) == {"completed", "fast_dev_run", "failed", "diverged"}
    logger, trainer = a_run(tmp_path)
    logger.finalize("success")  # as after a fit and a test: the writer closed
    end_session(trainer, ended)
    assert status(tmp_path) == f"STATUS_{shown}"


def test_a_run_that_fails_ends_its_session_as_failed_and_one_that_diverges_keeps_its_own(tmp_path):
    for name, error, expected in [
        ("crashed", RuntimeError("boom"), "STATUS_FAILURE"),
        ("diverged", Diverged("nan"), None),
    ]:
        logger, trainer = a_run(tmp_path / name)
        with pytest.raises(type(error)), failing_session(trainer):
            raise error
        logger.experiment.flush()
        assert status(tmp_path / name) == expected  # a divergence was recorded as such where it was found
