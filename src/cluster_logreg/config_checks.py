"""Range and type checks of the composed config, run before the slow imports so mistakes fail fast.

Hydra already refuses unknown keys (its configs are in struct mode); these checks cover values.
Each rule names a key, a test, and the words shown to the user when the test fails.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cluster_logreg.errors import UserError, invalid
from cluster_logreg.metrics import AUTO, REPORTED, VALIDATION

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
MAX_SEED = 2**32 - 1  # what numpy, and so Lightning's seed_everything, accepts
FLOAT32_MAX = 3.4e38
CPU_CORES = os.cpu_count() or 1
OPTIMIZABLE = (AUTO, *REPORTED)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    # Finite as a float32 too: the data and weights are float32, where 1e39 is already infinite.
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value) and abs(value) <= FLOAT32_MAX


def _int_at_least(low: int) -> Callable[[object], bool]:
    return lambda v: _is_int(v) and v >= low


def _fraction(value: object) -> bool:
    return _is_number(value) and 0 < value < 1


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_name(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_seed(value: object) -> bool:
    return _is_int(value) and 0 <= value <= MAX_SEED


def _devices(value: object) -> bool:
    return value == "auto" or (_is_int(value) and 1 <= value <= CPU_CORES * 64)


# key -> (test, what is valid). A key absent from the config (another optimizer, say) is skipped.
TRAIN_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "seed": (_is_seed, f"an integer from 0 to {MAX_SEED}"),
    "data.seed": (_is_seed, f"an integer from 0 to {MAX_SEED}"),
    "data.n_per_class": (_int_at_least(1), "an integer >= 1"),
    "data.n_features": (_int_at_least(1), "an integer >= 1"),
    "data.mean_value": (_is_number, "a finite number (|x| <= 3.4e38)"),
    "data.bias": (_is_number, "a finite number (|x| <= 3.4e38)"),
    "data.std": (lambda v: _is_number(v) and v > 0, "a finite number > 0 (<= 3.4e38)"),
    "data.val_fraction": (_fraction, "a number between 0 and 1 (exclusive)"),
    "data.test_fraction": (_fraction, "a number between 0 and 1 (exclusive)"),
    "data.batch_size": (lambda v: v is None or _int_at_least(1)(v), "null (whole split) or an integer >= 1"),
    "model.hidden_dim": (_int_at_least(1), "an integer >= 1"),
    "model.optimizer.lr": (lambda v: _is_number(v) and v > 0, "a finite number > 0 (<= 3.4e38)"),
    "model.optimizer.momentum": (lambda v: _is_number(v) and v >= 0, "a finite number >= 0 (<= 3.4e38)"),
    "trainer.max_epochs": (_int_at_least(1), "an integer >= 1"),
    "trainer.check_val_every_n_epoch": (_int_at_least(1), "an integer >= 1"),
    "trainer.log_every_n_steps": (_int_at_least(1), "an integer >= 1"),
    "trainer.enable_progress_bar": (_is_bool, "true | false"),
    # Lightning starts one process per CPU "device": a number far above the cores is a typo.
    "trainer.devices": (_devices, "auto or an integer from 1 to 64 x the CPU cores"),
    "trainer.accelerator": (lambda v: v in ACCELERATORS, " | ".join(ACCELERATORS)),
    "optimized_metric": (lambda v: v in OPTIMIZABLE, " | ".join(OPTIMIZABLE)),
    "cpu_threads": (
        lambda v: v is None or (_is_int(v) and 1 <= v <= CPU_CORES),
        f"an integer from 1 to {CPU_CORES} (the CPU cores), or null (torch's default)",
    ),
    "resume": (lambda v: v is None or isinstance(v, str), "null or a run directory"),
    "task_name": (_is_name, "a name (it names the outputs/<task_name> directory)"),
    "logger.tensorboard.name": (lambda v: isinstance(v, str), "a name (a subdirectory of the run directory) or ''"),
    "logger.tensorboard.version": (lambda v: v is None or isinstance(v, (str, int)), "a name, a number or null"),
    "logger.tensorboard.default_hp_metric": (_is_bool, "true | false"),
    "callbacks.model_checkpoint.filename": (_is_name, "a file name without .ckpt"),
    "callbacks.model_checkpoint.monitor": (lambda v: v in VALIDATION, " | ".join(VALIDATION)),
    "callbacks.model_checkpoint.mode": (lambda v: v in ("max", "min"), "max | min"),
    "callbacks.model_checkpoint.save_top_k": (_int_at_least(-1), "an integer >= -1 (-1: every checkpoint)"),
    "callbacks.model_checkpoint.save_last": (_is_bool, "true | false"),
    "callbacks.model_checkpoint.auto_insert_metric_name": (_is_bool, "true | false"),
    "callbacks.model_checkpoint.enable_version_counter": (_is_bool, "true | false"),
    "callbacks.divergence.monitor": (lambda v: v in ("loss/train", "loss/val"), "loss/train | loss/val"),
    "callbacks.divergence.check_finite": (_is_bool, "true | false"),
    "callbacks.divergence.patience": (_int_at_least(1), "an integer >= 1"),
    "callbacks.divergence.strict": (_is_bool, "true | false"),
    "callbacks.divergence.check_on_train_epoch_end": (_is_bool, "true | false"),
    "callbacks.epoch_report.every_n_epochs": (_int_at_least(1), "an integer >= 1"),
    "callbacks.last_checkpoint.every_n_epochs": (_int_at_least(0), "an integer >= 0 (0: only at the end)"),
    "callbacks.decision_boundary.every_n_epochs": (_int_at_least(0), "an integer >= 0 (0: only at the end)"),
    "callbacks.decision_boundary.max_points": (_int_at_least(1), "an integer >= 1"),
    "callbacks.score_histograms.every_n_epochs": (_int_at_least(1), "an integer >= 1"),
    "trainer.num_sanity_val_steps": (_int_at_least(-1), "an integer >= -1 (-1: the whole validation split)"),
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
    if cfg.model.n_features != data.n_features:
        raise invalid("model.n_features", cfg.model.n_features, f"data.n_features ({data.n_features}), its default")
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
    check_memory(cfg, n_train)


# Where a run writes: directories, and files whose directory must exist. A logger's save_dir too.
OUTPUT_DIRS = ("trainer.default_root_dir", "callbacks.model_checkpoint.dirpath")
OUTPUT_FILES = ("callbacks.last_checkpoint.path", "callbacks.decision_boundary.png_path")


def check_output_paths(cfg: DictConfig) -> None:
    """Create every output directory now, so one that cannot be written stops the run before training."""
    loggers = [f"logger.{name}.save_dir" for name in cfg.get("logger") or {}]
    for key in (*OUTPUT_DIRS, *OUTPUT_FILES, *loggers):
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise invalid(key, value, "a path you can write to")
        directory = Path(value).parent if key in OUTPUT_FILES else Path(value)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK):
                raise PermissionError(13, "Permission denied", str(directory))
        except OSError as error:
            raise invalid(key, value, "a path you can write to", f"cannot be written ({error.strerror})") from None


def check_memory(cfg: DictConfig, n_train: int) -> None:
    """Refuse, before anything is allocated, data or a model that cannot fit in this machine's memory."""
    data, model = cfg.data, cfg.model
    n_points = 2 * data.n_per_class
    # x and y in float32, held about three times over while drawing, joining and splitting, plus
    # the int64 permutation of the split.
    data_bytes = n_points * (3 * 4 * (data.n_features + 1) + 8)
    # The hidden layer's activations for one batch (forward, backward, gradient), and the weights
    # with their gradients and optimizer state.
    batch = min(data.batch_size or n_train, n_train)
    model_bytes = 3 * 4 * batch * model.hidden_dim + 4 * 4 * (data.n_features + 2) * model.hidden_dim
    available = available_memory()
    if available is None or data_bytes + model_bytes <= available:
        return
    # Named: the larger of the two sizes (the number of points, or of hidden units).
    key = "data.n_per_class" if n_points >= model.hidden_dim else "model.hidden_dim"
    batch_size = "null" if data.batch_size is None else data.batch_size
    others = {"data.n_features": data.n_features, "data.batch_size": batch_size, "model.hidden_dim": model.hidden_dim}
    settings = ", ".join(f"{k}={v}" for k, v in others.items() if k != key)
    raise invalid(
        key,
        OmegaConf.select(cfg, key),
        f"settings that fit in the {_gb(available)} available",
        f"(with {settings}) needs about {_gb(data_bytes + model_bytes)} of memory, more than this machine has free",
    )


