"""Pre-flight: every check of a run's settings and inputs, as one ordered list per entry point.

The entry points run the list before the run starts, so a mistake fails in one line, before anything
is trained or written. Cheap checks come first (no torch: a config mistake is refused in a fraction
of a second), those that need torch last. Types are refused earlier still, while Hydra composes the
config (the structured configs of `schema.py`); `RULES` then gives each settable key its range, and
the words shown for it in either case. A test holds every settable key to having a rule here.

One check needs the built Trainer (where its processes come from) and is `pipeline.build`'s: DDP
inside a local multirun.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple, TypeGuard

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from cluster_logreg.errors import UserError, invalid
from cluster_logreg.metrics import AUTO, REPORTED, VALIDATION
from cluster_logreg.predictions_file import is_predictions_file
from cluster_logreg.resume import checkpoint_of
from cluster_logreg.run_dir import EXAMPLE_CHECKPOINT
from cluster_logreg.schema import SCHEMAS
from cluster_logreg.splits import split_sizes
from cluster_logreg.table import header, read_table, stratified_split

ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
MAX_SEED = 2**32 - 1  # what numpy, and so Lightning's seed_everything, accepts
FLOAT32_MAX = 3.4e38
CPU_CORES = os.cpu_count() or 1
OPTIMIZABLE = (AUTO, *REPORTED)
STRATEGIES = ("auto", "ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "fsdp", "deepspeed")
CKPT_HINT = f"a run directory of train.py or a checkpoint it wrote, e.g. {EXAMPLE_CHECKPOINT}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
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


def _batches(value: object) -> bool:
    """Lightning's limit on the batches of a loop: a number of batches, or a fraction of the split."""
    return _int_at_least(1)(value) or (isinstance(value, float) and 0 < value <= 1)


def _is_list(value: object) -> TypeGuard[list]:
    return isinstance(value, list) or OmegaConf.is_list(value)  # as composed: a ListConfig


def _is_path(value: object) -> bool:
    return isinstance(value, str) and value != ""


class Rule(NamedTuple):
    test: Callable[[object], bool]
    valid: str  # what is valid, in the words of the error line


DIRECTORY = Rule(_is_path, "a path you can write to")
FILE = Rule(_is_path, "a file path you can write to")  # its directory is created and checked
OUTPUT = Rule(lambda v: v is None or _is_path(v), "null (predictions.csv in the run directory) or a file path")

