"""The repo's paths, the real config composed by Hydra, the real entry points run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cluster_logreg.resolvers import register_resolvers

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def compose_config(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """The config exactly as `python src/<config_name>.py <overrides>` would see it."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)


def run_entry(
    script: str, *overrides: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python src/<script>.py <overrides>` from the repo root, as a user would (`env`: added to ours)."""
    return subprocess.run(
        [sys.executable, f"src/{script}.py", *overrides],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | env if env else None,
    )


def the_error_line(result: subprocess.CompletedProcess, status: int = 2) -> str:
    """The one `error:` line a refused command prints; it must print nothing else and no traceback."""
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
