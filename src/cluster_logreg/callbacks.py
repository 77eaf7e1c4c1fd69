"""Callbacks the Lightning library does not ship."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from lightning import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
from torch.utils.tensorboard import SummaryWriter

from cluster_logreg.errors import Interrupted
from cluster_logreg.metrics import TRAIN, TRUE, shown

if TYPE_CHECKING:
    from cluster_logreg.data import TensorDataModule
    from cluster_logreg.model import LogisticClassifier

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


class EpochReport(Callback):
    """Logs one line of metrics every `every_n_epochs`, as the tutorial printed every 10 epochs.

    Written at the end of a validation, so every value on the line is that validation's (the train
    metrics are the means since the previous one); epochs that are not validated print nothing.
    A progress bar redrawn every one-step epoch costs more than the step itself and fills log files.
    """

    SHOWN = (*TRAIN, "loss/val", "acc/val", *TRUE)

    def __init__(self, every_n_epochs: int = 100):
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch, last = validated_epoch(trainer), trainer.max_epochs  # last: an int once a fit has started
        if trainer.sanity_checking or (epoch % self.every_n_epochs and (last is None or epoch < last)):
            return
        metrics = trainer.callback_metrics
        values = "  ".join(f"{k}={shown(k, float(metrics[k]))}" for k in self.SHOWN if k in metrics)
        log.info(f"epoch {epoch:>{len(str(trainer.max_epochs))}}/{trainer.max_epochs}  {values}")


class LastCheckpoint(Checkpoint):
    """`path` every `every_n_epochs` and at the end (`save`): what `resume=<run dir>` continues from.

    A Checkpoint callback, so Lightning runs it after the module's and the other callbacks' epoch-end
    hooks: it saves a state the run passes through anyway. Lightning's ModelCheckpoint can do this
    too, but it copies every logged metric each epoch before it looks at the epoch number, which
    costs ~15 % of the default run; this costs one save (a few ms) per `every_n_epochs`.
    """

    def __init__(self, path: str, every_n_epochs: int = 100):
        self.path, self.every_n_epochs = path, every_n_epochs

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.save(trainer)

    def save(self, trainer: Trainer) -> None:
        # Everything a resumed run needs: optimizer, loops and callbacks too (said, or Lightning says it).
        trainer.save_checkpoint(self.path, weights_only=False)


class StopOnSignal(Callback):
    """Ctrl-C (SIGINT), pre-emption (SIGTERM, as SLURM sends) or SLURM's warning before a time limit
    (SIGUSR1, `sbatch --signal=USR1@<seconds>`): finish the epoch, then stop the fit.

    The run then saves its last checkpoint and exits (see `pipeline.train`). Stopping between
    epochs keeps that checkpoint a state the run passes through anyway, so the resumed run ends with
    exactly the metrics of an uninterrupted one; Lightning's own SIGTERM handling stops mid-epoch
    and saves nothing. A second Ctrl-C stops at once, without saving.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.received_sigterm:  # during setup, under Lightning's handler: nothing trained yet
            raise Interrupted("stopped by SIGTERM before training started; nothing new to save", signal.SIGTERM)
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