# Every key a user can set, of train.yaml and eval.yaml with any group option. A key absent from the
# composed config (another optimizer's, say) is skipped; tests/test_preflight.py holds this list to
# the configs in both directions.
RULES: dict[str, Rule] = {
    "seed": Rule(_is_seed, f"an integer from 0 to {MAX_SEED}"),
    "data.seed": Rule(_is_seed, f"an integer from 0 to {MAX_SEED}"),
    "data.n_per_class": Rule(_int_at_least(1), "an integer >= 1"),
    "data.n_features": Rule(_int_at_least(1), "an integer >= 1"),
    "data.mean_value": Rule(_is_number, "a finite number (|x| <= 3.4e38)"),
    "data.bias": Rule(_is_number, "a finite number (|x| <= 3.4e38)"),
    "data.std": Rule(lambda v: _is_number(v) and v > 0, "a finite number > 0 (<= 3.4e38)"),
    "data.val_fraction": Rule(_fraction, "a number between 0 and 1 (exclusive)"),
    "data.test_fraction": Rule(_fraction, "a number between 0 and 1 (exclusive)"),
    # data=csv
    "data.path": Rule(_is_path, "a CSV file with a header row"),
    "data.target": Rule(_is_name, "the name of a column of data.path"),
    "data.features": Rule(
        lambda v: v is None or (_is_list(v) and len(v) > 0 and all(_is_name(f) for f in v)),
        "null (every column but the target) or a list of column names",
    ),
    "data.positive_class": Rule(lambda v: v is None or isinstance(v, str), "null or a value of the target column"),
    "data.batch_size": Rule(lambda v: v is None or _int_at_least(1)(v), "null (whole split) or an integer >= 1"),
    "model.hidden_dim": Rule(_int_at_least(1), "an integer >= 1"),
    "model.optimizer.lr": Rule(lambda v: _is_number(v) and v > 0, "a finite number > 0 (<= 3.4e38)"),
    "model.optimizer.weight_decay": Rule(lambda v: _is_number(v) and v >= 0, "a finite number >= 0 (<= 3.4e38)"),
    "model.optimizer.momentum": Rule(lambda v: _is_number(v) and v >= 0, "a finite number >= 0 (<= 3.4e38)"),
    "trainer.max_epochs": Rule(_int_at_least(1), "an integer >= 1"),
    "trainer.check_val_every_n_epoch": Rule(_int_at_least(1), "an integer >= 1"),
    "trainer.log_every_n_steps": Rule(_int_at_least(0), "an integer >= 0"),
    "trainer.enable_progress_bar": Rule(_is_bool, "true | false"),
    "trainer.enable_model_summary": Rule(_is_bool, "true | false"),
    # Lightning starts one process per CPU "device": a number far above the cores is a typo.
    "trainer.devices": Rule(_devices, "auto or an integer from 1 to 64 x the CPU cores"),
    "trainer.num_nodes": Rule(_int_at_least(1), "an integer >= 1"),
    "trainer.accelerator": Rule(lambda v: v in ACCELERATORS, " | ".join(ACCELERATORS)),
    "optimized_metric": Rule(lambda v: v in OPTIMIZABLE, " | ".join(OPTIMIZABLE)),
    "cpu_threads": Rule(
        lambda v: v is None or (_is_int(v) and 1 <= v <= CPU_CORES),
        f"an integer from 1 to {CPU_CORES} (the CPU cores), or null (torch's default)",
    ),
    "resume": Rule(lambda v: v is None or isinstance(v, str), "null or a run directory"),
    "task_name": Rule(_is_name, "a name (it names the outputs/<task_name> directory)"),
    "logger.tensorboard.name": Rule(lambda v: isinstance(v, str), "a name (a subdirectory of the run directory) or ''"),
    "logger.tensorboard.version": Rule(lambda v: v is None or isinstance(v, (str, int)), "a name, a number or null"),
    "logger.tensorboard.default_hp_metric": Rule(_is_bool, "true | false"),
    "callbacks.model_checkpoint.filename": Rule(_is_name, "a file name without .ckpt"),
    "callbacks.model_checkpoint.monitor": Rule(lambda v: v in VALIDATION, " | ".join(VALIDATION)),
    "callbacks.model_checkpoint.mode": Rule(lambda v: v in ("max", "min"), "max | min"),
    "callbacks.model_checkpoint.save_top_k": Rule(_int_at_least(-1), "an integer >= -1 (-1: every checkpoint)"),
    "callbacks.model_checkpoint.save_last": Rule(_is_bool, "true | false"),
    "callbacks.model_checkpoint.auto_insert_metric_name": Rule(_is_bool, "true | false"),
    "callbacks.model_checkpoint.enable_version_counter": Rule(_is_bool, "true | false"),
    "callbacks.divergence.monitor": Rule(lambda v: v in ("loss/train", "loss/val"), "loss/train | loss/val"),
    "callbacks.divergence.check_finite": Rule(_is_bool, "true | false"),
    "callbacks.divergence.patience": Rule(_int_at_least(1), "an integer >= 1"),
    "callbacks.divergence.strict": Rule(_is_bool, "true | false"),
    "callbacks.divergence.check_on_train_epoch_end": Rule(_is_bool, "true | false"),
    "callbacks.epoch_report.every_n_epochs": Rule(_int_at_least(1), "an integer >= 1"),
    "callbacks.last_checkpoint.every_n_epochs": Rule(_int_at_least(0), "an integer >= 0 (0: only at the end)"),
    "callbacks.decision_boundary.every_n_epochs": Rule(_int_at_least(0), "an integer >= 0 (0: only at the end)"),
    "callbacks.decision_boundary.max_points": Rule(_int_at_least(1), "an integer >= 1"),
    "callbacks.score_histograms.every_n_epochs": Rule(_int_at_least(1), "an integer >= 1"),
    "trainer.num_sanity_val_steps": Rule(_int_at_least(-1), "an integer >= -1 (-1: the whole validation split)"),
    "run_dir": DIRECTORY,
    "trainer.default_root_dir": DIRECTORY,
    "logger.tensorboard.save_dir": DIRECTORY,
    "logger.csv.save_dir": DIRECTORY,
    "logger.csv.name": Rule(lambda v: isinstance(v, str), "a name (a subdirectory of the run directory)"),
    "logger.csv.version": Rule(lambda v: v is None or isinstance(v, (str, int)), "a name, a number or null"),
    "callbacks.model_checkpoint.dirpath": DIRECTORY,
    "callbacks.last_checkpoint.path": FILE,
    "callbacks.decision_boundary.png_path": FILE,
    # The debug presets' (conf/debug/).
    "trainer.fast_dev_run": Rule(
        lambda v: _is_bool(v) or _int_at_least(0)(v), "true | false | an integer >= 0 (batches of each loop)"
    ),
    "trainer.overfit_batches": Rule(
        lambda v: _int_at_least(0)(v) or (isinstance(v, float) and 0 <= v <= 1),
        "an integer >= 0 (batches; 0: off) or a fraction from 0.0 to 1.0",
    ),
    "trainer.limit_train_batches": Rule(_batches, "an integer >= 1 (batches) or a fraction in (0, 1]"),
    "trainer.limit_val_batches": Rule(_batches, "an integer >= 1 (batches) or a fraction in (0, 1]"),
    "trainer.limit_test_batches": Rule(_batches, "an integer >= 1 (batches) or a fraction in (0, 1]"),
    "trainer.profiler.dirpath": DIRECTORY,
    "trainer.profiler.filename": Rule(_is_name, "a file name (Lightning writes <stage>-<filename>.txt)"),
    "trainer.strategy": Rule(lambda v: v in STRATEGIES, " | ".join(STRATEGIES)),
    "ckpt_path": Rule(_is_path, CKPT_HINT),
    "input": Rule(_is_path, "a CSV file with the model's feature columns"),
    "output": OUTPUT,
    "batch_size": Rule(_int_at_least(1), "an integer >= 1"),
    "evaluate_on": Rule(_is_path, "test | fresh | a CSV file with the columns the model was trained on"),
}


