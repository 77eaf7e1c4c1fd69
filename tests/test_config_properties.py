"""Property-based: any value for any setting either runs or is refused in one clean line.

Hypothesis draws a setting of the real composed config and a hostile value for it (a wrong type,
out of range, empty, huge, NaN, infinite, negative). In process, a hundred are composed, checked,
built and trained as the entry's task does; through the real command line, two more, for what only
the process shows (its exit status, its stderr). The examples are derandomized, so CI always tries the
same ones, and the example database is off (nothing written beside the tests).
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster_logreg.config.refusals import is_user_error
from cluster_logreg.config.rules import DIRECTORY, FILE
from cluster_logreg.config.schema import RULES
from cluster_logreg.core.errors import one_line
from cluster_logreg.core.run_dir import RunDir
from helpers import leaf_keys, run_entry, the_error_line, train_in_process


def settable_keys() -> list[str]:
    """Every value a user can set with `key=value` in the default config, except the output paths (those
    are tried by the unwritable-output tests: a hostile path here would write into the repository)."""
    paths = {key for key, rule in RULES.items() if rule in (DIRECTORY, FILE)}
    return sorted(leaf_keys() - paths)


KEYS = settable_keys()
HOSTILE = st.one_of(
    st.sampled_from(["", "abc", "nan", "inf", "-inf", "null", "true", "[1,2]", "{a:1}", "1e400", "-1", "0", "0.5"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TOO_SLOW = HealthCheck.too_slow  # a run, not a function call: each example takes a moment


def assert_clean_refusal(error: BaseException, key: str) -> None:
    assert is_user_error(error), f"{key}: {type(error).__name__}: {error}"
    line = one_line(error)
    assert "\n" not in line and "Traceback" not in line


# Small and short, so a value that is accepted runs in a moment; the drawn override comes last and wins.
QUICK = ("data.n_per_class=50", "trainer.max_epochs=3", "+trainer.max_time=00:00:00:30")


@pytest.mark.slow
@settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[TOO_SLOW])
@given(key=st.sampled_from(KEYS), value=HOSTILE)
def test_any_value_is_refused_cleanly_or_runs(key, value, tmp_path_factory):
    """Composed, checked, built and trained in process, as the entry's task does (Lightning checks its
    own arguments when it is built, and some values fail only while training)."""
    try:
        train_in_process(tmp_path_factory.mktemp("run"), *QUICK, f"{key}={value}")
    except Exception as error:
        assert_clean_refusal(error, key)


@pytest.mark.cli
@pytest.mark.slow
@settings(max_examples=2, deadline=None, derandomize=True, database=None, suppress_health_check=[TOO_SLOW])
@given(key=st.sampled_from(KEYS), value=HOSTILE)
def test_any_value_runs_or_fails_in_one_line(key, value, tmp_path_factory):
    """The real `python src/train.py` end to end: exit 0, or one `error:` line and no traceback."""
    run_dir = tmp_path_factory.mktemp("run")
    try:
        result = run_entry("train", *QUICK, f"{key}={value}", f"hydra.run.dir={run_dir}", timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{key}={value} ran for more than 120 s")
    output = result.stdout + result.stderr
    assert "Traceback" not in output, f"{key}={value}\n{output[-3000:]}"
    if result.returncode != 0:
        assert result.returncode in (2, 3), f"{key}={value}: exit {result.returncode}\n{result.stderr[-3000:]}"
        the_error_line(result, status=result.returncode)
        assert not RunDir(run_dir).metrics.exists() or result.returncode == 3  # diverged: recorded as such
