"""The metrics a run reports: their names, which way each is better, how each is shown, and which
of them each view shows (the epoch line, metrics.json, the sweep summary, TensorBoard). The one
place a metric's name is spelled; everything else refers to these constants.

Named quantity first, split second (`loss/val`, `acc/true`): TensorBoard groups its charts by the
part before the slash and opens its first two groups, so accuracy and loss are what a user sees
first, each with every split side by side. Torch-free: the config checks read it before the slow imports.
"""

from __future__ import annotations

import math

LOSS_TRAIN, ACC_TRAIN = "loss/train", "acc/train"  # means over the steps since the previous validation
LOSS_VAL, ACC_VAL, ACC_VAL_BEST = "loss/val", "acc/val", "acc/val_best"
LOSS_TEST, ACC_TEST = "loss/test", "acc/test"
# Exact, on the data's true distribution (data with a known distribution only, see population.py).
ACC_TRUE, EXCESS_ERROR = "acc/true", "acc/excess_error"
# The excess error's log10: good settings differ by decades in it, so on a linear axis (TensorBoard's
# default) its curves stay apart where the raw ones collapse onto 0.
EXCESS_ERROR_LOG10 = "acc/excess_error_log10"
# What the model learned: its composed linear map w.x + c against the Bayes-optimal one. The angle
# between the boundaries and the shift of the model's from the Bayes one (in cluster std, + towards
# class 1) are the two ways a straight boundary can be worse; between them they make the excess error.
ANGLE_TO_BAYES, OFFSET_TO_BAYES = "model/angle_to_bayes", "model/offset_to_bayes"
COSINE_TO_BAYES, WEIGHT_NORM = "model/cosine_to_bayes", "model/weight_norm"
# How fast a run trained (metrics.json; a sweep summary can rank by them, nothing optimises them).
FIT_SECONDS, SAMPLES_PER_SECOND = "fit_seconds", "samples_per_second"

TRAIN = (LOSS_TRAIN, ACC_TRAIN)
VALIDATION = (LOSS_VAL, ACC_VAL, ACC_VAL_BEST)
TEST = (LOSS_TEST, ACC_TEST)
TRUE = (ACC_TRUE, EXCESS_ERROR, EXCESS_ERROR_LOG10)
LEARNED = (ANGLE_TO_BAYES, OFFSET_TO_BAYES, COSINE_TO_BAYES, WEIGHT_NORM)

# The views. TensorBoard's curves (scalars at every validation, the test's at the end):
CURVES = (*TRAIN, *VALIDATION, *TEST, *TRUE, *LEARNED)
# metrics.json, and what a sweep can be optimised and ranked by:
REPORTED = (*VALIDATION, *TEST, *TRUE, *LEARNED)
# The line every `callbacks.epoch_report.every_n_epochs` epochs:
EPOCH_LINE = (*TRAIN, LOSS_VAL, ACC_VAL, ACC_TRUE, EXCESS_ERROR)
# The sweep summary's columns (those some job has), besides the job, its settings and its outcome:
SUMMARY_COLUMNS = (
    *(ACC_TRUE, EXCESS_ERROR, ANGLE_TO_BAYES, OFFSET_TO_BAYES, LOSS_VAL, ACC_VAL, ACC_TEST, LOSS_TEST, WEIGHT_NORM),
    *("epochs", FIT_SECONDS, SAMPLES_PER_SECOND),
)
TIE_BREAK = LOSS_VAL  # of two jobs equal by the ranked metric, the one with the lower loss is marked
# What the divergence check may watch (callbacks.divergence.monitor): a loss, logged at each validation.
MONITORED_LOSSES = (LOSS_TRAIN, LOSS_VAL)
# TensorBoard's pictures, histogram and text of what the model learned: a group of their own, apart
# from the model's scalars (TensorBoard's time series puts every tag of a group in one section).
DECISION_BOUNDARY, LINEAR_MAP = "picture/decision_boundary", "picture/linear_map"
MARGIN = "picture/margin"  # a histogram of each validation point's signed distance to the boundary
# optimized_metric=auto: the exact accuracy where the data's distribution is known, else the best
# validation accuracy. Both are maximised, so a sweeper's direction does not depend on the data.
AUTO = "auto"
EXACT_CHOICE, FALLBACK_CHOICE = ACC_TRUE, ACC_VAL_BEST
OPTIMIZABLE = (AUTO, *REPORTED)

_LOWER_IS_BETTER = {LOSS_TRAIN, LOSS_VAL, LOSS_TEST, EXCESS_ERROR, EXCESS_ERROR_LOG10, ANGLE_TO_BAYES, FIT_SECONDS}


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
    if name in (ACC_TRUE, COSINE_TO_BAYES):
        return f"{value:.6f}"  # the differences between good settings are in the 4th-6th digit
    if name.startswith("acc/") and name != EXCESS_ERROR:
        return f"{value:.4f}"
    if name == SAMPLES_PER_SECOND:
        return f"{value:,.0f}"
    return f"{value:.4g}"  # losses and the excess error span decades
