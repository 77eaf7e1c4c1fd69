"""hydra/launcher=stacked: the jobs Hydra hands the launcher, grouped (config/stacking.py), each group
trained as one stacked model (fit.py), then every job run as Hydra's basic launcher runs it, by
`run_job` with the task itself: its `.hydra/`, its log file, the callbacks' start and end (the sweep
summary's row), and the task (train.py's), which finds a stacked job's results and keeps them.
A job that cannot be stacked is simply trained there, as with the basic launcher.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cluster_logreg.config.preflight import TRAIN_CHECKS, preflight
from cluster_logreg.config.refusals import is_user_error
from cluster_logreg.config.stacking import group_key, why_not_stackable
from cluster_logreg.core.errors import one_line
from cluster_logreg.core.files import read_json
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.training.stacked.stop import SweepStop

log = logging.getLogger(__name__)


@dataclass
class Job:
    num: int
    overrides: list[str]
    config: DictConfig  # the job's config as Hydra loads it for run_job (with `hydra`)
    cfg: DictConfig | None = None  # its task's config, resolved (None where it is not even a training job)
    key: str = ""  # equal for jobs that can share a stack
    alone: str | None = None  # why it is not stacked
    failed: BaseException | None = None  # what ended it inside its stack

    @property
    def name(self) -> str:
        return f"#{self.num} {' '.join(filter_overrides(self.overrides))}"


class LoadedOnce:
    """The sweeper's config loader, but for the second load of a job's config: the sweeper composes
    every job's config to check its batch (`Sweeper.validate_batch_is_legal`, for launchers that run
    jobs elsewhere) and discards it; this launcher then takes that one instead of composing it again,
    the part of a job's cost that stacking does not share."""

    def __init__(self, loader: Any):
        self._loader = loader
        self._loaded: dict[tuple[int, tuple[str, ...]], DictConfig] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = (id(master_config), tuple(sweep_overrides))
        if key in self._loaded:
            return self._loaded.pop(key)
        # Kept as it is handed out: the sweeper's check discards its copy unchanged.
        loaded: DictConfig = self._loader.load_sweep_config(master_config, sweep_overrides)
        self._loaded[key] = loaded
        return loaded

    def forget(self) -> None:
        """Drop what no second load took (a sweeper that does not check its batches, e.g. Optuna's)."""
        self._loaded.clear()


