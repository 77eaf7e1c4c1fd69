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
import importlib
import inspect
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.preflight import Check, preflight
from cluster_logreg.config.refusals import is_user_error, what_the_user_is_told
from cluster_logreg.config.resolvers import register_resolvers
from cluster_logreg.config.schema import store_settings
from cluster_logreg.config.setting_checks import unknown_key
from cluster_logreg.core.errors import EXIT_USER_ERROR, Interrupted, one_line, our_code
from cluster_logreg.core.quiet import quiet_lightning


@dataclass(frozen=True)
class Entry:
    """What differs between the entry points: their checks, their task and how their command line is
    read before Hydra parses it. The script keeps only `@hydra.main` (which names the job after it)."""

    checks: tuple[Check, ...]
    task: str  # "module:function", called as function(cfg, in_sweep) once the checks pass
    arguments: Callable[[list[str]], list[str]] = list  # the command line, rewritten for Hydra
    around: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext

    def start(self, main: Callable[[], Any]) -> None:
        """`if __name__ == "__main__"`: the script's Hydra app, with whatever ends it as an exit status."""
        prepare_hydra()
        with exit_on_user_error(), self.around():
            with our_code():
                sys.argv = self.arguments(sys.argv)
            main()

    def run(self, cfg: DictConfig) -> Any:
        """The body of the script's `main(cfg)`: checks, then the task."""
        in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
        with task_errors(cfg, in_sweep):
            preflight(cfg, self.checks)
            module, _, name = self.task.partition(":")
            task = getattr(importlib.import_module(module), name)
            quiet_lightning()  # once Lightning is imported: it adds its console handler on import
            return task(cfg, in_sweep)


def prepare_hydra() -> None:
    """What the configs need before Hydra composes them: the resolvers and the settings classes."""
    register_resolvers()
    store_settings()


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
