"""The settings classes that type the configs of conf/: each entry point's root and each group
option's (by the `_target_` it builds), and the rule of every setting by its dotted key.

The values are the YAML files'; these classes say which keys a node has and what each may hold, and
the pre-flight checks hold the composed config to them (setting_checks.py). Composing needs none of it:
`hydra.compose` works on conf/ alone, in a notebook or a test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config import data_settings, model_settings
from cluster_logreg.config.lightning_rules import LIGHTNING_RULES
from cluster_logreg.config.rules import Rule, rule_of
from cluster_logreg.config.run_settings import ROOTS

# Group options: "<group>/<option>" -> its settings class.
OPTIONS: dict[str, type[Any]] = data_settings.OPTIONS | model_settings.OPTIONS


def _key_prefix(option: str) -> str:
    """Where an option's settings sit in the composed config: `model/optimizer/sgd` -> `model.optimizer.`."""
    return option.rpartition("/")[0].replace("/", ".") + "."


def _chosen(cfg: Any) -> Iterator[tuple[str, str, DictConfig]]:
    """(option, its key prefix, its node) of each option a composed config holds, by the settings class's
    `_target_`: ("model/optimizer/sgd", "model.optimizer.", the node), ..."""
    for path, settings in OPTIONS.items():
        prefix = _key_prefix(path)
        node = OmegaConf.select(cfg, prefix.removesuffix("."))
        if isinstance(node, DictConfig) and node.get("_target_") == settings._target_:
            yield path, prefix, node


def chosen_options(cfg: Any) -> dict[str, str]:
    """The option each group of a composed config holds: {"data": "clusters", "model/optimizer": "sgd", ...}."""
    return dict(path.rpartition("/")[::2] for path, _, _ in _chosen(cfg))


def typed_nodes(cfg: DictConfig, root: type[Any]) -> list[tuple[str, DictConfig, type[Any]]]:
    """(dotted prefix, node, its settings class) for the root (typed by `root`) and each chosen option."""
    return [("", cfg, root), *((prefix, node, OPTIONS[path]) for path, prefix, node in _chosen(cfg))]


def _rules_of(settings: type[Any], prefix: str) -> dict[str, Rule]:
    return {f"{prefix}{f.name}": rule for f in dataclasses.fields(settings) if (rule := rule_of(f)) is not None}


def _every_rule() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for root in ROOTS:
        rules |= _rules_of(root, "")
    for path, settings in OPTIONS.items():
        rules |= _rules_of(settings, _key_prefix(path))
    return rules | LIGHTNING_RULES


# Every key a user can set, of every entry point with any group option. A key absent from the
# composed config (another optimizer's, say) is skipped; tests/test_preflight.py holds this list to
# the configs in both directions.
RULES: dict[str, Rule] = _every_rule()
