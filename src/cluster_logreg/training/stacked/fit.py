"""Train a group of sweep jobs as one stacked model, in one Lightning `Trainer.fit`, and leave each job's
directory as its own run leaves it: curves, histograms, log lines, pictures, best.ckpt, last.ckpt and
metrics.json, written by the run's own callbacks and functions (members.py says how). Each job then
passes through Hydra's `run_job` (launch.py), where its task finds it finished."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

import torch
from hydra.utils import instantiate
from lightning import Trainer
from lightning.pytorch.loggers.utilities import _log_hyperparams
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from cluster_logreg.core.metrics import LOSS_TEST, LOSS_VAL
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.training.build import build, callback_of
from cluster_logreg.training.callbacks import LastCheckpoint
from cluster_logreg.training.checkpoints import read_checkpoint
from cluster_logreg.training.fit import optimized_metric, parameters_line
from cluster_logreg.training.hparams import end_session, log_hparams
from cluster_logreg.training.results import ended, reported, write_results
from cluster_logreg.training.stacked.data import StackedData
from cluster_logreg.training.stacked.members import (
    STACKED_FIT,
    CapturedCheckpointIO,
    Member,
    MemberRuns,
    MemberTrainer,
)
from cluster_logreg.training.stacked.model import StackedClassifier
from cluster_logreg.training.stacked.publish import publish
from cluster_logreg.training.stacked.stop import SweepStop
from cluster_logreg.training.stops import has_finite_weights, report_divergence

log = logging.getLogger(__name__)


def last_checkpoint_path(cfg: DictConfig) -> Path:
    return Path(cfg.callbacks.last_checkpoint.path)


def fit_stack(cfgs: list[DictConfig], log_files: list[logging.Handler | None], stop: SweepStop) -> list[Member]:
    """Train the jobs `cfgs` (checked, resolved, one group: config/stacking.py) together. Jobs with a
    last checkpoint (a stack stopped part-way, all at the same epoch) continue from it. A signal (`stop`)
    ends the fit after an epoch, or its end of fit after a job's results: the others keep their checkpoint."""
    members = [_member(cfg, log_file) for cfg, log_file in zip(cfgs, log_files, strict=True)]
    checkpoints = [_checkpoint(cfg) for cfg in cfgs]
    for member, checkpoint in zip(members, checkpoints, strict=True):
        member.stacked_with = len(members)
        if checkpoint is not None:
            member.model.load_state_dict(checkpoint["state_dict"])
            # Its fit so far, where a stack wrote the checkpoint; else this fit counts from its epoch.
            if STACKED_FIT in checkpoint:
                member.seconds_before = float(checkpoint[STACKED_FIT]["seconds"])
                member.stacked_with = max(len(members), int(checkpoint[STACKED_FIT]["stacked_with"]))
            else:
                member.first_epoch = None  # this fit's: MemberRuns.on_train_start
    settings = [cast(dict[str, Any], OmegaConf.to_container(cfg.model.optimizer)) for cfg in cfgs]
    stacked = StackedClassifier([m.model for m in members], settings)
    captured = CapturedCheckpointIO()
    data = StackedData(
        [m.datamodule for m in members],
        [c.get(type(m.datamodule).__qualname__) if c else None for m, c in zip(members, checkpoints, strict=True)],
    )
    runs = MemberRuns(members, stacked, _EndOfFit(stacked, data), save_last_checkpoint, stop)
    trainer: Trainer = instantiate(
        cfgs[0].trainer,
        callbacks=[runs],
        logger=False,
        enable_checkpointing=False,
        plugins=[captured],
        default_root_dir=str(stop.sweep_dir),
    )
    for k, member in enumerate(members):
        member.view = MemberTrainer(trainer, member, k, stacked)
    resume = _resume(stacked, members, checkpoints, captured)
    for member in members:  # what Lightning and train() log of a run before its fit
        with member.logging_to_its_file():
            log.info(f"model: {parameters_line(member.model)} (stacked with {len(members) - 1} other jobs)")
            _log_hyperparams(member.as_trainer)
            log_hparams(member.as_trainer, member.cfg)
    with stop.deferred():  # the fit and its end stop at their safe points (members.MemberRuns)
        try:
            trainer.fit(stacked, datamodule=data, ckpt_path=resume, weights_only=True)
        except SystemExit:  # Lightning's SIGTERMException: a SIGTERM came before ours replaced its handler
            if stop.received is None:
                raise
            stop.check("before its stacked fit trained")
    ended, left = sum(m.finished for m in members), sum(not m.finished for m in members)
    kept = (
        f"each of its {left} stacked jobs" if not ended else "the one left" if left == 1 else f"each of the {left} left"
    )
    done = f"{ended} of its {len(members)} stacked jobs had ended; " if ended else ""
    stop.check(
        f"after epoch {trainer.current_epoch} of {trainer.max_epochs}; {done}the last checkpoint of {kept} holds it"
    )
    return members


