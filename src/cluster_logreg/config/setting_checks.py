"""Every setting is one the config knows, with a valid value: the first checks of every entry point."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable, Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from cluster_logreg.config.schema import RULES, typed_nodes
from cluster_logreg.core.errors import UserError, invalid

_ABSENT = object()


def check_rules(cfg: DictConfig) -> None:
    """Every setting against its rule: the first that breaks one is named, with its value."""
    for key, (is_valid, valid) in RULES.items():
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:  # `???` in its YAML file: one the command line must give
            raise UserError(f"{key} is missing; valid: {key}=<{valid}>") from None
        if value is not _ABSENT and not is_valid(value):
            raise invalid(key, value, valid)


def known_keys(root: type[Any]) -> Callable[[DictConfig], None]:
    """The check that every key is one the config knows, for an entry point whose settings are `root`'s."""
    return functools.partial(check_known_keys, root=root)


def check_known_keys(cfg: DictConfig, root: type[Any]) -> None:
    """A key the config does not know (`+seeed=5`: Hydra adds what `+` asks for) is a typo or a setting
    this program would ignore: refused, naming the closest known key. Checked where the config has a
    settings class (`root`, the project's own options'); Lightning's classes refuse what they do not take
    as they are built."""
    for prefix, node, settings in typed_nodes(cfg, root):
        known = [f.name for f in dataclasses.fields(settings)]
        for key in map(str, node):
            if key not in known and not (key == "hydra" and not prefix):
                raise unknown_key(*_as_typed(f"{prefix}{key}", node[key]), known, parent=prefix.removesuffix("."))


def _as_typed(key: str, value: object) -> tuple[str, object]:
    """`+paths.output_dir=x` adds a node {output_dir: x}: named as it was typed, down to its one leaf."""
    while isinstance(value, DictConfig) and len(value) == 1:
        (child,) = map(str, value)
        key, value = f"{key}.{child}", value[child]
    return key, value


def unknown_key(full_key: str, value: object, known: Iterable[str], parent: str | None = None) -> UserError:
    """The line for a key that its node (`parent`, by default the key's own) or the class it builds does not
    take, naming the closest it does. The same whichever way it was given: `+seeed=5`, `seeed=5` (Hydra's
    refusal), `+trainer.max_epoch=5`; named as typed (`paths.output_dir`, where `paths` is what is unknown)."""
    parent = full_key.rpartition(".")[0] if parent is None else parent
    key = full_key.removeprefix(f"{parent}.").split(".")[0] if parent else full_key.split(".")[0]
    hidden = ("args", "kwargs", "defaults", "hydra")
    known = [k for k in known if not k.startswith("_") and k not in hidden]
    closest = difflib.get_close_matches(key, known, n=1)
    where = f"{parent}." if parent else ""
    hint = f"did you mean {where}{closest[0]}?" if closest else ", ".join(f"{where}{k}" for k in known[:12])
    return invalid(full_key, value, f"one of the config's keys ({hint})", "is not a setting")
