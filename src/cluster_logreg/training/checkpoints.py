"""Checkpoints are data: written whole or not at all, read without running code, checked before use."""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning import LightningModule
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig
from torch import nn

from cluster_logreg.config.file_checks import bad_checkpoint, check_checkpoint_file
from cluster_logreg.core.errors import UserError, one_line
from cluster_logreg.core.files import partial_path

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer and reader for every save and load of a run (trainer.plugins).

    A save goes to a hidden file beside the target, which then replaces the target in one rename:
    a run killed while saving leaves the previous checkpoint intact. A load never unpickles
    arbitrary objects (`weights_only`), whatever the caller asks for.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = partial_path(path)
        with open(partial, "wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the checkpoint
        os.replace(partial, path)

    def load_checkpoint(
        self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(Path(path), map_location=map_location)


def read_checkpoint(path: Path, key: str = "ckpt_path", map_location: Any | None = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, or a UserError naming `key`, the file and what is wrong with it."""
    check_checkpoint_file(path, key)
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # weights_only: tensors, numbers, strings and containers only. A pickled reference to a
        # function or class (what a crafted file calls while loading) is refused before it runs.
        called = re.search(r"GLOBAL ([\w.]+)", str(error))
        what = f"it would call {called.group(1)}" if called else "it holds Python objects"
        raise bad_checkpoint(key, path, f"is refused: loading it would run code, not just read data ({what})") from None
    except Exception as error:  # a damaged archive: missing or corrupt records
        raise bad_checkpoint(key, path, f"cannot be read ({type(error).__name__}: {one_line(error)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise bad_checkpoint(key, path, "is not a Lightning checkpoint (it has no state_dict)")
    return checkpoint


def check_fits(checkpoint: dict[str, Any], path: Path, model: nn.Module, key: str, settings: str) -> None:
    """Raise UserError if the checkpoint's weights have other names or shapes than `model`'s."""
    saved, expected = checkpoint["state_dict"], model.state_dict()
    for name in sorted(saved.keys() | expected.keys()):
        in_file = list(saved[name].shape) if name in saved else "absent"
        in_model = list(expected[name].shape) if name in expected else "absent"
        if in_file != in_model:
            raise UserError(
                f"{key}={str(path)!r} does not fit this model: {name} is {in_file} in the file, {in_model} in the "
                f"model ({settings}); valid: a checkpoint of the same model shape, or the settings it was trained with"
            )


def resume_checkpoint(
    cfg: DictConfig, path: Path | None, model: LightningModule, continuing: str | None
) -> tuple[Path | None, int]:
    """When `continuing` (what: the resumed run, a requeued SLURM job, a sweep job stopped part-way):
    the run's last checkpoint (at `path`, None where the run keeps none), checked to fit the model,
    and the epoch it holds."""
    if not continuing:
        return None, 0
    if path is None and cfg.get("resume"):  # refused before the run by the pre-flight checks
        raise UserError("resume needs callbacks.last_checkpoint, which keeps the checkpoint it continues from")
    if path is None:
        return None, 0
    if not path.exists():  # stopped before its first save
        log.info(f"resume: no checkpoint at {path} yet, starting from epoch 0")
        return None, 0
    checkpoint = read_checkpoint(path, key="resume")
    shape = f"model.hidden_dim={cfg.model.hidden_dim}, {model.hparams['n_features']} features in the data"
    check_fits(checkpoint, path, model, "resume", shape)
    log.info(f"resume: continuing {continuing} from {path} (epoch {checkpoint['epoch']})")
    return path, checkpoint["epoch"]
