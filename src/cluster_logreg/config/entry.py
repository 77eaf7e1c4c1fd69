"""The skeleton of the three entry points (src/train.py, eval.py, predict.py): their command line
read, their config composed by Hydra, their pre-flight checks, then their task, imported only once
a run really starts (Lightning takes seconds to import; `--help`, `--cfg job` and config mistakes do
not wait for it). And what each exception becomes: a user's mistake one line and a non-zero exit
status, our bugs their traceback.

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
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.preflight import Check, preflight
from cluster_logreg.config.refusals import is_user_error, what_the_user_is_told
from cluster_logreg.config.setting_checks import unknown_key
from cluster_logreg.core.errors import EXIT_USER_ERROR, Interrupted, one_line, our_code


def run(
    main: Callable[[], Any],
    arguments: Callable[[list[str]], list[str]] = list,
    around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> None:
    """`if __name__ == "__main__"` of an entry point: its Hydra app (`main`, which reads `sys.argv`), with
    the command line first rewritten by `arguments` (e.g. `resume=` expanded), inside `around`, and
    whatever ends it as an exit status and at most one line."""
    with exit_on_user_error(), around():
        with our_code():
            sys.argv = arguments(sys.argv)
        main()


@contextlib.contextmanager
def checked(cfg: DictConfig, checks: tuple[Check, ...]) -> Iterator[bool]:
    """The body of an entry point's `main(cfg)`: its pre-flight `checks`, then (in the block) its task,
    imported there, once the checks pass: Lightning takes seconds to import, and `--help` or a mistake
    does not wait for it. Yields whether this run is a job of a sweep."""
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    with task_errors(cfg, in_sweep):
        preflight(cfg, checks)
        yield in_sweep


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