def available_memory() -> int | None:
    """Bytes of memory free for a new allocation (Linux: MemAvailable), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.3g} GB"


CKPT_HINT = "a checkpoint written by train.py, e.g. outputs/train/runs/<run>/checkpoints/last.ckpt"


def bad_checkpoint(key: str, path: Path, problem: str) -> UserError:
    return invalid(key, str(path), CKPT_HINT, problem)


def check_checkpoint_file(path: Path, key: str = "ckpt_path") -> None:
    """The checks that need no torch: the file exists and is a complete archive."""
    if not path.is_file():
        raise bad_checkpoint(key, path, "is not a file")
    # torch.save writes a zip archive; anything else (a text file, a truncated copy) cannot be one.
    if not zipfile.is_zipfile(path):
        raise bad_checkpoint(key, path, "is not a checkpoint (not a complete zip archive)")


def check_eval_config(cfg: DictConfig) -> None:
    """Raise UserError for a missing or unreadable checkpoint path or a bad accelerator."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise UserError(f"ckpt_path is missing; valid: ckpt_path=PATH, {CKPT_HINT}")
    check_rules(cfg, {key: TRAIN_RULES[key] for key in ("trainer.accelerator", "cpu_threads")})
    check_checkpoint_file(Path(str(cfg.ckpt_path)))
