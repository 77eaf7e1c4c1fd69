"""The training table (or other data for a trained model) read from a CSV file: numeric features and a
binary target. A file whose classes are written two ways, or whose columns do not match what is
asked, is refused, never read into a model of other columns.

Torch-free (numpy and the csv module), so the pre-flight checks read it before the slow imports; the
DataModule then takes the arrays from the same read (`read_table` is cached per file and version).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster_logreg.core.csv_file import columns_of, header, is_number, number, require_columns, rows
from cluster_logreg.core.errors import UserError, invalid
from cluster_logreg.core.memory import available_memory

# Reading a CSV into float32 arrays holds the parsed rows (Python floats) and the array together.
BYTES_PER_CSV_BYTE = 8
TRAINING_KEY = "data.path"  # the setting that names a training table


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # (rows, features) float32
    y: np.ndarray  # (rows,) float32, 0.0 or 1.0
    features: tuple[str, ...]
    target: str
    classes: tuple[str, str]  # the target's values for class 0 and class 1, as written in the file


def feature_columns(names: Sequence[str], target: str, features: Sequence[str] | None, path: Path) -> list[str]:
    """The training table's feature columns: `features` as given (each once, each a column), or every
    column but the target."""
    if target not in names:
        raise invalid("data.target", target, f"a column of {path}", f"is not a column ({columns_of(names)})")
    if features is None:
        return [name for name in names if name != target]
    missing = next((name for name in features if name not in names), None)
    if missing is not None:
        raise invalid("data.features", list(features), f"columns of {path}", f"names {missing!r}, not a column")
    if target in features:
        raise invalid("data.features", list(features), "columns other than the target", f"includes {target!r}")
    twice = next((name for i, name in enumerate(features) if name in features[:i]), None)
    if twice is not None:
        raise invalid("data.features", list(features), "each column once", f"names {twice!r} twice")
    return list(features)


def check_fits_in_memory(path: Path, key: str) -> None:
    available = available_memory()
    needed = path.stat().st_size * BYTES_PER_CSV_BYTE
    if available is not None and needed > available:
        raise invalid(
            key,
            str(path),
            f"a file whose rows fit in the {available / 1e9:.3g} GB of memory available",
            f"is {path.stat().st_size / 1e9:.3g} GB: reading it would need about {needed / 1e9:.3g} GB",
        )


def read_table(path: str, target: str, features: Sequence[str] | None = None, positive: str | None = None) -> Table:
    """The training table at `path` (`data.path`): `features` (all columns but `target` by default) as
    numbers, `target` as 0/1.

    The target has exactly two distinct values: 0/1 keep their meaning; any other two are mapped in
    sorted order (numbers by value), unless `positive` names the one that is class 1.
    """
    return _read(*_version(path), target, tuple(features) if features is not None else None, positive, None)


def read_data_for_model(path: str, key: str, target: str, features: Sequence[str], positive: str) -> Table:
    """Other data for a trained model (given by the setting `key`): it must hold the model's `features`
    and `target`; its mistakes are the file's, not the settings'."""
    return _read(*_version(path), target, tuple(features), positive, key)


def _version(path: str) -> tuple[Path, int]:
    file = Path(path)
    return file, file.stat().st_mtime_ns if file.is_file() else 0


@functools.lru_cache(maxsize=4)
def _read(
    path: Path, stamp: int, target: str, features: tuple[str, ...] | None, positive: str | None, other_data: str | None
) -> Table:
    """`other_data`: None for the training table, else the key of the setting that gave the file."""
    key = other_data or TRAINING_KEY
    names = header(path, key)
    if other_data is None:
        columns = feature_columns(names, target, features, path)
    else:
        require_columns(names, [*(features or ()), target], path, key)
        columns = list(features or ())
    if not columns:
        raise invalid(key, str(path), f"at least one column besides {target!r}", "has no feature column")
    check_fits_in_memory(path, key)
    values: list[list[float]] = []
    labels: list[str] = []
    for row, cells in rows(path, [*columns, target], key, names):
        *features_cells, label = cells
        pairs = zip(features_cells, columns, strict=True)
        values.append([number(cell, row, column, key, path) for cell, column in pairs])
        if not label.strip():
            raise _bad_target(other_data, target, path, f"an empty cell at row {row}", "a class in every row")
        labels.append(label.strip())
    if not values:
        raise invalid(key, str(path), "a CSV file with data rows under its header", "has a header only")
    classes = _classes(labels, target, positive, path, other_data)
    y = np.array([label == classes[1] for label in labels], dtype=np.float32)
    return Table(np.array(values, dtype=np.float32), y, tuple(columns), target, classes)


def _bad_target(other_data: str | None, target: str, path: Path, what: str, valid: str) -> UserError:
    """The target column has `what`: the setting's mistake (data.target) in training data, the file's in other data."""
    if other_data is None:
        return invalid("data.target", target, valid, f"has {what} in {path}")
    return invalid(other_data, str(path), valid, f"has {what} in its column {target!r}")


def _classes(
    labels: list[str], target: str, positive: str | None, path: Path, other_data: str | None
) -> tuple[str, str]:
    distinct = _in_order(set(labels))
    if len(distinct) != 2:
        shown = ", ".join(repr(d) for d in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
        what = f"{len(distinct)} distinct value{'s' * (len(distinct) != 1)} ({shown})"
        raise _bad_target(other_data, target, path, what, "a column with exactly two distinct values (the two classes)")
    low, high = distinct
    if low.casefold() == high.casefold() or (is_number(low) and is_number(high) and float(low) == float(high)):
        what = f"one class written two ways ({low!r} and {high!r})"
        raise _bad_target(other_data, target, path, what, "two classes, each written one way")
    if positive is not None:
        if positive not in distinct and other_data is None:
            raise invalid("data.positive_class", positive, " | ".join(distinct), f"is not a value of {target!r}")
        if positive not in distinct:
            return (low, high)  # other data: the caller compares the classes
        return (low if high == positive else high, positive)
    return (low, high)  # sorted: 0 and 1 keep their meaning


def _in_order(values: set[str]) -> list[str]:
    """Sorted: by value where every one is a number (2 before 10), else as text."""
    if all(is_number(v) for v in values):
        return sorted(values, key=lambda v: (float(v), v))
    return sorted(values)
