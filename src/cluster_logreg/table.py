"""A CSV table of numeric features and a binary target, read and checked: every mistake in the file is
a UserError naming the key, the file and, where it applies, the row and the column.

Read as the csv module reads a spreadsheet's export: UTF-8 with or without a byte-order mark, quoted
cells, any line ending. A file whose columns are ambiguous (a name twice, a column without a name) or
whose classes are written two ways is refused, never read into a model of other columns.

Torch-free (numpy and the csv module), so the pre-flight checks read it before the slow imports; the
DataModule then takes the arrays from the same read (`read_table` is cached per file and version).
Rows are numbered as an editor shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster_logreg.errors import UserError, invalid

# Reading a CSV into float32 arrays holds the parsed rows (Python floats) and the array together.
BYTES_PER_CSV_BYTE = 8
# UTF-8; "-sig" drops the byte-order mark that spreadsheet programs write at the start of the file.
ENCODING = "utf-8-sig"
HEADER = "a CSV file with a header row"
# What a single "column" of a file separated by something else than commas holds.
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # (rows, features) float32
    y: np.ndarray  # (rows,) float32, 0.0 or 1.0
    features: tuple[str, ...]
    target: str
    classes: tuple[str, str]  # the target's values for class 0 and class 1, as written in the file


def _records(path: Path, key: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every row that holds something, the header (row 1) first: blank lines and
    rows of empty cells only (what a spreadsheet writes below its data) are skipped."""
    with open(path, newline="", encoding=ENCODING) as file:
        reader = csv.reader(file, strict=True)  # strict: a stray quote is an error, not a guess
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):  # noqa: B007 - read after the loop
                if any(cell.strip() for cell in cells):
                    yield number, cells
        except UnicodeDecodeError:
            raise invalid(
                key, str(path), "a CSV file of UTF-8 text (a spreadsheet's 'CSV UTF-8' export)",
                f"is not UTF-8 text ({_first_undecodable(path)})",
            ) from None  # fmt: skip
        except csv.Error as error:
            raise invalid(
                key, str(path), "a CSV file: cells separated by commas, every opened quote closed",
                f"cannot be read as CSV ({error} in row {number + 1})",
            ) from None  # fmt: skip


def _first_undecodable(path: Path) -> str:
    """Where a file stops being UTF-8 (the text reader decodes in blocks, so its error cannot say)."""
    with open(path, "rb") as file:
        for line_number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return f"byte {line[error.start]:#04x} in line {line_number}"
    return "an incomplete character at its end"


def header(path: Path, key: str = "data.path") -> list[str]:
    """The column names of the CSV at `path` (its first row), each a name of its own."""
    if not path.is_file():
        raise invalid(key, str(path), HEADER, "is not a file")
    first = next(_records(path, key), None)
    if first is None:
        raise invalid(key, str(path), HEADER, "is empty")
    names = [name.strip() for name in first[1]]
    if len(names) == 1 and (separator := next((s for s in OTHER_SEPARATORS if s in names[0]), None)):
        raise invalid(
            key, str(path), "a comma-separated file (a spreadsheet's 'CSV' export)",
            f"has its cells separated by {OTHER_SEPARATORS[separator]}, not commas (its header: {names[0]!r})",
        )  # fmt: skip
    for column, name in enumerate(names, start=1):
        if not name:
            raise invalid(
                key, str(path), "a header that names every column (pandas: to_csv(..., index=False))",
                f"has a column without a name (column {column} of {len(names)} in its header)",
            )  # fmt: skip
        if name in names[: column - 1]:
            first_column = names.index(name) + 1
            raise invalid(
                key, str(path), "a header that names each column once",
                f"names the column {name!r} twice in its header (columns {first_column} and {column})",
            )  # fmt: skip
    return names


def _columns_of(names: Sequence[str]) -> str:
    """What the header holds, for a line saying a column is not in it (a first row of numbers is data)."""
    if all(_is_number(name) for name in names):
        return f"its first row holds numbers ({', '.join(names[:5])}), not column names: add a header row"
    return f"its columns: {', '.join(names)}"


def require_columns(names: Sequence[str], needed: Sequence[str], path: Path, key: str) -> None:
    """Other data than the training table (eval's, predict's) holds the trained model's columns."""
    missing = next((name for name in needed if name not in names), None)
    if missing is not None:
        raise invalid(
            key, str(path), f"a CSV file with the model's columns {', '.join(needed)}",
            f"has no column {missing!r} ({_columns_of(names)})",
        )  # fmt: skip


