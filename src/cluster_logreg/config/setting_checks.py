"""Every setting is one the config knows, with a valid value: the first checks of every entry point,
and the line for a value the schema refused while Hydra composed."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from cluster_logreg.config.schema import RULES, SETTINGS_CLASSES
from cluster_logreg.core.errors import UserError, invalid

_ABSENT = object()


def check_rules(cfg: DictConfig) -> None:
    """Every setting against its rule: the first that breaks one is named, with its value."""
    for key, (is_valid, valid) in RULES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is not _ABSENT and not is_valid(value):
            raise invalid(key, value, valid)


def schema_refusal(error: BaseException) -> UserError | None:
    """A value of the wrong type that the schema refused while Hydra composed the config (anywhere in
    `error`'s causes), in the words of the key's rule: the same line `check_rules` would give."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ValidationError) and cause.full_key in RULES:
            return invalid(cause.full_key, cause.value, RULES[cause.full_key].valid)
        cause = cause.__cause__
    return None


def check_known_keys(cfg: DictConfig) -> None:
    """A key the config does not know (`+seeed=5`: Hydra adds what `+` asks for) is a typo or a setting
    this program would ignore: refused, naming the closest known key. Checked where the config has a
    settings class (the project's own); Lightning's classes refuse what they do not take as they are built."""
    for prefix, node in _typed_nodes(cfg):
        known = [f.name for f in dataclasses.fields(OmegaConf.get_type(node))]  # type: ignore[arg-type]
        for key in map(str, node):
            if key not in known and not (key == "hydra" and not prefix):
                raise unknown_key(f"{prefix}{key}", OmegaConf.select(node, key), known)


def unknown_key(full_key: str, value: object, known: Iterable[str]) -> UserError:
    """The line for a key that its node (or the class it builds) does not take, naming the closest it does.
    The same whichever way it was given: `+seeed=5`, `seeed=5` (Hydra's refusal), or `+trainer.max_epoch=5`."""
    parent, _, key = full_key.rpartition(".")
    known = [k for k in known if not k.startswith("_") and k not in ("args", "kwargs", "defaults")]
    closest = difflib.get_close_matches(key, known, n=1)
    where = f"{parent}." if parent else ""
    hint = f"did you mean {where}{closest[0]}?" if closest else ", ".join(f"{where}{k}" for k in known[:12])
    return invalid(full_key, value, f"one of the config's keys ({hint})", "is not a setting")


def _typed_nodes(node: DictConfig, prefix: str = "") -> list[tuple[str, DictConfig]]:
    """The nodes of `node` (itself included) that a settings class types, with their dotted prefix."""
    found = [(prefix, node)] if OmegaConf.get_type(node) in SETTINGS_CLASSES else []
    for key in map(str, node):
        if key == "hydra":
            continue  # Hydra's own settings, checked by Hydra
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            found += _typed_nodes(child, f"{prefix}{key}.")
    return found
