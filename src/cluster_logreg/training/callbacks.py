"""Callbacks of this run that Lightning does not ship: the epoch line, the last checkpoint, stopping
on a signal, and the one rule of "every N epochs" they and the pictures (pictures.py) follow."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from lightning import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.tensorboard import SummaryWriter

from cluster_logreg.core.errors import Interrupted
from cluster_logreg.core.metrics import EPOCH_LINE, shown

log = logging.getLogger(__name__)


def tensorboards(trainer: Trainer) -> list[SummaryWriter]:
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


def fit_datamodule(trainer: Trainer) -> LightningDataModule | None:
    """The DataModule of the trainer's fit, validate or test (None without one)."""
    datamodule: LightningDataModule | None = trainer.datamodule  # type: ignore[attr-defined]  # set, not declared
    return datamodule


def validated_epoch(trainer: Trainer) -> int:
    """The number of the epoch a validation is about: during fit it is not counted yet, after fit it is."""
    return trainer.current_epoch + (trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking)


def is_due(epoch: int, every_n_epochs: int | None, last_epoch: int | None = None) -> bool:
    """Whether the work done every `every_n_epochs` (0 or None: never) is due after epoch `epoch`
    (counted from 1), or after `last_epoch` (where given) and beyond: the one rule of every callback."""
    return bool(every_n_epochs and epoch % every_n_epochs == 0) or (last_epoch is not None and epoch >= last_epoch)


class EpochReport(Callback):
    """Logs one line of metrics every `every_n_epochs`, as the tutorial printed every 10 epochs.

    Written at the end of a validation, so every value on the line is that validation's (the train
    metrics are the means since the previous one); epochs that are not validated print nothing.
    A progress bar redrawn every one-step epoch costs more than the step itself and fills log files.
    """

    def __init__(self, every_n_epochs: int = 100):
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = validated_epoch(trainer)
        if trainer.sanity_checking or not is_due(epoch, self.every_n_epochs, trainer.max_epochs):
            return
        # What Lightning logged (loss, accuracy) and what the model computes exactly (acc/true, ...).
        exact = getattr(pl_module, "exact_metrics", None)
        metrics = {**trainer.callback_metrics, **(exact(fit_datamodule(trainer)) if exact else {})}
        values = "  ".join(f"{k}={shown(k, float(metrics[k]))}" for k in EPOCH_LINE if k in metrics)
        log.info(f"epoch {epoch:>{len(str(trainer.max_epochs))}}/{trainer.max_epochs}  {values}")


class LastCheckpoint(Checkpoint):
    """`path` every `every_n_epochs` and at the end (`save`): what `resume=<run dir>` continues from.

    A Checkpoint callback, so Lightning runs it after the module's and the other callbacks' epoch-end
    hooks: it saves a state the run passes through anyway. Not Lightning's ModelCheckpoint: that
    copies every logged metric at every epoch before it looks at the epoch number (bench/profile_fit.py).
    """

    def __init__(self, path: str, every_n_epochs: int = 100):
        self.path, self.every_n_epochs = path, every_n_epochs

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if is_due(trainer.current_epoch + 1, self.every_n_epochs):
            self.save(trainer)

    def save(self, trainer: Trainer) -> None:
        # Everything a resumed run needs: optimizer, loops and callbacks too (said, or Lightning says it).
        trainer.save_checkpoint(self.path, weights_only=False)


def stopped_before_training() -> Interrupted:
    """A SIGTERM under Lightning's own handler (setup, the sanity check), before StopOnSignal's."""
    return Interrupted("stopped by SIGTERM before training started; nothing new to save", signal.SIGTERM)


class StopOnSignal(Callback):
    """Ctrl-C (SIGINT), pre-emption (SIGTERM, as SLURM sends) or SLURM's warning before a time limit
    (SIGUSR1, `sbatch --signal=USR1@<seconds>`): finish the epoch, then stop the fit.

    The run then saves its last checkpoint and exits (see `training.fit.train`). Stopping between
    epochs keeps that checkpoint a state the run passes through anyway, so the resumed run ends with
    exactly the metrics of an uninterrupted one; Lightning's own SIGTERM handling stops mid-epoch
    and saves nothing. A second Ctrl-C stops at once, without saving.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.received_sigterm:  # during setup, under Lightning's handler: nothing trained yet
            raise stopped_before_training()
        # Here Lightning has installed its own handlers; its teardown puts back the previous ones.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            signal.signal(signum, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)
        log.warning(f"{self.received.name} received: stopping at the end of this epoch (Ctrl-C again: stop now)")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Under DDP one process may get the signal: all stop after the same epoch, and all know
        # whether it was SLURM's SIGUSR1 (then process 0 asks for a requeue, which all wait for).
        if trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            usr1 = trainer.strategy.reduce_boolean_decision(self.received == signal.SIGUSR1, all=False)
            self.received = signal.SIGUSR1 if usr1 else (self.received or signal.SIGTERM)
            trainer.should_stop = True
