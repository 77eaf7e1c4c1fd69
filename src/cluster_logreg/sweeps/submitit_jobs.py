"""Hydra's submitit launchers (SLURM and local) whose sweep goes on when a job ends without a result.

A job can end without reporting: it failed before Python started (a `setup` line, a module that does
not load), was cancelled or killed, or its node was lost. Upstream then waits forever where SLURM
keeps no accounting (its watcher asks only `sacct`, so the job's state stays unknown), and otherwise
raises out of the whole sweep at the first such job. Here the watcher asks `scontrol` where `sacct`
fails, and such a job is recorded as a failed job of the sweep, with the reason (its state, exit code
and the end of its stderr), in its own job directory, by Hydra's own `run_job`: its `.hydra/`, its
log, the callbacks' `on_job_end` (the sweep summary). The other jobs go on; the sweep ends with the
job's error line, as with any failed job.

When it is noticed: at the watcher's next look at SLURM (2 s after the submission, then at half the
time since, at most `STATE_POLL_S` apart), a local job's end at once; once every job of the batch has
ended, submitit's `Job._results_timeout_s` (15 s) more, once, for result files that a slow shared file
system may still show.
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
from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

from cluster_logreg.core.errors import JobLost, our_code
from cluster_logreg.core.overrides import continue_the_sweep

log = logging.getLogger(__name__)

STATE_POLL_S = 60  # upstream's SLURM watcher waits up to 600 s between looks
# SLURM's states of a job that has ended; any other state it reports means "not yet".
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE")
FORGOTTEN = "ENDED"  # a job scontrol no longer knows: it ended more than MinJobAge (300 s by default) ago


class SlurmStateWatcher(SlurmInfoWatcher):
    """Job states from `sacct` where SLURM keeps accounting, else from `scontrol show job`. Neither's
    complaints reach the console (upstream lets `sacct` print its error at every look)."""

    def update(self) -> None:
        arrays = sorted({job.split("_")[0] for job in self._registered - self._finished})
        if not arrays:
            return
        self._num_calls += 1
        sacct = _ask(["sacct", "-o", "JobID,State,ExitCode", "--parsable2", *(f"-j{a}" for a in arrays)])
        if sacct is not None and sacct.returncode == 0:
            self._info_dict.update(self.read_info(sacct.stdout))
        else:
            for array in arrays:
                self._info_dict.update(self._from_scontrol(array))
        self._last_status_check = time.time()
        for job in self._registered - self._finished:
            if self.is_done(job, mode="cache"):
                self._finished.add(job)

    def _from_scontrol(self, array: str) -> dict[str, dict[str, str]]:
        """The states of the jobs of `array` (a job id, or an array's), in `read_info`'s terms."""
        result = _ask(["scontrol", "show", "job", "-o", array])
        if result is None or result.returncode != 0:
            if result is None or "Invalid job id" not in result.stderr:
                return {}  # SLURM did not answer this time: ask again at the next look
            ended = {"State": FORGOTTEN, "ExitCode": "unknown"}
            return {job: dict(ended) for job in self._registered if job.split("_")[0] == array}
        lines = ["JobID|State|ExitCode"]
        for record in result.stdout.splitlines():
            fields = dict(re.findall(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState|ExitCode)=(\S*)", record))
            state = fields.get("JobState", "UNKNOWN")
            state = state if state in ENDED else "RUNNING"  # pending, suspended, requeued...: not ended
            job = fields.get("JobId", "")
            if "ArrayJobId" in fields:
                tasks = fields.get("ArrayTaskId", "").split("%")[0]  # pending ones as a range: 1-3,5
                job = f"{fields['ArrayJobId']}_" + (f"[{tasks}]" if re.search(r"[-,]", tasks) else tasks)
            lines.append(f"{job}|{state}|{fields.get('ExitCode', '')}")
        return self.read_info("\n".join(lines))


def _ask(command: list[str]) -> subprocess.CompletedProcess[str] | None:
    """A SLURM query's answer, its output captured; None where it could not be asked (or timed out)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


class ReportingLauncher(upstream.BaseSubmititLauncher):
    """Upstream's `launch`, but waiting for every job, and recording a job that left no result as failed.

    The submission is upstream's, line for line: its `launch` collects the results in one expression
    that raises at the first job without one, so it cannot be reused around that.
    """

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        params = self.params
        init_keys = {"max_num_timeout", "submitit_folder"}
        init_params = {"folder": params["submitit_folder"]}
        init_params |= {f"{self._EXECUTOR}_max_num_timeout": v for k, v in params.items() if k == "max_num_timeout"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in baseparams else f"{self._EXECUTOR}_{k}": v for k, v in params.items() if k not in init_keys}
        )
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
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
        _wait_for_all(jobs)
        return [self._outcome(job, number, overrides) for job, (number, overrides) in zip(jobs, numbered, strict=True)]

    def _outcome(self, job: submitit.Job, number: int, overrides: list[str]) -> JobReturn:
        if not job.paths.result_pickle.exists():
            return self._record_lost(job, number, overrides, self._why(job, number, overrides))
        try:
            result: JobReturn = job.results()[0]
            return result
        except UncompletedJobError as error:  # submitit's own wrapper failed (a job's failure is a result)
            return self._record_lost(job, number, overrides, self._why(job, number, overrides, error))

    def _why(self, job: submitit.Job, number: int, overrides: list[str], error: Exception | None = None) -> str:
        assert self.config is not None
        return _why(job, number, overrides, str(self.config.hydra.sweep.dir), self._EXECUTOR, error)

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


