"""What a valid value of a setting is: a test and its words, the words the error line shows.

A project setting carries its rule with its type (`setting(...)`, see run_settings.py); the
settings of Lightning's classes have theirs in lightning_rules.py. Torch-free.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import Field, field
from typing import Any, NamedTuple, TypeGuard

from omegaconf import MISSING, OmegaConf

from cluster_logreg.core.csv_file import FLOAT32_MAX

MAX_SEED = 2**32 - 1  # what numpy, and so Lightning's seed_everything, accepts
CPU_CORES = os.cpu_count() or 1


class Rule(NamedTuple):
    test: Callable[[object], bool]
    valid: str  # what is valid, in the words of the error line


def setting(rule: Rule) -> Any:
    """A schema field and its rule (its value is the YAML file's, in conf/)."""
    return field(default=MISSING, metadata={"rule": rule})


def rule_of(schema_field: Field[Any]) -> Rule | None:
    return schema_field.metadata.get("rule")


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[float]:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value) and abs(value) <= FLOAT32_MAX


def is_list(value: object) -> TypeGuard[list[Any]]:
    return isinstance(value, list) or OmegaConf.is_list(value)  # as composed: a ListConfig


def is_name(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_path(value: object) -> bool:
    return isinstance(value, str) and value != ""


def int_at_least(low: int, note: str = "") -> Rule:
    return Rule(lambda v: is_int(v) and v >= low, f"an integer >= {low}{note}")


def number_above(low: float, inclusive: bool = False) -> Rule:
    relation = ">=" if inclusive else ">"
    return Rule(
        lambda v: is_number(v) and (v >= low if inclusive else v > low),
        f"a finite number {relation} {low:g} (<= 3.4e38)",
    )


def one_of(*values: object) -> Rule:
    return Rule(lambda v: v in values, " | ".join(map(str, values)))


AT_LEAST_1 = int_at_least(1)
BOOL = Rule(lambda v: isinstance(v, bool), "true | false")
NUMBER = Rule(is_number, "a finite number (|x| <= 3.4e38)")
FRACTION = Rule(lambda v: is_number(v) and 0 < v < 1, "a number between 0 and 1 (exclusive)")
SEED = Rule(lambda v: is_int(v) and 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")
NAME = Rule(is_name, "a name")
BATCH_SIZE = Rule(lambda v: v is None or AT_LEAST_1.test(v), "null (whole split) or an integer >= 1")
CPU_THREADS = Rule(
    lambda v: v is None or (is_int(v) and 1 <= v <= CPU_CORES),
    f"an integer from 1 to {CPU_CORES} (the CPU cores), or null (torch's default)",
)
# The paths a run writes: pre-flight creates their directories and checks it can write there.
DIRECTORY = Rule(_is_path, "a path you can write to")
FILE = Rule(_is_path, "a file path you can write to")  # its directory is created and checked
OUTPUT = Rule(lambda v: v is None or _is_path(v), "null (predictions.csv in the run directory) or a file path")
WRITTEN = (DIRECTORY, FILE, OUTPUT)


def path_to(what: str) -> Rule:
    """A path a run reads: `what` it must be."""
    return Rule(_is_path, what)
