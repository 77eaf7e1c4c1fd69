"""A run built from its composed config: seeded, then the data, the model and the Trainer with its
loggers and callbacks, as Hydra's instantiate makes them; and the checks that need the built Trainer."""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TypeVar

import torch
from hydra.utils import instantiate
from lightning import Callback, Trainer, seed_everything
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig
from torch.utils.tensorboard import SummaryWriter

from cluster_logreg.config.rules import CPU_CORES
from cluster_logreg.config.setting_checks import unknown_key
from cluster_logreg.core.errors import UserError
from cluster_logreg.data.tensors import TensorDataModule
from cluster_logreg.model.classifier import LogisticClassifier

log = logging.getLogger(__name__)


def build(cfg: DictConfig, in_sweep: bool = False) -> tuple[TensorDataModule, LogisticClassifier, Trainer]:
    """Seed, then instantiate the data, the model and the trainer (with its loggers and callbacks)."""
    use_threads(cfg.cpu_threads)
    seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    # Sized and described by the data: its input size, names and standardisation.
    # (`_convert_`: as plain lists, which checkpoints store as data; Hydra's own containers are objects.)
    model = instantiate(cfg.model, _convert_="all", **datamodule.model_inputs())
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = build_loggers(cfg)
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


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The loggers `logger=` chose (none: `logger=[]`)."""
    return [_logger(name, node) for name, node in (cfg.get("logger") or {}).items() if node is not None]


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


@functools.cache
def torch_default_threads() -> int:
    """Torch's own number of threads for this process, read before the first job of a sweep sets it."""
    return torch.get_num_threads()


def use_threads(cpu_threads: int | None) -> None:
    """A fixed number of CPU threads (1 by default), whatever the launcher or OMP_NUM_THREADS: the same
    job then gives the same metrics to the last bit anywhere (sums are split differently over threads).
    None: torch's own default for this process."""
    torch.set_num_threads(cpu_threads or torch_default_threads())


def _check_processes_can_start(trainer: Trainer, strategy: str | None, in_sweep: bool) -> None:
    # Lightning starts the other DDP processes itself by re-running the command line (ddp; the
    # strategies that spawn or fork them are refused before: preflight.check_strategy). Inside a local
    # multirun the re-run command would start the whole sweep again. Under SLURM or torchrun the
    # cluster starts the processes, so DDP jobs can be swept there.
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
    threads = cfg.cpu_threads or torch_default_threads()
    if isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices * threads > CPU_CORES:
        log.warning(
            f"trainer.devices={trainer.num_devices} starts {trainer.num_devices} CPU processes of {threads} thread(s) "
            f"on this machine's {CPU_CORES} cores: they share the cores and wait for each other at every step; "
            f"faster: trainer.devices <= {max(1, CPU_CORES // threads)}"
        )


_C = TypeVar("_C", bound=Callback)


def callback_of(trainer: Trainer, kind: type[_C]) -> _C | None:
    """The trainer's first callback of type `kind`, None if it has none."""
    callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]  # Lightning sets it, undeclared
    return next((c for c in callbacks if isinstance(c, kind)), None)
