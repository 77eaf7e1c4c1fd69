"""What a run does: build everything from the composed config, fit, test, write the results."""

from __future__ import annotations

import inspect
import logging
import signal
import time
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from hydra.utils import instantiate
from lightning import Callback, LightningModule, Trainer, seed_everything
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import Checkpoint, EarlyStopping, ModelCheckpoint
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from cluster_logreg.callbacks import LastCheckpoint, StopOnSignal, tensorboards
from cluster_logreg.checkpoints import resume_checkpoint
from cluster_logreg.data import GaussianClustersDataModule, TensorBatches, TensorDataModule, make_clusters
from cluster_logreg.errors import Diverged, Interrupted, UserError, invalid
from cluster_logreg.files import read_json, write_json
from cluster_logreg.metrics import LEARNED, REPORTED, TEST, TRUE, VALIDATION, chosen, shown, worst_value
from cluster_logreg.model import LogisticClassifier
from cluster_logreg.preflight import CPU_CORES, unknown_key
from cluster_logreg.quiet import quiet_lightning
from cluster_logreg.resume import checkpoint_of, continue_the_sweep
from cluster_logreg.run_dir import RunDir
from cluster_logreg.slurm import requeue_this_job, requeued
from cluster_logreg.table import read_table
from cluster_logreg.trained import load_trained, trained_data

log = logging.getLogger(__name__)


def train(cfg: DictConfig, in_sweep: bool = False) -> float:
    """Fit and test one configuration (checked by `preflight.TRAIN_CHECKS`) in `cfg.run_dir`;
    return its optimised metric (what a sweeper optimises). `in_sweep`: a job of a Hydra multirun."""
    run = RunDir(Path(cfg.run_dir))
    if in_sweep and (kept := _completed(run)) is not None:
        # The sweep is being continued in its own directory (hydra.sweep.dir=<it>): a finished job stays.
        log.info(f"{run.path} finished in an earlier run of this sweep: kept, not trained again")
        return kept
    datamodule, model, trainer = build(cfg, in_sweep)
    metric = _optimized_metric(cfg, datamodule)
    last_checkpoint = _callback(trainer, LastCheckpoint)
    last_path = Path(last_checkpoint.path) if last_checkpoint is not None else None
    resume_from, first_epoch = resume_checkpoint(cfg, last_path, model, _continuing(cfg, last_path, in_sweep))
    _log_hparams(trainer, cfg)
    log.info(f"model: {_parameters(model)}")

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    fit_seconds = time.perf_counter() - start
    if last_checkpoint is not None:
        # The final weights, the ones tested (the periodic save may predate the final epoch).
        last_checkpoint.save(trainer)
    _stop_if_interrupted(trainer, run.path, last_checkpoint, in_sweep)
    diverged = _divergence(trainer)
    if diverged:
        return _report_divergence(cfg, trainer, run, diverged, metric, in_sweep)
    every = trainer.check_val_every_n_epoch  # None: validation by steps only (the pre-flight checks refuse it)
    if every is None or trainer.current_epoch % every or "loss/val" not in trainer.callback_metrics:
        # The last epochs ran after the last validation (or a resumed run had none left): validate now.
        trainer.validate(model, datamodule=datamodule, verbose=False)
    metrics = _reported(trainer)  # read now: testing replaces the trainer's metrics with its own
    # The final weights (the same as the last checkpoint) are tested, so eval.py on it agrees.
    trainer.test(model, datamodule=datamodule, verbose=False)

    # The exact metrics again, in float64: what was logged went through float32 tensors.
    metrics |= _reported(trainer) | model.exact_metrics()
    if trainer.is_global_zero:  # under DDP the other processes share this directory
        epochs_run = trainer.current_epoch - first_epoch
        results = _results(cfg, trainer, datamodule, metrics, fit_seconds, epochs_run)
        write_json(run.metrics, results | {"optimized_metric": metric})
        _report(run.path, metrics, fit_seconds)
    return metrics[metric]


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


def _optimized_metric(cfg: DictConfig, datamodule: TensorDataModule) -> str:
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
    """The optimised metric of a run that completed in this directory before, else None."""
    metrics = read_json(run.metrics)
    if metrics.get("status") != "completed" or metrics.get("optimized_metric") not in metrics:
        return None
    return float(metrics[metrics["optimized_metric"]])


def _parameters(model: LightningModule) -> str:
    """One line instead of Lightning's model table: the parameters are all there is to this model."""
    shapes = ", ".join(f"{name} {list(p.shape)}" for name, p in model.named_parameters())
    return f"{type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters ({shapes})"


_C = TypeVar("_C", bound=Callback)


def _callback(trainer: Trainer, kind: type[_C]) -> _C | None:
    """The trainer's first callback of type `kind`, None if it has none."""
    callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]  # Lightning sets it, undeclared
    return next((c for c in callbacks if isinstance(c, kind)), None)