def _wait_for_all(jobs: list[submitit.Job]) -> None:
    """Until every job has ended; then, once for all, a while for result files a shared file system may
    show late (upstream waits that long for each job without one, in turn)."""
    while not all(job.done() for job in jobs):
        time.sleep(1)
    deadline = time.monotonic() + submitit.Job._results_timeout_s
    while not all(job.paths.result_pickle.exists() for job in jobs) and time.monotonic() < deadline:
        time.sleep(1)


def _why(
    job: submitit.Job, number: int, overrides: list[str], sweep_dir: str, executor: str, error: Exception | None = None
) -> str:
    """One line: which job, what SLURM (or the local process) says of its end, the end of its stderr."""
    if executor == "slurm":
        info = job.get_info(mode="cache")
        exit_code = f", exit code {info['ExitCode']}" if info.get("ExitCode") else ""
        ended = f"SLURM job {job.job_id} {info.get('State', 'UNKNOWN')}{exit_code}"
    else:  # a process of this machine (submitit's LocalJob keeps it)
        process = getattr(job, "_process", None)
        ended = f"local job {job.job_id} exited with status {process.returncode if process else 'unknown'}"
    # submitit's wrapper failed: the last line of its traceback says why; else the job's stderr may.
    said = str(error) if error is not None else (job.stderr() or "")
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    stderr = f"its stderr ends: {lines[-1][:300]}" if lines else "its stderr is empty"
    log_file = f" ({job.paths.stderr})" if job.paths.stderr.is_file() else ""
    what = " ".join(filter_overrides(overrides)) or "no overrides"
    return (
        f"sweep job {number} ({what}) ended without a result: {ended}, {stderr}{log_file}; "
        f"valid: a job that starts Python and runs to its end ({continue_the_sweep(sweep_dir)} to run it again)"
    )


class SlurmLauncher(ReportingLauncher, upstream.SlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        # Submitit's jobs share one watcher (a class attribute): this one also knows SLURM without accounting.
        if not isinstance(SlurmJob.watcher, SlurmStateWatcher):
            SlurmJob.watcher = SlurmStateWatcher(delay_s=STATE_POLL_S)
        return super().launch(job_overrides, initial_job_idx)


class LocalLauncher(ReportingLauncher, upstream.LocalLauncher):
    pass
