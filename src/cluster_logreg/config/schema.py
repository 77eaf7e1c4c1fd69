"""The settings classes as Hydra sees them: each stored in Hydra's config store under its group
(`data/clusters` is what `data=clusters` selects), and the rule of every setting by its dotted key.

Hydra merges the command line onto these typed configs, so a value of the wrong type
(`data.n_per_class=abc`, `seed=1.5`) is refused while the config is composed, in the words of the
setting's rule, and a number typed `1` where a float is meant arrives as 1.0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from cluster_logreg.config import data_settings, model_settings
from cluster_logreg.config.lightning_rules import LIGHTNING_RULES
from cluster_logreg.config.rules import Rule, rule_of
from cluster_logreg.config.run_settings import ROOTS

# Group options: "<group>/<option>" -> its settings class.
OPTIONS: dict[str, type[Any]] = data_settings.OPTIONS | model_settings.OPTIONS
SETTINGS_CLASSES = (*ROOTS.values(), *OPTIONS.values())


def store_settings() -> None:
    """Put every settings class in Hydra's config store: the roots by name (the first entry of
    train.yaml's defaults), the options in their groups."""
    store = ConfigStore.instance()
    for name, root in ROOTS.items():
        store.store(name=name, node=root)
    for path, settings in OPTIONS.items():
        group, _, name = path.rpartition("/")
        store.store(group=group, name=name, node=settings)


def chosen_options(cfg: Any) -> dict[str, str]:
    """The option each group of a composed config holds, by the settings class's `_target_`:
    {"data": "clusters", "model/optimizer": "sgd", ...}."""
    chosen = {}
    for path, settings in OPTIONS.items():
        group, _, name = path.rpartition("/")
        node = OmegaConf.select(cfg, _key_prefix(path).removesuffix("."))
        if node is not None and node.get("_target_") == settings._target_:
            chosen[group] = name
    return chosen


def _key_prefix(option: str) -> str:
    """Where an option's settings sit in the composed config: `model/optimizer/sgd` -> `model.optimizer.`."""
    return option.rpartition("/")[0].replace("/", ".") + "."


def _rules_of(settings: type[Any], prefix: str) -> dict[str, Rule]:
    return {f"{prefix}{f.name}": rule for f in dataclasses.fields(settings) if (rule := rule_of(f)) is not None}


def _every_rule() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for root in ROOTS.values():
        rules |= _rules_of(root, "")
    for path, settings in OPTIONS.items():
        rules |= _rules_of(settings, _key_prefix(path))
    return rules | LIGHTNING_RULES


# Every key a user can set, of every entry point with any group option. A key absent from the
# composed config (another optimizer's, say) is skipped; tests/test_preflight.py holds this list to
# the configs in both directions.
RULES: dict[str, Rule] = _every_rule()
