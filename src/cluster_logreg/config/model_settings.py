"""The model's settings (`model=logreg`, conf/model/) and its optimizers' (`model/optimizer=sgd|adam`):
their types and valid values. An optimizer is a factory (Hydra's `_partial_`): the model calls it
with its parameters, so any torch.optim class with these arguments fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster_logreg.config.rules import AT_LEAST_1, number_above, setting


@dataclass
class Model:
    _target_: str = "cluster_logreg.model.classifier.LogisticClassifier"
    hidden_dim: int = setting(AT_LEAST_1)
    optimizer: Any = None


@dataclass
class Optimizer:
    _target_: str = ""
    _partial_: bool = True
    lr: float = setting(number_above(0))
    weight_decay: float = setting(number_above(0, inclusive=True))


@dataclass
class SGD(Optimizer):
    _target_: str = "torch.optim.SGD"
    momentum: float = setting(number_above(0, inclusive=True))


@dataclass
class Adam(Optimizer):
    _target_: str = "torch.optim.Adam"


OPTIONS: dict[str, type[Any]] = {"model/logreg": Model, "model/optimizer/sgd": SGD, "model/optimizer/adam": Adam}
