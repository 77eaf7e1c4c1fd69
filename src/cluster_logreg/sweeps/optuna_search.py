"""An Optuna search that can be stopped and continued: Optuna's Hydra sweeper, counting its study as a whole.

Hydra's Optuna sweeper opens an existing study (`load_if_exists`) but then runs `n_trials` more and
numbers its jobs from 0 again, over the directories of the first run. Here `n_trials` is the
study's total: trials that finished earlier (or are running in another process sharing the
storage) count, job numbers go on from the last one, and a trial that this sweep directory was
running when it stopped is run again with the same settings in the same job directory, where the
training continues from its last checkpoint. Imported by the plugin only when a search starts:
it imports Optuna (and scipy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn

# Private to the plugin (no public way: its public OptunaSweeper only forwards to this class, and only
# this hook sees which trial each job runs); tests/test_sweeps.py fails when either name changes.
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

log = logging.getLogger(__name__)

# A trial's system attribute: the job that ran it (sweep directory, job number, overrides).
JOB = "hydra_job"
SQLITE = "sqlite:///"


class ContinuedOptunaSearch(OptunaSweeperImpl):
    def sweep(self, arguments: list[str]) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # "study created / loaded": said below, once
        if self.storage is None:  # a study in memory: nothing to continue or share
            return super().sweep(arguments)
        if isinstance(self.storage, str) and self.storage.startswith(SQLITE):
            # SQLite creates the file, not its directory (the sweep directory does not exist yet).
            Path(self.storage.removeprefix(SQLITE)).parent.mkdir(parents=True, exist_ok=True)
        directions = _directions(self.direction)
        study = optuna.create_study(
            study_name=self.study_name, storage=self.storage, directions=directions, load_if_exists=True
        )
        total = self.n_trials  # the study's, not this command's
        self._continue(study, study.get_trials(deepcopy=False), total)
        upstream = logging.getLogger(OptunaSweeperImpl.__module__)
        level = upstream.level
        upstream.setLevel(logging.WARNING)  # its study header and best-so-far, once a batch: said here instead
        try:
            # One batch at a time (n_jobs trials), counting the study's trials again before each, so
            # that workers sharing the study stop together at its total.
            while (to_go := total - len(study.get_trials(deepcopy=False))) > 0:
                self.n_trials = min(to_go, self.n_jobs)
                super().sweep(arguments)
        finally:
            upstream.setLevel(level)
        if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            log.info(f"best of {len(study.trials)} trials: {study.best_value} with {study.best_params}")

    def _continue(self, study: optuna.Study, trials: list[FrozenTrial], total: int) -> None:
        """Go on with a study that may have trials: first those this sweep directory was running when
        it was stopped (their jobs continue from their last checkpoints), then new jobs numbered after
        this directory's last. Another directory's running trials are left to it."""
        ours = {t.number: job for t in trials if (job := t.system_attrs.get(JOB)) and job["sweep_dir"] == self._here}
        stopped = [t.number for t in trials if t.state == TrialState.RUNNING and t.number in ours]
        finished = sum(t.state.is_finished() for t in trials)
        log.info(
            f"study {study.study_name!r} in {self.storage} ({type(self.sampler).__name__}, {total} trials in all): "
            f"{finished} finished, {len(stopped)} stopped part-way, {len(trials) - finished - len(stopped)} "
            f"running elsewhere, {max(0, total - len(trials))} new to go"
        )
        if trials and isinstance(self.sampler, optuna.samplers.BaseSampler):
            # A new sampler with the search's seed would propose the first trials' settings again.
            self.sampler.reseed_rng()
        assert self.launcher is not None  # set up by Hydra before any sweep
        for number in stopped:
            job = ours[number]
            log.info(f"trial {number} (job {job['num']}) was stopped part-way: continuing it")
            (result,) = self.launcher.launch([tuple(job["overrides"])], initial_job_idx=job["num"])
            _tell(study, number, result)
        self.job_idx = max((job["num"] for job in ours.values()), default=-1) + 1

    @property
    def _here(self) -> str:
        return str(Path(self.sweep_dir).resolve())

    # The plugin's private hook (see the import): each batch's trials and the overrides of their jobs.
    def _configure_trials(
        self, trials: list[Trial], search_space_distributions: dict[str, BaseDistribution], fixed_params: dict[str, Any]
    ) -> Sequence[Sequence[str]]:
        overrides = super()._configure_trials(trials, search_space_distributions, fixed_params)
        for num, (trial, job) in enumerate(zip(trials, overrides, strict=True), start=self.job_idx):
            trial.set_system_attr(JOB, {"sweep_dir": self._here, "num": num, "overrides": list(job)})
        return overrides


def _directions(direction: Any) -> list[str]:
    """The `direction` setting (a name, the plugin's `Direction`, or a list of them) as Optuna's names."""
    several = isinstance(direction, Sequence) and not isinstance(direction, str)
    return [d if isinstance(d, str) else d.name for d in (direction if several else [direction])]


def _tell(study: optuna.Study, number: int, result: JobReturn) -> None:
    """As the upstream sweeper tells a trial's result: its value, or a failed trial."""
    try:
        value = float(result.return_value)  # re-raises the job's exception if it failed
    except Exception as failure:
        log.warning(f"Failed experiment: {failure}")
        study.tell(number, state=TrialState.FAIL)
    else:
        study.tell(number, value)
