"""The model's settings (`model=logreg`) and its optimizers' (`model/optimizer=sgd|adam`): type,
default and valid values in one place. An optimizer is a factory (Hydra's `_partial_`): the model
calls it with its parameters, so any torch.optim class with these arguments fits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from cluster_logreg.config.rules import AT_LEAST_1, number_above, setting


@dataclass
class Model:
    """Linear(n_features -> hidden_dim) -> Linear(hidden_dim -> 1) -> sigmoid, BCE from the logits.
    Its input size, the feature and class names and the standardisation come from the data."""

    _target_: str = "cluster_logreg.model.classifier.LogisticClassifier"
    hidden_dim: int = setting(5, AT_LEAST_1)
    optimizer: Any = MISSING
    # The tutorial's SGD; `model/optimizer=adam` swaps it.
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"optimizer": "sgd"}])


@dataclass
class Optimizer:
    _target_: str = MISSING
    _partial_: bool = True
    lr: float = setting(0.01, number_above(0))
    weight_decay: float = setting(0.0, number_above(0, inclusive=True))  # L2 penalty on the weights


@dataclass
class SGD(Optimizer):
    _target_: str = "torch.optim.SGD"
    momentum: float = setting(0.9, number_above(0, inclusive=True))


@dataclass
class Adam(Optimizer):
    _target_: str = "torch.optim.Adam"


OPTIONS: dict[str, type[Any]] = {"model/logreg": Model, "model/optimizer/sgd": SGD, "model/optimizer/adam": Adam}
