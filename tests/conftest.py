"""What the whole session shares: the expensive runs that many tests read (each made once, on first
use, in a temporary directory), and the skips for what a machine may lack: `gpu` (a CUDA GPU),
`slurm` (a SLURM cluster that accepts jobs: `bash .ci/slurm.sh start` as root sets one up here).

A test that changes one of the shared runs works on a copy of it: the others read them as made."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.run_dir import RunDir
from helpers import GRID, LRS, SEEDS, SHORT, Ran, run_entry, train_in_process

# Nothing written into the checkout: no bytecode beside the sources (here and in the commands the tests start).
sys.dont_write_bytecode = True
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis keeps what it reads of the code as it collects (besides its example database) in ./.hypothesis.
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = tempfile.mkdtemp(prefix="hypothesis-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("HYPOTHESIS_STORAGE_DIRECTORY", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """`python src/train.py` with nothing changed (the tutorial's 1000 full-batch epochs), in this process."""
    run_dir = tmp_path_factory.mktemp("default") / "run"
    train_in_process(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory) -> Ran:
    """`python src/train.py` with nothing changed, through the real command line (what the console shows)."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    return Ran.checked(run_dir, run_entry("train", f"hydra.run.dir={run_dir}"))


@pytest.fixture(scope="session")
def multiruns(tmp_path_factory) -> Path:
    """The session's sweeps side by side, as `outputs/train/multiruns` holds a user's."""
    return tmp_path_factory.mktemp("multiruns")


@pytest.fixture(scope="session")
def lr_sweep(multiruns) -> Ran:
    """`python src/train.py -m model.optimizer.lr=... seed=0,1`: the tutorial's 1000 epochs at three
    learning rates and one that diverges, two seeds each, with the basic launcher."""
    sweep_dir = multiruns / "lr"
    sweep = ("-m", f"model.optimizer.lr={','.join(LRS)}", f"seed={','.join(SEEDS)}")
    return Ran.checked(sweep_dir, run_entry("train", *sweep, f"hydra.sweep.dir={sweep_dir}"))


@pytest.fixture(scope="session")
def stacked_grid(multiruns) -> Ran:
    """Every setting a stack may vary, two values each (helpers.GRID: 32 jobs), as one stacked fit."""
    sweep_dir = multiruns / "grid"
    command = ("-m", "hydra/launcher=stacked", *GRID, *SHORT, f"hydra.sweep.dir={sweep_dir}")
    return Ran.checked(sweep_dir, run_entry("train", *command, timeout=600))


@pytest.fixture
def finished_run(default_run, tmp_path) -> Path:
    """A run directory of this test's own to resume, change or damage: the default run, with Hydra's record
    of its command line (`python src/train.py`, no overrides), as a finished run of the command line holds it."""
    run_dir = Path(shutil.copytree(default_run, tmp_path / "run"))
    RunDir(run_dir).overrides.parent.mkdir()
    RunDir(run_dir).overrides.write_text("[]\n")
    return run_dir


@functools.cache
def slurm_is_running() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(state.strip().rstrip("*") in ("idle", "mixed", "allocated") for state in states.splitlines())


# With pytest-xdist (`-n`, `--dist loadgroup`): the tests that read one of the shared runs go to one worker,
# which makes it once; the SLURM tests share the cluster's CPUs, one test at a time.
SHARING = {"lr_sweep": "sweeps", "stacked_grid": "sweeps", "cli_run": "cli_run"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        groups = {SHARING[f] for f in getattr(item, "fixturenames", ()) if f in SHARING}
        groups |= {"slurm"} if "slurm" in item.keywords else set()
        for group in groups:
            item.add_marker(pytest.mark.xdist_group(group))
    skips = {
        "gpu": (not torch.cuda.is_available(), "needs a CUDA GPU; none on this machine"),
        "slurm": (
            not slurm_is_running(),
            "needs a running SLURM (none answers here): `bash .ci/slurm.sh start` as root starts one",
        ),
    }
    for marker, (lacking, reason) in skips.items():
        for item in items if lacking else ():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """In an xdist worker with `--dist loadgroup`: xdist names a grouped test `<id>@<group>` and groups by
    that; without it the groups' tests would make the shared runs twice and the SLURM tests would share
    the cluster at once. Such a test fails, saying why (pytest 9.2 with pytest-xdist 3.8 does it)."""
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group"):
        if "@" not in item.nodeid:
            pytest.fail(
                "pytest-xdist did not group this test (--dist loadgroup); valid: pytest < 9.2 (the dev "
                "extra's pin), or one process: -n 0",
                pytrace=False,
            )
