"""Lightning's console lines that a run of this project does not need, silenced by
every task that builds a Trainer (train, evaluate, predict), so each prints only its own lines."""

from __future__ import annotations

import logging
import warnings

# Its tips advertise cloud services this offline project does not use; the accelerator used is in
# the run's metrics and the HParams tab; that max_epochs ended the fit, the last epoch line says;
# a SIGTERM is reported by the run itself (`interrupted: stopped by SIGTERM ...`).
NOISE = (
    "💡 Tip",
    *("GPU available:", "TPU available:", "HPU available:"),
    "`Trainer.fit` stopped: `max_epochs=",
    *("Received SIGTERM:", "Bypassing SIGTERM:"),
)


def _not_noise(record: logging.LogRecord) -> bool:
    return not any(noise in record.getMessage() for noise in NOISE)


def quiet_lightning() -> None:
    """Idempotent: each call leaves the same handlers, filters and warning filters."""
    # Lightning adds console handlers of its own on import (lightning.pytorch's and fabric's only where
    # the root logger has none yet, and then without passing records on); Hydra's handlers print every
    # record and write it to the run's log file: each Lightning line once, wherever it was imported.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.trainer.connectors.signal_connector"):
        logging.getLogger(name).addFilter(_not_noise)
    # Lightning calls a torch.utils._pytree API that newer torch deprecates: theirs to fix, not ours.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # Run directories are never shared, except by `resume=<run dir>`, which means to go on there.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # On a SLURM login node (srun on PATH) Lightning suggests running under srun: advice for SLURM
    # users that would add a line to every run's stderr, even before a one-line error.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")
    # predict.py's batches come in file order and are written in it: the writer needs no batch indices.
    warnings.filterwarnings("ignore", message="Couldn't infer the batch indices fetched from your dataloader")