def check_rules(cfg: DictConfig) -> None:
    """Every setting against its rule: the first that breaks one is named, with its value."""
    for key, (is_valid, valid) in RULES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not is_valid(value):
            raise invalid(key, value, valid)


_ABSENT = object()


def schema_refusal(error: BaseException) -> UserError | None:
    """A value of the wrong type that the schema refused while Hydra composed the config (anywhere in
    `error`'s causes), in the words of the key's rule: the same line `check_rules` would give."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ValidationError) and cause.full_key in RULES:
            return invalid(cause.full_key, cause.value, RULES[cause.full_key].valid)
        cause = cause.__cause__
    return None


def check_known_keys(cfg: DictConfig) -> None:
    """A key the config does not know (`+seeed=5`: Hydra adds what `+` asks for) is a typo or a setting
    this program would ignore: refused, naming the closest known key. Checked where the config has a
    schema (the project's own settings); Lightning's trainer, loggers and callbacks take what Lightning takes."""
    for prefix, node in _typed_nodes(cfg):
        known = [f.name for f in dataclasses.fields(OmegaConf.get_type(node))]  # type: ignore[arg-type]
        for key in map(str, node):
            if key not in known and not (key == "hydra" and not prefix):
                raise unknown_key(f"{prefix}{key}", OmegaConf.select(node, key), known)


def unknown_key(full_key: str, value: object, known: Iterable[str]) -> UserError:
    """The line for a key that its node (or the class it builds) does not take, naming the closest it does.
    The same whichever way it was given: `+seeed=5`, `seeed=5` (Hydra's refusal), or `+trainer.max_epoch=5`."""
    parent, _, key = full_key.rpartition(".")
    known = [k for k in known if not k.startswith("_") and k not in ("args", "kwargs")]
    closest = difflib.get_close_matches(key, known, n=1)
    where = f"{parent}." if parent else ""
    hint = f"did you mean {where}{closest[0]}?" if closest else ", ".join(f"{where}{k}" for k in known[:12])
    return invalid(full_key, value, f"one of the config's keys ({hint})", "is not a setting")


def _typed_nodes(node: DictConfig, prefix: str = "") -> list[tuple[str, DictConfig]]:
    """The nodes of `node` (itself included) whose keys a schema lists, with their dotted prefix."""
    found = [(prefix, node)] if OmegaConf.get_type(node) in SCHEMAS.values() else []
    for key in map(str, node):
        if key == "hydra":
            continue  # Hydra's own settings, checked by Hydra
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            found += _typed_nodes(child, f"{prefix}{key}.")
    return found


def check_table(cfg: DictConfig) -> None:
    """data=csv: the file reads as a table (table.py says what is refused), and no split is empty."""
    data = cfg.data
    if "path" not in data:
        return
    table = read_table(data.path, data.target, data.features, data.positive_class)
    splits = stratified_split(table.y, data.val_fraction, data.test_fraction, data.seed)
    enough = f"a fraction that gives it at least 1 of the {len(table.y)} rows"
    if len(splits["val"]) == 0:
        raise invalid("data.val_fraction", data.val_fraction, enough, "leaves the validation split empty")
    if len(splits["test"]) == 0:
        raise invalid("data.test_fraction", data.test_fraction, enough, "leaves the test split empty")
    if len(splits["train"]) == 0:
        total = data.val_fraction + data.test_fraction
        raise invalid("data.val_fraction + data.test_fraction", total, "a smaller sum", "leaves no row for training")


def check_splits(cfg: DictConfig) -> None:
    """The clusters: no split may be empty."""
    data = cfg.data
    if "n_per_class" not in data:
        return  # a table: check_table
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


def check_memory(cfg: DictConfig) -> None:
    """Refuse, before anything is allocated, clusters or a model that cannot fit in this machine's memory
    (a table's file is measured as it is read, table.py)."""
    data, model = cfg.data, cfg.model
    if "n_per_class" not in data:
        return
    n_points = 2 * data.n_per_class
    n_train = split_sizes(n_points, data.val_fraction, data.test_fraction)[0]
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


def check_resume(cfg: DictConfig) -> None:
    """`resume=<run dir>` (the command line was rewritten to that run's, see resume.py): the run keeps a
    last checkpoint, and where it has one, it is a complete file."""
    if not cfg.resume:
        return
    path = OmegaConf.select(cfg, "callbacks.last_checkpoint.path")
    if path is None:
        raise invalid(
            "resume",
            cfg.resume,
            "a run with callbacks.last_checkpoint",
            "cannot continue: this run keeps no checkpoint to continue from",
        )
    if Path(path).exists():  # absent: stopped before its first save, and starts from epoch 0
        check_checkpoint_file(Path(path), key="resume")


def check_outputs_writable(cfg: DictConfig) -> None:
    """Create every output directory now, so one that cannot be written stops the run before training."""
    for key, rule in RULES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if rule not in (DIRECTORY, FILE, OUTPUT) or value is None:
            continue
        directory = Path(value) if rule is DIRECTORY else Path(value).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.access(directory, os.W_OK):
                raise PermissionError(13, "Permission denied", str(directory))
        except OSError as error:
            raise invalid(key, value, "a path you can write to", f"cannot be written ({error.strerror})") from None


def check_accelerator(cfg: DictConfig) -> None:
    import torch

    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise invalid(
            "trainer.accelerator", accelerator, "cpu or auto", "cannot run here: this machine has no CUDA GPU"
        )


def bad_checkpoint(key: str, path: Path, problem: str) -> UserError:
    return invalid(key, str(path), CKPT_HINT, problem)


def check_checkpoint_file(path: Path, key: str = "ckpt_path") -> None:
    """The checks that need no torch: the file exists and is a complete archive (what is in it is
    checked as it is read, `checkpoints.read_checkpoint`)."""
    if not path.is_file():
        raise bad_checkpoint(key, path, "is not a file")
    # torch.save writes a zip archive; anything else (a text file, a truncated copy) cannot be one.
    if not zipfile.is_zipfile(path):
        raise bad_checkpoint(key, path, "is not a checkpoint (not a complete zip archive)")


def check_evaluate_on(cfg: DictConfig) -> None:
    """eval.py: a CSV to evaluate on exists (its columns are checked against the model's as it is read)."""
    if cfg.evaluate_on not in ("test", "fresh") and not Path(cfg.evaluate_on).is_file():
        raise invalid(
            "evaluate_on",
            cfg.evaluate_on,
            "test | fresh | a CSV file",
            "is neither test nor fresh, and no such file exists",
        )


def check_output(cfg: DictConfig) -> None:
    """predict.py writes over no file but its own: not the input (by any path or link to it), and no
    existing file that is not an earlier output of predict.py. Checked before the input is read."""
    if cfg.output is None:
        return  # predictions.csv in the new run directory
    output, given = Path(cfg.output), Path(cfg.input)
    if output.exists() and given.exists() and os.path.samefile(output, given):
        raise invalid("output", cfg.output, "another file than the input", f"is the input file (input={cfg.input!r})")
    if output.is_dir():
        raise invalid("output", cfg.output, "a file path", "is a directory")
    if output.exists() and not is_predictions_file(output):
        raise invalid(
            "output", cfg.output, "a path that does not exist yet, or an earlier output of predict.py (replaced)",
            "is an existing file that predict.py did not write",
        )  # fmt: skip


def check_input(cfg: DictConfig) -> None:
    """predict.py: the input is a CSV with a header (its columns and cells are checked as it is read)."""
    header(Path(cfg.input), "input")


def check_ckpt_path(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise UserError(f"ckpt_path is missing; valid: ckpt_path=PATH, {CKPT_HINT}")
    check_checkpoint_file(checkpoint_of(Path(cfg.ckpt_path)))


Check = Callable[[DictConfig], None]

# In order: the settings alone, then what they ask of the files and the machine; the last check
# imports torch (a second or two).
TRAIN_CHECKS: tuple[Check, ...] = (
    check_known_keys,
    check_rules,
    check_splits,
    check_table,
    check_memory,
    check_resume,
    check_outputs_writable,
    check_accelerator,
)
PREDICT_CHECKS: tuple[Check, ...] = (
    check_known_keys,
    check_ckpt_path,
    check_rules,
    check_output,
    check_input,
    check_outputs_writable,
    check_accelerator,
)
EVAL_CHECKS: tuple[Check, ...] = (
    check_known_keys,
    check_ckpt_path,
    check_rules,
    check_evaluate_on,
    check_outputs_writable,
    check_accelerator,
)


def preflight(cfg: DictConfig, checks: tuple[Check, ...]) -> None:
    """Run `checks` in order; the first that fails raises a UserError naming the key, its value and what
    is valid."""
    for check in checks:
        check(cfg)
