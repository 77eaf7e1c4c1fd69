"""Data held as tensors on the training device and served as whole-tensor batches: what every data
source (clusters.py, tables.py) is."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import torch
from lightning import LightningDataModule
from lightning.fabric.utilities.data import AttributeDict
from torch import Tensor

from cluster_logreg.core.population import GaussianPair


class TensorBatches:
    """Iterates (x, y) batches by slicing tensors: no per-sample fetch and collate as in a DataLoader.

    With a batch as large as the data (the default) every epoch is one slice of the whole tensors.
    """

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator | None = None):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = generator  # set: reshuffle every pass (only matters with several batches)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self.x, self.y
        if self.generator is not None and len(self) > 1:
            order = torch.randperm(len(x), generator=self.generator).to(x.device)
            x, y = x[order], y[order]
        for start in range(0, len(x), self.batch_size):
            yield x[start : start + self.batch_size], y[start : start + self.batch_size]


class TensorDataModule(LightningDataModule):
    """Train, validation and test splits held as tensors on the training device, served by slicing.

    A subclass draws or reads its splits (`_splits_on_cpu`) and says what the model needs to know of
    its inputs (`model_inputs`). Under DDP each process keeps its own shard of every split; Lightning
    and torchmetrics average the losses and pool the accuracies across processes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    @property
    def hparams(self) -> AttributeDict:
        # What save_hyperparameters stored (Lightning's type also allows a DictConfig's MutableMapping).
        return cast(AttributeDict, super().hparams)

    @property
    def population(self) -> GaussianPair | None:
        """The distribution the points are drawn from, where it is known (exact metrics need it)."""
        return None

    @property
    def n_train(self) -> int:
        """Points in the training split, over all DDP processes."""
        raise NotImplementedError

    def model_inputs(self) -> dict[str, Any]:
        """What the model is built with besides its own settings: its input size, the names of the
        features and classes, and the standardisation fitted on the training split (if any)."""
        raise NotImplementedError

    def _splits_on_cpu(self) -> dict[str, tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        # The tensors move to the accelerator once here, so no step copies them from the host.
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)
        for name, (x, y) in self._splits_on_cpu().items():
            self.splits[name] = (x[rank::world].to(device), y[rank::world].to(device))
        self._shuffle = torch.Generator().manual_seed(self.hparams.seed + 1)

    @property
    def shuffling(self) -> torch.Generator:
        """What draws the order of the training batches each epoch (set up by `setup`)."""
        return self._shuffle

    def state_dict(self) -> dict[str, Tensor]:
        # In checkpoints: a resumed run shuffles its batches as the uninterrupted run would have.
        return {"shuffle_rng": self._shuffle.get_state()} if self.splits else {}

    def load_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        if "shuffle_rng" in state_dict:
            self._shuffle.set_state(state_dict["shuffle_rng"])

    def _batches(self, split: str, shuffle: bool = False) -> TensorBatches:
        x, y = self.splits[split]
        batch_size = self.hparams.batch_size or len(x)
        return TensorBatches(x, y, batch_size, self._shuffle if shuffle else None)

    def train_dataloader(self) -> TensorBatches:
        # Overfitting a few batches (`trainer.overfit_batches`, debug=overfit) means the same ones every
        # epoch: Lightning turns shuffling off in a DataLoader, and these batches are not one.
        # (Lightning sets trainer.overfit_batches, but does not declare it on Trainer.)
        overfitting = self.trainer is not None and self.trainer.overfit_batches > 0  # type: ignore[attr-defined]
        return self._batches("train", shuffle=not overfitting)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val")

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test")
