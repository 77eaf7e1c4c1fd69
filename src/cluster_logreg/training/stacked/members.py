"""Each member of a stack seen as its own run: its DataModule, its LogisticClassifier (whose weights are
views of the stacked ones), and its Trainer as `build` makes it from its config (its loggers, its
callbacks, its checkpoint writer), which never fits. What a run's callbacks do at a validation or an
epoch's end is done by those very callbacks, handed a `MemberTrainer`: the stacked fit's loop state
(epoch, step, stage) with the member's own metrics, loggers, data and checkpoints.

So every file of a member's directory is written by the code that writes a single run's: the
curves by `publish`, the epoch lines by EpochReport (into the member's own log file), histograms,
best.ckpt by Lightning's ModelCheckpoint, last.ckpt by LastCheckpoint, divergence by EarlyStopping.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.plugins.io import CheckpointIO
from omegaconf import DictConfig
from torch import Tensor, nn

from cluster_logreg.core.errors import one_line
from cluster_logreg.data.tensors import TensorDataModule
from cluster_logreg.model.classifier import LogisticClassifier
from cluster_logreg.training.callbacks import StopOnSignal
from cluster_logreg.training.hparams import end_session
from cluster_logreg.training.stacked.model import StackedClassifier
from cluster_logreg.training.stacked.publish import publish
from cluster_logreg.training.stacked.stop import SweepStop
from cluster_logreg.training.stops import divergence

log = logging.getLogger(__name__)

# In a member's checkpoint: the stacked fits that brought it to its epoch, their seconds and the largest
# stack's size (metrics.json's fit_seconds and stacked_with, summed and kept over a sweep stopped and
# continued). A job whose checkpoint has it continues stacked (launch.py), its fit counted from epoch 0.
STACKED_FIT = "stacked_fit"


@dataclass
class Member:
    """One job of the stack: its config, what `build` made of it, and how it ends."""

    cfg: DictConfig
    datamodule: TensorDataModule
    model: LogisticClassifier
    trainer: Trainer  # built from the job's config, never fit: its loggers, callbacks and checkpoint writer
    log_file: logging.Handler | None = None
    view: MemberTrainer = field(init=False)
    stopped: EarlyStopping | None = None  # the callback that stopped it: its loss diverged
    failed: BaseException | None = None  # raised by its callbacks; the others train on
    finished: bool = False  # its fit has ended: it was stopped, it failed, or the stack's fit ended
    step_zero: dict[str, Tensor | float] | None = None
    seconds_before: float = 0.0  # of its earlier stacked fits (a sweep stopped and continued)
    stacked_with: int = 0  # the size of the largest stack it trained in, this one included
    # Where its fit's seconds start: 0, or this fit's first epoch (None until known) where no stack wrote
    # the checkpoint it continues (a job continued alone, then stacked).
    first_epoch: int | None = 0
    fit_seconds: float | None = None  # its fit's, earlier ones included, once it has ended
    hooks: dict[str, list[Callable[..., None]]] = field(default_factory=dict)  # its callbacks' hooks that do something

    @property
    def as_trainer(self) -> Trainer:
        """Its view, for code typed to take a Trainer: it has what that code reads of one."""
        return cast(Trainer, self.view)

    @property
    def log_handlers(self) -> list[logging.Handler]:
        return [self.log_file] if self.log_file is not None else []

    @property
    def callbacks(self) -> list[Callback]:
        """Its run's callbacks, in Lightning's order (checkpoints last), but the signal handler: the stack has one."""
        callbacks: list[Callback] = self.trainer.callbacks  # type: ignore[attr-defined]  # set, not declared
        return [c for c in callbacks if not isinstance(c, StopOnSignal)]

    @contextlib.contextmanager
    def logging_to_its_file(self) -> Iterator[None]:
        """What its callbacks log goes to its run's log file only (the console gets one line per stack)."""
        root = logging.getLogger()
        saved, root.handlers = root.handlers, self.log_handlers
        try:
            yield
        finally:
            root.handlers = saved


