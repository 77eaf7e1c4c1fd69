"""TensorBoard's HParams tab: each run's settings, the ones a reader compares runs by."""

from __future__ import annotations

from typing import Any, cast

from lightning import Trainer
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from cluster_logreg.training.callbacks import tensorboards


@rank_zero_only  # as Lightning's loggers: under DDP the other processes write no events
def log_hparams(trainer: Trainer, cfg: DictConfig) -> None:
    """Give TensorBoard's HParams tab this run's settings; its metrics are the last value of each curve,
    so a run in progress shows there too.

    Only the session records, not Lightning's experiment record: without one, TensorBoard builds the
    table's columns from every run's settings and puts the settings that differ between runs (what a
    sweep varied) first, the constant ones after them.
    """
    _, session_start, session_end = hparams_summaries(_flat(_hparams(cfg, trainer)), {})
    for writer in tensorboards(trainer):
        file_writer = writer._get_file_writer()
        for summary in (session_start, session_end):
            file_writer.add_summary(summary)
        file_writer.flush()


def _flat(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} -> {"optimizer/lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}/")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _hparams(cfg: DictConfig, trainer: Trainer) -> dict[str, Any]:
    """The settings a reader compares runs by, without Hydra's `_target_` bookkeeping."""

    def settings(node: DictConfig) -> dict[str, Any]:
        values = cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))  # a DictConfig's is a dict
        return {k: v for k, v in values.items() if not k.startswith("_") and not isinstance(v, dict)}

    model = settings(cfg.model)
    return {
        "model": model,
        "optimizer": {"name": cfg.model.optimizer._target_.rsplit(".", 1)[-1]} | settings(cfg.model.optimizer),
        "data": settings(cfg.data) | {"batch_size": cfg.data.batch_size or "full"},
        "trainer": {"accelerator": trainer.strategy.root_device.type, "max_epochs": cfg.trainer.max_epochs},
        "seed": cfg.seed,
    }
