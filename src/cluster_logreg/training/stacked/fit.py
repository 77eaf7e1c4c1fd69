"""Train a group of sweep jobs as one stacked model, in one Lightning `Trainer.fit`, and leave each job's
directory as its own run leaves it: curves, histograms, log lines, pictures, best.ckpt, last.ckpt and
metrics.json, written by the run's own callbacks and functions (members.py says how). Each job then
passes through Hydra's `run_job` (launch.py), where its task finds it finished."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import torch
from hydra.utils import instantiate
from lightning import Trainer
from lightning.pytorch.loggers.utilities import _log_hyperparams
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from cluster_logreg.core.errors import Interrupted
from cluster_logreg.core.overrides import continue_the_sweep
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.model.classifier import publish
from cluster_logreg.training.build import build, callback_of
from cluster_logreg.training.callbacks import LastCheckpoint, StopOnSignal
from cluster_logreg.training.checkpoints import read_checkpoint
from cluster_logreg.training.fit import optimized_metric, parameters_line
from cluster_logreg.training.hparams import end_session, log_hparams
from cluster_logreg.training.results import ended, reported, write_results
from cluster_logreg.training.stacked.data import StackedData
from cluster_logreg.training.stacked.members import CapturedCheckpointIO, Member, MemberRuns, MemberTrainer
from cluster_logreg.training.stacked.model import StackedClassifier
from cluster_logreg.training.stops import report_divergence

log = logging.getLogger(__name__)


def last_checkpoint_path(cfg: DictConfig) -> Path:
    return Path(cfg.callbacks.last_checkpoint.path)


def fit_stack(cfgs: list[DictConfig], log_files: list[logging.Handler | None], sweep_dir: Path) -> list[Member]:
    """Train the jobs `cfgs` (checked, resolved, one group: config/stacking.py) together. Jobs with a
    last checkpoint (a stack stopped part-way, all at the same epoch) continue from it."""
    members = [_member(cfg, log_file) for cfg, log_file in zip(cfgs, log_files, strict=True)]
    checkpoints = [_checkpoint(cfg) for cfg in cfgs]
    for member, checkpoint in zip(members, checkpoints, strict=True):
        if checkpoint is not None:
            member.model.load_state_dict(checkpoint["state_dict"])
    settings = [cast(dict[str, Any], OmegaConf.to_container(cfg.model.optimizer)) for cfg in cfgs]
    stacked = StackedClassifier([m.model for m in members], settings)
    captured = CapturedCheckpointIO()
    data = StackedData(
        [m.datamodule for m in members],
        [c.get(type(m.datamodule).__qualname__) if c else None for m, c in zip(members, checkpoints, strict=True)],
    )
    runs = MemberRuns(members, stacked, _EndOfFit(stacked, data), save_last_checkpoint)
    trainer: Trainer = instantiate(
        cfgs[0].trainer,
        callbacks=[StopOnSignal(), runs],
        logger=False,
        enable_checkpointing=False,
        plugins=[captured],
        default_root_dir=str(sweep_dir),
    )
    for k, member in enumerate(members):
        member.view = MemberTrainer(trainer, member, k, stacked)
    resume = _resume(stacked, members, checkpoints, captured)
    for member in members:  # what Lightning and train() log of a run before its fit
        with member.logging_to_its_file():
            log.info(f"model: {parameters_line(member.model)} (stacked with {len(members) - 1} other jobs)")
            _log_hyperparams(member.as_trainer)
            log_hparams(member.as_trainer, member.cfg)
    trainer.fit(stacked, datamodule=data, ckpt_path=resume, weights_only=True)
    stop = callback_of(trainer, StopOnSignal)
    if stop is not None and stop.received is not None:
        message = (
            f"stopped by {stop.received.name} after epoch {trainer.current_epoch} of {trainer.max_epochs}; "
            f"the last checkpoint of each of its {len(members)} stacked jobs holds it: {continue_the_sweep(sweep_dir)}"
        )
        log.warning(message)
        raise Interrupted(message, stop.received)
    return members


def stacking_epoch(cfg: DictConfig) -> int:
    """The epoch the job's last checkpoint holds (0 without one): jobs stack only with jobs at the same."""
    checkpoint = _checkpoint(cfg)
    return int(checkpoint["epoch"]) if checkpoint is not None else 0


