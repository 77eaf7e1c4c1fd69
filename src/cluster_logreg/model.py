"""The tutorial's two-layer sigmoid classifier as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import BinaryAccuracy

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class LogisticClassifier(LightningModule):
    """Linear(n_features -> hidden_dim) -> Linear(hidden_dim -> 1) -> sigmoid.

    No nonlinearity sits between the layers, so the boundary is a straight line: logistic
    regression with an over-parametrised weight, as in the tutorial. `forward` returns logits and
    the loss is BCE computed from them (`BCEWithLogitsLoss`), which equals the tutorial's
    `Sigmoid` + `BCELoss` but stays finite when the sigmoid saturates.
    """

    def __init__(self, n_features: int = 2, hidden_dim: int = 5, optimizer: OptimizerFactory | None = None):
        super().__init__()
        # The optimizer factory is code, not data: it stays out of hparams and checkpoints.
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self.net = nn.Sequential(nn.Linear(n_features, hidden_dim), nn.Linear(hidden_dim, 1))
        self.loss_fn = nn.BCEWithLogitsLoss()
        # validate_args=False: the targets are ours (0/1 by construction); the checks cost a sync per step.
        self.train_acc, self.val_acc, self.test_acc = (BinaryAccuracy(validate_args=False) for _ in range(3))
        self.train_loss = MeanMetric(nan_strategy="disable")  # a NaN loss shows as NaN, not as an error
        self.val_acc_best = MaxMetric()
        # Saved in checkpoints: a resumed run goes on with the best so far and the train metrics
        # accumulated since the last log, so it ends with exactly the metrics of an uninterrupted one.
        for metric in (self.train_loss, self.train_acc, self.val_acc_best):
            metric.persistent(True)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)

    def predict_proba(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self(x))

    @staticmethod
    def _predict(logits: Tensor) -> Tensor:
        # Class labels (logit > 0, i.e. probability > 0.5) rather than scores: BinaryAccuracy would
        # otherwise guess from their range whether it got logits or probabilities, at a cost per step.
        return (logits > 0).long()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss_fn(logits, y)
        # Accumulated here, logged at the validation cadence (on_train_epoch_end): for a model this
        # small one `self.log` call costs more than the training step itself.
        self.train_loss.update(loss.detach())
        self.train_acc.update(self._predict(logits.detach()), y.long())
        return loss

    def on_train_epoch_end(self) -> None:
        epoch, trainer = self.current_epoch + 1, self.trainer
        if epoch % trainer.check_val_every_n_epoch == 0 or epoch == trainer.max_epochs:
            # The means over the epochs since the last log: train and val curves share their x values.
            self.log_dict({"train/loss": self.train_loss.compute(), "train/acc": self.train_acc.compute()})
            self.train_loss.reset()
            self.train_acc.reset()

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, accuracy: BinaryAccuracy) -> None:
        x, y = batch
        logits = self(x)
        accuracy.update(self._predict(logits), y.long())  # computed once, when Lightning logs it
        self.log(f"{stage}/loss", self.loss_fn(logits, y), on_step=False, on_epoch=True, sync_dist=True)
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_acc)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # the untrained model's check must not count as a best
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_factory is None:
            raise RuntimeError("LogisticClassifier needs an optimizer factory to train")
        return self.optimizer_factory(params=self.parameters())