def launch(
    config: DictConfig,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    max_members: int,
    stop: SweepStop,
) -> list[JobReturn]:
    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    jobs = [_job(hydra_context, config, initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
    if isinstance(hydra_context.config_loader, LoadedOnce):
        hydra_context.config_loader.forget()
    stacks = _stacks(jobs, max_members)
    log.info(f"Launching {len(jobs)} jobs: {_plan(jobs, stacks)}")
    for job in jobs:
        if job.alone is not None:
            log.info(f"\t{job.name} runs alone: {job.alone}")
    for stack in stacks:
        _train(stack, config, stop)
    returns = []
    for job in jobs:
        task = task_function if job.failed is None else _failing(job.failed)
        # A stacked job's run finds its results (or its failure): a stop waits for its end. A job alone
        # trains there, stopped as any run is (at an epoch's end in its fit, at once before and after).
        with stop.deferred() if job.alone is None else contextlib.nullcontext():
            returns.append(
                run_job(
                    hydra_context=hydra_context,
                    task_function=task,
                    config=job.config,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
        configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        stop.check(f"after job {job.num}")
    return returns


def _job(hydra_context: HydraContext, config: DictConfig, num: int, overrides: list[str]) -> Job:
    """The job's config, loaded as the basic launcher loads it; resolved and checked where it trains."""
    loaded = hydra_context.config_loader.load_sweep_config(config, overrides)
    with open_dict(loaded):
        loaded.hydra.job.id = num
        loaded.hydra.job.num = num
    job = Job(num, overrides, loaded)
    cfg, job.key = _task_config(loaded)
    if not ("model" in cfg and "optimizer" in cfg.model and "callbacks" in cfg):
        job.alone = "not a training job"
        return job
    try:
        preflight(cfg, TRAIN_CHECKS)
    except Exception as error:
        if not is_user_error(error):
            raise
        job.alone = f"its settings are refused ({one_line(error)})"
        return job
    job.alone = why_not_stackable(cfg) or _finished(cfg)
    job.cfg = cfg
    return job


def _task_config(config: DictConfig) -> tuple[DictConfig, str]:
    """What `run_job` will hand the task, resolved now (in the job's own directory, as run_job sets
    it), and its stacking key (config/stacking.py)."""
    before = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    output_dir = os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    HydraConfig.instance().set_config(config)
    cfg = copy.deepcopy(config)
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    key = group_key(cfg)
    OmegaConf.resolve(cfg)
    HydraConfig.instance().cfg = before  # as run_job leaves it
    return cfg, key


def _finished(cfg: DictConfig) -> str | None:
    if "last_checkpoint" not in (cfg.get("callbacks") or {}) or cfg.callbacks.last_checkpoint is None:
        return "callbacks.last_checkpoint is off (a stacked job's own run continues from it)"
    status = read_json(RunDir(Path(cfg.run_dir)).metrics).get("status")
    return f"it finished in an earlier run of this sweep ({status})" if status is not None else None


def _stacks(jobs: list[Job], max_members: int) -> list[list[Job]]:
    """The groups of jobs trained together, at most `max_members` each; a job left on its own runs alone,
    but one that continues a stack's checkpoint: a stack of one, its stack's arithmetic to the last bit."""
    from cluster_logreg.training.stacked.fit import continued_from

    groups: dict[str, list[Job]] = {}
    continues_a_stack: set[int] = set()
    for job in jobs:
        if job.alone is None and job.cfg is not None:
            epoch, stacked = continued_from(job.cfg)
            groups.setdefault(f"{job.key}@{epoch}", []).append(job)  # a stack stopped part-way goes on together
            if stacked:
                continues_a_stack.add(job.num)
    stacks = []
    for group in groups.values():
        for start in range(0, len(group), max_members):
            stack = group[start : start + max_members]
            if len(stack) == 1 and stack[0].num not in continues_a_stack:
                stack[0].alone = "no other job of this sweep shares its other settings"
            else:
                stacks.append(stack)
    return stacks


def _plan(jobs: list[Job], stacks: list[list[Job]]) -> str:
    sizes = ", ".join(str(len(s)) for s in stacks)
    stacked = (
        f"{sum(len(s) for s in stacks)} in {len(stacks)} stacked fit(s) of {sizes} jobs" if stacks else "none stacked"
    )
    return f"{stacked}, {sum(j.alone is not None for j in jobs)} alone"


def _train(stack: list[Job], config: DictConfig, stop: SweepStop) -> None:
    from cluster_logreg.core.quiet import quiet_lightning
    from cluster_logreg.training.stacked.fit import fit_stack

    quiet_lightning()
    log.info(f"Training jobs {', '.join(str(j.num) for j in stack)} as one stacked model")
    cfgs = [j.cfg for j in stack]
    log_files = [_log_file(j.config) for j in stack]
    for job in stack:
        _save_hydra_record(job.config)
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    members = fit_stack(cfgs, log_files, stop)  # type: ignore[arg-type]  # stacked jobs have one
    for job, member in zip(stack, members, strict=True):
        job.failed = member.failed


def _log_file(config: DictConfig) -> logging.Handler | None:
    """The job's log file handler, as Hydra's job logging makes it (`hydra.job_logging`), made now so
    that what its stacked fit logs goes there; run_job later appends to the same file."""
    before = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    Path(config.hydra.runtime.output_dir).mkdir(parents=True, exist_ok=True)
    configure_log(config.hydra.job_logging, config.hydra.verbose)
    HydraConfig.instance().cfg = before
    return next((h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)


def _save_hydra_record(config: DictConfig) -> None:
    """The job's `.hydra/` as `run_job` writes it (and writes again, once the job has trained): a job stopped
    in its stacked fit is a run like any other, which `resume=<its dir>` continues, and the summary's row."""
    if config.hydra.output_subdir is None:
        return
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    record = Path(config.hydra.runtime.output_dir) / str(config.hydra.output_subdir)
    record.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(task, record / "config.yaml")
    OmegaConf.save(OmegaConf.masked_copy(config, "hydra"), record / "hydra.yaml")
    OmegaConf.save(config.hydra.overrides.task, record / "overrides.yaml")


def _failing(error: BaseException) -> TaskFunction:
    def task(cfg: DictConfig) -> None:
        raise error

    return task
