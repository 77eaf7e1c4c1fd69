"""Which sweep jobs can be trained together as one stacked model (hydra/launcher=stacked), read from
their composed configs alone: torch-free, so a job that cannot be stacked is said before anything is built.

Jobs share a group when their configs are equal but for the settings a stacked model holds one value
of per member (`STACKABLE`); each member keeps its own data draw, split, init and shuffling (its seed).
"""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

# What may differ inside a group. hidden_dim too: a member's extra hidden units are zero-padded,
# and in this linear network padded units get zero gradient, so they stay zero (exact).
STACKABLE = (
    "seed",
    "model.optimizer.lr",
    "model.optimizer.momentum",
    "model.optimizer.weight_decay",
    "model.hidden_dim",
)

# The stacked update is torch.optim.SGD's (training/stacked/model.py); other optimizers run alone.
STACKED_OPTIMIZER = "torch.optim.SGD"

# The Trainer's settings a stacked fit reproduces: the default trainer's (conf/trainer/default.yaml).
# Any other (gradient clipping, precision, a debug preset's limits) changes how each member trains.
TRAINER_KEYS = {
    "_target_",
    "default_root_dir",
    "accelerator",
    "devices",
    "num_nodes",
    "max_epochs",
    "check_val_every_n_epoch",
    "enable_progress_bar",
    "enable_model_summary",
    "log_every_n_steps",
    "num_sanity_val_steps",
    "plugins",
}

# The callbacks whose hooks a stacked fit calls for each member (training/stacked/members.py).
KNOWN_CALLBACKS = {
    "lightning.pytorch.callbacks.ModelCheckpoint",
    "lightning.pytorch.callbacks.EarlyStopping",
    "cluster_logreg.training.callbacks.LastCheckpoint",
    "cluster_logreg.training.callbacks.StopOnSignal",
    "cluster_logreg.training.callbacks.EpochReport",
    "cluster_logreg.training.pictures.DecisionBoundaryPlot",
    "cluster_logreg.training.pictures.MarginHistogram",
    "cluster_logreg.training.pictures.LinearMapText",
}


def why_not_stackable(cfg: DictConfig) -> str | None:
    """None if the job (its config without `hydra`) can be a member of a stack, else the reason in words."""
    optimizer = cfg.model.optimizer._target_
    if optimizer != STACKED_OPTIMIZER:
        return f"model.optimizer is {optimizer.rsplit('.', 1)[-1]}: only SGD is stacked"
    extra = sorted(set(cfg.trainer) - TRAINER_KEYS)
    if extra:
        return f"trainer.{extra[0]} is set: a stacked fit runs the default trainer's settings only"
    if cfg.trainer.devices != 1 or cfg.trainer.num_nodes != 1:
        return "it trains on several devices (DDP)"
    if cfg.trainer.max_epochs % cfg.trainer.check_val_every_n_epoch:
        return "its last epoch is not a validation epoch (trainer.max_epochs, check_val_every_n_epoch)"
    if cfg.get("resume"):
        return "resume= continues one run"
    targets = (str(c._target_) for c in (cfg.get("callbacks") or {}).values() if c is not None)
    unknown = [target for target in targets if target not in KNOWN_CALLBACKS]
    if unknown:
        return f"callback {unknown[0]} is not one a stacked fit knows how to call"
    return None


def group_key(cfg: DictConfig) -> str:
    """Equal for jobs that can share a stack: their configs (as written, interpolations unresolved, so
    paths in the job's own directory compare equal) without the stackable settings."""
    values: Any = OmegaConf.to_container(cfg, resolve=False)
    for key in STACKABLE:
        *parents, leaf = key.split(".")
        node = values
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    return json.dumps(values, sort_keys=True, default=str)
