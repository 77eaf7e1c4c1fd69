"""Hydra finds launchers only in the `hydra_plugins` namespace: these are the project's, thin shells
around `cluster_logreg.sweeps.submitit_jobs`. Hydra imports every plugin module at every start, with or
without the [sweep] extra, so this one imports only Hydra and leaves submitit to the first sweep."""

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class _Shell(Launcher):
    kind = ""

    def __init__(self, **settings: Any) -> None:
        from cluster_logreg.sweeps import submitit_jobs

        self.launcher: Launcher = getattr(submitit_jobs, self.kind)(**settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.launcher.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        return self.launcher.launch(job_overrides, initial_job_idx)


class SlurmLauncher(_Shell):
    """Hydra's submitit_slurm launcher (same settings); a job that ends without a result is a failed job."""

    kind = "SlurmLauncher"


class LocalLauncher(_Shell):
    """Hydra's submitit_local launcher (same settings); a job that ends without a result is a failed job."""

    kind = "LocalLauncher"
