"""What a user is told when Hydra, OmegaConf or the project refuses something: one line in the
project's words (the key, its value, what is valid), or None for a bug of ours (its traceback)."""

from __future__ import annotations

import re
import sys

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from cluster_logreg.config.setting_checks import unknown_key
from cluster_logreg.core.errors import UserError, invalid, raised_in_our_code


def is_user_error(error: BaseException) -> bool:
    """Config and input mistakes, including those Hydra, OmegaConf and Lightning detect for us."""
    if isinstance(error, (UserError, HydraException, OmegaConfBaseException)):
        return True
    # Looked up only if Lightning is loaded: reporting an error must not import it.
    module = sys.modules.get("lightning.fabric.utilities.exceptions")
    return module is not None and isinstance(error, module.MisconfigurationException)


def what_the_user_is_told(error: Exception) -> BaseException | None:
    """The error to show as one line, or None for a bug of ours."""
    if not raised_in_our_code(error):
        # Hydra's own failure, before our task ran: a malformed override (some are plain ValueErrors,
        # e.g. `logger=null`, where Hydra wants `~logger`), a config it cannot compose, or a run
        # directory it could not create.
        return composition_refusal(error) or _unwritable_run_dir(error) or error
    return error if is_user_error(error) else None


# The configs of Hydra's sweep plugins, which the [sweep] extra installs: without it Hydra cannot find them.
SWEEP_PLUGINS = {
    "hydra/launcher/joblib": "joblib launcher (hydra-joblib-launcher)",
    "hydra/launcher/submitit_local": "submitit launcher (hydra-submitit-launcher)",
    "hydra/launcher/submitit_slurm": "submitit launcher (hydra-submitit-launcher)",
    "hydra/sweeper/optuna": "Optuna sweeper (hydra-optuna-sweeper)",
}
INSTALL_SWEEP = "install the [sweep] extra: .venv/bin/pip install -e '.[sweep]'"


def composition_refusal(error: BaseException) -> UserError | None:
    """Hydra's refusal of an override, in the project's words: the same line for `seeed=5` as for
    `+seeed=5`, the options of a group, and the extra that brings a missing sweep plugin."""
    cause = error.__cause__
    if isinstance(error, MissingConfigException) and error.missing_cfg_file:
        group, _, option = error.missing_cfg_file.rpartition("/")
        if error.missing_cfg_file in SWEEP_PLUGINS:
            asked = _typed(group) or f"{group}={option}"
            return UserError(f"{asked} needs Hydra's {SWEEP_PLUGINS[error.missing_cfg_file]}, which is not installed; "
                             f"valid: {INSTALL_SWEEP}")  # fmt: skip
        if group and error.options:
            return invalid(group, option, " | ".join(error.options), f"is not an option of {group}")
    text = str(error)
    if text.startswith("Could not override") and isinstance(cause, OmegaConfBaseException):
        parent = cause.parent_node
        if cause.full_key and parent is not None and (line := re.search(r"use \+(\S+)", text)):
            override = OverridesParser.create().parse_override(line.group(1))
            missing_in = cause.full_key.rpartition(".")[0]  # the node that lacks the key, as typed from there on
            return unknown_key(override.key_or_group, override.value(), [str(key) for key in parent], missing_in)
    if match := re.match(r"Could not delete from config. '(\S+)' does not exist", text):
        return UserError(f"~{match[1]} removes a key the config does not have; valid: ~KEY with one of its keys")
    if match := re.match(r"Could not append to config. An item is already at '(\S+)'", text):
        return UserError(f"+{match[1]}=... adds a key the config already has; valid: {match[1]}=VALUE (no +) to set it")
    return None


def _typed(group: str) -> str | None:
    """The command line's override that chose an option of `group` (or the preset that did)."""
    keys = (group, "hparams_search") if group == "hydra/sweeper" else (group,)
    return next((a for a in sys.argv[1:] if a.lstrip("+~").split("=", 1)[0] in keys), None)


def _unwritable_run_dir(error: BaseException) -> UserError | None:
    cause: BaseException | None = error
    while cause is not None and not (isinstance(cause, OSError) and cause.filename is not None):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    return UserError(
        f"the run directory cannot be written: {cause.strerror or cause}: {cause.filename!r}; valid: a location you "
        "can write to: run from a writable directory, or set hydra.run.dir=PATH (hydra.sweep.dir=PATH with -m)"
    )
