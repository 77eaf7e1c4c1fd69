"""What the model learned, drawn in TensorBoard as it trains: the decision boundary, the score
histograms and the learned linear map as text."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary  # type: ignore[import-untyped]

from cluster_logreg.core.metrics import COSINE_TO_BAYES, DECISION_BOUNDARY, LINEAR_MAP, SCORES_OF_CLASS
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
    score w.x + c over each class, which shows the same separation in any dimension.
    """

    def __init__(self, png_path: str | None = None, every_n_epochs: int = 0, max_points: int = 2000):
        self.png_path, self.every_n_epochs, self.max_points = png_path, every_n_epochs, max_points

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if is_due(epoch, self.every_n_epochs) and epoch != trainer.max_epochs:  # the last: on_fit_end
            self._draw(trainer, pl_module, save=False)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._draw(trainer, pl_module, save=True)

    def _draw(self, trainer: Trainer, pl_module: LightningModule, save: bool) -> None:
        from cluster_logreg.training.figures import as_rgb, decision_boundary_figure, png_bytes, score_figure

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
            # What writer.add_image writes, without encoding the picture again.
            height, width, _ = rgb.shape
            image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=png)
            writer._get_file_writer().add_summary(
                Summary(value=[Summary.Value(tag=DECISION_BOUNDARY, image=image)]), trainer.global_step
            )
        if save and self.png_path:
            Path(self.png_path).write_bytes(png)


class ScoreHistograms(Callback):
    """Every `every_n_epochs` (and before training): how the model scores each class of the validation
    split, as TensorBoard histograms of the logit w.x + c (`metrics.SCORES_OF_CLASS`).

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
            due = is_due(epoch, self.every_n_epochs, trainer.max_epochs)
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
                # buckets) costs more than the validation itself.
                writer.add_histogram(SCORES_OF_CLASS.format(label), scores, trainer.global_step, bins=30)


class LinearMapText(Callback):
    """At the end of fit: the learned map w.x + c and the Bayes-optimal direction, as text
    (`metrics.LINEAR_MAP`). Their cosine and |w| are curves, logged at every validation by the model."""

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        w, c = cast("LogisticClassifier", pl_module).affine_map()
        text = f"logit = w . x + c with w = {[round(v, 4) for v in w]}, c = {c:.4f}"
        population = getattr(fit_datamodule(trainer), "population", None)
        if population is not None:
            bayes = [round(v, 4) for v in population.bayes_direction]
            cosine = population.metrics(w, c)[COSINE_TO_BAYES]
            text += f"; the Bayes-optimal direction is {bayes}, at a cosine of {cosine:.6f}"
        for writer in tensorboards(trainer):
            writer.add_text(LINEAR_MAP, text, trainer.global_step)
