"""What a run does: build everything from the composed config, fit, test, write the results."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning import LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from cluster_logreg.callbacks import StopOnSignal, tensorboards
from cluster_logreg.checkpoints import check_fits, read_checkpoint, resume_checkpoint
from cluster_logreg.config_checks import bad_checkpoint, check_output_paths
from cluster_logreg.data import GaussianClustersDataModule
from cluster_logreg.errors import Diverged, Interrupted, UserError, invalid, one_line
from cluster_logreg.files import write_json
from cluster_logreg.metrics import LEARNED, REPORTED, TEST, TRUE, VALIDATION, chosen, shown, worst_value
from cluster_logreg.model import LogisticClassifier

log = logging.getLogger(__name__)


def _quiet_lightning() -> None:
    # Lightning adds a console handler of its own on import; Hydra's handlers already print every
    # record and write it to the run's log file, so with it each Lightning line would show twice.
    logging.getLogger("lightning").handlers.clear()
    # Its tips advertise cloud services this offline project does not use.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: not record.getMessage().startswith("💡 Tip")
    )
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.13 deprecates: theirs to fix, not ours.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # Run directories are never shared, except by `resume=<run dir>`, which means to go on there.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # On a SLURM login node (srun on PATH) Lightning suggests running under srun: advice for SLURM
    # users that would add a line to every run's stderr, even before a one-line error.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system but is not used")


_quiet_lightning()


def train(cfg: DictConfig) -> float:
    """Fit and test one configuration; return its optimised metric (what a sweeper optimises)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    check_output_paths(cfg)
    datamodule, model, trainer = build(cfg)
    metric = _optimized_metric(cfg, datamodule)
    resume_from, first_epoch = resume_checkpoint(cfg, model)
    _log_hparams(trainer, cfg)

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    fit_seconds = time.perf_counter() - start
    # The final weights, the ones tested (Lightning's periodic last.ckpt may predate the final epoch).
    last = run_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(last, weights_only=False)
    _stop_if_interrupted(trainer, run_dir)
    diverged = _divergence(trainer)
    if diverged:
        return _report_divergence(cfg, trainer, run_dir, diverged, metric)
    if trainer.current_epoch % trainer.check_val_every_n_epoch or "loss/val" not in trainer.callback_metrics:
        # The last epochs ran after the last validation (or a resumed run had none left): validate now.
        trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = _reported(trainer)  # read now: testing replaces the trainer's metrics with its own
    # The final weights (the same as checkpoints/last.ckpt) are tested, so eval.py on last.ckpt agrees.
    trainer.test(model, datamodule=datamodule, verbose=False)

    # The exact metrics again, in float64: what was logged went through float32 tensors.
    metrics |= _reported(trainer) | model.exact_metrics()
    if trainer.is_global_zero:  # under DDP the other processes share this directory
        epochs_run = trainer.current_epoch - first_epoch
        results = _results(cfg, trainer, datamodule, metrics, fit_seconds, epochs_run)
        write_json(run_dir / "metrics.json", results | {"optimized_metric": metric})
        _report(run_dir, metrics, fit_seconds)
    return metrics[metric]


def _optimized_metric(cfg: DictConfig, datamodule: LightningDataModule) -> str:
    """The metric `optimized_metric` stands for with this data (`auto`: the exact accuracy where it exists)."""
    known = getattr(datamodule, "population", None) is not None
    metric = chosen(cfg.optimized_metric, known)
    if not known and metric in (*TRUE, *LEARNED):
        raise invalid(
            "optimized_metric",
            metric,
            f"auto or one of {', '.join(VALIDATION + TEST)}",
            "needs data whose distribution is known, and this data's is not",
        )
    return metric


def _stop_if_interrupted(trainer: Trainer, run_dir: Path) -> None:
    stop = next((c for c in trainer.callbacks if isinstance(c, StopOnSignal)), None)
    if stop is None or stop.received is None:
        return
    message = (
        f"stopped by {stop.received.name} after epoch {trainer.current_epoch} of {trainer.max_epochs}; "
        f"{run_dir}/checkpoints/last.ckpt holds it: continue with python src/train.py resume={run_dir}"
    )
    log.warning(message)
    raise Interrupted(message, stop.received)


