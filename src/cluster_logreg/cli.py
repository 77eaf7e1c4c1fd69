"""What the entry points do with an exception: a user's mistake ends in one line and a non-zero exit
status, our bugs keep their traceback.

Exit statuses: 0 ok, 2 a mistake (one `error:` line), 3 the run diverged, 128 + N stopped by signal
N (resumable), 1 a bug (Python's traceback).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator
from typing import NoReturn

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, InstantiationException, MissingConfigException
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cluster_logreg.errors import (
    EXIT_USER_ERROR,
    Interrupted,
    UserError,
    invalid,
    one_line,
    our_code,
    raised_in_our_code,
)
from cluster_logreg.preflight import schema_refusal, unknown_key
from cluster_logreg.resolvers import register_resolvers
from cluster_logreg.schema import store_schemas


def prepare_hydra() -> None:
    """What the configs need before Hydra composes them: the resolvers and the schemas."""
    register_resolvers()
    store_schemas()


def is_user_error(error: BaseException) -> bool:
    """Config and input mistakes, including those Hydra, OmegaConf and Lightning detect for us."""
    if isinstance(error, (UserError, HydraException, OmegaConfBaseException)):
        return True
    # Looked up only if Lightning is loaded: reporting an error must not import it.
    module = sys.modules.get("lightning.fabric.utilities.exceptions")
    return module is not None and isinstance(error, module.MisconfigurationException)


def fail(error: BaseException) -> NoReturn:
    print(f"error: {one_line(error)}", file=sys.stderr)
    sys.exit(getattr(error, "exit_status", EXIT_USER_ERROR))


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Around a Hydra app (`main()`): whatever ends it, as an exit status and at most one line."""
    # Without HYDRA_FULL_ERROR, Hydra prints its own multi-line report (or a trimmed traceback) and
    # exits 1 before we see the exception; with it, the exception reaches us and we choose the form.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except Interrupted as stop:
        print(f"interrupted: {stop}", file=sys.stderr)
        sys.exit(stop.exit_status)
    except KeyboardInterrupt:  # Ctrl-C before training started, or twice
        print("interrupted: Ctrl-C", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    except Exception as error:
        told = what_the_user_is_told(error)
        if told is None:
            raise  # our bug: the full traceback is what a bug report needs
        fail(told)


def what_the_user_is_told(error: Exception) -> BaseException | None:
    """The error to show as one line, or None for a bug of ours."""
    if not raised_in_our_code(error):
        # Hydra's own failure, before our task ran: a value the schema refused, a malformed override
        # (some are plain ValueErrors, e.g. `logger=null`, where Hydra wants `~logger`), a config it
        # cannot compose, or a run directory it could not create.
        return schema_refusal(error) or composition_refusal(error) or _unwritable_run_dir(error) or error
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
            value = OverridesParser.create().parse_override(line.group(1)).value()
            return unknown_key(cause.full_key, value, [str(key) for key in parent])
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


@contextlib.contextmanager
def task_errors(cfg: DictConfig, in_sweep: bool) -> Iterator[None]:
    """Around a Hydra task (the body of `main(cfg)`): a mistake in a single run exits 2 with one line.

    In a sweep the error is raised instead, so Hydra records this job as failed and the other jobs
    still run; `exit_on_user_error` reports it in one line once the sweep ends. Either way the run's
    log file says why it stopped.
    """
    try:
        with our_code(), _keys_the_classes_take(cfg):
            yield
    except Interrupted as stop:
        _log_to_run_file(stop, "interrupted")
        raise
    except Exception as error:
        if is_user_error(error):
            _log_to_run_file(error)
            if not in_sweep:
                fail(error)
        raise


@contextlib.contextmanager
def _keys_the_classes_take(cfg: DictConfig) -> Iterator[None]:
    """`+trainer.max_epoch=5`: a key that the class a node builds does not take (Lightning's Trainer, a
    callback, a logger: Hydra's instantiate passes it on, the class refuses it) gets the line of any
    unknown key, naming the closest parameter the class has."""
    try:
        yield
    except InstantiationException as error:
        argument = re.search(r"unexpected keyword argument '(\w+)'", str(error.__cause__))
        node, target = re.search(r"full_key: (\S+)", str(error)), re.search(r"target '([\w.]+)'", str(error))
        if not (isinstance(error.__cause__, TypeError) and argument and node and target):
            raise
        key = f"{node[1]}.{argument[1]}"
        parameters = inspect.signature(get_class(target[1])).parameters
        raise unknown_key(key, OmegaConf.select(cfg, key), parameters) from None


def _log_to_run_file(error: BaseException, kind: str = "error") -> None:
    # The console gets the one `error:` line; the run directory's log should say why the run stopped too.
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, f"{kind}: {one_line(error)}", None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