def feature_columns(names: Sequence[str], target: str, features: Sequence[str] | None, path: Path) -> list[str]:
    """The training table's feature columns: `features` as given (each once, each a column), or every
    column but the target."""
    if target not in names:
        raise invalid("data.target", target, f"a column of {path}", f"is not a column ({_columns_of(names)})")
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


def rows(path: Path, columns: Sequence[str], key: str, names: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(row number, the cells of `columns`) for every data row, checking each row has every column."""
    index = [names.index(column) for column in columns]
    records = _records(path, key)
    next(records)  # the header
    for number, cells in records:
        if len(cells) != len(names):
            raise invalid(
                key, str(path), f"{len(names)} cells in every row, as in the header",
                f"has {len(cells)} cells in row {number}",
            )  # fmt: skip
        yield number, [cells[i] for i in index]


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def number(cell: str, row: int, column: str, key: str, path: Path) -> float:
    """A cell as a finite number, or the error that names where it is."""
    if not cell.strip():
        raise invalid(
            key, str(path), "a number in every feature cell (fill in or drop the rows with missing values)",
            f"has an empty cell in row {row}, column {column!r}",
        )  # fmt: skip
    where = f"has {cell!r} in row {row}, column {column!r}"
    if re.fullmatch(r"\s*[-+]?\d+,\d+\s*", cell):
        where += " (a decimal comma? numbers are written 1.5, without thousands separators)"
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
    sorted order (numbers by value), unless `positive` names the one that is class 1. `key` names the
    setting that gave the file: `data.path` (training data), or other data for a trained model, which
    must hold its `features` and `target`.
    """
    file = Path(path)
    stamp = file.stat().st_mtime_ns if file.is_file() else 0
    return _read(file, stamp, target, tuple(features) if features is not None else None, positive, key)


@functools.lru_cache(maxsize=4)
def _read(
    path: Path, stamp: int, target: str, features: tuple[str, ...] | None, positive: str | None, key: str
) -> Table:
    names = header(path, key)
    if key == "data.path":
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
            raise _bad_target(key, target, path, f"an empty cell at row {row}", "a class in every row")
        labels.append(label.strip())
    if not values:
        raise invalid(key, str(path), "a CSV file with data rows under its header", "has a header only")
    classes = _classes(labels, target, positive, path, key)
    y = np.array([label == classes[1] for label in labels], dtype=np.float32)
    return Table(np.array(values, dtype=np.float32), y, tuple(columns), target, classes)


def _bad_target(key: str, target: str, path: Path, what: str, valid: str) -> UserError:
    """The target column has `what`: the setting's mistake (data.target) in training data, the file's in other data."""
    if key == "data.path":
        return invalid("data.target", target, valid, f"has {what} in {path}")
    return invalid(key, str(path), valid, f"has {what} in its column {target!r}")


def _classes(labels: list[str], target: str, positive: str | None, path: Path, key: str) -> tuple[str, str]:
    distinct = _in_order(set(labels))
    if len(distinct) != 2:
        shown = ", ".join(repr(d) for d in distinct[:5]) + (", ..." if len(distinct) > 5 else "")
        what = f"{len(distinct)} distinct value{'s' * (len(distinct) != 1)} ({shown})"
        raise _bad_target(key, target, path, what, "a column with exactly two distinct values (the two classes)")
    low, high = distinct
    if low.casefold() == high.casefold() or (_is_number(low) and _is_number(high) and float(low) == float(high)):
        what = f"one class written two ways ({low!r} and {high!r})"
        raise _bad_target(key, target, path, what, "two classes, each written one way")
    if positive is not None:
        if positive not in distinct and key == "data.path":
            raise invalid("data.positive_class", positive, " | ".join(distinct), f"is not a value of {target!r}")
        if positive not in distinct:
            return (low, high)  # other data: the caller compares the classes
        return (low if high == positive else high, positive)
    return (low, high)  # sorted: 0 and 1 keep their meaning


def _in_order(values: set[str]) -> list[str]:
    """Sorted: by value where every one is a number (2 before 10), else as text."""
    if all(_is_number(v) for v in values):
        return sorted(values, key=lambda v: (float(v), v))
    return sorted(values)


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
