"""Hydra's override strings (`+a.b=1`, `~a.b`, quoted paths) as the project reads and writes them: the
job names, the sweep summary, `resume=` and the entry points' path arguments."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf


def continue_the_sweep(sweep_dir: Path | str) -> str:
    """How a sweep stopped part-way goes on: its finished jobs are kept, the others run (again)."""
    return f"continue the sweep with the same command and hydra.sweep.dir={sweep_dir}"


def saved_overrides(path: Path) -> list[str]:
    """The overrides in Hydra's record of a command line (`RunDir.overrides`: a YAML list of strings)."""
    return [str(override) for override in OmegaConf.load(path)]


def hydra_value(text: str) -> str:
    """`text` as a Hydra override's value: quoted where Hydra would read syntax into it (a sweep job's
    directory, e.g. `001_lr=0.1,seed=2`, holds `=` and `,`, which Hydra takes for a sweep)."""
    if re.fullmatch(r"[A-Za-z0-9_/\-+.$%*@?|]+", text):
        return text
    quote = "'" if "'" not in text else '"'
    return f"{quote}{text}{quote}"


def quote_path_arguments(arguments: list[str], keys: tuple[str, ...]) -> list[str]:
    """The command line with the values of `keys` (paths, as typed in a shell) quoted for Hydra."""
    quoted = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key in keys and value and value[0] not in "'\"":
            argument = f"{key}={hydra_value(value)}"
        quoted.append(argument)
    return quoted


def split_override(override: str) -> tuple[str, str]:
    """`+a.b=1`, `a.b=1` -> (`a.b`, `1`); `~a.b` -> (`a.b`, ``)."""
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


def key_of(override: str) -> str:
    return split_override(override)[0]