def _divergence(trainer: Trainer) -> EarlyStopping | None:
    non_finite = EarlyStoppingReason.NON_FINITE_METRIC
    return next((c for c in trainer.early_stopping_callbacks if c.stopping_reason == non_finite), None)


def _report_divergence(cfg: DictConfig, trainer: Trainer, run_dir: Path, stopped: EarlyStopping, metric: str) -> float:
    """Record the divergence in metrics.json; a single run then ends with an error, a sweep goes on."""
    epoch = stopped.stopped_epoch + 1
    loss = float(trainer.callback_metrics[stopped.monitor])
    message = (
        f"the run diverged: {stopped.monitor} became {loss} by epoch {epoch} and training stopped there "
        f"(model.optimizer.lr={cfg.model.optimizer.lr}); valid: a smaller model.optimizer.lr"
    )
    if trainer.is_global_zero:
        status = {"status": "diverged", "epochs": epoch, "reason": message, "seed": cfg.seed}
        write_json(run_dir / "metrics.json", status | {"accelerator": trainer.strategy.root_device.type})
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        # In a sweep, a result rather than a failure: the other jobs go on (Optuna's sweeper would end
        # the search on a failed trial, and refuses NaN), the summary shows it as diverged, and the
        # worst value of the metric keeps any search from choosing it.
        log.error(message)
        return worst_value(metric)
    raise Diverged(message)


def build(cfg: DictConfig) -> tuple[GaussianClustersDataModule, LogisticClassifier, Trainer]:
    """Seed, then instantiate the data, the model and the trainer (with its loggers and callbacks)."""
    _check_accelerator(cfg.trainer.accelerator)
    use_threads(cfg.cpu_threads)
    seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    _check_processes_can_start(trainer, cfg.trainer.get("strategy"))
    return datamodule, model, trainer


_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before any job of a sweep changed it


def use_threads(cpu_threads: int | None) -> None:
    """A fixed number of CPU threads (1 by default), whatever the launcher or OMP_NUM_THREADS: the same
    job then gives the same metrics to the last bit anywhere (sums are split differently over threads).
    None: torch's own default for this process."""
    torch.set_num_threads(cpu_threads or _TORCH_DEFAULT_THREADS)


def evaluate(cfg: DictConfig) -> float:
    """Test a checkpoint on the test split of the data it was trained on; return acc/test."""
    _check_accelerator(cfg.trainer.accelerator)
    use_threads(cfg.cpu_threads)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    ckpt_path = Path(cfg.ckpt_path)
    checkpoint = read_checkpoint(ckpt_path)
    # The checkpoint holds the model's and the data's settings: both are rebuilt from them.
    try:
        model = LogisticClassifier(**checkpoint["hyper_parameters"])
        datamodule = GaussianClustersDataModule(**checkpoint["datamodule_hyper_parameters"])
    except (KeyError, TypeError) as error:
        raise bad_checkpoint("ckpt_path", ckpt_path, f"lacks this project's settings ({one_line(error)})") from None
    settings = f"hidden_dim={model.hparams.hidden_dim}, n_features={model.hparams.n_features} in its hyper_parameters"
    check_fits(checkpoint, ckpt_path, model, "ckpt_path", settings)
    model.load_state_dict(checkpoint["state_dict"])
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = _reported(trainer) | model.exact_metrics()
    write_json(run_dir / "metrics.json", {**metrics, "ckpt_path": str(ckpt_path.resolve())})
    _report(run_dir, metrics)
    return metrics["acc/test"]


