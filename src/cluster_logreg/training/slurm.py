"""A SLURM job that is preempted continues where it stopped (a sweep SLURM can never run is refused
by sweeps/slurm_check.py).

One mechanism: a job stopped by SLURM (SIGTERM from `scontrol requeue` or preemption,
SIGUSR1 from `sbatch --signal=USR1@<s>`, submitit's own USR2 requeue) finishes its epoch and saves its
last checkpoint (`training.callbacks.StopOnSignal`); on SIGUSR1 it asks SLURM to requeue it; the requeued job
(SLURM_RESTART_COUNT > 0) continues from that checkpoint in the same run directory by itself. Lightning's
own SLURM requeue is switched off: it saves `hpc_ckpt_*.ckpt` mid-epoch and reloads it for every later
`trainer.test()`, which then tested the weights of the interruption instead of the final ones.
"""

from __future__ import annotations

import logging
import os
import subprocess

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
