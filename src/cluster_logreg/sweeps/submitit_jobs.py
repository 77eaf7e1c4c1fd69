"""Hydra's submitit launchers (SLURM and local) whose sweep goes on when a job ends without a result.

A job can end without reporting: it failed before Python started (a `setup` line, a module that does
not load), was cancelled or killed, or its node was lost. Upstream then waits forever where SLURM
keeps no accounting (its watcher asks only `sacct`, so the job's state stays unknown), and otherwise
raises out of the whole sweep at the first such job. Here the launcher asks SLURM itself (`sacct`, or
`scontrol` where `sacct` fails), and such a job is recorded as a failed job of the sweep, with the
reason (its state, exit code and the end of its stderr), in its own job directory, by Hydra's own
`run_job`: its `.hydra/`, its log, the callbacks' `on_job_end` (the sweep summary). The other jobs go
on; the sweep ends with the job's error line, as with any failed job. Only public API of submitit
and of Hydra's submitit plugin is used.

When it is noticed: at the launcher's next look at SLURM (2, 4, 8, ... s after the submission, then
`STATE_POLL_S` apart), a local job's end at once; once every job of the batch has ended, `RESULT_WAIT_S`
more, once, for result files that a slow shared file system may still show.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import submitit
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as upstream  # type: ignore[import-untyped]
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf  # type: ignore[import-untyped]
from omegaconf import DictConfig, OmegaConf, open_dict
from submitit.core.utils import UncompletedJobError

from cluster_logreg.core.errors import JobLost, our_code
from cluster_logreg.core.overrides import continue_the_sweep

log = logging.getLogger(__name__)

STATE_POLL_S = 60  # upstream's SLURM watcher waits up to 600 s between looks
RESULT_WAIT_S = 15  # as submitit's own wait for a job's result file (in `Job.results`), here once for all
# SLURM's states of a job that has ended; any other state it reports means "not yet".
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")
FORGOTTEN = "ENDED"  # a job scontrol no longer knows: it ended more than MinJobAge (300 s by default) ago


class ReportingLauncher(upstream.BaseSubmititLauncher):
    """Upstream's `launch`, but waiting for every job, and recording a job that left no result as failed.

    The submission is upstream's, line for line: its `launch` collects the results in one expression
    that raises at the first job without one, so it cannot be reused around that.
    """

    cluster = ""  # submitit's name of the executor: "slurm" or "local"

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        params = self.params
        init_keys = {"max_num_timeout", "submitit_folder"}
        init_params = {"folder": params["submitit_folder"]}
        init_params |= {f"{self.cluster}_max_num_timeout": v for k, v in params.items() if k == "max_num_timeout"}
        executor = submitit.AutoExecutor(cluster=self.cluster, **init_params)
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in baseparams else f"{self.cluster}_{k}": v for k, v in params.items() if k not in init_keys}
        )
        log.info(f"Submitit '{self.cluster}' sweep output dir : {self.config.hydra.sweep.dir}")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        numbered = [(initial_job_idx + i, list(overrides)) for i, overrides in enumerate(job_overrides)]
        for number, overrides in numbered:
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
        state = Singleton.get_state()
        job_params = [(overrides, "hydra.sweep.dir", n, f"job_id_for_{n}", state) for n, overrides in numbered]
        jobs = executor.map_array(self, *zip(*job_params, strict=True))
        ended = self.wait_for_all(jobs)
        deadline = time.monotonic() + RESULT_WAIT_S  # once for all (upstream waits for each job in turn)
        while not all(_has_result(job) for job in jobs) and time.monotonic() < deadline:
            time.sleep(1)
        return [self._outcome(job, *nth, ended[job.job_id]) for job, nth in zip(jobs, numbered, strict=True)]

    def wait_for_all(self, jobs: list[submitit.Job]) -> dict[str, str]:
        """Until every job has a result or has ended; how each ended, in words, by job id."""
        raise NotImplementedError

    def _outcome(self, job: submitit.Job, number: int, overrides: list[str], ended: str) -> JobReturn:
        error: Exception | None = None
        if _has_result(job):
            try:
                result: JobReturn = job.results()[0]
                return result
            except UncompletedJobError as failed:  # submitit's own wrapper failed (a job's failure is a result)
                error = failed
        return self._record_lost(job, number, overrides, self._why(job, number, overrides, ended, error))

    def _why(self, job: submitit.Job, number: int, overrides: list[str], ended: str, error: Exception | None) -> str:
        """One line: which job, what SLURM (or the local process) says of its end, the end of its stderr."""
        assert self.config is not None
        # submitit's wrapper failed: the last line of its traceback says why; else the job's stderr may.
        said = str(error) if error is not None else (job.stderr() or "")
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        stderr = f"its stderr ends: {lines[-1][:300]}" if lines else "its stderr is empty"
        log_file = f" ({job.paths.stderr})" if job.paths.stderr.is_file() else ""
        what = " ".join(filter_overrides(overrides)) or "no overrides"
        again = continue_the_sweep(str(self.config.hydra.sweep.dir))
        return (
            f"sweep job {number} ({what}) ended without a result: {ended}, {stderr}{log_file}; "
            f"valid: a job that starts Python and runs to its end ({again} to run it again)"
        )

    def _record_lost(self, job: submitit.Job, number: int, overrides: list[str], why: str) -> JobReturn:
        """The job as a failed job of the sweep, recorded as the job itself would have been."""
        lost = JobLost(why)
        assert self.config is not None and self.hydra_context is not None
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config.hydra.job):
            config.hydra.job.num, config.hydra.job.id = number, str(job.job_id)

        def task(cfg: DictConfig) -> Any:
            log.error(f"error: {lost}")
            with our_code():  # its line is shown as the sweep's error, as any failed job's
                raise lost

        outcome = run_job(
            hydra_context=self.hydra_context,
            task_function=task,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)  # as Hydra's own launcher
        return outcome


def _has_result(job: submitit.Job) -> bool:
    """Whether each of the job's tasks (its processes, `tasks_per_node`) left its result file."""
    return all(job.task(k).paths.result_pickle.exists() for k in range(job.num_tasks))


