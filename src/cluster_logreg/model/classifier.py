"""The tutorial's two-layer sigmoid classifier as a LightningModule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol, cast

import torch
from lightning import LightningDataModule, LightningModule
from lightning.fabric.utilities.data import AttributeDict
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import BinaryAccuracy

from cluster_logreg.core.metrics import ACC_TEST, ACC_TRAIN, ACC_VAL, ACC_VAL_BEST, LOSS_TEST, LOSS_TRAIN, LOSS_VAL

if TYPE_CHECKING:
    from cluster_logreg.core.population import GaussianPair


class OptimizerFactory(Protocol):
    """What `model.optimizer` instantiates to (Hydra's `_partial_`): an optimizer, given the parameters."""

    def __call__(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer: ...


class LogisticClassifier(LightningModule):
    """Linear(n_features -> hidden_dim) -> Linear(hidden_dim -> 1) -> sigmoid.

    No nonlinearity sits between the layers, so the boundary is a straight line: logistic
    regression with an over-parametrised weight, as in the tutorial. `forward` returns logits and
    the loss is BCE computed from them (`BCEWithLogitsLoss`), which equals the tutorial's
    `Sigmoid` + `BCELoss` but stays finite when the sigmoid saturates.

    Every metric is logged at each validation (every `check_val_every_n_epoch` epochs), at the step
    reached (TensorBoard's x axis), and once before training, at step 0. Where the DataModule knows
    the distribution of its data (a `population`, see population.py), the exact accuracy on it is
    logged too.
    """

    def __init__(
        self,
        n_features: int = 2,
        hidden_dim: int = 5,
        optimizer: OptimizerFactory | None = None,
        feature_names: list[str] | None = None,
        target: str = "label",
        classes: list[str] | None = None,
        input_mean: list[float] | None = None,
        input_std: list[float] | None = None,
    ):
        """`n_features` and the rest after `optimizer` describe the inputs; the DataModule gives them
        (`model_inputs`). They are saved in checkpoints, so a checkpoint alone can classify new points:
        which columns it reads, which of the target's values is class 1 (`classes[1]`), and the
        standardisation `(x - input_mean) / input_std` fitted on the training split (none if None)."""
        super().__init__()
        # The optimizer factory is code, not data: it stays out of hparams and checkpoints.
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer_factory = optimizer
        self.feature_names = feature_names or [f"x{i}" for i in range(n_features)]
        self.classes = classes or ["0", "1"]
        # Buffers: they move with the model to its device and are saved with the weights (None: absent).
        scaled = input_mean is not None and input_std is not None
        self.input_mean: Tensor | None
        self.input_std: Tensor | None
        self.register_buffer("input_mean", torch.tensor(input_mean) if scaled else None)
        self.register_buffer("input_std", torch.tensor(input_std) if scaled else None)
        self.net = nn.Sequential(nn.Linear(n_features, hidden_dim), nn.Linear(hidden_dim, 1))
        self.loss_fn = nn.BCEWithLogitsLoss()
        # validate_args=False: the targets are ours (0/1 by construction); the checks cost a sync per step.
        self.train_acc, self.val_acc, self.test_acc = (BinaryAccuracy(validate_args=False) for _ in range(3))
        # nan_strategy="disable": a NaN loss shows as NaN (the divergence check reads it), not as an error.
        self.train_loss, self.val_loss, self.test_loss = (MeanMetric(nan_strategy="disable") for _ in range(3))
        self.val_acc_best = MaxMetric()
        # Saved in checkpoints: a resumed run goes on with the best so far and the train metrics
        # accumulated since the last log, so it ends with exactly the metrics of an uninterrupted one.
        for metric in (self.train_loss, self.train_acc, self.val_acc_best):
            metric.persistent(True)
        self._step_zero: dict[str, Tensor | float] | None = None  # the curves' first point, until it is written

    @property
    def hparams(self) -> AttributeDict:
        # What save_hyperparameters stored (Lightning's type also allows a DictConfig's MutableMapping).
        return cast(AttributeDict, super().hparams)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of raw inputs (the standardisation, if any, is applied here)."""
        if self.input_mean is not None and self.input_std is not None:
            x = (x - self.input_mean) / self.input_std
        logits: Tensor = self.net(x)
        return logits.squeeze(-1)

    def predict_proba(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self(x))

    def affine_map(self) -> tuple[list[float], float]:
        """The two layers (and the standardisation) composed into one score w.x + c of the raw inputs
        (no nonlinearity between them), in float64."""
        first, second = self.net[0], self.net[1]
        assert isinstance(first, nn.Linear) and isinstance(second, nn.Linear)  # as built in __init__
        with torch.no_grad():
            w = (second.weight.double() @ first.weight.double()).squeeze(0)
            c = second.weight.double() @ first.bias.double() + second.bias.double()
            if self.input_mean is not None and self.input_std is not None:
                w = w / self.input_std.double()
                c = c - w @ self.input_mean.double()
        return w.tolist(), c.item()

    def predict_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        """The logit of each row of a batch of raw inputs (predict.py writes P(class 1) of the finite ones)."""
        logits: Tensor = self(batch)
        return logits

    def exact_metrics(self, datamodule: LightningDataModule | None = None) -> dict[str, float]:
        """The exact metrics (`metrics.TRUE`) and the map's shape (`metrics.LEARNED`), where the
        distribution of the data (`datamodule`, by default the trainer's) is known; else {}."""
        if datamodule is None:
            datamodule = self.trainer.datamodule  # type: ignore[attr-defined]  # Lightning sets it, undeclared
        population: GaussianPair | None = getattr(datamodule, "population", None)
        return population.metrics(*self.affine_map()) if population is not None else {}

    @staticmethod
    def _predict(logits: Tensor) -> Tensor:
        # Class labels (logit > 0, i.e. probability > 0.5) rather than scores: BinaryAccuracy would
        # otherwise guess from their range whether it got logits or probabilities, at a cost per step.
        return (logits > 0).long()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        loss: Tensor = self.loss_fn(logits, y)
        # Accumulated here, logged at the validation cadence: for a model this small one `self.log`
        # call costs more than the training step itself.
        self.train_loss.update(loss.detach())
        self.train_acc.update(self._predict(logits.detach()), y.long())
        if self._step_zero is not None:  # the first step: its loss is the untrained model's
            self._log_step_zero(self._step_zero)
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], loss: MeanMetric, accuracy: BinaryAccuracy) -> None:
        x, y = batch
        logits = self(x)
        # Each point's loss: the mean over points whatever the batches. (Not the batch mean with
        # `weight=len(y)`: torchmetrics ignores the weights when nan_strategy is "disable".)
        loss.update(binary_cross_entropy_with_logits(logits, y, reduction="none"))
        accuracy.update(self._predict(logits), y.long())

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.val_loss, self.val_acc)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, self.test_loss, self.test_acc)

    def on_validation_epoch_end(self) -> None:
        # The validation's torchmetrics objects: Lightning computes them (over all DDP processes) after
        # this hook, hands them to the loggers and the callbacks (`trainer.callback_metrics`), then
        # resets them. Of its sanity check it logs nothing (it only resets them): the untrained model's
        # values are kept for the curves' step-0 point, written at the first step.
        self.log_dict({LOSS_VAL: self.val_loss, ACC_VAL: self.val_acc})
        if self.trainer.sanity_checking:
            if self.global_step == 0:  # a fresh run, not a resumed one
                self._step_zero = {LOSS_VAL: self.val_loss.compute(), ACC_VAL: self.val_acc.compute()}
                self._step_zero |= self.exact_metrics()
            return
        self.val_acc_best.update(self.val_acc.compute())  # (not a call: that computes a batch value too, unused)
        # Its value, not the MaxMetric: Lightning would reset the best so far after this validation.
        values: dict[str, Tensor | float] = {ACC_VAL_BEST: self.val_acc_best.compute()}
        if self.train_loss.update_called:  # the means over the steps since the previous validation
            values |= {LOSS_TRAIN: self.train_loss.compute(), ACC_TRAIN: self.train_acc.compute()}
            # Reset now, not by Lightning after this validation's callbacks: the checkpoint they save
            # (best.ckpt) then holds, as every other, only the train steps not reported yet.
            self.train_loss.reset()
            self.train_acc.reset()
        self._log_at_step_reached(values)
        # The exact metrics and the map's shape (float64, from the weights, not the batches): curves no
        # callback reads, straight to the loggers at the same step. Through self.log they would cost
        # more than the fit's steps (measured: ~1 ms a self.log call, 7 of them every validation).
        self._to_loggers(self.exact_metrics(), self.global_step)

    def on_test_epoch_end(self) -> None:
        self.log_dict({LOSS_TEST: self.test_loss, ACC_TEST: self.test_acc})
        self._log_at_step_reached({})

    def _log_at_step_reached(self, values: dict[str, Tensor | float]) -> None:
        """Values the same in every DDP process (synced metrics, the same weights), and the curves' x:
        the step reached. Lightning would put an epoch's end at its count of steps taken, which does not
        count the current one yet (the step before), and add an `epoch` curve, unless `step` is logged:
        then that is the x axis, and no `epoch` (`Trainer`'s logger connector, `log_metrics`); exact up
        to 2**24 steps (float32). The max over the DDP processes is each value, where a mean may round."""
        self.log_dict(values | {"step": float(self.global_step)}, reduce_fx="max", sync_dist=True)

    def _log_step_zero(self, step_zero: dict[str, Tensor | float]) -> None:
        """The untrained model at step 0: validation and exact metrics from Lightning's sanity check
        (`step_zero`), train metrics from the first step (computed before its update: the whole
        training split by default, the first batch with mini-batches). Straight to the loggers: no
        callback reads it."""
        values = step_zero | {LOSS_TRAIN: self.train_loss.compute(), ACC_TRAIN: self.train_acc.compute()}
        self._step_zero = None
        self._to_loggers(values, step=0)

    def _to_loggers(self, values: Mapping[str, Tensor | float], step: int) -> None:
        """Curves' points no callback reads, straight to the loggers (the public `log_metrics`)."""
        for logger in self.loggers:  # each writes only in process 0 under DDP
            logger.log_metrics({name: float(value) for name, value in values.items()}, step=step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_factory is None:
            raise RuntimeError("LogisticClassifier needs an optimizer factory to train")
        return self.optimizer_factory(params=self.parameters())
