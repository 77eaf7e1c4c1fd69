"""Callbacks the Lightning library does not ship."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.tensorboard import SummaryWriter

from cluster_logreg.errors import Interrupted

log = logging.getLogger(__name__)


def tensorboards(trainer: Trainer) -> list[SummaryWriter]:
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


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


class LastCheckpoint(Checkpoint):
    """`path` (checkpoints/last.ckpt) every `every_n_epochs`: what `resume=<run dir>` continues from.

    A Checkpoint callback, so Lightning runs it after the module's and the other callbacks' epoch-end
    hooks: it saves a state the run passes through anyway. Lightning's ModelCheckpoint can do this
    too, but it copies every logged metric each epoch before it looks at the epoch number, which
    costs ~15 % of the default run; this costs one save (a few ms) per `every_n_epochs`.
    """

    def __init__(self, path: str, every_n_epochs: int = 100):
        self.path, self.every_n_epochs = path, every_n_epochs

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            trainer.save_checkpoint(self.path)


class StopOnSignal(Callback):
    """Ctrl-C (SIGINT) or pre-emption (SIGTERM, as SLURM sends): finish the epoch, then stop the fit.

    The run then saves checkpoints/last.ckpt and exits (see `pipeline.train`). Stopping between
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
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._request_stop)

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum)
        log.warning(f"{self.received.name} received: stopping at the end of this epoch (Ctrl-C again: stop now)")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Under DDP one process may get the signal: all stop after the same epoch.
        if trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            self.received = self.received or signal.SIGTERM
            trainer.should_stop = True


class DecisionBoundaryPlot(Callback):
    """At the end of fit (and every `every_n_epochs` if > 0): the picture of what the model learned,
    to TensorBoard (Images tab, `decision_boundary`) and, at the end, to `png_path`.

    It needs 2 features; with another n_features it logs a note and draws nothing.
    """

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
        from matplotlib.image import imsave

        from cluster_logreg.figures import as_rgb, decision_boundary_figure

        datamodule = trainer.datamodule
        if datamodule.hparams.n_features != 2:
            log.info(f"decision boundary picture skipped: n_features={datamodule.hparams.n_features}, it needs 2")
            return
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            log.info("decision boundary picture skipped: the weights are not finite (the run diverged)")
            return
        x, y = datamodule.splits["train"]
        shown = slice(0, self.max_points)  # the split is in random order: the first points are a sample
        with torch.no_grad():
            fig = decision_boundary_figure(
                x[shown],
                y[shown],
                lambda points: pl_module.predict_proba(points.to(pl_module.device)),
                datamodule.centres,
                f"what the model learned, epoch {trainer.current_epoch}",
            )
        rgb = as_rgb(fig)  # rendered once, for TensorBoard and for the PNG
        for writer in tensorboards(trainer):
            writer.add_image("decision_boundary", rgb, trainer.global_step, dataformats="HWC")
        if save and self.png_path:
            imsave(Path(self.png_path), rgb)


class LearnedWeights(Callback):
    """At the end of fit: the composed linear map w.x + b (the two layers have no nonlinearity between
    them) as scalars `learned/w0`, `learned/w1`, ..., `learned/bias`, and its cosine with the
    Bayes-optimal direction (centre of class 1 minus centre of class 0) as `learned/cosine_to_bayes`."""

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        first, second = pl_module.net[0], pl_module.net[1]
        with torch.no_grad():
            w = (second.weight @ first.weight).squeeze(0).cpu()
            b = (second.weight @ first.bias + second.bias).item()
        c0, c1 = trainer.datamodule.centres
        cosine = torch.nn.functional.cosine_similarity(w, (c1 - c0).cpu(), dim=0).item()
        values = {f"learned/w{i}": v for i, v in enumerate(w.tolist())} | {"learned/bias": b}
        values["learned/cosine_to_bayes"] = cosine
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
        text = f"logit = w . x + b with w = {[round(v, 4) for v in w.tolist()]}, b = {b:.4f}; cosine to the "
        text += f"Bayes-optimal direction {[round(v, 4) for v in (c1 - c0).tolist()]}: {cosine:.6f}"
        for writer in tensorboards(trainer):
            writer.add_text("learned/linear_map", text, trainer.global_step)


class TestPRCurve(Callback):
    """After testing: the precision-recall curve of the test split (TensorBoard's PR Curves tab)."""

    @rank_zero_only
    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        x, y = trainer.datamodule.splits["test"]
        with torch.no_grad():
            probabilities = pl_module.predict_proba(x)
        for writer in tensorboards(trainer):
            writer.add_pr_curve("test/pr_curve", y.int().cpu(), probabilities.cpu(), trainer.global_step)
