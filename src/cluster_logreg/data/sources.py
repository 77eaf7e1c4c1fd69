"""The data sources: each settings class (config/data_settings.py) builds one of these
LightningDataModules, and a checkpoint names the one it was trained on by its class name (Lightning
saves a DataModule's state under it), which is how eval.py and predict.py rebuild it."""

from __future__ import annotations

from cluster_logreg.data.clusters import GaussianClustersDataModule
from cluster_logreg.data.tables import CsvDataModule
from cluster_logreg.data.tensors import TensorDataModule

DATA_SOURCES: dict[str, type[TensorDataModule]] = {
    cls.__qualname__: cls for cls in (GaussianClustersDataModule, CsvDataModule)
}
