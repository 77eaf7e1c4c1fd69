"""TensorBoard's HParams tab: each run's settings, under the names the command line gives them, and
how it ended, written with TensorBoard's public summary API. With no experiment record, TensorBoard
makes the tab's columns from the runs: the settings that differ between them first, then by name;
every scalar tag a metric, by name (acc/excess_error and its log10 among the first five)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, cast

from lightning import Trainer
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2  # type: ignore[import-untyped]
from tensorboard.plugins.hparams.summary_v2 import hparams_pb  # type: ignore[import-untyped]
from torch.utils.tensorboard.writer import FileWriter

from cluster_logreg.config.schema import chosen_options
from cluster_logreg.core.errors import Diverged
from cluster_logreg.training.callbacks import tensorboards

Setting = bool | int | float | str

# The trainer's settings a reader compares runs by; the others are how the project runs, not what it tried.
TRAINER_SETTINGS = ("max_epochs",)
# How a run ended (metrics.json's status, or the exception) -> the session status TensorBoard knows:
# it has no "diverged"; that is a failure to train.
ENDED = {
    "completed": api_pb2.STATUS_SUCCESS,
    "fast_dev_run": api_pb2.STATUS_SUCCESS,
    "diverged": api_pb2.STATUS_FAILURE,
    "failed": api_pb2.STATUS_FAILURE,
}


@rank_zero_only  # as Lightning's loggers: under DDP the other processes write no events
def log_hparams(trainer: Trainer, cfg: DictConfig) -> None:
    """This run's settings, before its fit: its metrics are the last value of each curve, so a run in
    progress shows in the HParams tab too. (trial_id "": the run is a group of its own; by default
    runs with the same settings, in two sweeps say, would be one row.)"""
    _write(trainer, hparams_pb(run_settings(cfg, trainer.strategy.root_device.type), trial_id=""))


@rank_zero_only
def end_session(trainer: Trainer, status: str) -> None:
    """How the run ended (a key of `ENDED`). TensorBoard keeps a run's first end, so a run stopped to
    be continued writes none."""
    end = plugin_data_pb2.SessionEndInfo(status=ENDED[status], end_time_secs=time.time())
    content = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=end))
    value = Summary.Value(tag=metadata.SESSION_END_INFO_TAG, metadata=content, tensor=metadata.NULL_TENSOR)
    _write(trainer, Summary(value=[value]))


@contextlib.contextmanager
def failing_session(trainer: Trainer) -> Iterator[None]:
    """Around a run from its fit to its results: an exception ends its session as failed. Not a stop
    to be continued (Interrupted is no Exception), nor a divergence (recorded as diverged already)."""
    try:
        yield
    except Diverged:
        raise
    except Exception:
        end_session(trainer, "failed")
        raise


def _write(trainer: Trainer, summary: Any) -> None:
    for writer in tensorboards(trainer):
        file_writer: FileWriter | None = writer.file_writer
        if file_writer is not None:
            file_writer.add_summary(summary)
            file_writer.flush()
        else:  # Lightning closes its writer as a fit or a test ends: the record goes to an events file of its own
            closed = FileWriter(writer.log_dir)
            closed.add_summary(summary)
            closed.close()


def run_settings(cfg: DictConfig, accelerator: str) -> dict[str, Setting]:
    """`seed`, the `tags` where there are some, the group options chosen (`data`: clusters,
    `model/optimizer`: sgd) and every setting of the data and the model (`model.optimizer.lr`), as dotted
    keys; `trainer.accelerator` the device the run has, not the one asked for (auto). A key that only
    repeats a top-level one (`data.seed`, set from `seed`) is left out: one column per thing a sweep can vary."""
    settings: dict[str, Setting] = {"seed": cfg.seed, **chosen_options(cfg)}
    if cfg.get("tags"):
        settings["tags"] = _as_typed(list(cfg.tags))  # [baseline, dev]: a column to filter runs by
    for group in ("data", "model"):
        settings |= _leaves(cast(dict[str, Any], OmegaConf.to_container(cfg[group], resolve=True)), f"{group}.")
    settings |= {f"trainer.{key}": cfg.trainer[key] for key in TRAINER_SETTINGS}
    settings["trainer.accelerator"] = accelerator
    return {k: v for k, v in settings.items() if not (k.count(".") == 1 and settings.get(k.split(".")[1]) == v)}


def _leaves(node: dict[str, Any], prefix: str) -> dict[str, Setting]:
    leaves: dict[str, Setting] = {}
    for key, value in node.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            leaves |= _leaves(value, f"{prefix}{key}.")
        else:  # as the command line writes it: null, a list as [a, b]
            leaves[prefix + key] = value if isinstance(value, bool | int | float | str) else _as_typed(value)
    return leaves


def _as_typed(value: Any) -> str:
    return "null" if value is None else str(value).replace("'", "")
