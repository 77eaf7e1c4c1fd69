"""With hydra/launcher=slurm: a request the cluster can never run ends the command at once, in one
line, before any job is submitted."""

from __future__ import annotations

import subprocess
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cluster_logreg.config.entry import fail
from cluster_logreg.core.errors import UserError

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