def _stop_if_interrupted(
    trainer: Trainer, run_dir: Path, last_checkpoint: LastCheckpoint | None, in_sweep: bool
) -> None:
    stop = _callback(trainer, StopOnSignal)
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


def _divergence(trainer: Trainer) -> EarlyStopping | None:
    non_finite = EarlyStoppingReason.NON_FINITE_METRIC
    return next((c for c in trainer.early_stopping_callbacks if c.stopping_reason == non_finite), None)


def _report_divergence(
    cfg: DictConfig, trainer: Trainer, run: RunDir, stopped: EarlyStopping, metric: str, in_sweep: bool
) -> float:
    """Record the divergence in the run's metrics; a single run then ends with an error, a sweep goes on."""
    epoch = stopped.stopped_epoch + 1
    loss = float(trainer.callback_metrics[stopped.monitor])
    message = (
        f"the run diverged: {stopped.monitor} became {loss} by epoch {epoch} and training stopped there "
        f"(model.optimizer.lr={cfg.model.optimizer.lr}); valid: a smaller model.optimizer.lr"
    )
    if trainer.is_global_zero:
        status = {"status": "diverged", "epochs": epoch, "reason": message, "seed": cfg.seed}
        write_json(run.metrics, status | {"accelerator": trainer.strategy.root_device.type})
    if in_sweep:
        # In a sweep, a result rather than a failure: the other jobs go on (Optuna's sweeper would end
        # the search on a failed trial, and refuses NaN), the summary shows it as diverged, and the
        # worst value of the metric keeps any search from choosing it.
        log.error(message)
        return worst_value(metric)
    raise Diverged(message)


def build(cfg: DictConfig, in_sweep: bool = False) -> tuple[TensorDataModule, LogisticClassifier, Trainer]:
    """Seed, then instantiate the data, the model and the trainer (with its loggers and callbacks)."""
    quiet_lightning()
    use_threads(cfg.cpu_threads)
    seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    # Sized and described by the data: its input size, names and standardisation.
    # (`_convert_`: as plain lists, which checkpoints store as data; Hydra's own containers are objects.)
    model = instantiate(cfg.model, _convert_="all", **datamodule.model_inputs())
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [_logger(name, node) for name, node in (cfg.get("logger") or {}).items() if node is not None]
    # The configured callbacks are all the checkpoints a run writes: without any (`'~callbacks'`)
    # Lightning would add a ModelCheckpoint of its own.
    checkpoints = any(isinstance(c, Checkpoint) for c in callbacks)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, enable_checkpointing=checkpoints)
    _check_processes_can_start(trainer, cfg.trainer.get("strategy"), in_sweep)
    _warn_if_processes_outnumber_cores(trainer, cfg)
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if isinstance(environment, SLURMEnvironment):
        # One mechanism for preemption, this project's (slurm.py says why): Lightning's is turned off.
        environment.auto_requeue = False
    return datamodule, model, trainer


def _logger(name: str, node: DictConfig) -> Logger:
    logger: Logger = instantiate(node)
    if isinstance(logger, TensorBoardLogger):
        # Keys it does not know go on to TensorBoard's SummaryWriter, which would refuse them only at the
        # first event, with a traceback: refused here like any unknown key.
        takes = [*inspect.signature(TensorBoardLogger).parameters, *inspect.signature(SummaryWriter).parameters]
        unknown = next((str(k) for k in node if not str(k).startswith("_") and k not in takes), None)
        if unknown is not None:
            raise unknown_key(f"logger.{name}.{unknown}", node[unknown], takes)
    return logger


_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before any job of a sweep changed it


def use_threads(cpu_threads: int | None) -> None:
    """A fixed number of CPU threads (1 by default), whatever the launcher or OMP_NUM_THREADS: the same
    job then gives the same metrics to the last bit anywhere (sums are split differently over threads).
    None: torch's own default for this process."""
    torch.set_num_threads(cpu_threads or _TORCH_DEFAULT_THREADS)


def evaluate(cfg: DictConfig) -> float:
    """Test a trained model (checked by `preflight.EVAL_CHECKS`), in `cfg.run_dir`; return acc/test.

    `evaluate_on`: `test`, the test split of the data it was trained on; `fresh`, a new draw of the
    clusters it was trained on (all of it, from `seed`); or a CSV file with its columns.
    """
    quiet_lightning()
    use_threads(cfg.cpu_threads)
    run = RunDir(Path(cfg.run_dir))
    ckpt_path = checkpoint_of(Path(cfg.ckpt_path))
    model, checkpoint = load_trained(ckpt_path)
    datamodule = trained_data(checkpoint, ckpt_path)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    if cfg.evaluate_on == "test":
        trainer.test(model, datamodule=datamodule, verbose=False)
    else:
        trainer.test(model, dataloaders=_evaluation_data(cfg, model, datamodule), verbose=False)
    metrics = _reported(trainer) | model.exact_metrics(datamodule)
    write_json(run.metrics, {**metrics, "ckpt_path": str(ckpt_path.resolve()), "evaluated_on": cfg.evaluate_on})
    _report(run.path, metrics)
    return metrics["acc/test"]


