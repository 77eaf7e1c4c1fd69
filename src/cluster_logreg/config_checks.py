"""Range and type checks of the composed config, run before the slow imports so mistakes fail fast.

Hydra already refuses unknown keys (its configs are in struct mode); these checks cover values.
Each rule names a key, a test, and the words shown to the user when the test fails.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cluster_logreg.errors import UserError, invalid

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
# The metrics a run reports, in metrics.json and as the real metrics of TensorBoard's HParams tab.
REPORTED_METRICS = ("val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_at_least(low: int) -> Callable[[object], bool]:
    return lambda v: _is_int(v) and v >= low


def _fraction(value: object) -> bool:
    return _is_number(value) and 0 < value < 1


# key -> (test, what is valid). A key absent from the config (another optimizer, say) is skipped.
TRAIN_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "seed": (_int_at_least(0), "an integer >= 0"),
    "data.n_per_class": (_int_at_least(1), "an integer >= 1"),
    "data.n_features": (_int_at_least(1), "an integer >= 1"),
    "data.mean_value": (_is_number, "a finite number"),
    "data.bias": (_is_number, "a finite number"),
    "data.std": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
    "data.val_fraction": (_fraction, "a number between 0 and 1 (exclusive)"),
    "data.test_fraction": (_fraction, "a number between 0 and 1 (exclusive)"),
    "data.batch_size": (lambda v: v is None or _int_at_least(1)(v), "null (whole split) or an integer >= 1"),
    "model.hidden_dim": (_int_at_least(1), "an integer >= 1"),
    "model.optimizer.lr": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
    "model.optimizer.momentum": (lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    "trainer.max_epochs": (_int_at_least(1), "an integer >= 1"),
    "trainer.accelerator": (lambda v: v in ACCELERATORS, " | ".join(ACCELERATORS)),
    "optimized_metric": (lambda v: v in REPORTED_METRICS, " | ".join(REPORTED_METRICS)),
}

_ABSENT = object()


def split_sizes(n_total: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Points in the train, validation and test splits; shared with the DataModule so both agree."""
    n_val = round(n_total * val_fraction)
    n_test = round(n_total * test_fraction)
    return n_total - n_val - n_test, n_val, n_test


def check_rules(cfg: DictConfig, rules: dict[str, tuple[Callable[[object], bool], str]]) -> None:
    for key, (is_valid, valid) in rules.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not is_valid(value):
            raise invalid(key, value, valid)


def check_train_config(cfg: DictConfig) -> None:
    """Raise UserError naming the first bad key, its value and what is valid."""
    check_rules(cfg, TRAIN_RULES)
    data = cfg.data
    n_total = 2 * data.n_per_class
    n_train, n_val, n_test = split_sizes(n_total, data.val_fraction, data.test_fraction)
    enough = f"a fraction that gives it at least 1 of the {n_total} points (or a larger data.n_per_class)"
    if n_val < 1:
        raise invalid("data.val_fraction", data.val_fraction, enough, "leaves the validation split empty")
    if n_test < 1:
        raise invalid("data.test_fraction", data.test_fraction, enough, "leaves the test split empty")
    if n_train < 1:
        raise invalid(
            "data.val_fraction + data.test_fraction",
            data.val_fraction + data.test_fraction,
            f"a sum that leaves at least 1 of the {n_total} points for training",
            "leaves the training split empty",
        )


CKPT_HINT = "the path of a .ckpt written by train.py, e.g. outputs/train/runs/<run>/checkpoints/last.ckpt"


def check_eval_config(cfg: DictConfig) -> None:
    """Raise UserError for a missing checkpoint path or a bad accelerator."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise UserError(f"ckpt_path is missing; valid: ckpt_path=PATH, {CKPT_HINT}")
    check_rules(cfg, {"trainer.accelerator": TRAIN_RULES["trainer.accelerator"]})
    path = Path(str(cfg.ckpt_path))
    if not path.is_file():
        raise invalid("ckpt_path", str(path), CKPT_HINT, "is not a file")
    # torch.save writes a zip archive; anything else (a text file, a truncated copy) cannot be one.
    if not zipfile.is_zipfile(path):
        raise invalid("ckpt_path", str(path), CKPT_HINT, "is not a checkpoint (not a complete zip archive)")
