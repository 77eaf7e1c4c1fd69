"""What the entry points do with an exception: a user's mistake ends in one line and a non-zero exit
status, our bugs keep their traceback.

Exit statuses: 0 ok, 2 a mistake (one `error:` line), 3 the run diverged, 128 + N stopped by signal
N (resumable), 1 a bug (Python's traceback).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import NoReturn

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from cluster_logreg.errors import EXIT_USER_ERROR, Interrupted, UserError, one_line, our_code, raised_in_our_code
from cluster_logreg.preflight import schema_refusal
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
        return schema_refusal(error) or _unwritable_run_dir(error) or error
    return error if is_user_error(error) else None


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
def task_errors(in_sweep: bool) -> Iterator[None]:
    """Around a Hydra task (the body of `main(cfg)`): a mistake in a single run exits 2 with one line.

    In a sweep the error is raised instead, so Hydra records this job as failed and the other jobs
    still run; `exit_on_user_error` reports it in one line once the sweep ends. Either way the run's
    log file says why it stopped.
    """
    try:
        with our_code():
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


def _log_to_run_file(error: BaseException, kind: str = "error") -> None:
    # The console gets the one `error:` line; the run directory's log should say why the run stopped too.
    record = logging.LogRecord(__name__, logging.ERROR, __file__, 0, f"{kind}: {one_line(error)}", None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
