"""User mistakes end in one readable line and a non-zero exit; our bugs keep their traceback."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
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
EXIT_DIVERGED = 3

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


class Diverged(UserError):
    """The loss became NaN or infinite: the run stopped early (metrics.json says `diverged`)."""

    exit_status = EXIT_DIVERGED


class Interrupted(BaseException):
    """A signal stopped the run after a saved epoch.

    Not an Exception: Hydra must not record it as one failed job and go on with the next one of
    a sweep. The exit status is 128 + the signal's number, as a shell reports a killed program.
    """

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_status = 128 + signum


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
    sys.exit(getattr(error, "exit_status", EXIT_USER_ERROR))


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Around a Hydra app: a mistake found while composing the config exits 2 with one line."""
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
        unwritable = _unwritable_output(error)
        if unwritable:
            fail(unwritable)
        if not (is_user_error(error) or _raised_inside_hydra(error)):
            raise  # our bug: the full traceback is what a bug report needs
        fail(error)


def _unwritable_output(error: BaseException) -> UserError | None:
    """Hydra could not create the run's directory or write its first files (before our task ran)."""
    cause: BaseException | None = error
    while cause is not None and not (isinstance(cause, OSError) and cause.filename is not None):
        cause = cause.__cause__ or cause.__context__
    called_by_hydra = _modules_called_by_hydra(error)
    if cause is None or isinstance(cause, HydraException) or not called_by_hydra:
        return None
    if any(module.startswith("cluster_logreg.") for module in called_by_hydra):
        return None  # raised while our task (or a callback of ours) ran: not Hydra's own output files
    return UserError(
        f"the run directory cannot be written: {cause.strerror or cause}: {cause.filename!r}; valid: a location you "
        "can write to: run from a writable directory, or set hydra.run.dir=PATH (hydra.sweep.dir=PATH with -m)"
    )


def _modules_called_by_hydra(error: BaseException) -> list[str]:
    """The modules of the traceback's frames from Hydra's first one on (empty if Hydra is not in it)."""
    modules = _traceback_modules(error)
    first = next((i for i, module in enumerate(modules) if module.startswith("hydra.")), len(modules))
    return modules[first:]


def _traceback_modules(error: BaseException) -> list[str]:
    """The module of each frame the error passed through, outermost first."""
    modules = []
    frame = error.__traceback__
    while frame is not None:
        modules.append(frame.tb_frame.f_globals.get("__name__", ""))
        frame = frame.tb_next
    return modules


def _raised_inside_hydra(error: BaseException) -> bool:
    # Hydra raises plain ValueErrors for some malformed overrides, e.g. `logger=null` (it wants `~logger`).
    modules = _traceback_modules(error)
    return bool(modules) and modules[-1].startswith(("hydra.", "omegaconf."))


def _log_to_run_file(error: BaseException, kind: str = "error") -> None:
    # The console gets the one `error:` line; the run directory's log should say why the run stopped too.
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, f"{kind}: {one_line(error)}", None, None)
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
        except Interrupted as stop:
            _log_to_run_file(stop, "interrupted")
            raise
        except Exception as error:
            if is_user_error(error):
                _log_to_run_file(error)
                if HydraConfig.get().mode == RunMode.RUN:
                    fail(error)
            raise

    return run
