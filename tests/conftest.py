"""Tests that need what a machine may lack skip with the reason: `gpu` (a CUDA GPU), `slurm` (a SLURM
cluster that accepts jobs: `bash .ci/slurm.sh start` as root sets one up on this machine)."""

import functools
import shutil
import subprocess

import pytest
import torch


@functools.cache
def slurm_is_running() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(state.strip().rstrip("*") in ("idle", "mixed", "allocated") for state in states.splitlines())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
