"""The data sources' settings (`data=clusters`, `data=csv`, conf/data/): their types and valid values,
and what each source means for the pre-flight checks (its splits, its memory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from cluster_logreg.config.rules import (
    AT_LEAST_1,
    BATCH_SIZE,
    FRACTION,
    NUMBER,
    SEED,
    Rule,
    is_list,
    is_name,
    number_above,
    path_to,
    setting,
)
from cluster_logreg.core.splits import split_sizes, stratified_split
from cluster_logreg.core.table import read_table


@dataclass
class SplitData:
    """What every data source has: a random split into train, validation and test, and its batches."""

    _target_: str = MISSING
    val_fraction: float = setting(FRACTION)
    test_fraction: float = setting(FRACTION)
    batch_size: int | None = setting(BATCH_SIZE)
    seed: int = setting(SEED)

    def split_sizes(self) -> tuple[tuple[int, int, int], str]:
        """The points in the train, validation and test splits, and what a point is, in words."""
        raise NotImplementedError


@dataclass
class ClustersData(SplitData):
    """The tutorial's data: n_per_class points per class in n_features dimensions,
    class 0 ~ Normal(+mean_value, std) + bias, class 1 ~ Normal(-mean_value, std) + bias."""

    _target_: str = "cluster_logreg.data.clusters.GaussianClustersDataModule"
    n_per_class: int = setting(AT_LEAST_1)
    n_features: int = setting(AT_LEAST_1)
    mean_value: float = setting(NUMBER)
    std: float = setting(number_above(0))
    bias: float = setting(NUMBER)

    def split_sizes(self) -> tuple[tuple[int, int, int], str]:
        n_total = 2 * self.n_per_class
        return split_sizes(n_total, self.val_fraction, self.test_fraction), f"{n_total} points"

    def bytes_needed(self, hidden_dim: int) -> int:
        """Memory to draw, split and train on the clusters (a table is measured as it is read)."""
        n_points, (n_train, _, _) = 2 * self.n_per_class, self.split_sizes()[0]
        # x and y in float32, held about three times over while drawing, joining and splitting, plus
        # the int64 permutation of the split.
        data_bytes = n_points * (3 * 4 * (self.n_features + 1) + 8)
        # The hidden layer's activations for one batch (forward, backward, gradient), and the weights
        # with their gradients and optimizer state.
        batch = min(self.batch_size or n_train, n_train)
        return data_bytes + 3 * 4 * batch * hidden_dim + 4 * 4 * (self.n_features + 2) * hidden_dim


COLUMNS = Rule(
    lambda v: v is None or (is_list(v) and len(v) > 0 and all(is_name(f) for f in v)),
    "null (every column but the target) or a list of column names",
)


@dataclass
class CsvData(SplitData):
    """A table of your own: numeric feature columns and a binary target (0/1, or any two values); the
    model is sized from the file and standardises the features with the training split's mean and
    spread (kept in checkpoints)."""

    _target_: str = "cluster_logreg.data.tables.CsvDataModule"
    path: str = setting(path_to("a CSV file with a header row"))
    target: str = setting(Rule(is_name, "the name of a column of data.path"))
    features: list[str] | None = setting(COLUMNS)
    positive_class: str | None = setting(
        Rule(lambda v: v is None or isinstance(v, str), "null or a value of the target column")
    )

    def split_sizes(self) -> tuple[tuple[int, int, int], str]:
        table = read_table(self.path, self.target, self.features, self.positive_class)  # refuses a bad file
        splits = stratified_split(table.y, self.val_fraction, self.test_fraction, self.seed)
        return (len(splits["train"]), len(splits["val"]), len(splits["test"])), f"{len(table.y)} rows"


OPTIONS: dict[str, type[Any]] = {"data/clusters": ClustersData, "data/csv": CsvData}
