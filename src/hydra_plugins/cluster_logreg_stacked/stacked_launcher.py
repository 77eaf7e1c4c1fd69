"""Hydra finds launchers only in the `hydra_plugins` namespace: this is the project's stacked launcher,
a thin shell around `cluster_logreg.training.stacked.launch`. Hydra imports every plugin module at every
start, so this one imports only Hydra and leaves the rest to the first sweep."""

from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class StackedLauncher(Launcher):
    """Trains the sweep's jobs that differ only in seed, lr, momentum, weight decay or hidden_dim as
    one stacked model (at most `max_members` jobs each); every job is then a normal job."""

    def __init__(self, max_members: int = 1000) -> None:
        self.max_members = max_members

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from cluster_logreg.training.stacked.launch import LoadedOnce
        from cluster_logreg.training.stacked.stop import SweepStop

        # From here on (the sweeper composes the jobs next) a signal ends the sweep with its line and status.
        self.stop = SweepStop(Path(str(config.hydra.sweep.dir)))
        self.stop.install()
        hydra_context.config_loader = LoadedOnce(hydra_context.config_loader)  # type: ignore[assignment]
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from cluster_logreg.training.stacked.launch import launch

        return launch(
            self.config,
            self.hydra_context,
            self.task_function,
            job_overrides,
            initial_job_idx,
            self.max_members,
            self.stop,
        )
