"""Pre-flight: every check of a run's settings and inputs, as one ordered list per entry point.

The entry points run the list before the run starts, so a mistake fails in one line, before anything
is trained or written. Cheap checks come first (no torch: a config mistake is refused in a fraction
of a second), those that need torch last. Types are refused earlier still, while Hydra composes the
config (schema.py). One check needs the built Trainer (where its processes come from) and is
`training.build`'s: DDP inside a local multirun.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.data_settings import ClustersData, SplitData
from cluster_logreg.config.file_checks import (
    check_ckpt_path,
    check_evaluate_on,
    check_input,
    check_output,
    check_outputs_writable,
    check_resume,
)  # fmt: skip
from cluster_logreg.config.lightning_rules import SPAWNED_STRATEGIES, STRATEGIES
from cluster_logreg.config.run_settings import Eval, Predict, Train
from cluster_logreg.config.schema import OPTIONS, chosen_options
from cluster_logreg.config.setting_checks import check_rules, known_keys
from cluster_logreg.core.errors import invalid
from cluster_logreg.core.memory import available_memory, gigabytes


def _data(cfg: DictConfig) -> SplitData | None:
    """The data settings as their class, which says what kind of data source they are (None: a data
    source of the user's own, which the pre-flight checks know nothing of)."""
    option = chosen_options(cfg).get("data")
    if option is None:
        return None
    settings: dict[str, Any] = OmegaConf.to_container(cfg.data, resolve=True)  # type: ignore[assignment]
    data: SplitData = OPTIONS[f"data/{option}"](**settings)
    return data


def check_strategy(cfg: DictConfig) -> None:
    """A DDP strategy that spawns or forks its processes (lightning_rules.SPAWNED_STRATEGIES says why
    none can run a whole run) is refused with the DDP that can, before check_rules' plainer line."""
    strategy = OmegaConf.select(cfg, "trainer.strategy")
    if isinstance(strategy, str) and strategy in SPAWNED_STRATEGIES:
        others = " | ".join(s for s in STRATEGIES if s != "ddp")
        raise invalid(
            "trainer.strategy", strategy,
            f"ddp (trainer=ddp: the same DDP, each process started by re-running the command) | {others}",
            "is not supported: it starts its processes from this one, which gets back only their final weights "
            "and metrics, not the run its checkpoints, results and stops need",
        )  # fmt: skip


def check_splits(cfg: DictConfig) -> None:
    """No split may be empty (for a table, this reads it: core/table.py says what is refused)."""
    data = _data(cfg)
    if data is None:
        return
    (n_train, n_val, n_test), total = data.split_sizes()
    enough = f"a fraction that gives it at least 1 of the {total}"
    if n_val < 1:
        raise invalid("data.val_fraction", data.val_fraction, enough, "leaves the validation split empty")
    if n_test < 1:
        raise invalid("data.test_fraction", data.test_fraction, enough, "leaves the test split empty")
    if n_train < 1:
        raise invalid(
            "data.val_fraction + data.test_fraction", data.val_fraction + data.test_fraction,
            f"a sum that leaves at least 1 of the {total} for training", "leaves the training split empty",
        )  # fmt: skip


def check_clusters(cfg: DictConfig) -> None:
    """The two clusters' centres, mean_value + bias and -mean_value + bias, are apart in float32 (the
    data's type): mean_value 0, or one lost beside a huge bias, leaves nothing to tell the classes apart."""
    data = _data(cfg)
    if not isinstance(data, ClustersData):
        return
    try:
        centres = {struct.pack("f", sign * data.mean_value + data.bias) for sign in (1, -1)}
    except OverflowError:  # beyond float32
        centres = set()
    if len(centres) != 2:
        raise invalid(
            "data.mean_value", data.mean_value,
            f"a number that keeps the centres +-mean_value + data.bias ({data.bias}) apart and finite in float32",
            "puts both clusters at the same centre (or beyond float32)",
        )  # fmt: skip


def check_memory(cfg: DictConfig) -> None:
    """Refuse, before anything is allocated, clusters or a model that cannot fit in this machine's memory
    (a table's file is measured as it is read)."""
    data, hidden_dim = _data(cfg), cfg.model.hidden_dim
    if not isinstance(data, ClustersData):
        return
    needed, available = data.bytes_needed(hidden_dim), available_memory()
    if available is None or needed <= available:
        return
    # Named: the larger of the two sizes (the number of points, or of hidden units).
    key = "data.n_per_class" if 2 * data.n_per_class >= hidden_dim else "model.hidden_dim"
    batch_size = "null" if data.batch_size is None else data.batch_size
    others = {"data.n_features": data.n_features, "data.batch_size": batch_size, "model.hidden_dim": hidden_dim}
    settings = ", ".join(f"{k}={v}" for k, v in others.items() if k != key)
    raise invalid(
        key, OmegaConf.select(cfg, key), f"settings that fit in the {gigabytes(available)} available",
        f"(with {settings}) needs about {gigabytes(needed)} of memory, more than this machine has free",
    )  # fmt: skip


def check_no_logger(cfg: DictConfig) -> None:
    """predict.py: `logger=[]` (its default) is taken as the other entry points take it; a logger is not."""
    if chosen := cfg.get("logger"):
        raise invalid("logger", ",".join(map(str, chosen)), "[] (predict.py writes predictions, no metrics to log)")


def check_accelerator(cfg: DictConfig) -> None:
    import torch  # the last check: a second or two

    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise invalid(
            "trainer.accelerator", accelerator, "cpu or auto", "cannot run here: this machine has no CUDA GPU"
        )


Check = Callable[[DictConfig], None]

# In order: the settings alone, then what they ask of the files and the machine; the last check
# imports torch.
TRAIN_CHECKS: tuple[Check, ...] = (
    known_keys(Train),
    check_strategy,
    check_rules,
    check_splits,
    check_clusters,
    check_memory,
    check_resume,
    check_outputs_writable,
    check_accelerator,
)
PREDICT_CHECKS: tuple[Check, ...] = (
    known_keys(Predict),
    check_ckpt_path,
    check_strategy,
    check_rules,
    check_no_logger,
    check_output,
    check_input,
    check_outputs_writable,
    check_accelerator,
)
EVAL_CHECKS: tuple[Check, ...] = (
    known_keys(Eval),
    check_ckpt_path,
    check_strategy,
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
