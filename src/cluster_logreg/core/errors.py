"""The project's exceptions and how one reads as a line. No Hydra, torch or Lightning here: every
module may import it (how the entry points turn exceptions into exit statuses is `config/entry.py`'s)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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

    exit_status = EXIT_USER_ERROR


class Diverged(UserError):
    """The loss became NaN or infinite: the run stopped early and recorded it as diverged."""

    exit_status = EXIT_DIVERGED


class JobLost(UserError):
    """A sweep job that ended without a result: it failed before Python started, was killed, or lost its node."""


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


# Set on an exception that left this project's own code (a task, a Hydra callback of ours):
# anything else that reaches an entry point was raised by Hydra itself, while it read the command
# line, composed the config or created the run directory.
_OURS = "raised_in_cluster_logreg"


@contextlib.contextmanager
def our_code() -> Iterator[None]:
    """Around this project's code: what escapes it is marked as ours (kept when pickled to a launcher)."""
    try:
        yield
    except Exception as error:
        setattr(error, _OURS, True)
        raise


def raised_in_our_code(error: BaseException) -> bool:
    return getattr(error, _OURS, False)