def _member(cfg: DictConfig, log_file: logging.Handler | None) -> Member:
    """The job as `build` makes it: seeded, so its data, split and init are its own run's."""
    datamodule, model, trainer = build(cfg, in_sweep=True)
    return Member(cfg, datamodule, model, trainer, log_file)


def _checkpoint(cfg: DictConfig) -> dict[str, Any] | None:
    path = last_checkpoint_path(cfg)
    return read_checkpoint(path, key="resume") if path.exists() else None


def _resume(
    stacked: StackedClassifier,
    members: list[Member],
    checkpoints: list[dict[str, Any] | None],
    captured: CapturedCheckpointIO,
) -> str | None:
    """Where the members' last checkpoints (all at one epoch: the grouping says so) continue a stack
    stopped part-way: their callbacks' states restored, the stack's state assembled for Lightning's restore."""
    present = [c for c in checkpoints if c is not None]
    if not present:
        return None
    first = present[0]
    for member, checkpoint in zip(members, checkpoints, strict=True):
        assert checkpoint is not None  # all or none: the grouping keeps them apart
        for callback in member.callbacks:
            if callback.state_key in checkpoint.get("callbacks", {}):
                callback.load_state_dict(checkpoint["callbacks"][callback.state_key])
    stacked.momentum_buffers = _stacked_buffers(stacked, members, checkpoints)  # type: ignore[arg-type]
    optimizer = stacked.configure_optimizers()
    captured.to_load = {
        **{k: first[k] for k in ("epoch", "global_step", "pytorch-lightning_version", "loops")},
        "state_dict": stacked.state_dict(),
        "optimizer_states": [optimizer.state_dict()],
        "lr_schedulers": [],
        "callbacks": {},
    }
    return "<stacked fit>"


def _stacked_buffers(
    stacked: StackedClassifier, members: list[Member], checkpoints: list[dict[str, Any]]
) -> list[Any] | None:
    """The stacked momentum buffers from the members' SGD states (zero where a member keeps none:
    without momentum its step is its gradient, whatever the buffer held)."""
    buffers = [torch.zeros_like(p) for p in stacked.stacked_weights()]
    found = False
    for k, (member, checkpoint) in enumerate(zip(members, checkpoints, strict=True)):
        state = checkpoint["optimizer_states"][0]["state"]
        names = [name for name, _ in member.model.named_parameters()]
        slices = stacked.member_weights(k, member.model.hparams.hidden_dim, tuple(buffers))
        for index, name in enumerate(names):
            if "momentum_buffer" in state.get(index, {}):
                slices[name].copy_(state[index]["momentum_buffer"])
                found = True
    return buffers if found else None


def save_last_checkpoint(member: Member) -> None:
    """The member's last checkpoint now, as its run saves it once its fit has ended (or was stopped)."""
    last = callback_of(member.trainer, LastCheckpoint)
    if last is not None:
        last.save(member.as_trainer)


class _EndOfFit:
    """What a member's run does once its fit has ended (the callbacks' `on_fit_end` ran), as
    `training.fit.train` does it: its final last checkpoint, then its results, or, where its loss
    diverged, its metrics.json saying so. Its test is the stack's, on its own test split."""

    def __init__(self, stacked: StackedClassifier, data: StackedData):
        self.stacked, self.data = stacked, data
        self.tested: dict[str, list[float]] | None = None

    def __call__(self, member: Member) -> None:
        view = member.view
        save_last_checkpoint(member)
        metric = optimized_metric(member.cfg, member.datamodule)
        if member.stopped is not None:
            run = RunDir(Path(member.cfg.run_dir))
            report_divergence(member.cfg, member.as_trainer, run, member.stopped, metric, in_sweep=True)
            return
        if self.tested is None:  # once for all members
            self.tested = self.stacked.tested(*self.data.splits["test"])
        tested: dict[str, Tensor | float] = {name: values[view.k] for name, values in self.tested.items()}
        publish(tested, view.global_step, member.trainer.loggers, view.callback_metrics, self.stacked.device)
        metrics = reported(member.as_trainer) | member.model.exact_metrics(member.datamodule)
        epochs, members = view.current_epoch - self.stacked.first_epoch, len(self.stacked.active)
        write_results(
            member.cfg,
            member.as_trainer,
            member.datamodule,
            metrics,
            metric,
            member.fit_seconds,
            epochs,
            stacked_with=members,
        )
        end_session(member.as_trainer, ended(member.as_trainer))
        for logger in member.trainer.loggers:  # as Lightning's teardown after a fit: hparams.yaml, flushed events
            logger.finalize("success")