class MemberTrainer:
    """The stacked fit's Trainer as member k's callbacks see it: the loop's state (epoch, step,
    stage, strategy) is the stack's; the metrics, loggers, callbacks, data and checkpoints are the
    member's. Attributes a callback sets (`should_stop`) stay the member's."""

    def __init__(self, stack: Trainer, member: Member, k: int, stacked: StackedClassifier):
        self._stack, self._member, self.k, self._stacked = stack, member, k, stacked
        self.callback_metrics: dict[str, Tensor] = {}
        self.loggers = member.trainer.loggers
        self.logger = member.trainer.logger
        self.callbacks = member.callbacks
        self.datamodule = member.datamodule
        self.lightning_module = member.model
        self.early_stopping_callbacks = [c for c in member.callbacks if isinstance(c, EarlyStopping)]
        self.should_stop = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stack, name)

    def save_checkpoint(self, filepath: Any, weights_only: bool | None = False, storage_options: Any = None) -> None:
        """The member's checkpoint, as Lightning's would be had it trained alone (`Trainer.dump_checkpoint`'s
        keys): the stack's loop state, the member's weights, optimizer, callbacks, settings and data state."""
        base = stack_loop_state(self._stack)
        member, model = self._member, self._member.model
        state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        state |= {name: t.detach().clone() for name, t in self._stacked.member_metric_states(self.k).items()}
        checkpoint: dict[str, Any] = base | {"state_dict": state}
        if not weights_only:
            checkpoint["callbacks"] = {c.state_key: c.state_dict() for c in member.callbacks if c.state_dict()}
            checkpoint["optimizer_states"] = [member_optimizer_state(member, self._stacked, self.k)]
            checkpoint["lr_schedulers"] = []
        for obj in (model, member.datamodule):
            checkpoint[obj.CHECKPOINT_HYPER_PARAMS_NAME] = obj._hparams_name  # type: ignore[union-attr]  # both set it
            checkpoint[obj.CHECKPOINT_HYPER_PARAMS_KEY] = dict(obj.hparams)
        if data_state := member.datamodule.state_dict():
            checkpoint[type(member.datamodule).__qualname__] = data_state
        seconds = member.fit_seconds
        if seconds is None:  # still training
            seconds = member.seconds_before + time.perf_counter() - self._stacked.fit_started
        checkpoint[STACKED_FIT] = {"seconds": seconds, "stacked_with": member.stacked_with}
        member.trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, filepath)


def stack_loop_state(stack: Trainer) -> dict[str, Any]:
    """The stacked fit's epoch, step and loops' state: a member's, too (same batches, same cadence)."""
    captured = stack.strategy.checkpoint_io
    assert isinstance(captured, CapturedCheckpointIO)  # the stack's trainer is built with it (fit.py)
    if captured.saved is None:  # once per hook for all members (MemberRuns forgets it at each)
        stack.save_checkpoint("<stacked fit>", weights_only=True)
    saved = captured.saved
    assert saved is not None
    return {k: saved[k] for k in ("epoch", "global_step", "pytorch-lightning_version", "loops")}


def member_optimizer_state(member: Member, stacked: StackedClassifier, k: int) -> dict[str, Any]:
    """Member k's torch.optim.SGD state_dict: its own optimizer, with its own settings, holding its
    slices of the stacked momentum buffers (torch keeps none without momentum)."""
    optimizer = member.model.configure_optimizers()
    buffers = stacked.momentum_buffers_of(stacked.trainer.optimizers[0])
    if buffers is not None and float(stacked.momentum[k]) != 0:
        sliced = stacked.member_weights(k, member.model.hparams.hidden_dim, buffers)
        for name, p in member.model.named_parameters():
            optimizer.state[p]["momentum_buffer"] = sliced[name].clone()
    state: dict[str, Any] = optimizer.state_dict()
    return state


