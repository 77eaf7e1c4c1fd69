"""The settings of each entry point's own (the root of train.yaml, eval.yaml, predict.yaml): type,
default and valid values in one place. The groups (data, model, trainer, ...) are typed by their own
settings classes or, for Lightning's classes, by lightning_rules.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from cluster_logreg.config.rules import (
    AT_LEAST_1,
    CPU_THREADS,
    DIRECTORY,
    OUTPUT,
    SEED,
    Rule,
    is_name,
    one_of,
    path_to,
    setting,
)
from cluster_logreg.core.metrics import OPTIMIZABLE
from cluster_logreg.core.run_dir import EXAMPLE_CHECKPOINT

CKPT_HINT = f"a run directory of train.py or a checkpoint it wrote, e.g. {EXAMPLE_CHECKPOINT}"
TASK_NAME = Rule(is_name, "a name (it names the outputs/<task_name> directory)")


# Where the run writes (Hydra's directory for it); the names of the files in it are core/run_dir.py's.
# Through the config, so `train(cfg)` also runs in process with `run_dir=<dir>` (a notebook, a test).
def _run_dir_setting() -> Any:
    return setting("${hydra:runtime.output_dir}", DIRECTORY)


# CPU threads torch uses. A fixed number makes a job's metrics identical to the last bit with any
# launcher and any OMP_NUM_THREADS (sums are split differently over threads). null: torch's default.
def _threads_setting() -> Any:
    return setting(1, CPU_THREADS)


def _checkpoint_setting() -> Any:
    """A checkpoint, or a run directory (its last checkpoint)."""
    return setting(MISSING, path_to(CKPT_HINT))


@dataclass
class Train:
    """`python src/train.py`: the tutorial's experiment, done right, with a fixed seed."""

    task_name: str = setting("train", TASK_NAME)
    run_dir: str = _run_dir_setting()
    # A run directory to continue (`resume=outputs/train/runs/<run>`): its settings, its directory,
    # from its last checkpoint.
    resume: str | None = setting(None, Rule(lambda v: v is None or isinstance(v, str), "null or a run directory"))
    # Seeds the data draw, the split, the weight init and the shuffling: same seed, same metrics.
    seed: int = setting(0, SEED)
    # What the run returns to a sweeper and what the sweep summary ranks jobs by. auto: the exact accuracy
    # where the data's distribution is known (the clusters), else the best validation accuracy (core/metrics.py).
    optimized_metric: str = setting("auto", one_of(*OPTIMIZABLE))
    cpu_threads: int | None = _threads_setting()
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = None


@dataclass
class Eval:
    """`python src/eval.py ckpt_path=PATH`: tests a trained model (its settings come from the checkpoint)."""

    task_name: str = setting("eval", TASK_NAME)
    run_dir: str = _run_dir_setting()  # metrics.json and eval.log go here
    ckpt_path: str = _checkpoint_setting()
    # test (the test split of the data it was trained on), fresh (a new draw of the clusters it was
    # trained on, from `seed`), or a CSV file with the columns it was trained on.
    evaluate_on: str = setting("test", path_to("test | fresh | a CSV file with the columns the model was trained on"))
    seed: int = setting(1000, SEED)  # of the fresh draw (evaluate_on=fresh)
    cpu_threads: int | None = _threads_setting()  # as train's: the test metrics of train.py, to the last bit
    trainer: Any = MISSING


@dataclass
class Predict:
    """`python src/predict.py ckpt_path=PATH input=FILE.csv`: P(class 1) and the class of every row."""

    task_name: str = setting("predict", TASK_NAME)
    run_dir: str = _run_dir_setting()
    ckpt_path: str = _checkpoint_setting()
    # A CSV file whose header names the model's feature columns (others are ignored).
    input: str = setting(MISSING, path_to("a CSV file with the model's feature columns"))
    output: str | None = setting(None, OUTPUT)  # null: predictions.csv in the run directory
    # Rows read, predicted and written at a time: the memory a file of any length takes.
    batch_size: int = setting(65536, AT_LEAST_1)
    cpu_threads: int | None = _threads_setting()
    trainer: Any = MISSING


# Each root's name in the config store: the first entry of its YAML file's defaults list.
ROOTS = {"train_settings": Train, "eval_settings": Eval, "predict_settings": Predict}
