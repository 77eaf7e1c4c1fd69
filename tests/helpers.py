"""The repo's paths, the real config composed by Hydra, the pipeline in process and the real entry
points in a subprocess."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.entry import task_errors
from cluster_logreg.config.preflight import Check, preflight
from cluster_logreg.config.refusals import what_the_user_is_told
from cluster_logreg.core.errors import one_line, our_code
from cluster_logreg.core.overrides import hydra_value
from cluster_logreg.core.run_dir import RunDir

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# What differs between two runs of the same settings: how long they took and where they wrote.
TIMES_AND_PATHS = ("fit_seconds", "samples_per_second", "best_checkpoint", "stacked_with")

# The session's learning-rate sweep (conftest.lr_sweep): three learning rates and one that diverges, by seed.
LRS, DIVERGING, SEEDS = ("0.01", "0.1", "1.0", "10000.0"), "10000.0", ("0", "1")
# The session's stacked sweep (conftest.stacked_grid): every setting a stack may vary, two values each
# (32 jobs), with three batches per epoch, so each member's own shuffling counts too; a short run,
# validated every 5 epochs.
GRID = (
    "model.optimizer.lr=0.05,0.2",
    "model.optimizer.momentum=0,0.9",
    "model.optimizer.weight_decay=0,0.01",
    "model.hidden_dim=2,5",
    "seed=0,1",
)
SHORT = ("trainer.max_epochs=30", "trainer.check_val_every_n_epoch=5", "data.batch_size=600")
SHORT += ("callbacks.last_checkpoint.every_n_epochs=10", "callbacks.epoch_report.every_n_epochs=10")


@dataclass(frozen=True)
class Ran:
    """A command that ran to a successful end: the directory it wrote, and what it printed."""

    path: Path
    stdout: str
    stderr: str

    @classmethod
    def checked(cls, path: Path, result: subprocess.CompletedProcess) -> Ran:
        assert result.returncode == 0, result.stderr[-3000:]
        return cls(path, result.stdout, result.stderr)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def compose_config(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """The config exactly as `python src/<config_name>.py <overrides>` would see it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)


def group_options() -> list[str]:
    """Every option of every group a user picks from (`data=csv`, `model/optimizer=adam`, ...), as Hydra
    finds them: the YAML files of conf/ and the settings classes in Hydra's config store."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()

        def options(parent: str) -> list[str]:
            found = [f"{parent}={option}" for option in loader.get_group_options(parent)] if parent else []
            for group in loader.list_groups(parent):
                found += options(f"{parent}/{group}" if parent else group)
            return found

        return sorted(o for o in options("") if not o.startswith("hydra"))


def leaf_keys(config_name: str = "train", overrides: list[str] | None = None) -> set[str]:
    """The keys of the composed config a user can set with `key=value`: its leaves, without Hydra's own
    settings, `_target_`-like bookkeeping and lists of nodes."""
    values = OmegaConf.to_container(compose_config(config_name, overrides), resolve=False)
    values.pop("hydra")
    keys: set[str] = set()

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for name, child in node.items():
                if not name.startswith("_"):
                    walk(child, f"{prefix}{name}.")
        elif not isinstance(node, list) or not any(isinstance(item, dict) for item in node):
            keys.add(prefix[:-1])  # a value, or a list of values (tags); not a list of nodes (plugins)

    walk(values, "")
    return keys


@dataclass(frozen=True)
class Entry:
    checks: tuple[Check, ...]
    arguments: Callable[[list[str]], list[str]]


@functools.cache
def entry(script: str) -> Entry:
    """src/<script>.py's own pre-flight checks and how it reads its command line."""
    module = runpy.run_path(str(REPO / "src" / f"{script}.py"))
    return Entry(module["CHECKS"], module["ARGUMENTS"])


def entry_config(script: str, run_dir: Path | str, overrides: Sequence[str]) -> DictConfig:
    """The config of `python src/<script>.py <overrides>` in `run_dir`: the command line read as the
    entry reads it (paths quoted for Hydra, `resume=` expanded), composed, and through its checks."""
    arguments = entry(script).arguments([f"{script}.py", *overrides])[1:]
    cfg = compose_config(script, [f"run_dir={hydra_value(str(run_dir))}", *arguments])  # a run_dir= given wins
    with our_code():
        preflight(cfg, entry(script).checks)
    return cfg


