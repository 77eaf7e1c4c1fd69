"""A table of your own as a LightningDataModule: `data=csv data.path=<file> data.target=<column>`
(conf/data/csv.yaml)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cluster_logreg.core.splits import stratified_split
from cluster_logreg.core.table import Table, read_table
from cluster_logreg.data.tensors import TensorDataModule


class CsvDataModule(TensorDataModule):
    """Numeric feature columns (`features`, or all but the target) and a binary `target` column, split
    at random per class (stratified) into train, validation and test.

    The features are standardised by the model with the mean and spread of the training split
    (`model_inputs`): they travel in the checkpoint, so predict.py applies exactly the same.
    """

    def __init__(
        self,
        path: str,
        target: str,
        features: list[str] | None = None,
        positive_class: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int | None = None,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()

    @property
    def table(self) -> Table:
        hp = self.hparams
        return read_table(hp.path, hp.target, hp.features, hp.positive_class)

    @functools.cached_property
    def _indices(self) -> dict[str, np.ndarray]:
        """The rows of each split (drawn once: n_train, model_inputs and setup all read them)."""
        hp = self.hparams
        return stratified_split(self.table.y, hp.val_fraction, hp.test_fraction, hp.seed)

    @property
    def n_train(self) -> int:
        return len(self._indices["train"])

    def model_inputs(self) -> dict[str, Any]:
        table = self.table
        train = table.x[self._indices["train"]].astype(np.float64)
        spread = train.std(axis=0)
        return {
            "n_features": len(table.features),
            "feature_names": list(table.features),
            "target": table.target,
            "classes": list(table.classes),
            "input_mean": train.mean(axis=0).tolist(),
            # A constant column: left unscaled rather than divided by zero.
            "input_std": np.where(spread > 0, spread, 1.0).tolist(),
        }

    def _splits_on_cpu(self) -> dict[str, tuple[Tensor, Tensor]]:
        table = self.table
        return {
            name: (torch.from_numpy(table.x[index]), torch.from_numpy(table.y[index]))
            for name, index in self._indices.items()
        }
