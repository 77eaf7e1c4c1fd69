"""Train one configuration: build it, fit (continuing where a stopped run left off), test, write
its results. `train(cfg)` reads top to bottom; each step's details are in the module it names."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from lightning import LightningModule, Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from cluster_logreg.core.errors import invalid
from cluster_logreg.core.files import read_json
from cluster_logreg.core.metrics import LEARNED, LOSS_VAL, TEST, TRUE, VALIDATION, chosen, worst_value
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.data.tensors import TensorDataModule
from cluster_logreg.model.classifier import LogisticClassifier
from cluster_logreg.training.build import build, callback_of
from cluster_logreg.training.callbacks import LastCheckpoint, is_due, stopped_before_training
from cluster_logreg.training.checkpoints import resume_checkpoint
from cluster_logreg.training.hparams import end_session, failing_session, log_hparams
from cluster_logreg.training.results import ended, reported, write_results
from cluster_logreg.training.slurm import requeued
from cluster_logreg.training.stops import divergence, has_finite_weights, report_divergence, stop_if_interrupted

log = logging.getLogger(__name__)


def train(cfg: DictConfig, in_sweep: bool = False) -> float:
    """Fit and test one configuration (checked by `preflight.TRAIN_CHECKS`) in `cfg.run_dir`;
    return its optimised metric (what a sweeper optimises). `in_sweep`: a job of a Hydra multirun."""
    run = RunDir(Path(cfg.run_dir))
    if in_sweep and (kept := _completed(run)) is not None:
        # The sweep is being continued in its own directory (hydra.sweep.dir=<it>): a finished job stays.
        log.info(f"{run.metrics} says this job has finished (in an earlier run, or its stacked fit): kept")
        return kept
    datamodule, model, trainer = build(cfg, in_sweep)
    metric = optimized_metric(cfg, datamodule)
    last_checkpoint = callback_of(trainer, LastCheckpoint)
    last_path = Path(last_checkpoint.path) if last_checkpoint is not None else None
    resume_from, first_epoch = resume_checkpoint(cfg, last_path, model, _continuing(cfg, last_path, in_sweep))
    log_hparams(trainer, cfg)
    log.info(f"model: {parameters_line(model)}")

    start = time.perf_counter()
    with failing_session(trainer):
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
        except SIGTERMException:  # Lightning's, a SystemExit (status 0), raised in its sanity check
            raise stopped_before_training() from None
        fit_seconds = time.perf_counter() - start
        if last_checkpoint is not None:
            # The final weights, the ones tested (the periodic save may predate the final epoch).
            last_checkpoint.save(trainer)
        stop_if_interrupted(trainer, run.path, last_checkpoint, in_sweep)
        if (diverged := divergence(trainer)) or not has_finite_weights(model):
            return report_divergence(cfg, trainer, run, diverged, metric, in_sweep)
        metrics = _final_metrics(trainer, model, datamodule)
        if trainer.is_global_zero:  # under DDP the other processes share this directory
            write_results(cfg, trainer, datamodule, metrics, metric, fit_seconds, trainer.current_epoch - first_epoch)
    end_session(trainer, ended(trainer))
    return metrics[metric]


def _final_metrics(trainer: Trainer, model: LogisticClassifier, datamodule: TensorDataModule) -> dict[str, float]:
    """The final weights' validation, test and exact metrics."""
    validated_last = is_due(trainer.current_epoch, trainer.check_val_every_n_epoch)
    if not validated_last or LOSS_VAL not in trainer.callback_metrics:
        # The last epochs ran after the last validation (or a resumed run had none left): validate now.
        trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = reported(trainer)  # read now: testing replaces the trainer's metrics with its own
    exact = model.exact_metrics(datamodule)  # float64, from the final weights
    metrics |= {k: v for k, v in exact.items() if k in TRUE}  # in metrics.json's order: the splits' beside them
    # The final weights (the same as the last checkpoint) are tested, so eval.py on it agrees.
    trainer.test(model, datamodule=datamodule, verbose=False)
    return metrics | reported(trainer) | exact


def _continuing(cfg: DictConfig, last_path: Path | None, in_sweep: bool) -> str | None:
    """What continues from the last checkpoint, if anything: `resume=<run dir>`, a SLURM job started
    again after a requeue, or a sweep job stopped part-way and run again in its sweep's directory."""
    if cfg.resume:
        return str(cfg.resume)
    if requeued():
        return "the requeued job"
    if in_sweep and last_path is not None and last_path.exists():
        return "the sweep job stopped part-way"
    return None


def optimized_metric(cfg: DictConfig, datamodule: TensorDataModule) -> str:
    """The metric `optimized_metric` stands for with this data (`auto`: the exact accuracy where it exists)."""
    known = datamodule.population is not None
    metric = chosen(cfg.optimized_metric, known)
    if not known and metric in (*TRUE, *LEARNED):
        raise invalid(
            "optimized_metric",
            metric,
            f"auto or one of {', '.join(VALIDATION + TEST)}",
            "needs data whose distribution is known, and this data's is not",
        )
    return metric


def _completed(run: RunDir) -> float | None:
    """The optimised metric of a run that completed in this directory before (the worst value if it
    diverged: trained again it would diverge again), else None."""
    metrics = read_json(run.metrics)
    metric = metrics.get("optimized_metric")
    if metrics.get("status") == "diverged" and isinstance(metric, str):
        return worst_value(metric)
    if metrics.get("status") != "completed" or metric not in metrics:
        return None
    return float(metrics[metric])


def parameters_line(model: LightningModule) -> str:
    """One line instead of Lightning's model table: the parameters are all there is to this model."""
    shapes = ", ".join(f"{name} {list(p.shape)}" for name, p in model.named_parameters())
    return f"{type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters ({shapes})"
