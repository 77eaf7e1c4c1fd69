"""What the project does with SLURM: refuse a sweep it can never run, and continue preempted jobs.

Preemption, one mechanism: a job stopped by SLURM (SIGTERM from `scontrol requeue` or preemption,
SIGUSR1 from `sbatch --signal=USR1@<s>`, submitit's own USR2 requeue) finishes its epoch and saves its
last checkpoint (`callbacks.StopOnSignal`); on SIGUSR1 it asks SLURM to requeue it; the requeued job
(SLURM_RESTART_COUNT > 0) continues from that checkpoint in the same run directory by itself. Lightning's
own SLURM requeue is switched off: it saves `hpc_ckpt_*.ckpt` mid-epoch and reloads it for every later
`trainer.test()`, which then tested the weights of the interruption instead of the final ones.
"""

from __future__ import annotations

import logging
import os
import subprocess
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cluster_logreg.cli import fail
from cluster_logreg.errors import UserError

log = logging.getLogger(__name__)


def requeued() -> bool:
    """This process is a SLURM job that SLURM has started again (after a requeue or a preemption)."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) > 0


def requeue_this_job() -> bool:
    """Ask SLURM to put this job back in the queue (it starts again, and continues by itself)."""
    job = os.environ.get("SLURM_JOB_ID")
    if job is None:
        return False
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        log.warning(f"SLURM did not requeue job {job}: {result.stderr.strip()}")
    return result.returncode == 0


# Hydra's submitit_slurm settings -> sbatch options (as submitit passes them).
OPTIONS = {
    "partition": "--partition",
    "nodes": "--nodes",
    "tasks_per_node": "--ntasks-per-node",
    "cpus_per_task": "--cpus-per-task",
    "gpus_per_node": "--gpus-per-node",
    "mem_gb": "--mem",
    "timeout_min": "--time",
    "constraint": "--constraint",
    "qos": "--qos",
    "account": "--account",
}


def sbatch_options(launcher: DictConfig) -> list[str]:
    options = []
    for key, option in OPTIONS.items():
        value = launcher.get(key)
        if value is not None:
            options.append(f"{option}={value}GB" if key == "mem_gb" else f"{option}={value}")
    return options


class SlurmRequestCheck(Callback):
    """On a multirun with the SLURM launcher: refuse a request the cluster cannot run, in one line.

    It ends the program itself (`fail`): Hydra turns an exception in a callback into a warning and
    goes on to submit."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._check(config)
        except UserError as error:
            fail(error)

    def _check(self, config: DictConfig) -> None:
        launcher = config.hydra.launcher
        if "SlurmLauncher" not in str(launcher.get("_target_", "")):
            return
        options = sbatch_options(launcher)
        try:
            result = subprocess.run(
                ["sbatch", "--test-only", *options, "--wrap=true"], capture_output=True, text=True, timeout=60
            )
        except FileNotFoundError:
            raise UserError(
                "hydra/launcher=slurm needs SLURM's sbatch, which this machine does not have; valid: a SLURM "
                "login node, or hydra/launcher=local to run the same jobs here"
            ) from None
        if result.returncode != 0:
            said = " ".join(line.strip() for line in result.stderr.splitlines() if line.strip())
            asked = (f"hydra.launcher.{key}={launcher.get(key)}" for key in OPTIONS if launcher.get(key) is not None)
            settings = ", ".join(asked)
            raise UserError(
                f"SLURM cannot run the sweep's jobs ({said}); the request: {settings}; valid: what a node of "
                "the partition has (sinfo -o '%P %c %m %G'), e.g. hydra.launcher.gpus_per_node=null without GPUs"
            )