def _results(
    cfg: DictConfig,
    trainer: Trainer,
    datamodule: GaussianClustersDataModule,
    metrics: dict[str, float],
    fit_seconds: float,
    epochs_run: int,
) -> dict[str, Any]:
    """What metrics.json holds: the metrics, what they are measured against, and how the run went."""
    checkpoint = trainer.checkpoint_callback
    return {
        "status": "completed",
        **metrics,
        **_bayes_accuracy(datamodule),
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 3),  # of this process: a resumed run counts its own epochs
        "samples_per_second": round(datamodule.n_train * epochs_run / fit_seconds),
        "accelerator": trainer.strategy.root_device.type,
        "seed": cfg.seed,
        "best_checkpoint": (checkpoint.best_model_path or None) if checkpoint else None,
    }


def _bayes_accuracy(datamodule: LightningDataModule) -> dict[str, float]:
    """What the accuracies are measured against, where the data's distribution is known."""
    population = getattr(datamodule, "population", None)
    return {"bayes_acc": population.bayes_accuracy()} if population is not None else {}


def _reported(trainer: Trainer) -> dict[str, float]:
    return {k: float(trainer.callback_metrics[k]) for k in REPORTED if k in trainer.callback_metrics}


def _check_accelerator(accelerator: str) -> None:
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise invalid(
            "trainer.accelerator", accelerator, "cpu or auto", "cannot run here: this machine has no CUDA GPU"
        )


def _check_processes_can_start(trainer: Trainer, strategy: str | None) -> None:
    # Lightning starts the other DDP processes itself by re-running the command line (ddp) or by
    # spawning (ddp_spawn, which loses the loop state it does not send back). Inside a local multirun
    # the re-run command would start the whole sweep again. Under SLURM or torchrun the cluster
    # starts the processes, so DDP jobs can be swept there.
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if (
        HydraConfig.get().mode == RunMode.MULTIRUN
        and trainer.world_size > 1
        and environment is not None
        and not environment.creates_processes_externally
    ):
        raise UserError(
            f"trainer.strategy={strategy} with {trainer.world_size} processes cannot run "
            "inside a local Hydra multirun; valid: DDP as single runs, or a sweep of DDP jobs on SLURM "
            "(hydra/launcher=slurm), where the cluster starts the processes"
        )


@rank_zero_only  # as Lightning's loggers: under DDP the other processes write no events
def _log_hparams(trainer: Trainer, cfg: DictConfig) -> None:
    """Give TensorBoard's HParams tab this run's settings; its metrics are the last value of each curve,
    so a run in progress shows there too.

    Only the session records, not Lightning's experiment record: without one, TensorBoard builds the
    table's columns from every run's settings and puts the settings that differ between runs (what a
    sweep varied) first, the constant ones after them.
    """
    _, session_start, session_end = hparams_summaries(_flat(_hparams(cfg, trainer)), {})
    for writer in tensorboards(trainer):
        file_writer = writer._get_file_writer()
        for summary in (session_start, session_end):
            file_writer.add_summary(summary)
        file_writer.flush()


def _flat(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} -> {"optimizer/lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}/")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _hparams(cfg: DictConfig, trainer: Trainer) -> dict[str, Any]:
    """The settings a reader compares runs by, without Hydra's `_target_` bookkeeping."""

    def settings(node: DictConfig) -> dict[str, Any]:
        values = OmegaConf.to_container(node, resolve=True)
        return {k: v for k, v in values.items() if not k.startswith("_") and not isinstance(v, dict)}

    model = settings(cfg.model)
    model.pop("n_features", None)  # the data's, shown there
    return {
        "model": model,
        "optimizer": {"name": cfg.model.optimizer._target_.rsplit(".", 1)[-1]} | settings(cfg.model.optimizer),
        "data": settings(cfg.data) | {"batch_size": cfg.data.batch_size or "full"},
        "trainer": {"accelerator": trainer.strategy.root_device.type, "max_epochs": cfg.trainer.max_epochs},
        "seed": cfg.seed,
    }


def _report(run_dir: Path, metrics: dict[str, float], fit_seconds: float | None = None) -> None:
    values = "  ".join(f"{k}={shown(k, v)}" for k, v in metrics.items())
    timing = f"  (fit {fit_seconds:.2f} s)" if fit_seconds is not None else ""
    log.info(f"{values}{timing}")
    log.info(f"Run directory: {run_dir}")
