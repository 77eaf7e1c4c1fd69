"""Callbacks the Lightning library does not ship."""

from __future__ import annotations

import logging

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


class EpochReport(Callback):
    """Logs one line of metrics every `every_n_epochs`, as the tutorial printed every 10 epochs.

    A progress bar redrawn every one-step epoch costs more than the step itself and fills log files.
    """

    def __init__(self, every_n_epochs: int = 100):
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs and epoch != trainer.max_epochs:
            return
        shown = ("train/loss", "train/acc", "val/loss", "val/acc")
        metrics = "  ".join(
            f"{k}={float(trainer.callback_metrics[k]):.4f}" for k in shown if k in trainer.callback_metrics
        )
        log.info(f"epoch {epoch:>{len(str(trainer.max_epochs))}}/{trainer.max_epochs}  {metrics}")