class CapturedCheckpointIO(CheckpointIO):
    """The stack's own checkpoint writer: it keeps the last dump in memory (its loop state is what a
    member's checkpoint takes) and writes nothing; a resumed stack loads the state given to `load`."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[str, Any] | None = None
        self.to_load: dict[str, Any] | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        self.saved = checkpoint

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        assert self.to_load is not None
        return self.to_load

    def remove_checkpoint(self, path: Any) -> None:
        pass

    def teardown(self) -> None:
        pass


def bind_views(stacked: StackedClassifier, members: list[Member]) -> None:
    """Each member's weights become views of its slice of the stacked ones (on the stack's device):
    whatever reads a member's model (exact metrics, pictures, checkpoints) sees the stack's values."""
    for k, member in enumerate(members):
        member.model.to(stacked.device)
        weights = stacked.member_weights(k, member.model.hparams.hidden_dim)
        layers = {"net.0": member.model.net[0], "net.1": member.model.net[1]}
        for name, view in weights.items():
            layer, attribute = name.rsplit(".", 1)
            setattr(layers[layer], attribute, nn.Parameter(view.detach(), requires_grad=False))


# Read by the callbacks at every epoch: the stack's values at the hook being run.
LOOP_STATE = ("current_epoch", "global_step", "sanity_checking", "fast_dev_run", "max_epochs", "is_global_zero")


class MemberRuns(Callback):
    """On the stack's Trainer: at each point of the loop where a run's callbacks or model act, act for
    every member still training, through its own callbacks (and `publish`, for its metrics). A signal
    (`stop`, recorded during the fit) ends the fit after the epoch, and its end of fit before the next
    member's end: the members left keep their last checkpoint, which the same command continues."""

    def __init__(
        self,
        members: list[Member],
        stacked: StackedClassifier,
        on_end: Callable[[Member], None],
        on_interrupt: Callable[[Member], None],
        stop: SweepStop,
    ):
        """`on_end`: what a member's run does once its fit has ended; `on_interrupt`: once it was stopped."""
        self.members, self.stacked, self.on_end, self.on_interrupt = members, stacked, on_end, on_interrupt
        self.stop = stop

    def _training(self) -> list[tuple[int, Member]]:
        return [(k, m) for k, m in enumerate(self.members) if not m.finished]

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._share_loop_state(trainer)
        self._each("setup", stage)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._share_loop_state(trainer)
        bind_views(self.stacked, self.members)
        self._each("on_fit_start")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Ours again, over Lightning's SIGTERM handler: it would stop the loop mid-epoch, saving nothing.
        self.stop.install()
        self.stop.check("before its stacked fit trained")
        for member in self.members:
            if member.first_epoch is None:
                member.first_epoch = trainer.current_epoch  # as restored
        self._share_loop_state(trainer)
        self._each("on_train_start")

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.stacked.first_step_train:
            return
        # The untrained models' point at step 0: validation before training, train metrics of step 1.
        train = {name: v.tolist() for name, v in self.stacked.first_step_train.items()}
        for k, member in self._training():
            if member.step_zero is not None:
                values = member.step_zero | {name: train[name][k] for name in train}
                publish(values, 0, member.trainer.loggers, None, self.stacked.device)
                member.step_zero = None
        self.stacked.first_step_train = {}

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._share_loop_state(trainer)
        assert self.stacked.validated is not None
        val, train, best = ({name: v.tolist() for name, v in part.items()} for part in self.stacked.validated)
        for k, member in self._training():
            if member.stopped is not None:
                continue
            values: dict[str, Tensor | float] = {name: val[name][k] for name in val}
            values |= member.model.exact_metrics(member.datamodule)
            if trainer.sanity_checking:
                if trainer.global_step == 0:
                    member.step_zero = values
            else:
                values |= {name: train[name][k] for name in train} | {name: best[name][k] for name in best}
                publish(
                    values,
                    trainer.global_step,
                    member.trainer.loggers,
                    member.view.callback_metrics,
                    self.stacked.device,
                )
            self._call(k, member, "on_validation_end")
            if member.view.should_stop and not member.finished:
                # Stopped by its own callback (its loss diverged): it trains no more, the others go on.
                self.stacked.active[k] = False
                member.stopped = divergence(member.as_trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._share_loop_state(trainer)
        self._each("on_train_epoch_end")
        seconds = time.perf_counter() - self.stacked.fit_started
        for k, member in self._training():
            if member.stopped is not None:  # its own run would end with this epoch: its fit ends here
                self._end(k, member, seconds)
        if not self._training() or self.stop.received is not None:  # every member has ended, or a signal came
            trainer.should_stop = True

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._share_loop_state(trainer)
        seconds = time.perf_counter() - self.stacked.fit_started  # the same fit for all
        for k, member in self._training():
            if self.stop.received is None:
                self._end(k, member, seconds)
            else:  # stopped by a signal: it keeps its last checkpoint, to go on from (fit.py says how)
                member.fit_seconds = member.seconds_before + seconds
                self.on_interrupt(member)

    def _end(self, k: int, member: Member, seconds: float) -> None:
        """The end of member k's fit (after `seconds` of the stack's): its callbacks' `on_fit_end` (pictures),
        then what its run does next."""
        member.fit_seconds = member.seconds_before + seconds
        self._call(k, member, "on_fit_end")
        if member.finished:  # it failed there
            return
        try:
            with member.logging_to_its_file():
                self.on_end(member)
        except Exception as error:  # noqa: BLE001  # the member's failure, reported as its own job's
            _failed(member, error)
        member.finished = True

    def _each(self, hook: str, *args: Any) -> None:
        for k, member in self._training():
            self._call(k, member, hook, *args)

    def _share_loop_state(self, trainer: Trainer) -> None:
        """The loop's state that callbacks read most, read once from the stack's Trainer for all views
        (each read through the Trainer's properties costs more than what the callback then does)."""
        state = {name: getattr(trainer, name) for name in LOOP_STATE}
        for member in self.members:
            member.view.__dict__.update(state)
        captured = trainer.strategy.checkpoint_io
        assert isinstance(captured, CapturedCheckpointIO)
        captured.saved = None  # the loop has moved on: a checkpoint now takes its state anew

    def _call(self, k: int, member: Member, hook: str, *args: Any) -> None:
        """Member k's callbacks' `hook` (those that define it: most hooks of most callbacks do nothing,
        and a stack calls them for every member at every epoch); an exception there ends that member
        (failed), not the stack."""
        hooks = member.hooks.get(hook)
        if hooks is None:
            hooks = member.hooks[hook] = [getattr(c, hook) for c in member.callbacks if _defines(c, hook)]
        if not hooks:
            return
        with member.logging_to_its_file():
            try:
                for call in hooks:
                    call(member.view, member.model, *args)
            except Exception as error:  # noqa: BLE001  # the member's failure, reported as its own job's
                log.error(f"error: {one_line(error)}")
                _failed(member, error)
                member.finished, self.stacked.active[k] = True, False


def _failed(member: Member, error: Exception) -> None:
    member.failed = error
    end_session(member.as_trainer, "failed")


def _defines(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)