class DecisionBoundaryPlot(Callback):
    """At the end of fit (and every `every_n_epochs` if > 0: a slider in TensorBoard): the picture of
    what the model learned, to TensorBoard (`model/decision_boundary`) and, at the end, to `png_path`.

    With 2 features: the points, the model's probability and its 0.5 line (and the Bayes-optimal line
    where the data's distribution is known). With any other number: the distribution of the model's
    score w.x + c over each class, which shows the same separation in any dimension.
    """

    TAG = "model/decision_boundary"

    def __init__(self, png_path: str | None = None, every_n_epochs: int = 0, max_points: int = 2000):
        self.png_path, self.every_n_epochs, self.max_points = png_path, every_n_epochs, max_points

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0 and epoch != trainer.max_epochs:
            self._draw(trainer, pl_module, save=False)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, save=True)

    def _draw(self, trainer: Trainer, pl_module: LightningModule, save: bool) -> None:
        from cluster_logreg.figures import as_rgb, decision_boundary_figure, png_bytes, score_figure

        # Lightning hands these callbacks its base types: they draw this project's model and data.
        datamodule = cast("TensorDataModule", fit_datamodule(trainer))
        model = cast("LogisticClassifier", pl_module)
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            log.info("decision boundary picture skipped: the weights are not finite (the run diverged)")
            return
        x, y = datamodule.splits["train"]
        shown_points = slice(0, self.max_points)  # the split is in random order: the first points are a sample
        title = f"what the model learned, epoch {trainer.current_epoch}"
        with torch.no_grad():
            if model.hparams.n_features == 2:
                proba = lambda points: model.predict_proba(points.to(model.device))  # noqa: E731
                fig = decision_boundary_figure(x[shown_points], y[shown_points], proba, datamodule.population, title)
            else:
                fig = score_figure(model(x).float().cpu(), y.cpu(), model.hparams.target, model.classes, title)
        rgb = as_rgb(fig)
        png = png_bytes(rgb)  # encoded once, for TensorBoard and for the file
        for writer in tensorboards(trainer):
            # What writer.add_image writes, without encoding the picture again (35 ms).
            height, width, _ = rgb.shape
            image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=png)
            writer._get_file_writer().add_summary(
                Summary(value=[Summary.Value(tag=self.TAG, image=image)]), trainer.global_step
            )
        if save and self.png_path:
            Path(self.png_path).write_bytes(png)


class ScoreHistograms(Callback):
    """Every `every_n_epochs` (and before training): how the model scores each class of the validation
    split, as TensorBoard histograms of the logit w.x + c (`model/logit_class0`, `model/logit_class1`).

    On these clusters precision and recall are 1 for every reasonable model, so a PR curve shows
    nothing; the two distributions show the margin between the classes and how it grows with |w|.
    """

    def __init__(self, every_n_epochs: int = 100):
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writers, epoch = tensorboards(trainer), validated_epoch(trainer)
        if trainer.sanity_checking:
            due = trainer.global_step == 0  # before training; not when a resumed run starts
        else:
            last = trainer.max_epochs  # an int once a fit has started
            due = epoch % self.every_n_epochs == 0 or (last is not None and epoch >= last)
        if not writers or not due:
            return
        x, y = cast("TensorDataModule", fit_datamodule(trainer)).splits["val"]
        with torch.no_grad():
            logits = pl_module(x).float().cpu().numpy()
        labels = y.cpu().numpy()
        for label in (0, 1):
            scores = logits[(labels == label) & np.isfinite(logits)]  # a tiny split may lack a class
            for writer in writers if len(scores) else ():
                # 30 bins, as many as TensorBoard draws: its default ("tensorflow", ~1500 exponential
                # buckets) costs 1 ms a histogram, 7x as much.
                writer.add_histogram(f"model/logit_class{label}", scores, trainer.global_step, bins=30)


class LinearMapText(Callback):
    """At the end of fit: the learned map w.x + c and the Bayes-optimal direction, as text
    (`model/linear_map`). Their cosine and |w| are curves, logged at every validation by the model."""

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        w, c = cast("LogisticClassifier", pl_module).affine_map()
        text = f"logit = w . x + c with w = {[round(v, 4) for v in w]}, c = {c:.4f}"
        population = getattr(fit_datamodule(trainer), "population", None)
        if population is not None:
            bayes = [round(v, 4) for v in population.bayes_direction]
            cosine = population.metrics(w, c)["model/cosine_to_bayes"]
            text += f"; the Bayes-optimal direction is {bayes}, at a cosine of {cosine:.6f}"
        for writer in tensorboards(trainer):
            writer.add_text("model/linear_map", text, trainer.global_step)
