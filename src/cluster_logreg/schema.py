"""The types of the project's own settings, as structured configs behind the YAML files.

Hydra merges each YAML file onto its schema, so a value of the wrong type (`data.n_per_class=abc`,
`seed=1.5`) is refused while the config is composed, and a number typed `1` where a float is meant
arrives as 1.0. The values themselves are the YAML files' (MISSING here): one place for each.
Ranges and relations between settings are `preflight.RULES`; Lightning's own classes (trainer,
loggers, callbacks) are configured as Lightning documents them and checked by those rules too.
"""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class ClustersData:
    _target_: str = MISSING
    n_per_class: int = MISSING
    n_features: int = MISSING
    mean_value: float = MISSING
    std: float = MISSING
    bias: float = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    batch_size: int | None = MISSING
    seed: int = MISSING


@dataclass
class CsvData:
    _target_: str = MISSING
    path: str = MISSING
    target: str = MISSING
    features: list[str] | None = MISSING
    positive_class: str | None = MISSING
    val_fraction: float = MISSING
    test_fraction: float = MISSING
    batch_size: int | None = MISSING
    seed: int = MISSING


@dataclass
class Model:
    """The model's own settings; its input size and the rest come from the data (`model_inputs`)."""

    _target_: str = MISSING
    hidden_dim: int = MISSING
    optimizer: Any = MISSING


@dataclass
class Adam:
    _target_: str = MISSING
    _partial_: bool = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING


@dataclass
class SGD(Adam):
    momentum: float = MISSING


@dataclass
class Train:
    """conf/train.yaml: the run's own settings; the groups are typed by their own schemas."""

    task_name: str = MISSING
    run_dir: str = MISSING
    resume: str | None = MISSING
    seed: int = MISSING
    optimized_metric: str = MISSING
    cpu_threads: int | None = MISSING
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None


@dataclass
class Eval:
    task_name: str = MISSING
    run_dir: str = MISSING
    ckpt_path: str = MISSING
    evaluate_on: str = MISSING
    seed: int = MISSING
    cpu_threads: int | None = MISSING
    trainer: Any = MISSING


@dataclass
class Predict:
    task_name: str = MISSING
    run_dir: str = MISSING
    ckpt_path: str = MISSING
    input: str = MISSING
    output: str | None = MISSING
    batch_size: int = MISSING
    cpu_threads: int | None = MISSING
    trainer: Any = MISSING


SCHEMAS = {
    "train": Train,
    "eval": Eval,
    "predict": Predict,
    "data/clusters": ClustersData,
    "data/csv": CsvData,
    "model/logreg": Model,
    "model/optimizer/sgd": SGD,
    "model/optimizer/adam": Adam,
}


def store_schemas() -> None:
    """Make each schema a config of its own, `schema_<path>`, for the YAML files' defaults lists
    (`- /schema_data_clusters@_here_`). At the top level, not in a group: `--help` lists the groups
    as what a user chooses from, and a schema is not a choice."""
    store = ConfigStore.instance()
    for path, schema in SCHEMAS.items():
        store.store(name=f"schema_{path.replace('/', '_')}", node=schema)
