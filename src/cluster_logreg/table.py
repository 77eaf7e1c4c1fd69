"""A CSV table of numeric features and a binary target, read and checked: every mistake in the file is
a UserError naming the key, the file and, where it applies, the row and the column.

Torch-free (numpy and the csv module), so the pre-flight checks read it before the slow imports; the
DataModule then takes the arrays from the same read (`read_table` is cached per file and version).
Rows are numbered as an editor shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster_logreg.errors import invalid

# Reading a CSV into float32 arrays holds the parsed rows (Python floats) and the array together.
BYTES_PER_CSV_BYTE = 8


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # (rows, features) float32
    y: np.ndarray  # (rows,) float32, 0.0 or 1.0
    features: tuple[str, ...]
    target: str
    classes: tuple[str, str]  # the target's values for class 0 and class 1, as written in the file


def header(path: Path, key: str = "data.path") -> list[str]:
    """The column names of the CSV at `path` (its first row)."""
    if not path.is_file():
        raise invalid(key, str(path), "a CSV file with a header row", "is not a file")
    with open(path, newline="") as file:
        first = next(csv.reader(file), None)
    if not first or not any(name.strip() for name in first):
        raise invalid(key, str(path), "a CSV file with a header row", "is empty")
    return [name.strip() for name in first]


def feature_columns(
    names: Sequence[str], target: str, features: Sequence[str] | None, path: Path, key: str = "data.path"
) -> list[str]:
    """The feature columns: `features` as given (each must exist), or every column but the target.
    Reading training data, a missing column is the setting's mistake; reading other data (`key`), the file's."""
    training = key == "data.path"
    if target not in names:
        if not training:
            raise invalid(key, str(path), f"a CSV file with the column {target!r}", "lacks it")
        raise invalid("data.target", target, f"a column of {path}: {', '.join(names)}", "is not a column of the file")
    if features is None:
        return [name for name in names if name != target]
    missing = [name for name in features if name not in names]
    if missing and not training:
        raise invalid(key, str(path), f"a CSV file with the columns {', '.join(features)}", f"lacks {missing[0]!r}")
    if missing:
        raise invalid("data.features", list(features), f"columns of {path}", f"names {missing[0]!r}, not a column")
    if target in features:
        raise invalid("data.features", list(features), "columns other than the target", f"includes {target!r}")
    return list(features)


def rows(path: Path, columns: Sequence[str], key: str, names: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(row number, the cells of `columns`) for every data row, checking each row has every column."""
    index = [names.index(column) for column in columns]
    with open(path, newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue  # a blank line, e.g. at the end
            if len(cells) != len(names):
                raise invalid(
                    key, str(path), f"{len(names)} cells in every row, as in the header",
                    f"has {len(cells)} cells in row {number}",
                )  # fmt: skip
            yield number, [cells[i] for i in index]


def number(cell: str, row: int, column: str, key: str, path: Path) -> float:
    """A cell as a finite number, or the error that names where it is."""
    where = f"has {cell!r} in row {row}, column {column!r}"
    try:
        value = float(cell)
    except ValueError:
        raise invalid(key, str(path), "numbers in every feature column", where) from None
    if not math.isfinite(value):
        raise invalid(key, str(path), "finite numbers (no NaN, no inf)", where)
    return value


def check_fits_in_memory(path: Path, key: str = "data.path") -> None:
    from cluster_logreg.preflight import available_memory  # the one reader of this machine's memory

    available = available_memory()
    needed = path.stat().st_size * BYTES_PER_CSV_BYTE
    if available is not None and needed > available:
        raise invalid(
            key,
            str(path),
            f"a file whose rows fit in the {available / 1e9:.3g} GB of memory available",
            f"is {path.stat().st_size / 1e9:.3g} GB: reading it would need about {needed / 1e9:.3g} GB",
        )


def read_table(
    path: str, target: str, features: Sequence[str] | None = None, positive: str | None = None, key: str = "data.path"
) -> Table:
    """The table at `path`: `features` (all columns but `target` by default) as numbers, `target` as 0/1.

    The target has exactly two distinct values: 0/1 keep their meaning; any other two are mapped in
    sorted order, unless `positive` names the one that is class 1.
    """
    file = Path(path)
    stamp = file.stat().st_mtime_ns if file.is_file() else 0
    return _read(file, stamp, target, tuple(features) if features is not None else None, positive, key)


@functools.lru_cache(maxsize=4)
def _read(
    path: Path, stamp: int, target: str, features: tuple[str, ...] | None, positive: str | None, key: str
) -> Table:
    names = header(path, key)
    columns = feature_columns(names, target, features, path, key)
    if not columns:
        raise invalid(key, str(path), f"at least one column besides {target!r}", "has no feature column")
    check_fits_in_memory(path, key)
    values: list[list[float]] = []
    labels: list[str] = []
    for row, cells in rows(path, [*columns, target], key, names):
        *features_cells, label = cells
        pairs = zip(features_cells, columns, strict=True)
        values.append([number(cell, row, column, key, path) for cell, column in pairs])
        labels.append(label.strip())
    if not values:
        raise invalid(key, str(path), "a CSV file with data rows under its header", "has a header only")
    classes = _classes(labels, target, positive, path, key)
    y = np.array([label == classes[1] for label in labels], dtype=np.float32)
    return Table(np.array(values, dtype=np.float32), y, tuple(columns), target, classes)


def _classes(labels: list[str], target: str, positive: str | None, path: Path, key: str) -> tuple[str, str]:
    distinct = sorted(set(labels))
    if len(distinct) != 2:
        shown = ", ".join(repr(d) for d in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
        raise invalid(
            "data.target" if key == "data.path" else key,
            target if key == "data.path" else str(path),
            "a column with exactly two distinct values (the two classes)",
            f"has {len(distinct)} in {path}: {shown}",
        )
    if positive is not None:
        if positive not in distinct and key == "data.path":
            raise invalid("data.positive_class", positive, " | ".join(distinct), f"is not a value of {target!r}")
        if positive not in distinct:
            return (distinct[0], distinct[1])  # other data: the caller compares the classes
        return (distinct[0] if distinct[1] == positive else distinct[1], positive)
    return (distinct[0], distinct[1])  # sorted: 0 and 1 keep their meaning


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the train, validation and test splits, each class split in the same proportions,
    in an order drawn from `seed`."""
    from cluster_logreg.splits import split_sizes

    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in (0.0, 1.0):
        members = rng.permutation(np.flatnonzero(y == label))
        n_train, n_val, _ = split_sizes(len(members), val_fraction, test_fraction)
        for name, chunk in zip(parts, np.split(members, [n_train, n_train + n_val]), strict=True):
            parts[name].append(chunk)
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}