def train_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """What `python src/train.py <overrides>` does, without the subprocess (and without Hydra's logging:
    the console lines and the run's log file are the CLI tests'); returns the run's metrics."""
    from cluster_logreg.training.fit import train

    train(entry_config("train", run_dir, overrides))
    return read_metrics(run_dir)


def resume_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """`python src/train.py resume=<run dir> <overrides>` in process: the run's own command line, composed
    again, in its directory (a run of the command line: it needs the overrides Hydra recorded)."""
    return train_in_process(run_dir, f"resume={run_dir}", *overrides)


def evaluate_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    from cluster_logreg.training.evaluate import evaluate

    evaluate(entry_config("eval", run_dir, overrides))
    return read_metrics(run_dir)


def predict_in_process(run_dir: Path, *overrides: str) -> Path:
    """What `python src/predict.py <overrides>` does, in this process; returns the output's path."""
    from cluster_logreg.training.predict import predict

    cfg = entry_config("predict", run_dir, overrides)
    predict(cfg)
    return Path(cfg.output) if cfg.output else RunDir(run_dir).predictions


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads(RunDir(run_dir).metrics.read_text())


def final_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's metrics without its times and paths: what an equal run must equal."""
    return {k: v for k, v in read_metrics(run_dir).items() if k not in TIMES_AND_PATHS}


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` and its bytes: what a command that must change nothing leaves equal."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def checked_config(*overrides: str, config_name: str = "train") -> DictConfig:
    """The composed config, through the entry point's pre-flight checks (in a temporary run directory)."""
    with tempfile.TemporaryDirectory() as run_dir:
        return entry_config(config_name, run_dir, overrides)


def refusal(*overrides: str, config_name: str = "train") -> str:
    """The line the entry point prints after `error: ` for these overrides, found in process: composed
    and checked. Fails the test if they are accepted, or if the error is a bug of ours."""
    return _refused(lambda: checked_config(*overrides, config_name=config_name), overrides)


def built_refusal(*overrides: str, in_sweep: bool = False) -> str:
    """`refusal`'s line for a mistake found only once the run is built (a key that a Lightning class does
    not take, DDP inside a local multirun): built in process as the entry's task builds it."""
    from cluster_logreg.training.build import build

    def checked_and_built() -> None:
        with tempfile.TemporaryDirectory() as run_dir:
            cfg = entry_config("train", run_dir, overrides)
            with task_errors(cfg, in_sweep=True):  # raised, as in a sweep, instead of ending this process
                build(cfg, in_sweep)

    return _refused(checked_and_built, overrides)


def _refused(attempt: Callable[[], object], overrides: Sequence[str]) -> str:
    try:
        attempt()
    except Exception as error:
        told = what_the_user_is_told(error)
        assert told is not None, f"a bug, not a refusal: {type(error).__name__}: {error}"
        return one_line(told)
    raise AssertionError(f"accepted: {overrides}")


@contextlib.contextmanager
def started(command: list[str], **options: Any) -> Iterator[subprocess.Popen]:
    """`command` running in a process group of its own (`options`: Popen's), stopped with every process it
    started when the block ends, however it ends (a failed assertion, a timeout): no test leaves one behind."""
    process = subprocess.Popen(command, start_new_session=True, **options)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the whole group: gone already, or not
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def run_command(
    command: list[str],
    timeout: float = 300,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    **options: Any,
) -> subprocess.CompletedProcess:
    """`command` to its end (or `timeout`), its output captured, nothing it started left running
    (`options`: Popen's)."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started(command, cwd=cwd, env=env, **pipes, **options) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_entry(
    script: str, *overrides: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python src/<script>.py <overrides>` from the repo root, as a user would (`env`: added to ours)."""
    return run_command([sys.executable, f"src/{script}.py", *overrides], timeout, env=os.environ | env if env else None)


def without_privilege(command: list[str]) -> list[str]:
    """`command` without root's privilege to read and write any file (a file made unreadable is then
    unreadable to it): as root, through util-linux's setpriv, which drops those capabilities."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]


def the_error_line(result: subprocess.CompletedProcess, status: int = 2) -> str:
    """The one `error:` line a refused command prints; it must print nothing else and no traceback."""
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
