"""User mistakes end in one readable line and a non-zero exit; our bugs keep their traceback."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")

EXIT_USER_ERROR = 2

# Lines of OmegaConf's multi-line reports that repeat what the first lines already say.
_NOISE = (
    "full_key:",
    "object_type=",
    "reference_type=",
    "Set the environment variable HYDRA_FULL_ERROR",
    "Config search path:",
    "provider=",
)


class UserError(Exception):
    """Something the user can fix: a bad config value, a missing or unreadable file."""


def invalid(key: str, value: object, valid: str, problem: str = "is not valid") -> UserError:
    """The standard message: the key, the value given, and what would be valid."""
    return UserError(f"{key}={value!r} {problem}; valid: {valid}")


def one_line(error: BaseException) -> str:
    """Fold an exception and its causes into one line, dropping OmegaConf's bookkeeping lines."""
    parts: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        for line in str(cause).splitlines():
            line = line.strip()
            if line and not line.startswith(_NOISE) and line not in parts:
                parts.append(line)
        cause = cause.__cause__
    return " ".join(parts) or type(error).__name__


def is_user_error(error: BaseException) -> bool:
    """Config and input mistakes, including those Hydra, OmegaConf and Lightning detect for us."""
    if isinstance(error, (UserError, HydraException, OmegaConfBaseException)):
        return True
    # Looked up only if Lightning is loaded: reporting an error must not import it.
    module = sys.modules.get("lightning.fabric.utilities.exceptions")
    return module is not None and isinstance(error, module.MisconfigurationException)


def fail(error: BaseException) -> NoReturn:
    print(f"error: {one_line(error)}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Around a Hydra app: a mistake found while composing the config exits 2 with one line."""
    # Without HYDRA_FULL_ERROR, Hydra prints its own multi-line report (or a trimmed traceback) and
    # exits 1 before we see the exception; with it, the exception reaches us and we choose the form.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except Exception as error:
        if not (is_user_error(error) or _raised_inside_hydra(error)):
            raise  # our bug: the full traceback is what a bug report needs
        fail(error)


def _raised_inside_hydra(error: BaseException) -> bool:
    # Hydra raises plain ValueErrors for some malformed overrides, e.g. `logger=null` (it wants `~logger`).
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__", "").startswith(("hydra.", "omegaconf."))


def _log_to_run_file(error: BaseException) -> None:
    # The console gets the one `error:` line; the run directory's log should say why the run stopped too.
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, f"error: {one_line(error)}", None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def user_errors_end_the_run(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
    """Around a Hydra task: a mistake found in a single run exits 2 with one line.

    In a sweep the error is raised instead, so Hydra records this job as failed and the other jobs
    still run; `exit_on_user_error` reports it in one line once the sweep ends.
    """

    @functools.wraps(task)
    def run(cfg: DictConfig) -> T:
        try:
            return task(cfg)
        except Exception as error:
            if is_user_error(error):
                _log_to_run_file(error)
                if HydraConfig.get().mode == RunMode.RUN:
                    fail(error)
            raise

    return run
