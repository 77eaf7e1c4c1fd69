"""The tutorial's data: two Gaussian clusters, drawn from a seed and split at random."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

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
    Its defaults are the tutorial's, as conf/data/clusters.yaml gives them."""

    def __init__(
        self,
        n_per_class: int = 1000,
        n_features: int = 2,
        mean_value: float = 2.5,
        std: float = 1.0,
        bias: float = 1.3,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int | None = None,
        seed: int = 0,
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
