"""The tutorial's data: two Gaussian clusters, drawn from a seed and split at random."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from cluster_logreg.config.data_settings import ClustersData as Settings
from cluster_logreg.config.run_settings import Train
from cluster_logreg.core.population import GaussianPair
from cluster_logreg.core.splits import split_sizes
from cluster_logreg.data.tensors import TensorDataModule


def make_clusters(
    n_per_class: int,
    n_features: int,
    mean_value: float,
    std: float,
    bias: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Class 0 around (+mean_value + bias), class 1 around (-mean_value + bias), class 0 first."""
    shape = (n_per_class, n_features)
    class0 = torch.normal(mean_value, std, shape, generator=generator) + bias
    class1 = torch.normal(-mean_value, std, shape, generator=generator) + bias
    x = torch.cat([class0, class1])
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)])
    return x, y


class GaussianClustersDataModule(TensorDataModule):
    """Draws the clusters from `seed` (independently of the global RNG) and splits them at random.
    Its settings and their defaults are `config.data_settings.ClustersData`'s."""

    def __init__(
        self,
        n_per_class: int = Settings.n_per_class,
        n_features: int = Settings.n_features,
        mean_value: float = Settings.mean_value,
        std: float = Settings.std,
        bias: float = Settings.bias,
        val_fraction: float = Settings.val_fraction,
        test_fraction: float = Settings.test_fraction,
        batch_size: int | None = Settings.batch_size,
        seed: int = Train.seed,
    ):
        super().__init__()
        # Saved into checkpoints, so eval.py rebuilds exactly this data and test split.
        self.save_hyperparameters()

    @property
    def population(self) -> GaussianPair:
        hp = self.hparams
        return GaussianPair.clusters(hp.n_features, hp.mean_value, hp.std, hp.bias)

    @property
    def n_train(self) -> int:
        hp = self.hparams
        return split_sizes(2 * hp.n_per_class, hp.val_fraction, hp.test_fraction)[0]

    def model_inputs(self) -> dict[str, Any]:
        n_features = self.hparams.n_features
        # Class 1 is the cluster around -mean_value + bias (the tutorial's label 1).
        return {"n_features": n_features, "feature_names": [f"x{i}" for i in range(n_features)]}

    def _splits_on_cpu(self) -> dict[str, tuple[Tensor, Tensor]]:
        hp = self.hparams
        generator = torch.Generator().manual_seed(hp.seed)
        x, y = make_clusters(hp.n_per_class, hp.n_features, hp.mean_value, hp.std, hp.bias, generator)
        sizes = split_sizes(len(x), hp.val_fraction, hp.test_fraction)
        order = torch.randperm(len(x), generator=generator)
        names = ("train", "val", "test")
        return {name: (x[index], y[index]) for name, index in zip(names, torch.split(order, list(sizes)), strict=True)}
