"""A CSV file read as the csv module reads a spreadsheet's export: UTF-8 with or without a byte-order
mark, quoted cells, any line ending; a header that names each column once. Every mistake in the file
is a UserError naming the key, the file and, where it applies, the row and the column. Rows are
numbered as an editor shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from cluster_logreg.core.errors import invalid
from cluster_logreg.core.files import unreadable

# UTF-8; "-sig" drops the byte-order mark that spreadsheet programs write at the start of the file.
ENCODING = "utf-8-sig"
HEADER = "a CSV file with a header row"
# About the largest float32 (3.40282e38): the data and weights are float32, where 1e39 is infinite.
FLOAT32_MAX = 3.4e38
# What a single "column" of a file separated by something else than commas holds.
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}


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
    if problem := unreadable(path):
        raise invalid(key, str(path), HEADER, problem)
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


def columns_of(names: Sequence[str]) -> str:
    """What the header holds, for a line saying a column is not in it (a first row of numbers is data)."""
    if all(is_number(name) for name in names):
        return f"its first row holds numbers ({', '.join(names[:5])}), not column names: add a header row"
    return f"its columns: {', '.join(names)}"


def require_columns(names: Sequence[str], needed: Sequence[str], path: Path, key: str) -> None:
    """Other data than the training table (eval's, predict's) holds the trained model's columns."""
    missing = next((name for name in needed if name not in names), None)
    if missing is not None:
        raise invalid(
            key, str(path), f"a CSV file with the model's columns {', '.join(needed)}",
            f"has no column {missing!r} ({columns_of(names)})",
        )  # fmt: skip


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


def is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def number(cell: str, row: int, column: str, key: str, path: Path) -> float:
    """A cell as a number finite in float32, or the error that names where it is."""
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
    if abs(value) > FLOAT32_MAX:
        raise invalid(key, str(path), "numbers that fit float32 (|x| <= 3.4e38)", where)
    return value
