"""Files that are either complete or absent: a reader (or a killed run) never sees half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NOT_A_FILE = "is not a file"


def unreadable(path: Path) -> str | None:
    """Why the file at `path` cannot be read (what an error line says after the path), or None."""
    try:
        with open(path, "rb"):
            return None
    except PermissionError:
        return "cannot be read: permission denied"
    except OSError:  # absent, a directory, a path through a file
        return NOT_A_FILE


def partial_path(path: Path) -> Path:
    """Where `path` is written before a rename makes it whole: hidden, beside it, one per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def write_text_atomically(path: Path, text: str) -> None:
    partial = partial_path(path)
    partial.write_text(text)
    os.replace(partial, path)


def write_json(path: Path, content: dict[str, Any]) -> None:
    write_text_atomically(path, json.dumps(content, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """What `write_json` wrote, or {} where nothing was written (yet)."""
    content: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return content
