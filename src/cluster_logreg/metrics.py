"""The names of the metrics a run reports, which way each is better, and how each is shown.

Named quantity first, split second (`loss/val`, `acc/true`): TensorBoard groups its charts by the
part before the slash and opens its first two groups, so accuracy and loss are what a user sees
first, each with every split side by side. Torch-free: the config checks read it before the slow imports.
"""

from __future__ import annotations

import math

TRAIN = ("loss/train", "acc/train")  # means over the steps since the previous validation
VALIDATION = ("loss/val", "acc/val", "acc/val_best")
TEST = ("loss/test", "acc/test")
# Exact, on the data's true distribution (data with a known distribution only, see population.py).
TRUE = ("acc/true", "acc/excess_error")
# What the model learned: its composed linear map w.x + c against the Bayes-optimal one.
LEARNED = ("model/cosine_to_bayes", "model/weight_norm")
# What a run's metrics file holds and what a sweep can be optimised and ranked by.
REPORTED = (*VALIDATION, *TEST, *TRUE, *LEARNED)

# optimized_metric=auto: the exact accuracy where the data's distribution is known, else the best
# validation accuracy. Both are maximised, so a sweeper's direction does not depend on the data.
AUTO = "auto"
EXACT_CHOICE, FALLBACK_CHOICE = "acc/true", "acc/val_best"
# Also rankable in a sweep summary (not optimisable: they measure the machine, not the model).
SPEED = ("samples_per_second", "fit_seconds")

_LOWER_IS_BETTER = {"loss/train", "loss/val", "loss/test", "acc/excess_error", "fit_seconds"}


def lower_is_better(name: str) -> bool:
    return name in _LOWER_IS_BETTER


def direction(name: str) -> str:
    """`minimize` or `maximize`, as Optuna spells it; `auto` is an accuracy either way."""
    return "minimize" if lower_is_better(name) else "maximize"


def worst_value(name: str) -> float:
    """What a diverged job returns to a sweeper, so no search ever prefers it."""
    return math.inf if lower_is_better(name) else 0.0


def chosen(optimized_metric: str, distribution_known: bool) -> str:
    """The metric `optimized_metric` stands for with this data."""
    if optimized_metric != AUTO:
        return optimized_metric
    return EXACT_CHOICE if distribution_known else FALLBACK_CHOICE


def shown(name: str, value: float) -> str:
    """A value as the epoch line, the run's last line and the sweep summary show it."""
    if name in ("acc/true", "model/cosine_to_bayes"):
        return f"{value:.6f}"  # the differences between good settings are in the 4th-6th digit
    if name.startswith("acc/") and name != "acc/excess_error":
        return f"{value:.4f}"
    if name == "samples_per_second":
        return f"{value:,.0f}"
    return f"{value:.4g}"  # losses and the excess error span decades
