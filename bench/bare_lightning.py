"""Lightning's own floor: the seed's model with nothing but a `training_step`, in `Trainer(barebones=True)`
(no logging, no callbacks, no checkpoints, no validation), on the same tensors and steps as the
plain loop (`plain.fit`). What any Lightning project pays at least; the benchmark's second peer.

Run as a script it is the end-to-end floor next to `python src/train.py` and `bench/plain.py`:
import, data, 1000 full-batch steps, test accuracy.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import plain  # bench/, beside this file
import torch
from lightning import LightningModule, Trainer
from torch import Tensor, nn

from cluster_logreg.data.tensors import TensorBatches


class BareModule(LightningModule):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.loss_fn = net, nn.BCEWithLogitsLoss()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss: Tensor = self.loss_fn(self.net(x).squeeze(-1), y)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)  # as plain.fit


def fit(net: nn.Module, x: Tensor, y: Tensor, epochs: int, batch_size: int | None = None) -> float:
    """As `plain.fit` (same optimizer, loss, batches reshuffled each epoch), through Lightning. Returns seconds."""
    with _quiet_lightning():
        accelerator = "gpu" if x.is_cuda else "cpu"
        trainer = Trainer(barebones=True, max_epochs=epochs, accelerator=accelerator, devices=1, logger=False)
        batches = TensorBatches(x, y, batch_size or len(x), generator=torch.Generator().manual_seed(0))
        module = BareModule(net)
        if x.is_cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.fit(module, train_dataloaders=batches)
        if x.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Without the list of what barebones switches off, said at every Trainer and fit."""
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        lightning_log.setLevel(level)


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = plain.clusters(1000, seed=0)
    order = torch.randperm(len(x))
    train, test = order[:1600], order[1800:]
    net = plain.model()
    seconds = fit(net, x[train], y[train], epochs=1000)
    accuracy = plain.accuracy(net, x[test], y[test])
    print(f"Lightning, barebones: 1000 epochs in {seconds:.2f} s, test accuracy {accuracy:.4f}")
