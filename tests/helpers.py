"""The repo's paths, the real config composed by Hydra, the pipeline in process and the real entry
points in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from cluster_logreg.config.entry import prepare_hydra
from cluster_logreg.config.preflight import EVAL_CHECKS, PREDICT_CHECKS, TRAIN_CHECKS, preflight
from cluster_logreg.config.refusals import what_the_user_is_told
from cluster_logreg.config.resume import resume_arguments
from cluster_logreg.core.errors import one_line, our_code
from cluster_logreg.core.run_dir import RunDir

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
CHECKS = {"train": TRAIN_CHECKS, "eval": EVAL_CHECKS, "predict": PREDICT_CHECKS}


def compose_config(config_name: str = "train", overrides: list[str] | None = None) -> DictConfig:
    """The config exactly as `python src/<config_name>.py <overrides>` would see it."""
    prepare_hydra()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides or [], return_hydra_config=True)


def group_options() -> list[str]:
    """Every option of every group a user picks from (`data=csv`, `model/optimizer=adam`, ...), as Hydra
    finds them: the YAML files of conf/ and the settings classes in Hydra's config store."""
    prepare_hydra()
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
    settings, `_target_`-like bookkeeping and lists."""
    values = OmegaConf.to_container(compose_config(config_name, overrides), resolve=False)
    values.pop("hydra")
    keys: set[str] = set()

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for name, child in node.items():
                if not name.startswith("_"):
                    walk(child, f"{prefix}{name}.")
        elif not isinstance(node, list):
            keys.add(prefix[:-1])

    walk(values, "")
    return keys


def train_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """What `python src/train.py <overrides>` does, without the subprocess (and without Hydra's logging:
    the console lines and the run's log file are the CLI tests'); returns the run's metrics."""
    from cluster_logreg.training.fit import train

    cfg = compose_config("train", [*overrides, f"run_dir={run_dir}"])
    preflight(cfg, TRAIN_CHECKS)
    train(cfg)
    return read_metrics(run_dir)


def resume_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    """`python src/train.py resume=<run dir> <overrides>` in process: the run's own command line, composed
    again, in its directory (a run of the command line: it needs the overrides Hydra recorded)."""
    arguments = resume_arguments(["train.py", f"resume={run_dir}", *overrides])[1:]
    return train_in_process(run_dir, *(a for a in arguments if not a.startswith("hydra.run.dir=")))


def evaluate_in_process(run_dir: Path, *overrides: str) -> dict[str, Any]:
    from cluster_logreg.training.evaluate import evaluate

    cfg = compose_config("eval", [*overrides, f"run_dir={run_dir}"])
    preflight(cfg, EVAL_CHECKS)
    evaluate(cfg)
    return read_metrics(run_dir)


def predict_in_process(run_dir: Path, *overrides: str) -> Path:
    """What `python src/predict.py <overrides>` does, in this process; returns the output's path."""
    from cluster_logreg.training.predict import predict

    cfg = compose_config("predict", [*overrides, f"run_dir={run_dir}"])
    preflight(cfg, PREDICT_CHECKS)
    predict(cfg)
    return Path(cfg.output) if cfg.output else RunDir(run_dir).predictions


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads(RunDir(run_dir).metrics.read_text())


def checked_config(*overrides: str, config_name: str = "train") -> DictConfig:
    """The composed config, through the entry point's pre-flight checks (in a temporary run directory)."""
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = compose_config(config_name, [f"run_dir={run_dir}", *overrides])
        with our_code():
            preflight(cfg, CHECKS[config_name])
    return cfg


def refusal(*overrides: str, config_name: str = "train") -> str:
    """The line the entry point prints after `error: ` for these overrides, found in process: composed
    and checked. Fails the test if they are accepted, or if the error is a bug of ours."""
    try:
        checked_config(*overrides, config_name=config_name)
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
    command: list[str], timeout: float = 300, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`command` to its end (or `timeout`), its output captured, nothing it started left running."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started(command, cwd=cwd, env=env, **pipes) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_entry(
    script: str, *overrides: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python src/<script>.py <overrides>` from the repo root, as a user would (`env`: added to ours)."""
    return run_command([sys.executable, f"src/{script}.py", *overrides], timeout, env=os.environ | env if env else None)


def the_error_line(result: subprocess.CompletedProcess, status: int = 2) -> str:
    """The one `error:` line a refused command prints; it must print nothing else and no traceback."""
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
