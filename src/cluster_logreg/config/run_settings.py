"""The settings of each entry point's own (the root of train.yaml, eval.yaml, predict.yaml): their
types and valid values (their values are the YAML files'). The groups (data, model, trainer, ...) are
typed by their own settings classes or, for Lightning's classes, by lightning_rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster_logreg.config.rules import (
    AT_LEAST_1,
    CPU_THREADS,
    DIRECTORY,
    OUTPUT,
    SEED,
    Rule,
    is_list,
    is_name,
    one_of,
    path_to,
    setting,
)
from cluster_logreg.core.metrics import OPTIMIZABLE
from cluster_logreg.core.run_dir import EXAMPLE_CHECKPOINT

CKPT_HINT = f"a run directory of train.py or a checkpoint it wrote, e.g. {EXAMPLE_CHECKPOINT}"
TASK_NAME = Rule(is_name, "a name (it names the outputs/<task_name> directory)")
CHECKPOINT = path_to(CKPT_HINT)
TAGS = Rule(lambda v: is_list(v) and all(is_name(tag) for tag in v), "a list of words, e.g. [baseline,dev]")


@dataclass
class Train:
    task_name: str = setting(TASK_NAME)
    run_dir: str = setting(DIRECTORY)
    resume: str | None = setting(Rule(lambda v: v is None or isinstance(v, str), "null or a run directory"))
    seed: int = setting(SEED)
    optimized_metric: str = setting(one_of(*OPTIMIZABLE))
    tags: list[str] = setting(TAGS)
    cpu_threads: int | None = setting(CPU_THREADS)
    # The groups: each checked by its own settings class (or, for Lightning's classes, lightning_rules.py).
    data: Any = None
    model: Any = None
    trainer: Any = None
    logger: Any = None
    callbacks: Any = None


@dataclass
class Eval:
    task_name: str = setting(TASK_NAME)
    run_dir: str = setting(DIRECTORY)
    ckpt_path: str = setting(CHECKPOINT)
    evaluate_on: str = setting(path_to("test | fresh | a CSV file with the columns the model was trained on"))
    seed: int = setting(SEED)
    tags: list[str] = setting(TAGS)
    cpu_threads: int | None = setting(CPU_THREADS)
    trainer: Any = None
    logger: Any = None


@dataclass
class Predict:
    task_name: str = setting(TASK_NAME)
    run_dir: str = setting(DIRECTORY)
    ckpt_path: str = setting(CHECKPOINT)
    input: str = setting(path_to("a CSV file with the model's feature columns"))
    output: str | None = setting(OUTPUT)
    batch_size: int = setting(AT_LEAST_1)
    cpu_threads: int | None = setting(CPU_THREADS)
    trainer: Any = None
    logger: Any = None  # predict.py logs no metrics: none may be chosen (preflight.check_no_logger)


ROOTS: tuple[type[Any], ...] = (Train, Eval, Predict)
