"""The layout of a run directory: the one place the names of its files are spelled.

train.py writes a run directory; resume, eval, the sweep summary, the configs (through the
`run_file` resolver) and the tests read it. Torch-free: the entry points use it before the slow
imports. Where a file has a setting (`callbacks.last_checkpoint.path`), this is its default and
the code reads the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """The files of the run (or sweep job) in `path`."""

    path: Path

    @property
    def checkpoints(self) -> Path:
        """Lightning's ModelCheckpoint writes best.ckpt here."""
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        """Every 100 epochs and at the end: what `resume=<run dir>` continues from."""
        return self.checkpoints / "last.ckpt"

    @property
    def metrics(self) -> Path:
        """The final metrics and how the run went; written last."""
        return self.path / "metrics.json"

    @property
    def decision_boundary(self) -> Path:
        return self.path / "decision_boundary.png"

    @property
    def predictions(self) -> Path:
        """predict.py's output, unless `output=` says otherwise."""
        return self.path / "predictions.csv"

    @property
    def overrides(self) -> Path:
        """Hydra's record of the command line's overrides: what `resume=` composes again."""
        return self.path / ".hydra" / "overrides.yaml"

    @property
    def job_status(self) -> Path:
        """A sweep job's outcome (ok, or failed and why), written by the sweep summary."""
        return self.path / "job_status.json"


def run_file(run_dir: str, name: str) -> str:
    """`${run_file:${run_dir},last_checkpoint}` in a config: that file of the run directory."""
    return str(getattr(RunDir(Path(run_dir)), name))


# What a hint shows as an example of a checkpoint of train.py.
EXAMPLE_CHECKPOINT = RunDir(Path("outputs/train/runs/<run>")).last_checkpoint
