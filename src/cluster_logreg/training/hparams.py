"""TensorBoard's HParams tab: each run's settings, under the names the command line gives them, and
how it ended. Which columns come first is the sweep's to say (sweeps/hparams_columns.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

from lightning import Trainer
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.schema import chosen_options
from cluster_logreg.core.errors import Diverged
from cluster_logreg.core.hparams_records import Setting, session_end, session_start
from cluster_logreg.training.callbacks import tensorboards

# The trainer's settings a reader compares runs by; the others are how the project runs, not what it tried.
TRAINER_SETTINGS = ("max_epochs",)


@rank_zero_only  # as Lightning's loggers: under DDP the other processes write no events
def log_hparams(trainer: Trainer, cfg: DictConfig) -> None:
    """This run's settings, before its fit: its metrics are the last value of each curve, so a run in
    progress shows in the HParams tab too."""
    _write(trainer, session_start(run_settings(cfg, trainer.strategy.root_device.type)))


@rank_zero_only
def end_session(trainer: Trainer, status: str) -> None:
    """How the run ended (`hparams_records.ENDED`); a run stopped to be continued writes none."""
    _write(trainer, session_end(status))


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
        file_writer = writer._get_file_writer()
        file_writer.add_summary(summary)
        file_writer.flush()


def run_settings(cfg: DictConfig, accelerator: str) -> dict[str, Setting]:
    """`seed`, the group options chosen (`data`: clusters, `model/optimizer`: sgd) and every setting of
    the data and the model (`model.optimizer.lr`), as dotted keys; `trainer.accelerator` the device the
    run has, not the one asked for (auto). A key that only repeats a top-level one (`data.seed`, set
    from `seed`) is left out: one column per thing a sweep can vary."""
    settings: dict[str, Setting] = {"seed": cfg.seed, **chosen_options(cfg)}
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
