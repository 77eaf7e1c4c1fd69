"""`python src/train.py resume=<run dir>`: continue a stopped run in its own directory, with its own settings."""

from __future__ import annotations

import os
from pathlib import Path

from cluster_logreg.core.errors import UserError, invalid
from cluster_logreg.core.files import NOT_A_FILE, unreadable
from cluster_logreg.core.overrides import hydra_value, key_of, saved_overrides, split_override
from cluster_logreg.core.run_dir import RunDir

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
    if problem := unreadable(saved):
        problem = "is not a run directory" if problem == NOT_A_FILE else f"{problem} ({saved})"
        raise invalid("resume", str(run_dir), RUN_DIR_HINT.format(saved.relative_to(run_dir)), problem)
    if {"-m", "--multirun"} & set(given):
        raise UserError("resume continues one run, not a sweep; valid: resume=<job dir> without -m, one job at a time")
    # Lightning's DDP processes are started with the parent's command line and its hydra.run.dir.
    elsewhere = [a for a in given if key_of(a) == "hydra.run.dir" and not _same_dir(a.split("=", 1)[1], run_dir)]
    if elsewhere:
        raise UserError(f"resume={run_dir} continues in {run_dir}: {elsewhere[0]} cannot be set as well")
    now = [a for a in given if not a.startswith("resume=")]
    replaced = {key_of(a) for a in now}
    kept = [o for o in saved_overrides(saved) if key_of(o) not in replaced | {"resume"}]
    return [script, *kept, *now, f"resume={hydra_value(str(run_dir))}", f"hydra.run.dir={hydra_value(str(run_dir))}"]


def checkpoint_of(path: Path) -> Path:
    """`ckpt_path=` as given: a checkpoint file, or a run directory, meaning its last checkpoint (where
    the run's own overrides put it, `callbacks.last_checkpoint.path`, else the default place)."""
    run = RunDir(path)
    if not os.path.isdir(path):  # False for a path that cannot be looked at: its check says why
        return path
    setting = "callbacks.last_checkpoint.path"
    if (problem := unreadable(run.overrides)) not in (None, NOT_A_FILE):
        raise invalid("ckpt_path", str(path), "a run directory you can read", f"{problem} ({run.overrides})")
    overrides = saved_overrides(run.overrides) if problem is None else []
    chosen = [value for key, value in map(split_override, overrides) if key == setting]
    return Path(chosen[-1].strip("'\"")) if chosen else run.last_checkpoint


def _same_dir(value: str, run_dir: Path) -> bool:
    return Path(value.strip("'\"")).resolve() == run_dir.resolve()
