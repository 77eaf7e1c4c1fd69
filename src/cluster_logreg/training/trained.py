"""A trained model and the data it was trained on, rebuilt from a checkpoint alone (eval.py, predict.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster_logreg.config.file_checks import bad_checkpoint
from cluster_logreg.core.errors import one_line
from cluster_logreg.data.sources import DATA_SOURCES
from cluster_logreg.data.tensors import TensorDataModule
from cluster_logreg.model.classifier import LogisticClassifier
from cluster_logreg.training.checkpoints import check_fits, read_checkpoint
from cluster_logreg.training.stops import has_finite_weights


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
    if not has_finite_weights(model):
        raise bad_checkpoint(key, path, "holds weights that are not finite (its run diverged): it cannot classify")
    return model, checkpoint


def trained_data(checkpoint: dict[str, Any], path: Path, key: str = "ckpt_path") -> TensorDataModule:
    """The DataModule the checkpoint's model was trained on, with the same settings and seed."""
    name = next((n for n in DATA_SOURCES if n in checkpoint), None)
    if name is None:
        raise bad_checkpoint(key, path, f"names none of this project's data sources ({', '.join(DATA_SOURCES)})")
    try:
        return DATA_SOURCES[name](**checkpoint["datamodule_hyper_parameters"])
    except (KeyError, TypeError) as error:
        raise bad_checkpoint(key, path, f"lacks this project's data settings ({one_line(error)})") from None
