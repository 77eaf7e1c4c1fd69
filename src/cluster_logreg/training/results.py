"""What a finished run reports: metrics.json's contents, and its last lines in the console."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from cluster_logreg.core.files import write_json
from cluster_logreg.core.metrics import FIT_SECONDS, REPORTED, SAMPLES_PER_SECOND, shown
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.data.tensors import TensorDataModule
from cluster_logreg.training.build import callback_of

log = logging.getLogger(__name__)


def results(
    cfg: DictConfig,
    trainer: Trainer,
    datamodule: TensorDataModule,
    metrics: dict[str, float],
    fit_seconds: float,
    epochs_run: int,
) -> dict[str, Any]:
    """What the metrics file holds: the metrics, what they are measured against, and how the run went."""
    # Not trainer.checkpoint_callback: that is the first Checkpoint, a LastCheckpoint where the run has
    # no ModelCheckpoint (`~callbacks.model_checkpoint`), and it has no best model.
    best = callback_of(trainer, ModelCheckpoint)
    # Points trained on per epoch: fewer where the loop is limited (debug presets).
    batch_size = datamodule.hparams.batch_size or datamodule.n_train
    trained = min(datamodule.n_train, trainer.num_training_batches * batch_size)
    return {
        "status": ended(trainer),
        **metrics,
        **_bayes_accuracy(datamodule),
        "epochs": trainer.current_epoch,
        FIT_SECONDS: round(fit_seconds, 3),  # of this process: a resumed run counts its own epochs
        SAMPLES_PER_SECOND: round(trained * epochs_run / fit_seconds),
        "accelerator": trainer.strategy.root_device.type,
        "seed": cfg.seed,
        "tags": list(cfg.get("tags") or []),
        "best_checkpoint": (best.best_model_path or None) if best is not None else None,
    }


def write_results(
    cfg: DictConfig,
    trainer: Trainer,
    datamodule: TensorDataModule,
    metrics: dict[str, float],
    metric: str,
    fit_seconds: float,
    epochs_run: int,
    **more: Any,
) -> None:
    """metrics.json (written last: it says the run completed) and the run's last lines in its log.
    `metric`: the one the run returns to a sweeper; `more`: what else the file says of this run."""
    run = RunDir(Path(cfg.run_dir))
    content = results(cfg, trainer, datamodule, metrics, fit_seconds, epochs_run)
    write_json(run.metrics, content | {"optimized_metric": metric} | more)
    report(run.path, metrics, fit_seconds)


def ended(trainer: Trainer) -> str:
    """How a run that trained to its end ended (metrics.json's status)."""
    # A smoke test's numbers are not results: said so, for whoever reads them later.
    return "fast_dev_run" if trainer.fast_dev_run else "completed"  # type: ignore[attr-defined]  # undeclared


def _bayes_accuracy(datamodule: TensorDataModule) -> dict[str, float]:
    """What the accuracies are measured against, where the data's distribution is known."""
    population = datamodule.population
    return {"bayes_acc": population.bayes_accuracy()} if population is not None else {}


def reported(trainer: Trainer) -> dict[str, float]:
    """Those of metrics.json's metrics that the trainer's last validation or test logged."""
    return {k: float(trainer.callback_metrics[k]) for k in REPORTED if k in trainer.callback_metrics}


def report(run_dir: Path, metrics: dict[str, float], fit_seconds: float | None = None) -> None:
    values = "  ".join(f"{k}={shown(k, v)}" for k, v in metrics.items())
    timing = f"  (fit {fit_seconds:.2f} s)" if fit_seconds is not None else ""
    log.info(f"{values}{timing}")
    log.info(f"Run directory: {run_dir}")
