"""How the stacked launcher writes each member's metrics, standing in for the `self.log` of its own
LogisticClassifier: its curves' points to its loggers, its callbacks' values to its MemberTrainer."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from lightning.fabric.loggers import Logger as FabricLogger
from lightning.fabric.utilities.logger import _add_prefix
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
from torch import Tensor

from cluster_logreg.core.metrics import TEST, TRAIN, TRUE, VALIDATION

# What callbacks read from Lightning's callback_metrics: monitors, the epoch line, the final metrics.
WATCHED = (*TRAIN, *VALIDATION, *TEST, *TRUE)


def publish(
    values: dict[str, Tensor | float],
    step: int,
    loggers: Iterable[FabricLogger],
    callback_metrics: dict[str, Tensor] | None,
    device: torch.device,
) -> None:
    """A validation's metrics, for one model: the curves' points, written to its loggers at `step` (their
    x axis) in one call; and what its callbacks read (monitors, the epoch line, the final metrics), to
    its Trainer's `callback_metrics` (None: the step-0 point, which no callback reads).

    A member's LogisticClassifier is never fit, so it logs nothing itself: the stacked fit's hooks
    (members.py, fit.py) hand each member's values here, to the same tags at the same steps as its
    own `self.log` would. `callback_metrics` is the dict its MemberTrainer hands its callbacks.
    """
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            _write_scalars(logger, values, step)
        else:
            logger.log_metrics({k: float(v) for k, v in values.items()}, step=step)
    if callback_metrics is not None:
        # As self.log stores them: tensors of the default dtype on the model's device.
        dtype = torch.get_default_dtype()
        callback_metrics.update(
            {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in values.items() if k in WATCHED}
        )


def _write_scalars(logger: TensorBoardLogger, values: dict[str, Tensor | float], step: int) -> None:
    """What TensorBoardLogger.log_metrics writes, the same tags and values at the same step, in one
    event rather than one per metric: a fifth of the time, which a stacked sweep pays per job."""
    if getattr(rank_zero_only, "rank", 0) != 0:  # as log_metrics: under DDP the other processes write no events
        return
    tags = _add_prefix({k: float(v) for k, v in values.items()}, logger._prefix, logger.LOGGER_JOIN_CHAR)
    summary = Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in tags.items()])
    logger.experiment._get_file_writer().add_summary(summary, step)
