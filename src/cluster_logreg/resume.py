"""`python src/train.py resume=<run dir>`: continue a stopped run in its own directory, with its own settings."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from cluster_logreg.errors import UserError, invalid
from cluster_logreg.run_dir import RunDir

RUN_DIR_HINT = "the directory of a run of train.py (it holds its overrides, {}), e.g. outputs/train/runs/<run>"


def resume_arguments(arguments: list[str]) -> list[str]:
    """The command line that continues the run named by `resume=<run dir>`, for Hydra to compose.

    It is that run's own overrides (as Hydra recorded them), then any given now (these win:
    `resume=<run dir> trainer.max_epochs=2000` trains on), then `hydra.run.dir=<run dir>`, so the
    config is the run's and every output (checkpoints, TensorBoard events, metrics, the log) goes on
    in the same directory. The pipeline then restarts from its last checkpoint.
    """
    script, *given = arguments
    resumes = [a.split("=", 1)[1] for a in given if a.startswith("resume=")]
    if not resumes or resumes[-1] in ("", "null"):
        return arguments
    run_dir = Path(resumes[-1])
    saved = RunDir(run_dir).overrides
    if not saved.is_file():
        raise invalid("resume", str(run_dir), RUN_DIR_HINT.format(saved.relative_to(run_dir)), "is not a run directory")
    if {"-m", "--multirun"} & set(given):
        raise UserError("resume continues one run, not a sweep; valid: resume=<job dir> without -m, one job at a time")
    # Lightning's DDP processes are started with the parent's command line and its hydra.run.dir.
    elsewhere = [a for a in given if _key(a) == "hydra.run.dir" and not _same_dir(a.split("=", 1)[1], run_dir)]
    if elsewhere:
        raise UserError(f"resume={run_dir} continues in {run_dir}: {elsewhere[0]} cannot be set as well")
    now = [a for a in given if not a.startswith("resume=")]
    replaced = {_key(a) for a in now}
    kept = [o for o in saved_overrides(saved) if _key(o) not in replaced | {"resume"}]
    return [script, *kept, *now, f"resume={hydra_value(str(run_dir))}", f"hydra.run.dir={hydra_value(str(run_dir))}"]


def continue_the_sweep(sweep_dir: Path | str) -> str:
    """How a sweep stopped part-way goes on: its finished jobs are kept, the others run (again)."""
    return f"continue the sweep with the same command and hydra.sweep.dir={sweep_dir}"


def checkpoint_of(path: Path) -> Path:
    """`ckpt_path=` as given: a checkpoint file, or a run directory, meaning its last checkpoint (where
    the run's own overrides put it, `callbacks.last_checkpoint.path`, else the default place)."""
    run = RunDir(path)
    if not path.is_dir():
        return path
    setting = "callbacks.last_checkpoint.path"
    overrides = saved_overrides(run.overrides) if run.overrides.is_file() else []
    chosen = [value for key, value in map(split_override, overrides) if key == setting]
    return Path(chosen[-1].strip("'\"")) if chosen else run.last_checkpoint


def saved_overrides(path: Path) -> list[str]:
    """The overrides in Hydra's record of a command line (`RunDir.overrides`: a YAML list of strings)."""
    return [str(override) for override in OmegaConf.load(path)]


def hydra_value(text: str) -> str:
    """`text` as a Hydra override's value: quoted where Hydra would read syntax into it (a sweep job's
    directory, e.g. `1_lr=0.1,seed=2`, holds `=` and `,`, which Hydra takes for a sweep)."""
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


def _same_dir(value: str, run_dir: Path) -> bool:
    return Path(value.strip("'\"")).resolve() == run_dir.resolve()


def split_override(override: str) -> tuple[str, str]:
    """`+a.b=1`, `a.b=1` -> (`a.b`, `1`); `~a.b` -> (`a.b`, ``)."""
    key, _, value = override.lstrip("+~").partition("=")
    return key, value


def _key(override: str) -> str:
    return split_override(override)[0]
