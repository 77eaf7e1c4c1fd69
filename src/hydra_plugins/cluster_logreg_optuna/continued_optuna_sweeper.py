"""Hydra finds sweepers only in the `hydra_plugins` namespace: this is the project's, a thin shell
around `cluster_logreg.sweeps.optuna_search`. Hydra imports every plugin module at every start, with or
without the [sweep] extra, so this one imports only Hydra and leaves Optuna to the first search."""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class ContinuedOptunaSweeper(Sweeper):
    """Optuna's Hydra sweeper (same settings), whose search continues where it stopped."""

    def __init__(self, **settings: Any) -> None:
        from cluster_logreg.sweeps.optuna_search import ContinuedOptunaSearch

        self.search = ContinuedOptunaSearch(**settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.sweep(arguments)
