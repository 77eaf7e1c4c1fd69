"""DDP on CPU processes, as Lightning offers it: `ddp` runs to the end with every artefact of a single run,
the same metrics, and no more warnings; the strategies that spawn or fork the processes (`ddp_spawn`, the
lightning-hydra-template's `ddp_sim`) are refused before anything trains, with the one that works."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from lightning.pytorch.strategies import StrategyRegistry

from cluster_logreg.config.lightning_rules import SPAWNED_STRATEGIES, STRATEGIES
from helpers import Ran, read_metrics, refusal, run_entry, the_error_line

pytestmark = pytest.mark.cli

EPOCHS = "trainer.max_epochs=20"
TWO_PROCESSES = "trainer.devices=2"
# Lines that would be noise under DDP as in a single run: Lightning's `srun` hint, torch's pytree
# deprecation (each once per process, as the spawned processes printed them), and any Python warning
# (`<file>.py:<line>: <message>`).
SRUN_HINT, PYTREE = "The `srun` command is available", "isinstance(treespec, LeafSpec)"
WARNING = re.compile(r"\.py:\d+: ")


def refused_line(strategy: str) -> str:
    return (
        f"trainer.strategy='{strategy}' is not supported: it starts its processes from this one, which gets back "
        "only their final weights and metrics, not the run its checkpoints, results and stops need; "
        "valid: ddp (trainer=ddp: the same DDP, each process started by re-running the command) | auto | "
        "ddp_find_unused_parameters_true | fsdp | deepspeed"
    )


def test_the_refused_strategies_are_those_lightning_starts_by_spawning_or_forking() -> None:
    # Fails when Lightning registers another such strategy, or starts `ddp` another way.
    started = {name: entry["init_params"].get("start_method") for name, entry in StrategyRegistry.items()}
    assert {name for name, start in started.items() if start in ("spawn", "fork", "forkserver")} == set(
        SPAWNED_STRATEGIES
    )
    assert started["ddp"] == started["ddp_find_unused_parameters_true"] == "popen"  # re-runs the command line
    assert not set(SPAWNED_STRATEGIES) & set(STRATEGIES)


@pytest.mark.parametrize("strategy", SPAWNED_STRATEGIES)
def test_every_spawned_or_forked_strategy_is_refused_with_the_one_that_works(strategy: str) -> None:
    assert refusal(f"+trainer.strategy={strategy}", TWO_PROCESSES) == refused_line(strategy)


def test_ddp_spawn_as_the_template_types_it_is_refused_before_anything_trains(tmp_path: Path) -> None:
    # The command: it trained, then ended on `ckpt_path='<tmp>/.temp.ckpt' is not a Lightning checkpoint`.
    run_dir = tmp_path / "run"
    result = run_entry("train", "+trainer.strategy=ddp_spawn", TWO_PROCESSES, f"hydra.run.dir={run_dir}")
    assert the_error_line(result) == f"error: {refused_line('ddp_spawn')}"
    assert "ckpt" not in result.stdout + result.stderr and SRUN_HINT not in result.stderr
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.json").exists()
    assert not list(run_dir.glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    run_dir = tmp_path_factory.mktemp("single") / "run"
    return Ran.checked(run_dir, run_entry("train", EPOCHS, f"hydra.run.dir={run_dir}"))


@pytest.fixture(scope="module")
def ddp(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    command = ("+trainer.strategy=ddp", TWO_PROCESSES, EPOCHS, f"hydra.run.dir={run_dir}")
    return Ran.checked(run_dir, run_entry("train", *command))


def artefacts(run_dir: Path) -> Counter[str]:
    """The files a run wrote, TensorBoard's event files counted under one name (theirs hold a time and a pid)."""
    names = (str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())
    return Counter(re.sub(r"^events\.out\.tfevents\..*", "events.out.tfevents.*", name) for name in names)


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_cpu")
def test_ddp_on_two_cpu_processes_writes_every_artefact_of_a_single_run_and_its_metrics(single: Ran, ddp: Ran) -> None:
    # One more file: the second process's own log.
    assert artefacts(ddp.path) == artefacts(single.path) + Counter(["train_ddp_process_1.log"])
    metrics, single_metrics = read_metrics(ddp.path), read_metrics(single.path)
    assert metrics["status"] == "completed" and metrics["epochs"] == single_metrics["epochs"] == 20
    for key in ("loss/val", "acc/val", "acc/val_best", "loss/test", "acc/test", "acc/true", "acc/excess_error"):
        assert metrics[key] == pytest.approx(single_metrics[key], rel=1e-4), key
    assert metrics["best_checkpoint"] == str(ddp.path / "checkpoints" / "best.ckpt")
    assert (ddp.path / "decision_boundary.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_cpu")
def test_ddp_on_two_cpu_processes_prints_no_warning_a_single_run_does_not(single: Ran, ddp: Ran) -> None:
    for noise in (SRUN_HINT, PYTREE):
        assert noise not in ddp.output, noise
    warnings = [line for line in ddp.output.splitlines() if WARNING.search(line)]
    assert warnings == [line for line in single.output.splitlines() if WARNING.search(line)]
    assert "error" not in ddp.stderr.lower()


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_cpu")
@pytest.mark.parametrize("script", ["eval", "predict"])
def test_eval_and_predict_refuse_ddp_spawn_too(single: Ran, script: str, tmp_path: Path) -> None:
    # predict ended in a pickling traceback under ddp_spawn; eval ran, with the noise of the spawned processes.
    table = tmp_path / "points.csv"
    table.write_text("x0,x1\n0.5,-1.0\n")
    inputs = [f"input={table}"] if script == "predict" else []
    checkpoint = single.path / "checkpoints" / "last.ckpt"
    overrides = (f"ckpt_path={checkpoint}", *inputs, "+trainer.strategy=ddp_spawn", TWO_PROCESSES)
    result = run_entry(script, *overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert the_error_line(result) == f"error: {refused_line('ddp_spawn')}"
