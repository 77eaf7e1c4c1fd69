"""K classifiers of a sweep as one LightningModule: one forward and backward for all of them, and the
SGD update with each member's own learning rate, momentum and weight decay.

Member k's weights are the k-th slice of each stacked tensor, zero-padded to the widest member's
hidden layer: the padded units receive zero gradient (their outgoing weight is zero and the network
is linear), so they stay zero and the member trains exactly as its own, narrower model would.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch
from lightning import LightningModule
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits

from cluster_logreg.core.metrics import ACC_TEST, ACC_TRAIN, ACC_VAL, ACC_VAL_BEST, LOSS_TEST, LOSS_TRAIN, LOSS_VAL
from cluster_logreg.model.classifier import LogisticClassifier

# What each member's own torchmetrics would hold (checkpoints carry them: a resumed member goes on
# with its best so far and the train metrics since the last validation).
TRAIN_LOSS = ("train_loss.mean_value", "train_loss.weight")
CONFUSION = ("tp", "fp", "tn", "fn")  # BinaryAccuracy's states, in this order
VAL_BEST = "val_acc_best.max_value"


class StackedSGD(torch.optim.Optimizer):
    """torch.optim.SGD's update (dampening 0, no Nesterov: the project's SGD), with each member's lr,
    momentum and weight decay as a `[K]` tensor, over the stacked parameters; members whose `active`
    is False are left as they are.

    Written out because torch.optim cannot do it in one pass: its tensor `lr` must have one element,
    and one param group per member runs the update once per group, a Python call per member per
    step (bench/plain_sweep.py measures both). The formulas are torch's, term for term:
    d = grad + weight_decay * p; buf = momentum * buf + d (buf = d at the first step); p -= lr * buf.
    With momentum 0 torch keeps no buffer and steps by d, which is what buf is then.
    """

    def __init__(
        self, params: Iterable[nn.Parameter], lr: Tensor, momentum: Tensor, weight_decay: Tensor, active: Tensor
    ):
        super().__init__(params, {})
        self.lr, self.momentum, self.weight_decay, self.active = lr, momentum, weight_decay, active
        self.decays = bool(weight_decay.any())  # read once: on a GPU each read is a sync

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # Lightning's closure returns the loss
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                shape = (-1,) + (1,) * (p.dim() - 1)  # one value per member, broadcast over its slice
                grad = p.grad + self.weight_decay.view(shape) * p if self.decays else p.grad
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = grad.clone()
                else:
                    state["momentum_buffer"].mul_(self.momentum.view(shape)).add_(grad)
                step = self.lr.view(shape) * state["momentum_buffer"]
                p.sub_(torch.where(self.active.view(shape), step, torch.zeros_like(step)))
        return loss


class StackedClassifier(LightningModule):
    """The members' LogisticClassifiers stacked: inputs `[K, N, d]`, logits `[K, N]`, one loss per member.

    The module computes each member's metrics at every validation, as its own LogisticClassifier
    would (same formulas: the mean loss over points, the accuracy over points, the best accuracy so
    far, the train means since the previous validation), and leaves them in `validated`; the members'
    views (members.py) publish them, each to its own run directory.
    """

    # Buffers (register_buffer below): they move with the module and are in its state_dict.
    train_loss: Tensor  # [K, 2]: each member's summed train loss and steps since its last validation
    train_confusion: Tensor  # [K, 4]: its tp, fp, tn, fn over those steps
    val_acc_best: Tensor  # [K]: its best validation accuracy so far
    active: Tensor  # [K]: still training (a stopped member's weights are left as they are)
    lr: Tensor
    momentum: Tensor
    weight_decay: Tensor

    def __init__(self, members: list[LogisticClassifier], optimizer_settings: list[dict[str, Any]]):
        super().__init__()
        k, d = len(members), members[0].hparams.n_features
        width = max(m.hparams.hidden_dim for m in members)
        w1, b1, w2, b2 = torch.zeros(k, width, d), torch.zeros(k, width), torch.zeros(k, width), torch.zeros(k)
        for i, member in enumerate(members):
            first, second = member.net[0], member.net[1]
            assert isinstance(first, nn.Linear) and isinstance(second, nn.Linear)  # as LogisticClassifier builds it
            h = first.out_features
            w1[i, :h], b1[i, :h], w2[i, :h], b2[i] = first.weight, first.bias, second.weight[0], second.bias[0]
        self.w1, self.b1, self.w2, self.b2 = (nn.Parameter(t) for t in (w1, b1, w2, b2))
        self.input_mean: Tensor | None
        self.input_std: Tensor | None
        scaled = members[0].input_mean is not None
        self.register_buffer("input_mean", torch.stack([m.input_mean for m in members]) if scaled else None)  # type: ignore[misc]
        self.register_buffer("input_std", torch.stack([m.input_std for m in members]) if scaled else None)  # type: ignore[misc]
        # Each member's own running metrics, where its torchmetrics left them (a resumed member's are restored).
        self.register_buffer(
            "train_loss", torch.stack([torch.stack([m.train_loss.mean_value, m.train_loss.weight]) for m in members])
        )
        self.register_buffer(
            "train_confusion", torch.stack([torch.cat([getattr(m.train_acc, s) for s in CONFUSION]) for m in members])
        )
        self.register_buffer("val_acc_best", torch.stack([m.val_acc_best.max_value for m in members]))
        self.register_buffer("active", torch.ones(k, dtype=torch.bool))
        for name in ("lr", "momentum", "weight_decay"):
            self.register_buffer(name, torch.tensor([float(s.get(name, 0.0)) for s in optimizer_settings]))
        self._val: list[Tensor] = []  # this validation's per-member sums: loss, points, confusion
        self.validated: tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]] | None = None
        self.first_step_train: dict[str, Tensor] | None = None  # the step-0 point's train metrics
        self.momentum_buffers: list[Tensor] | None = None  # where a resumed stack's optimizer starts
        self.fit_started = time.perf_counter()

    def forward(self, x: Tensor) -> Tensor:
        if self.input_mean is not None and self.input_std is not None:
            x = (x - self.input_mean[:, None, :]) / self.input_std[:, None, :]
        # The two layers composed (no nonlinearity between them) before they meet the points: the same
        # logits and, through autograd, the same gradients as layer after layer, for a third of the
        # time (batched products with an inner size of 2 to 5 are slow); the sums differ in order only.
        w = torch.bmm(self.w2[:, None, :], self.w1)  # [K, 1, d]
        c = (self.w2 * self.b1).sum(1) + self.b2
        return torch.baddbmm(c[:, None, None], x, w.transpose(1, 2)).squeeze(-1)

    def _confusion(self, logits: Tensor, y: Tensor) -> Tensor:
        """[K, 4]: each member's tp, fp, tn, fn (predicted class 1 where the logit is > 0)."""
        predicted, actual = logits > 0, y > 0.5
        tp, predicted_1, actual_1 = (predicted & actual).sum(1), predicted.sum(1), actual.sum(1)
        fp, fn = predicted_1 - tp, actual_1 - tp
        return torch.stack([tp, fp, y.shape[1] - tp - fp - fn, fn], dim=1)

    @staticmethod
    def accuracy(confusion: Tensor) -> Tensor:
        """BinaryAccuracy's: (tp + tn) / all points, of each member."""
        return (confusion[:, 0] + confusion[:, 2]).float() / confusion.sum(1).float()

    def evaluate(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Each member's summed per-point loss, its number of points and its confusion counts on (x, y)."""
        logits = self(x)
        losses = binary_cross_entropy_with_logits(logits, y, reduction="none")
        return losses.sum(1), torch.full_like(losses[:, 0], losses.shape[1]), self._confusion(logits, y)

    def _means(self, loss_sum: Tensor, points: Tensor, confusion: Tensor, loss: str, acc: str) -> dict[str, Tensor]:
        """A split's `evaluate` sums as each member's mean loss and accuracy, named `loss` and `acc`."""
        return {loss: loss_sum / points, acc: self.accuracy(confusion)}

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        logits = self(x)
        losses = binary_cross_entropy_with_logits(logits, y, reduction="none").mean(1)
        with torch.no_grad():
            confusion = self._confusion(logits, y)
            if self.global_step == 0 and self.first_step_train is None:  # the untrained models (step 0)
                self.first_step_train = {LOSS_TRAIN: losses.detach().clone(), ACC_TRAIN: self.accuracy(confusion)}
            self.train_loss[:, 0] += losses.detach()
            self.train_loss[:, 1] += 1
            self.train_confusion += confusion
        # The members' losses summed: each member's gradient is its own loss's.
        return losses.sum()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        sums = list(self.evaluate(*batch))
        self._val = sums if not self._val else [a + b for a, b in zip(self._val, sums, strict=True)]

    def validated_again(self, batches: Iterable[tuple[Tensor, Tensor]]) -> dict[str, list[float]]:
        """Each member's validation metrics of the weights as they are, as its last validation computed them
        (`batches`: the same, summed in the same order): for a stack continued after its last epoch."""
        with torch.no_grad():
            for index, batch in enumerate(batches):
                self.validation_step(batch, index)
        val = self._validated()
        val[ACC_VAL_BEST] = torch.maximum(self.val_acc_best, val[ACC_VAL])  # the same: it was validated
        return {name: values.tolist() for name, values in val.items()}

    def _validated(self) -> dict[str, Tensor]:
        """The validation's sums (`validation_step`) as means, the sums cleared for the next one."""
        loss_sum, points, confusion = self._val
        self._val = []
        return self._means(loss_sum, points, confusion, LOSS_VAL, ACC_VAL)

    def on_validation_epoch_end(self) -> None:
        val = self._validated()
        train: dict[str, Tensor] = {}
        if self.trainer.sanity_checking:
            self.validated = (val, train, {})
            return
        if bool((self.train_loss[:, 1] > 0).all()):
            train = {
                LOSS_TRAIN: self.train_loss[:, 0] / self.train_loss[:, 1],
                ACC_TRAIN: self.accuracy(self.train_confusion),
            }
            self.train_loss.zero_()
            self.train_confusion.zero_()
        self.val_acc_best = torch.maximum(self.val_acc_best, val[ACC_VAL])
        self.validated = (val, train, {ACC_VAL_BEST: self.val_acc_best.clone()})

    def member_metric_states(self, k: int) -> dict[str, Tensor]:
        """Member k's torchmetrics states, named as in its LogisticClassifier's state_dict."""
        states = dict(zip(TRAIN_LOSS, self.train_loss[k], strict=True))
        states |= {f"train_acc.{s}": self.train_confusion[k, i, None] for i, s in enumerate(CONFUSION)}  # shape [1]
        return states | {VAL_BEST: self.val_acc_best[k]}

    def member_weights(self, k: int, hidden_dim: int, stacked: tuple[Tensor, ...] | None = None) -> dict[str, Tensor]:
        """Member k's slices of the stacked weights (or of tensors shaped like them, e.g. the optimizer's
        momentum buffers), named and shaped as in its own LogisticClassifier: views, not copies."""
        w1, b1, w2, b2 = stacked if stacked is not None else self.stacked_weights()
        h = hidden_dim
        return {
            "net.0.weight": w1[k, :h],
            "net.0.bias": b1[k, :h],
            "net.1.weight": w2[k, None, :h],
            "net.1.bias": b2[k, None],
        }

    def stacked_weights(self) -> tuple[nn.Parameter, ...]:
        return self.w1, self.b1, self.w2, self.b2

    def momentum_buffers_of(self, optimizer: torch.optim.Optimizer) -> tuple[Tensor, ...] | None:
        """The stacked optimizer's momentum buffers, in the weights' order (None before the first step)."""
        buffers = [optimizer.state.get(p, {}).get("momentum_buffer") for p in self.stacked_weights()]
        return None if any(b is None for b in buffers) else tuple(b for b in buffers if b is not None)

    def tested(self, x: Tensor, y: Tensor) -> dict[str, list[float]]:
        """Each member's test metrics on its split (x, y): its own run's LOSS_TEST and ACC_TEST."""
        with torch.no_grad():
            loss_sum, points, confusion = self.evaluate(x, y)
            means = self._means(loss_sum, points, confusion, LOSS_TEST, ACC_TEST)
        return {name: values.tolist() for name, values in means.items()}

    def on_fit_start(self) -> None:
        self.fit_started = time.perf_counter()

    def configure_optimizers(self) -> StackedSGD:
        params = list(self.stacked_weights())
        optimizer = StackedSGD(params, self.lr, self.momentum, self.weight_decay, self.active)
        if self.momentum_buffers is not None:
            for p, buffer in zip(params, self.momentum_buffers, strict=True):
                optimizer.state[p]["momentum_buffer"] = buffer.to(p.device)
        return optimizer
