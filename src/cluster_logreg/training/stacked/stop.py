"""Ctrl-C (SIGINT), SIGTERM and SLURM's SIGUSR1 in a stacked sweep, from the launcher's setup on: in every
phase, one `interrupted:` line and status 128 + N, and nothing half done that the same command does not
finish. Torch-free: installed before the sweeper composes the jobs' configs.

Outside `deferred` blocks a signal stops the program where it is, as Python's own Ctrl-C does: what is
written there is written whole or not at all (files.py, checkpoints.py), or written again by the next run.
Inside them (a stack's fit with each job's end of fit, a stacked job's run by Hydra) it is recorded and
the block stops at its next safe point: the end of an epoch, of a job's results. Ctrl-C again: at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import NoReturn

from cluster_logreg.core.errors import Interrupted
from cluster_logreg.core.overrides import continue_the_sweep

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)


class SweepStop:
    def __init__(self, sweep_dir: Path):
        self.sweep_dir = sweep_dir
        self.received: signal.Signals | None = None
        self._deferred = False

    def install(self) -> None:
        """Ours from now on (again after a fit: Lightning adds its own SIGTERM handler to it during one)."""
        if threading.current_thread() is threading.main_thread():  # where Python lets a program set them
            for signum in SIGNALS:
                signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        again = self.received is not None
        self.received = signal.Signals(signum)
        if self._deferred and not (again and signum == signal.SIGINT):
            log.warning(f"{self.received.name} received: stopping at the end of this epoch or job (Ctrl-C again: now)")
            return
        self.stop()

    def stop(self, where: str = "") -> NoReturn:
        """`where`: what was done (e.g. `after epoch 5 of 30; ...`), said before how to continue."""
        assert self.received is not None
        message = f"stopped by {self.received.name}{' ' + where if where else ''}: {continue_the_sweep(self.sweep_dir)}"
        log.warning(message)
        raise Interrupted(message, self.received)

    def check(self, where: str = "") -> None:
        """Stop here if a signal came during a deferred block."""
        if self.received is not None:
            self.stop(where)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal inside waits for `check` (or the block's own safe point, which reads `received`)."""
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