def continued_from(cfg: DictConfig) -> tuple[int, bool]:
    """The epoch the job's last checkpoint holds (0 without one), and whether a stack wrote it: jobs stack
    only with jobs at the same epoch, and a job whose stack wrote its checkpoint goes on stacked."""
    checkpoint = _checkpoint(cfg)
    if checkpoint is None:
        return 0, False
    return int(checkpoint["epoch"]), STACKED_FIT in checkpoint


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
    diverged or its final weights or losses are not finite, its metrics.json saying so. Its test is the
    stack's, on its own test split; so is its last validation where an earlier run of the sweep made it
    (a stack stopped after its last epoch, before this member's results were written)."""

    def __init__(self, stacked: StackedClassifier, data: StackedData):
        self.stacked, self.data = stacked, data
        self.tested: dict[str, list[float]] | None = None
        self.validated: dict[str, list[float]] | None = None

    def __call__(self, member: Member) -> None:
        view = member.view
        save_last_checkpoint(member)
        metric = optimized_metric(member.cfg, member.datamodule)
        run = RunDir(Path(member.cfg.run_dir))
        if member.stopped is not None or not has_finite_weights(member.model):
            report_divergence(member.cfg, member.as_trainer, run, member.stopped, metric, in_sweep=True)
            return
        if LOSS_VAL not in view.callback_metrics:  # its last validation's values, computed again
            if self.validated is None:  # once for all members
                self.validated = self.stacked.validated_again(self.data.val_dataloader())
            again: dict[str, Tensor | float] = {name: values[view.k] for name, values in self.validated.items()}
            publish(again, view.global_step, [], view.callback_metrics, self.stacked.device)  # its curves have them
        if self.tested is None:
            self.tested = self.stacked.tested(*self.data.splits["test"])
        tested: dict[str, Tensor | float] = {name: values[view.k] for name, values in self.tested.items()}
        publish(tested, view.global_step, member.trainer.loggers, view.callback_metrics, self.stacked.device)
        metrics = reported(member.as_trainer) | member.model.exact_metrics(member.datamodule)
        if not all(math.isfinite(metrics[name]) for name in (LOSS_VAL, LOSS_TEST)):
            report_divergence(member.cfg, member.as_trainer, run, None, metric, in_sweep=True)
            return
        assert member.fit_seconds is not None  # set as its fit ended (members.MemberRuns)
        write_results(
            member.cfg,
            member.as_trainer,
            member.datamodule,
            metrics,
            metric,
            member.fit_seconds,
            view.current_epoch - (member.first_epoch if member.first_epoch is not None else view.current_epoch),
            stacked_with=member.stacked_with,
        )
        end_session(member.as_trainer, ended(member.as_trainer))
        for logger in member.trainer.loggers:  # as Lightning's teardown after a fit: hparams.yaml, flushed events
            logger.finalize("success")
