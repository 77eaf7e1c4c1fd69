"""The members' data, stacked: each member's own splits (its seed's draw and split) as one `[K, N, d]`
tensor per split, and each member's batches shuffled by its own generator, as its own run would."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from lightning import LightningDataModule
from torch import Tensor

from cluster_logreg.data.tensors import TensorDataModule


class StackedBatches:
    """(x, y) batches of `[K, n, d]` and `[K, n]`: batch i of every member at once."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, generators: list[torch.Generator] | None = None):
        self.x, self.y, self.batch_size, self.generators = x, y, batch_size, generators

    def __len__(self) -> int:
        return math.ceil(self.x.shape[1] / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self.x, self.y
        if self.generators is not None and len(self) > 1:
            # Each member's permutation from its own generator, as TensorBatches draws it.
            n = x.shape[1]
            order = torch.stack([torch.randperm(n, generator=g) for g in self.generators]).to(x.device)
            x, y = torch.take_along_dim(x, order[:, :, None], dim=1), torch.take_along_dim(y, order, dim=1)
        for start in range(0, x.shape[1], self.batch_size):
            yield x[:, start : start + self.batch_size], y[:, start : start + self.batch_size]


class StackedData(LightningDataModule):
    """Serves the members' DataModules stacked. Each member's DataModule keeps its splits as views of
    the stacked tensors (its callbacks read them) and its shuffling generator (its checkpoint holds it)."""

    def __init__(self, members: list[TensorDataModule], states: list[dict[str, Any] | None] | None = None):
        """`states`: each member's DataModule state from its checkpoint (a stack continued part-way)."""
        super().__init__()
        self.members, self.states = members, states or [None] * len(members)
        self.splits: dict[str, tuple[Tensor, Tensor]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for member, state in zip(self.members, self.states, strict=True):
            member.setup(stage)  # on the CPU: this DataModule is the one on the trainer
            if state is not None:
                member.load_state_dict(state)
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for name in self.members[0].splits:
            x = torch.stack([m.splits[name][0] for m in self.members]).to(device)
            y = torch.stack([m.splits[name][1] for m in self.members]).to(device)
            self.splits[name] = (x, y)
            for k, member in enumerate(self.members):
                member.splits[name] = (x[k], y[k])

    def _batches(self, split: str, shuffle: bool = False) -> StackedBatches:
        x, y = self.splits[split]
        batch_size = self.members[0].hparams.batch_size or x.shape[1]
        generators = [m.shuffling for m in self.members] if shuffle else None
        return StackedBatches(x, y, batch_size, generators)

    def train_dataloader(self) -> StackedBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> StackedBatches:
        return self._batches("val")
