"""A run or sweep directory belongs to one command line: another one is refused before Hydra writes
there (the same command again continues it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.entry import fail
from cluster_logreg.core.errors import UserError
from cluster_logreg.core.files import unreadable
from cluster_logreg.core.overrides import saved_overrides
from cluster_logreg.core.run_dir import RunDir


class AnotherRunsDirectory(Callback):
    """A command whose `hydra.run.dir` holds another run (results of another command line: Hydra's record
    of it differs) is refused before Hydra writes a file there: Hydra would replace that run's .hydra/
    before any check, and the run its results after. The same command again (srun's tasks, a requeued
    SLURM job), a `resume=` and Lightning's DDP processes (they write no .hydra/) go on; so does any
    command where an earlier one was refused (it left only .hydra/ and its log). The same for a sweep's
    `hydra.sweep.dir` (its multirun.yaml, its summary and its jobs' directories): continuing a sweep is
    its own command again.

    It ends the program itself (`fail`): Hydra turns an exception in a callback into a warning."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run = RunDir(Path(config.hydra.run.dir))
        if config.get("resume") or config.hydra.output_subdir is None or unreadable(run.overrides):
            return
        if saved_overrides(run.overrides) != list(config.hydra.overrides.task) and _has_results(run.path):
            fail(UserError(
                f"hydra.run.dir={str(run.path)!r} holds another run (its .hydra/ records another command line); "
                f"valid: a new directory, or resume={run.path} to continue that run"
            ))  # fmt: skip

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        record = sweep_dir / "multirun.yaml"
        if unreadable(record):
            return
        saved = OmegaConf.select(OmegaConf.load(record), "hydra.overrides.task", default=[])
        jobs = [d for d in sweep_dir.iterdir() if (d / ".hydra").is_dir()]
        if list(saved) != list(config.hydra.overrides.task) and any(_has_results(job) for job in jobs):
            fail(UserError(
                f"hydra.sweep.dir={str(sweep_dir)!r} holds another sweep (its multirun.yaml records another command "
                "line); valid: a new directory, or that sweep's own command to continue it"
            ))  # fmt: skip


def _has_results(path: Path) -> bool:
    """Anything a run wrote besides Hydra's record and the logs: checkpoints, events, metrics."""
    return any(entry.name != ".hydra" and entry.suffix != ".log" for entry in path.iterdir())