class SlurmLauncher(ReportingLauncher):
    cluster = "slurm"

    def wait_for_all(self, jobs: list[submitit.Job]) -> dict[str, str]:
        """Asks SLURM itself, not submitit's watcher (whose `sacct` alone never tells where SLURM keeps
        no accounting, and complains at every look): at 2, 4, 8, ... s, then `STATE_POLL_S` apart."""
        ended: dict[str, str] = {}
        start, look = time.monotonic(), 2.0
        while waiting := [job.job_id for job in jobs if job.job_id not in ended and not _has_result(job)]:
            time.sleep(1)
            if (since := time.monotonic() - start) >= look:
                ended |= _ended_on_slurm(waiting)
                look = min(2 * since, since + STATE_POLL_S)
        return {job.job_id: f"SLURM job {job.job_id} {ended.get(job.job_id, 'UNKNOWN')}" for job in jobs}


def _ended_on_slurm(jobs: list[str]) -> dict[str, str]:
    """Those of `jobs` (12, or 12_3: task 3 of array 12) that SLURM says have ended, each with its state and
    exit code ("FAILED, exit code 3:0"): from `sacct` where SLURM keeps accounting, else from `scontrol`."""
    arrays = sorted({job.split("_")[0] for job in jobs})
    sacct = _ask(["sacct", "-o", "JobID,State,ExitCode", "--parsable2", *(f"-j{a}" for a in arrays)])
    if sacct is not None and sacct.returncode == 0:
        records = [line.split("|") for line in sacct.stdout.splitlines()]  # its steps (12_3.batch) too
    else:
        records = [record for array in arrays for record in _from_scontrol(array, jobs)]
    return {
        job: state + (f", exit code {code}" if code else "")
        for job, state, code, *_ in records
        if job in jobs and state.split(" ")[0] in (*ENDED, FORGOTTEN)  # sacct may say "CANCELLED by 0"
    }


def _from_scontrol(array: str, jobs: list[str]) -> list[list[str]]:
    """[job, state, exit code] of each job of `array` (a job id, or an array's) that scontrol shows."""
    result = _ask(["scontrol", "show", "job", "-o", array])
    if result is not None and "Invalid job id" in result.stderr:
        return [[job, FORGOTTEN, "unknown"] for job in jobs if job.split("_")[0] == array]
    if result is None or result.returncode != 0:
        return []  # SLURM did not answer this time: ask again at the next look
    records = []
    for record in result.stdout.splitlines():
        fields = dict(re.findall(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState|ExitCode)=(\S*)", record))
        job = f"{fields['ArrayJobId']}_{fields.get('ArrayTaskId')}" if "ArrayJobId" in fields else fields.get("JobId")
        records.append([str(job), fields.get("JobState", ""), fields.get("ExitCode", "")])  # pending tasks: 12_1-3
    return records


def _ask(command: list[str]) -> subprocess.CompletedProcess[str] | None:
    """A SLURM query's answer, its output captured; None where it could not be asked (or timed out)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


class LocalLauncher(ReportingLauncher):
    cluster = "local"

    def wait_for_all(self, jobs: list[submitit.Job]) -> dict[str, str]:
        """A local job knows its process: its end is seen at once (not its exit status: submitit keeps it)."""
        while not all(job.done() for job in jobs):
            time.sleep(1)
        said = {"INTERRUPTED": "was killed by a signal"}  # a local job's state, else "FINISHED"
        return {job.job_id: f"local job {job.job_id} {said.get(job.state, 'exited')}" for job in jobs}
