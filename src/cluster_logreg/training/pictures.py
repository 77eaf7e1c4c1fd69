"""What the model learned, drawn in TensorBoard as it trains: the decision boundary, the margin
histogram and the learned linear map as text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
from torch.utils.tensorboard.writer import FileWriter

from cluster_logreg.core.metrics import (
    ANGLE_TO_BAYES,
    COSINE_TO_BAYES,
    DECISION_BOUNDARY,
    LINEAR_MAP,
    MARGIN,
    OFFSET_TO_BAYES,
)
from cluster_logreg.training.callbacks import fit_datamodule, is_due, tensorboards, validated_epoch

if TYPE_CHECKING:
    from cluster_logreg.data.tensors import TensorDataModule
    from cluster_logreg.model.classifier import LogisticClassifier

log = logging.getLogger(__name__)


class DecisionBoundaryPlot(Callback):
    """At the end of fit (and every `every_n_epochs` if > 0: a slider in TensorBoard): the picture of
    what the model learned, to TensorBoard (`metrics.DECISION_BOUNDARY`) and, at the end, to `png_path`.

    With 2 features: the points, the model's probability and its 0.5 line (and the Bayes-optimal line
    where the data's distribution is known). With any other number: the distribution of the model's
    score w.x + c over each class, which shows the same separation in any dimension. Its title names
    the run by `title` (what its command line changed; '': the defaults) and the epoch.
    """

    def __init__(self, png_path: str | None = None, every_n_epochs: int = 0, max_points: int = 2000, title: str = ""):
        self.png_path, self.every_n_epochs, self.max_points = png_path, every_n_epochs, max_points
        self.title = title

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if is_due(epoch, self.every_n_epochs) and epoch != trainer.max_epochs:  # the last: on_fit_end
            self._draw(trainer, pl_module, epoch, save=False)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, trainer.current_epoch, save=True)  # the epochs done

    def _draw(self, trainer: Trainer, pl_module: LightningModule, epoch: int, save: bool) -> None:
        from cluster_logreg.training.figures import as_rgb, decision_boundary_figure, png_bytes, run_title, score_figure

        # Lightning hands these callbacks its base types: they draw this project's model and data.
        datamodule = cast("TensorDataModule", fit_datamodule(trainer))
        model = cast("LogisticClassifier", pl_module)
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            log.info("decision boundary picture skipped: the weights are not finite (the run diverged)")
            return
        x, y = datamodule.splits["train"]
        shown_points = slice(0, self.max_points)  # the split is in random order: the first points are a sample
        title = run_title(self.title, epoch)
        class_names = [f"{model.hparams.target} = {name}" for name in model.classes]
        with torch.no_grad():
            if model.hparams.n_features == 2:
                proba = lambda points: model.predict_proba(points.to(model.device))  # noqa: E731
                shown = x[shown_points], y[shown_points]
                population, features = datamodule.population, model.feature_names
                fig = decision_boundary_figure(*shown, proba, population, title, features, class_names)
            else:
                fig = score_figure(model(x).float().cpu(), y.cpu(), class_names, title)
        rgb = as_rgb(fig)
        png = png_bytes(rgb)  # encoded once, for TensorBoard and for the file
        for writer in tensorboards(trainer):
            # What writer.add_image writes, without encoding the picture again.
            height, width, _ = rgb.shape
            image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=png)
            file_writer = cast(FileWriter, writer.file_writer)  # open during the fit: closed at its teardown
            file_writer.add_summary(
                Summary(value=[Summary.Value(tag=DECISION_BOUNDARY, image=image)]), trainer.global_step
            )
        if save and self.png_path:
            Path(self.png_path).write_bytes(png)


def bin_edges(values: np.ndarray, bins: int = 30) -> np.ndarray:
    """`bins` equal bins over the values' range, fewer where float64 cannot tell their edges apart (a
    spread of 1 around 1e15: numpy's own `bins=30` then refuses to draw)."""
    edges = np.unique(np.linspace(float(values.min()), float(values.max()), bins + 1))
    return edges if len(edges) > 1 else np.array([edges[0], np.nextafter(edges[0], np.inf)])  # all one value


class MarginHistogram(Callback):
    """Every `every_n_epochs` (and at the end): a TensorBoard histogram (`metrics.MARGIN`) of each
    validation point's signed distance to the model's boundary, y (w.x + c) / |w| with y = +-1: positive
    on its own class's side, both classes in one. How wide the gap between the classes is and how
    many points sit near or across the line, on the same scale at every step, whatever |w| grows to.

    Not before training: the untrained model's margins would set the histograms' common scale. (On
    these clusters precision and recall are 1 for every reasonable model, so a PR curve shows nothing.)
    """

    def __init__(self, every_n_epochs: int = 100):
        self.every_n_epochs = every_n_epochs

    @rank_zero_only
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        writers = tensorboards(trainer)
        if trainer.sanity_checking or not writers:
            return
        if not is_due(validated_epoch(trainer), self.every_n_epochs, trainer.max_epochs):
            return
        model = cast("LogisticClassifier", pl_module)
        norm = float(np.linalg.norm(model.affine_map()[0]))
        x, y = cast("TensorDataModule", fit_datamodule(trainer)).splits["val"]
        with torch.no_grad():
            logits = model(x).double().cpu().numpy()
        margins = (2 * y.cpu().numpy() - 1) * logits / norm if norm else logits[:0]
        margins = margins[np.isfinite(margins)]
        for writer in writers if len(margins) else ():
            # 30 bins, as many as TensorBoard draws: its default ("tensorflow", ~1500 exponential
            # buckets) costs more than the validation itself.
            writer.add_histogram(MARGIN, margins, trainer.global_step, bins=bin_edges(margins))


class LinearMapText(Callback):
    """At the end of fit: the learned map w.x + c as text (`metrics.LINEAR_MAP`) and, where the data's
    distribution is known, the Bayes-optimal one (the true log-odds) and how the model's boundary lies
    against it. The angle, offset, cosine and |w| are curves too, logged at every validation by the model."""

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        w, c = cast("LogisticClassifier", pl_module).affine_map()
        text = f"logit = w . x + c with w = {_rounded(w)}, c = {c:.4f}"
        population = getattr(fit_datamodule(trainer), "population", None)
        if population is not None:
            bayes_w, bayes_c = population.bayes_map()
            learned = population.metrics(w, c)
            text += (
                f"; the Bayes-optimal log-odds are w* . x + c* with w* = {_rounded(bayes_w)}, c* = {bayes_c:.4f}:"
                f" the model's boundary is turned {learned[ANGLE_TO_BAYES]:.3f} degrees from the Bayes one"
                f" (cosine {learned[COSINE_TO_BAYES]:.6f}) and shifted {learned[OFFSET_TO_BAYES]:+.3f} std"
                " towards class 1"
            )
        for writer in tensorboards(trainer):
            writer.add_text(LINEAR_MAP, text, trainer.global_step)


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(v, 4) for v in values]