def _evaluation_data(cfg: DictConfig, model: LogisticClassifier, trained_on: TensorDataModule) -> TensorBatches:
    if cfg.evaluate_on == "fresh":
        if not isinstance(trained_on, GaussianClustersDataModule):
            raise invalid("evaluate_on", "fresh", "test or a CSV file", "needs a model trained on the clusters")
        hp = trained_on.hparams
        generator = torch.Generator().manual_seed(cfg.seed)
        x, y = make_clusters(hp.n_per_class, hp.n_features, hp.mean_value, hp.std, hp.bias, generator)
    else:
        hp = model.hparams
        table = read_table(cfg.evaluate_on, hp.target, model.feature_names, model.classes[1], key="evaluate_on")
        if list(table.classes) != model.classes:
            raise invalid(
                "evaluate_on", cfg.evaluate_on, f"a file whose {hp.target!r} holds {' and '.join(model.classes)}",
                f"holds {' and '.join(table.classes)}",
            )  # fmt: skip
        x, y = torch.from_numpy(table.x), torch.from_numpy(table.y)
    return TensorBatches(x, y, batch_size=65536)


def _results(
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
    best = _callback(trainer, ModelCheckpoint)
    # Points trained on per epoch: fewer where the loop is limited (debug presets).
    batch_size = datamodule.hparams.batch_size or datamodule.n_train
    trained = min(datamodule.n_train, trainer.num_training_batches * batch_size)
    return {
        # A smoke test's numbers are not results: said so, for whoever reads them later.
        "status": "fast_dev_run" if trainer.fast_dev_run else "completed",  # type: ignore[attr-defined]  # undeclared
        **metrics,
        **_bayes_accuracy(datamodule),
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 3),  # of this process: a resumed run counts its own epochs
        "samples_per_second": round(trained * epochs_run / fit_seconds),
        "accelerator": trainer.strategy.root_device.type,
        "seed": cfg.seed,
        "best_checkpoint": (best.best_model_path or None) if best is not None else None,
    }


def _bayes_accuracy(datamodule: TensorDataModule) -> dict[str, float]:
    """What the accuracies are measured against, where the data's distribution is known."""
    population = datamodule.population
    return {"bayes_acc": population.bayes_accuracy()} if population is not None else {}


def _reported(trainer: Trainer) -> dict[str, float]:
    return {k: float(trainer.callback_metrics[k]) for k in REPORTED if k in trainer.callback_metrics}


def _check_processes_can_start(trainer: Trainer, strategy: str | None, in_sweep: bool) -> None:
    # Lightning starts the other DDP processes itself by re-running the command line (ddp) or by
    # spawning (ddp_spawn, which loses the loop state it does not send back). Inside a local multirun
    # the re-run command would start the whole sweep again. Under SLURM or torchrun the cluster
    # starts the processes, so DDP jobs can be swept there.
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if in_sweep and trainer.world_size > 1 and environment is not None and not environment.creates_processes_externally:
        raise UserError(
            f"trainer.strategy={strategy} with {trainer.world_size} processes cannot run "
            "inside a local Hydra multirun; valid: DDP as single runs, or a sweep of DDP jobs on SLURM "
            "(hydra/launcher=slurm), where the cluster starts the processes"
        )


def _warn_if_processes_outnumber_cores(trainer: Trainer, cfg: DictConfig) -> None:
    """CPU processes that Lightning starts on this machine, more of them (times their threads) than it has
    cores: a warning, not a refusal. Nothing is wrong but the time (the processes share the cores and wait
    for each other at every gradient exchange), and more processes than cores is a fair way to test DDP."""
    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is None or environment.creates_processes_externally or not trainer.is_global_zero:
        return  # SLURM or torchrun placed the processes; or this is one of the others
    threads = cfg.cpu_threads or _TORCH_DEFAULT_THREADS
    if isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices * threads > CPU_CORES:
        log.warning(
            f"trainer.devices={trainer.num_devices} starts {trainer.num_devices} CPU processes of {threads} thread(s) "
            f"on this machine's {CPU_CORES} cores: they share the cores and wait for each other at every step; "
            f"faster: trainer.devices <= {max(1, CPU_CORES // threads)}"
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
        values = cast(dict[str, Any], OmegaConf.to_container(node, resolve=True))  # a DictConfig's is a dict
        return {k: v for k, v in values.items() if not k.startswith("_") and not isinstance(v, dict)}

    model = settings(cfg.model)
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
