"""A trained model and the data it was trained on, rebuilt from a checkpoint alone (eval.py, predict.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster_logreg.checkpoints import check_fits, read_checkpoint
from cluster_logreg.csv_data import CsvDataModule
from cluster_logreg.data import GaussianClustersDataModule, TensorDataModule
from cluster_logreg.errors import one_line
from cluster_logreg.model import LogisticClassifier
from cluster_logreg.preflight import bad_checkpoint

# Lightning saves a DataModule's state under its class name: that is how a checkpoint says which it was.
DATA_SOURCES: dict[str, type[TensorDataModule]] = {
    cls.__qualname__: cls for cls in (GaussianClustersDataModule, CsvDataModule)
}


def load_trained(path: Path, key: str = "ckpt_path") -> tuple[LogisticClassifier, dict[str, Any]]:
    """The model saved at `path`, with its weights, and the checkpoint's contents."""
    checkpoint = read_checkpoint(path, key)
    try:
        model = LogisticClassifier(**checkpoint["hyper_parameters"])
    except (KeyError, TypeError) as error:
        raise bad_checkpoint(key, path, f"lacks this project's settings ({one_line(error)})") from None
    hp = model.hparams
    check_fits(
        checkpoint, path, model, key, f"hidden_dim={hp.hidden_dim}, n_features={hp.n_features} in its hyper_parameters"
    )
    model.load_state_dict(checkpoint["state_dict"])
    return model, checkpoint


def trained_data(checkpoint: dict[str, Any], path: Path, key: str = "ckpt_path") -> TensorDataModule:
    """The DataModule the checkpoint's model was trained on, with the same settings and seed."""
    # A checkpoint of the clusters from before tables were a data source names no class.
    name = next((n for n in DATA_SOURCES if n in checkpoint), GaussianClustersDataModule.__qualname__)
    try:
        return DATA_SOURCES[name](**checkpoint["datamodule_hyper_parameters"])
    except (KeyError, TypeError) as error:
        raise bad_checkpoint(key, path, f"lacks this project's data settings ({one_line(error)})") from None
