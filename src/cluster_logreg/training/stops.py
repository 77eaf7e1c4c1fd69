"""How a fit that stopped early ends: stopped by a signal (resumable, and how to resume it said in
one line), or diverged (recorded in the run's metrics; a single run then fails, a sweep goes on)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from omegaconf import DictConfig

from cluster_logreg.core.errors import Diverged, Interrupted
from cluster_logreg.core.files import write_json
from cluster_logreg.core.metrics import worst_value
from cluster_logreg.core.overrides import continue_the_sweep
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.training.build import callback_of
from cluster_logreg.training.callbacks import LastCheckpoint, StopOnSignal
from cluster_logreg.training.hparams import end_session
from cluster_logreg.training.slurm import requeue_this_job

log = logging.getLogger(__name__)


def stop_if_interrupted(
    trainer: Trainer, run_dir: Path, last_checkpoint: LastCheckpoint | None, in_sweep: bool
) -> None:
    stop = callback_of(trainer, StopOnSignal)
    if stop is None or stop.received is None:
        return
    stopped = f"stopped by {stop.received.name} after epoch {trainer.current_epoch} of {trainer.max_epochs}"
    if last_checkpoint is None:
        message = f"{stopped}; no checkpoint was kept (callbacks.last_checkpoint is off), so it cannot be resumed"
    elif stop.received == signal.SIGUSR1 and _requeued_by_process_zero(trainer):
        message = f"{stopped}; {last_checkpoint.path} holds it: SLURM requeued the job, which continues from it"
    elif in_sweep:  # the job's directory is one of its sweep directory's
        message = f"{stopped}; {last_checkpoint.path} holds it: {continue_the_sweep(run_dir.parent)}"
    else:
        message = f"{stopped}; {last_checkpoint.path} holds it: continue with python src/train.py resume={run_dir}"
    log.warning(message)
    raise Interrupted(message, stop.received)


def _requeued_by_process_zero(trainer: Trainer) -> bool:
    """Process 0 asks SLURM to requeue the job, and every process learns whether it did before any
    of them exits: a DDP process that ended first made `srun` abort the job step, and the job could
    end as failed before the requeue was registered."""
    asked = requeue_this_job() if trainer.is_global_zero else False
    return bool(trainer.strategy.broadcast(asked, src=0))


def divergence(trainer: Trainer) -> EarlyStopping | None:
    """The divergence check (EarlyStopping's check_finite) that stopped the fit at a validation, if any."""
    non_finite = EarlyStoppingReason.NON_FINITE_METRIC
    return next((c for c in trainer.early_stopping_callbacks if c.stopping_reason == non_finite), None)


def has_finite_weights(model: LightningModule) -> bool:
    """Weights that became NaN or infinite after the last validation (or with none) are a divergence too."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def report_divergence(
    cfg: DictConfig, trainer: Trainer, run: RunDir, stopped: EarlyStopping | None, metric: str, in_sweep: bool
) -> float:
    """Record the divergence in the run's metrics; a single run then ends with an error, a sweep goes on.
    `stopped`: the check that stopped it, or None where its final weights (or losses) are not finite."""
    if stopped is not None:
        epoch = stopped.stopped_epoch + 1
        loss = float(trainer.callback_metrics[stopped.monitor])
        what = f"{stopped.monitor} became {loss} by epoch {epoch} and training stopped there"
    else:
        epoch = trainer.current_epoch
        what = f"its weights or losses are not finite after its last epoch, {epoch} (after its last check)"
    message = (
        f"the run diverged: {what} (model.optimizer.lr={cfg.model.optimizer.lr}); valid: a smaller model.optimizer.lr"
    )
    if trainer.is_global_zero:
        status = {
            "status": "diverged",
            "epochs": epoch,
            "reason": message,
            "seed": cfg.seed,
            "tags": list(cfg.get("tags") or []),
            "optimized_metric": metric,
        }
        write_json(run.metrics, status | {"accelerator": trainer.strategy.root_device.type})
    end_session(trainer, "diverged")
    if in_sweep:
        # In a sweep, a result rather than a failure: the other jobs go on (Optuna's sweeper would end
        # the search on a failed trial, and refuses NaN), the summary shows it as diverged, and the
        # worst value of the metric keeps any search from choosing it.
        log.error(message)
        return worst_value(metric)
    raise Diverged(message)
