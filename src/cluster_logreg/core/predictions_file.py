"""The file predict.py writes: its header, and whether an existing file is one. Torch-free: the
pre-flight check asks it before the slow imports, so that no other file is ever written over."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

PROBABILITY, PREDICTED = "probability_of_", "predicted_"


def predictions_header(target: str, classes: Sequence[str]) -> list[str]:
    """P(class 1), then the predicted class: named after what they mean, e.g. probability_of_malignant."""
    return [f"{PROBABILITY}{classes[1]}", f"{PREDICTED}{target}"]


def is_predictions_file(path: Path) -> bool:
    """Whether the file at `path` starts with a header that predict.py writes (an earlier output)."""
    with open(path, "rb") as file:
        first = file.readline(65536).decode("utf-8", errors="replace")
    names = next(csv.reader([first]), [])
    return len(names) == 2 and names[0].startswith(PROBABILITY) and names[1].startswith(PREDICTED)
