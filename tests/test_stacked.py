"""hydra/launcher=stacked: the jobs of a sweep trained together as one stacked model, each job then a
normal job: the same results as one by one, a diverging member among healthy ones, eval, predict and
resume on a stacked job, a killed stacked sweep continued, a sweep stopped in every phase and continued to
the same metrics, Optuna's batches, jobs that cannot share a stack. The grid of every setting a stack may
vary is the session's (conftest.stacked_grid, helpers.GRID)."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.metrics import REPORTED
from cluster_logreg.core.overrides import continue_the_sweep, saved_overrides
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.summary_table import job_dirs, job_number
from cluster_logreg.training.stacked.members import STACKED_FIT
from helpers import (
    REPO,
    SHORT,
    evaluate_in_process,
    final_metrics,
    predict_in_process,
    read_metrics,
    resume_in_process,
    run_command,
    run_entry,
    started,
    train_in_process,
)

# Stacked and alone, a job's sums are taken in another order (float32), and a thousand steps amplify
# the difference: over the README's 100-job grid the largest was 8.4e-6 relative (|w| 217.7429 against
# 217.7445) and 1.3e-5 absolute (a validation loss), the accuracies equal. Ten times that is allowed;
# anything beyond is a bug, not rounding.
RELATIVE, ABSOLUTE = 1e-4, 1e-4

# Eight of the grid's 32 jobs trained alone, chosen so that each of the five settings takes each of its
# two values in four of them (a 2^(5-2) design: hidden_dim follows lr x momentum, seed lr x weight_decay).
# Jobs are numbered as Hydra orders them, lr first and seed last: bits lr, momentum, weight_decay, hidden_dim, seed.
ALONE = [
    (lr << 4) | (m << 3) | (wd << 2) | ((lr ^ m) << 1) | (lr ^ wd) for lr in (0, 1) for m in (0, 1) for wd in (0, 1)
]

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def sweep(sweep_dir: Path, *overrides: str, stacked: bool = True, expect_rc: int = 0) -> subprocess.CompletedProcess:
    launcher = ("hydra/launcher=stacked",) if stacked else ()
    result = run_entry("train", "-m", *launcher, *overrides, f"hydra.sweep.dir={sweep_dir}", timeout=600)
    assert result.returncode == expect_rc, result.stderr[-3000:]
    return result


def metrics_of(jobs: list[Path]) -> dict[str, dict]:
    """Each job's final metrics, by its number."""
    return {str(job_number(d)): final_metrics(d) for d in jobs}


def assert_same_results(stacked: dict[str, dict], alone: dict[str, dict]) -> None:
    assert stacked.keys() == alone.keys()
    for job in alone:
        assert stacked[job].keys() == alone[job].keys(), job
        if alone[job]["status"] == "diverged":  # its reason quotes the non-finite loss: nan or inf
            assert (stacked[job]["status"], stacked[job]["epochs"]) == ("diverged", alone[job]["epochs"]), job
            continue
        for key, value in alone[job].items():
            if isinstance(value, float):
                assert stacked[job][key] == pytest.approx(value, rel=RELATIVE, abs=ABSOLUTE), (job, key)
            else:
                assert stacked[job][key] == value, (job, key)


@pytest.fixture(scope="module")
def grid_alone(stacked_grid, tmp_path_factory) -> tuple[list[Path], list[Path]]:
    """The ALONE jobs of the stacked grid, and each trained alone in process with its job's own overrides."""
    root = tmp_path_factory.mktemp("alone")
    stacked = [job_dirs(stacked_grid.path)[n] for n in ALONE]
    for n, job in zip(ALONE, stacked, strict=True):
        train_in_process(root / str(n), *saved_overrides(RunDir(job).overrides))
    return stacked, [root / str(n) for n in ALONE]


def test_a_stacked_sweep_gives_each_job_the_results_it_has_alone(stacked_grid, grid_alone):
    assert "32 in 1 stacked fit(s) of 32 jobs, 0 alone" in stacked_grid.stdout
    jobs = job_dirs(stacked_grid.path)
    assert {read_metrics(d)["status"] for d in jobs} == {"completed"}
    assert all(read_metrics(d)["stacked_with"] == 32 for d in jobs)
    stacked, alone = (metrics_of(dirs) for dirs in grid_alone)
    assert_same_results(stacked, alone)
    rank = lambda m: sorted(m, key=lambda job: -m[job]["acc/true"])  # noqa: E731
    assert rank(stacked) == rank(alone)
    # The summary's best is the job with the highest exact accuracy, as with any launcher.
    best = job_number(max(jobs, key=lambda d: read_metrics(d)["acc/true"]))
    summary = (stacked_grid.path / "summary.md").read_text()
    assert summary.startswith("Best setting by acc/true") and f"Best by acc/true (highest): job {best}, " in summary


def test_a_stacked_job_has_the_checkpoints_and_curves_of_its_run_alone(grid_alone):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for stacked, alone in zip(*grid_alone, strict=True):
        for name in ("last.ckpt", "best.ckpt"):
            mine = torch.load(stacked / "checkpoints" / name, weights_only=True)
            theirs = torch.load(alone / "checkpoints" / name, weights_only=True)
            # One key more: the stacked fits so far (their seconds, their size), for a sweep continued.
            assert mine.keys() - {STACKED_FIT} == theirs.keys() and mine["epoch"] == theirs["epoch"], name
            assert mine["loops"] == theirs["loops"] and mine["callbacks"].keys() == theirs["callbacks"].keys()
            for key, weights in theirs["state_dict"].items():  # hidden_dim=2 jobs: their own shapes, unpadded
                assert torch.allclose(
                    mine["state_dict"][key].double(), weights.double(), rtol=RELATIVE, atol=ABSOLUTE
                ), key
            assert mine["optimizer_states"][0]["param_groups"] == theirs["optimizer_states"][0]["param_groups"]
        mine, theirs = EventAccumulator(str(stacked)).Reload(), EventAccumulator(str(alone)).Reload()
        # (In another order: a run alone writes its test and how it ended to events files of their own.)
        assert sorted(mine.Tags()["scalars"]) == sorted(theirs.Tags()["scalars"])
        assert mine.Tags()["histograms"] == theirs.Tags()["histograms"]
        for tag in theirs.Tags()["scalars"]:
            points, expected = mine.Scalars(tag), theirs.Scalars(tag)
            assert [p.step for p in points] == [p.step for p in expected], tag
            assert [p.value for p in points] == pytest.approx(
                [p.value for p in expected], rel=RELATIVE, abs=ABSOLUTE
            ), tag


# Resumed in a copy elsewhere: Lightning notes that its checkpoints' directory moved (a run's own resume would not).
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty", "ignore:The dirpath has changed")
def test_eval_predict_and_resume_take_a_stacked_job_as_a_run(stacked_grid, tmp_path):
    job = job_dirs(stacked_grid.path)[5]
    trained = read_metrics(job)
    assert evaluate_in_process(tmp_path / "eval", f"ckpt_path={job}")["acc/test"] == trained["acc/test"]
    points = tmp_path / "points.csv"
    points.write_text("x0,x1\n3.8,3.8\n-1.2,-1.2\n")  # the two clusters' centres
    predictions = predict_in_process(tmp_path / "predict", f"ckpt_path={job}", f"input={points}")
    assert [line.split(",")[1] for line in predictions.read_text().splitlines()[1:]] == ["0", "1"]
    copy = Path(shutil.copytree(job, tmp_path / job.name))  # resumed elsewhere: the other tests read the sweep's
    assert resume_in_process(copy, "trainer.max_epochs=40")["epochs"] == 40


# A learning rate that diverges among healthy ones, by seed: the jobs' statuses.
DIVERGING_SWEEP = ("model.optimizer.lr=0.05,1e6", "seed=0,1", *SHORT)
STATUSES = ["completed", "completed", "diverged", "diverged"]


@pytest.fixture(scope="module")
def diverging(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A learning rate that diverges among healthy ones, by seed: stacked, and with the basic launcher."""
    root = tmp_path_factory.mktemp("diverging")
    stacked = sweep(root / "stacked", *DIVERGING_SWEEP)
    sweep(root / "alone", *DIVERGING_SWEEP, stacked=False)
    return root / "stacked", root / "alone", stacked


def test_a_diverging_member_ends_diverged_while_the_others_train_on(diverging):
    stacked_dir, alone_dir, result = diverging
    assert "4 in 1 stacked fit(s)" in result.stdout
    stacked = metrics_of(job_dirs(stacked_dir))
    assert [m["status"] for m in stacked.values()] == STATUSES
    assert_same_results(stacked, metrics_of(job_dirs(alone_dir)))
    rows = (stacked_dir / "summary.md").read_text()
    assert rows.count("| diverged: the run diverged") == 2


def test_a_stacked_job_directory_holds_what_its_run_alone_holds(diverging):
    stacked_dir, alone_dir, _ = diverging
    for stacked, alone in zip(job_dirs(stacked_dir), job_dirs(alone_dir), strict=True):
        files = lambda d: {p.name for p in d.iterdir() if not p.name.startswith("events.")}  # noqa: E731
        assert files(stacked) == files(alone) and any(stacked.glob("events.out.tfevents.*"))
        assert {p.name for p in (stacked / "checkpoints").iterdir()} == {
            p.name for p in (alone / "checkpoints").iterdir()
        }
        assert (stacked / ".hydra" / "overrides.yaml").read_text() == (alone / ".hydra" / "overrides.yaml").read_text()
        if read_metrics(alone)["status"] == "completed":
            log = (stacked / "train.log").read_text()
            assert log.count("epoch ") == 3 and "Run directory:" in log  # the epoch lines: 10, 20, 30
            assert (stacked / "decision_boundary.png").is_file()


def test_jobs_that_cannot_share_a_stack_are_trained_apart_and_say_why(tmp_path):
    result = sweep(tmp_path, "model/optimizer=sgd,adam", "trainer.max_epochs=10,20", *SHORT[1:])
    # SGD at two epoch counts: two stacks of... one job each, so alone; Adam: not stacked at all.
    assert "runs alone: model.optimizer is Adam: only SGD is stacked" in result.stdout
    result = sweep(tmp_path / "two", "trainer.max_epochs=10,20", "seed=0,1", *SHORT[1:])
    assert "4 in 2 stacked fit(s) of 2, 2 jobs, 0 alone" in result.stdout
    assert [read_metrics(d)["epochs"] for d in job_dirs(tmp_path / "two")] == [10, 10, 20, 20]


def test_stacked_sgd_takes_the_step_torch_sgd_takes_for_each_member():
    from cluster_logreg.training.stacked.model import StackedSGD

    settings = [(0.1, 0.0, 0.0), (0.01, 0.9, 0.0), (0.3, 0.5, 0.01)]
    stacked = torch.nn.Parameter(torch.randn(len(settings), 5, 2))
    alone = [torch.nn.Parameter(stacked[k].detach().clone()) for k in range(len(settings))]
    lr, momentum, decay = (torch.tensor(column) for column in zip(*settings, strict=True))
    ours = StackedSGD([stacked], lr, momentum, decay, torch.ones(len(settings), dtype=torch.bool))
    theirs = [
        torch.optim.SGD([p], lr=lr_, momentum=m, weight_decay=wd)
        for p, (lr_, m, wd) in zip(alone, settings, strict=True)
    ]
    for _ in range(5):
        grad = torch.randn_like(stacked)
        stacked.grad = grad.clone()
        ours.step()
        for k, (p, optimizer) in enumerate(zip(alone, theirs, strict=True)):
            p.grad = grad[k].clone()
            optimizer.step()
    for k, p in enumerate(alone):
        assert torch.allclose(stacked[k], p, atol=1e-6, rtol=0), k


# Long enough to be stopped part-way: a checkpoint every 10 of 300 epochs.
LONGER = ("model.optimizer.lr=0.05,0.2", "seed=0,1", "trainer.max_epochs=300", *SHORT[1:])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    sweep_dir = tmp_path_factory.mktemp("uninterrupted")
    sweep(sweep_dir, *LONGER)
    return sweep_dir


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stacked_sweep_killed_part_way_continues_to_the_metrics_of_an_uninterrupted_one(
    uninterrupted, tmp_path, signum
):
    killed = tmp_path / "killed"
    command = [sys.executable, "src/train.py", "-m", "hydra/launcher=stacked", *LONGER, f"hydra.sweep.dir={killed}"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started(command, cwd=REPO, **pipes) as process:
        checkpoint = next(iter(job_dirs(uninterrupted))).name
        deadline = time.monotonic() + 240
        while not (killed / checkpoint / "checkpoints" / "last.ckpt").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # a few epochs past the first save
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=240)
    if signum == signal.SIGTERM:
        assert process.returncode == 128 + signum, stderr[-3000:]
        assert f"continue the sweep with the same command and hydra.sweep.dir={killed}" in stderr
    # Each job stopped with its last checkpoint and nothing that looks finished.
    stopped = [d for d in killed.iterdir() if d.is_dir()]
    assert len(stopped) == 4 and all(
        RunDir(d).last_checkpoint.exists() and not RunDir(d).metrics.exists() for d in stopped
    )
    again = sweep(killed, *LONGER)
    # Stacked again from the jobs' last checkpoints (those killed between two saves of one epoch: apart).
    assert "stacked fit(s)" in again.stdout
    assert_same_results(metrics_of(job_dirs(killed)), metrics_of(job_dirs(uninterrupted)))


def test_an_optuna_search_trains_each_batch_of_trials_as_one_stack(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="needs the [sweep] extra")
    params = (
        '{model/optimizer: "choice(sgd)", model.optimizer.lr: "interval(0.01, 0.3)", model.hidden_dim: "choice(2, 5)"}'
    )
    search = ("hparams_search=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2")
    search += (f"hydra.sweeper.params={params}", "trainer.max_epochs=20", "trainer.check_val_every_n_epoch=5")
    stacked = run_entry("train", *search, "hydra/launcher=stacked", f"hydra.sweep.dir={tmp_path / 's'}")
    assert stacked.returncode == 0, stacked.stderr[-3000:]
    assert stacked.stdout.count("2 in 1 stacked fit(s) of 2 jobs") == 2
    alone = run_entry("train", *search, f"hydra.sweep.dir={tmp_path / 'a'}")
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert_same_results(metrics_of(job_dirs(tmp_path / "s")), metrics_of(job_dirs(tmp_path / "a")))
    study = lambda d: (d / "optimization_results.yaml").read_text().split("best_value")[0]  # noqa: E731
    assert study(tmp_path / "s") == study(tmp_path / "a")  # the same best parameters


# The real command line (src/train.py, run as its own `__main__`), which sends itself a signal at one
# precise point of a stacked sweep: `python -c STOP_AT <phase>:<signal> <train.py's arguments>`. The test's
# only hook, here: the program is not changed, one of its functions is wrapped to send the signal (once the
# launcher starts: Lightning, imported before Hydra's logging is set up, would print its lines itself).
STOP_AT = """
import importlib, os, runpy, signal, sys
from cluster_logreg.training.stacked import launch
phase, name = sys.argv.pop(1).split(":")
owner, function, nth, after = {
    "building": ("fit", "_member", 2, False),  # as the second job is built for the stack
    "setup": ("model.StackedClassifier", "validation_step", 1, False),  # Lightning's check before the fit
    "end_of_fit": ("members.MemberRuns", "on_fit_end", 1, False),  # after the last epoch, before any results
    "between_results": ("fit._EndOfFit", "__call__", 1, True),  # once the first job's results are written
    "run_job": ("launch", "run_job", 2, False),  # as Hydra runs the second job
    "summary": ("summary.SweepSummary", "on_multirun_end", 1, False),  # as the sweep's summary is made
}[phase]
calls = []
def wrap(where):
    module, _, cls = where.partition(".")
    package = "cluster_logreg.sweeps" if module == "summary" else "cluster_logreg.training.stacked"
    target = importlib.import_module(f"{package}.{module}")
    target = getattr(target, cls) if cls else target
    original = getattr(target, function)
    def wrapped(*args, **kwargs):
        calls.append(None)
        if len(calls) == nth and not after:
            os.kill(os.getpid(), getattr(signal, name))
        result = original(*args, **kwargs)
        if len(calls) == nth and after:
            os.kill(os.getpid(), getattr(signal, name))
        return result
    setattr(target, function, wrapped)
start = launch.launch
def launching(*args, **kwargs):
    if not getattr(launching, "wrapped", False):
        wrap(owner)
        launching.wrapped = True
    return start(*args, **kwargs)
launch.launch = launching
sys.argv[0] = "src/train.py"
runpy.run_path("src/train.py", run_name="__main__")
"""

# Stopped in each phase in turn, each time continued with the same command: where it stops, what is left.
PHASES = [
    ("building", "SIGTERM"),  # nothing trained
    ("setup", "SIGTERM"),  # nothing trained (Lightning's SIGTERM handler is in place there)
    ("end_of_fit", "SIGTERM"),  # all trained: the diverged jobs' results written, the others' not
    ("between_results", "SIGINT"),  # the other two at their last epoch: one writes its results
    ("run_job", "SIGTERM"),  # the last one, alone in a stack of one: written; Hydra has run two jobs
    ("summary", "SIGINT"),  # every job kept, the summary being made
]


def stopped_at(sweep_dir: Path, phase: str, name: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", STOP_AT, f"{phase}:{name}", "-m", "hydra/launcher=stacked", *DIVERGING_SWEEP]
    return run_command([*command, f"hydra.sweep.dir={sweep_dir}"], timeout=300)


@pytest.fixture(scope="module")
def stopped_in_every_phase(tmp_path_factory) -> tuple[Path, list[subprocess.CompletedProcess], Path]:
    """The `diverging` sweep stopped in every phase in turn, continued each time, then to its end; and a
    copy of it after `between_results`, with a job stopped at its last epoch without its results."""
    root = tmp_path_factory.mktemp("phases")
    sweep_dir, results = root / "sweep", []
    for phase, name in PHASES:
        results.append(stopped_at(sweep_dir, phase, name))
        if phase == "between_results":
            shutil.copytree(sweep_dir, root / "copy")
    results.append(sweep(sweep_dir, *DIVERGING_SWEEP))
    return sweep_dir, results, root / "copy"


def assert_same_metrics(continued: Path, uninterrupted: Path) -> None:
    """Every key of every job's metrics.json equal (the best checkpoint's path in its job), but the times,
    which must still be the whole fit's: its samples per second times its seconds, the samples it trained."""
    jobs, expected_jobs = job_dirs(continued), job_dirs(uninterrupted)
    assert [d.name for d in jobs] == [d.name for d in expected_jobs]
    for job, expected_job in zip(jobs, expected_jobs, strict=True):
        mine, theirs = read_metrics(job), read_metrics(expected_job)
        assert mine.keys() == theirs.keys(), job.name
        for metrics in (mine, theirs):
            for key in ("fit_seconds", "samples_per_second"):
                metrics.pop(key, None)
        if "fit_seconds" in read_metrics(expected_job):
            samples = lambda m: m["samples_per_second"] * m["fit_seconds"]  # noqa: E731
            assert samples(read_metrics(job)) == pytest.approx(samples(read_metrics(expected_job)), rel=0.02)
        for metrics in (mine, theirs):  # the same job's (a copied sweep's checkpoints name the original's)
            if metrics.get("best_checkpoint"):
                metrics["best_checkpoint"] = Path(metrics["best_checkpoint"]).parts[-3:]
        assert mine == theirs, job.name


def test_a_stacked_sweep_stopped_in_any_phase_says_so_and_continues_to_the_uninterrupted_metrics(
    stopped_in_every_phase, diverging
):
    sweep_dir, results, _ = stopped_in_every_phase
    for (phase, name), result in zip(PHASES, results, strict=False):
        assert result.returncode == 128 + getattr(signal, name), (phase, result.stderr[-3000:])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"interrupted: stopped by {name}"), (phase, result.stderr)
        assert lines[0].endswith(continue_the_sweep(sweep_dir)), phase
        assert "Sweep summary" in result.stdout, phase  # the summary so far, as a failed sweep's
    # The diverged jobs had ended in the fit; then one of the other two wrote its results before the stop.
    assert "after epoch 30 of 30; 2 of its 4 stacked jobs had ended; the last checkpoint of each of the 2 left" in (
        results[2].stderr
    )
    assert "after epoch 30 of 30; 1 of its 2 stacked jobs had ended; the last checkpoint of the one left" in (
        results[3].stderr
    )
    assert "1 in 1 stacked fit(s) of 1 jobs" in results[4].stdout  # the last job: still stacked, bit for bit
    assert_same_metrics(sweep_dir, diverging[0])
    assert [read_metrics(d)["status"] for d in job_dirs(sweep_dir)] == STATUSES
    summary = (sweep_dir / "summary.md").read_text()
    assert summary.count("| ok |") == 2 and "loss/val" in summary and "acc/val" in summary


def test_a_stacked_sweep_whose_results_are_lost_after_its_fit_writes_them_all_again(diverging, tmp_path):
    """The issue's reproduction: the jobs' metrics.json deleted after the sweep, then the same command."""
    sweep_dir = Path(shutil.copytree(diverging[0], tmp_path / "sweep"))
    for job in job_dirs(sweep_dir):
        if read_metrics(job)["status"] == "completed":
            RunDir(job).metrics.unlink()
            RunDir(job).job_status.unlink()
    again = sweep(sweep_dir, *DIVERGING_SWEEP)
    assert "2 in 1 stacked fit(s) of 2 jobs, 2 alone" in again.stdout
    for job in job_dirs(sweep_dir)[:2]:
        assert read_metrics(job)["status"] == "completed" and set(REPORTED) <= read_metrics(job).keys()
    assert_same_metrics(sweep_dir, diverging[0])


def test_resume_continues_a_job_stopped_in_its_stacked_fit(stopped_in_every_phase, diverging):
    _, _, copy = stopped_in_every_phase
    job = job_dirs(copy)[1]  # stopped at its last epoch, its results not written
    assert not RunDir(job).metrics.exists() and RunDir(job).last_checkpoint.exists()
    result = run_entry("train", f"resume={job}")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed, stacked = read_metrics(job), read_metrics(job_dirs(diverging[0])[1])
    assert resumed["status"] == "completed" and resumed["epochs"] == 30 and set(REPORTED) <= resumed.keys()
    for key in REPORTED:  # alone, its last validation and test summed in another order: float32 rounding
        assert resumed[key] == pytest.approx(stacked[key], rel=RELATIVE, abs=ABSOLUTE), key
    again = sweep(copy, *DIVERGING_SWEEP)  # the sweep goes on around it
    assert "it finished in an earlier run of this sweep (completed)" in again.stdout
    assert [read_metrics(d)["status"] for d in job_dirs(copy)] == STATUSES


@pytest.mark.parametrize("check", [(), ("~callbacks.divergence",)], ids=["checked", "no-divergence-callback"])
def test_a_member_whose_weights_are_not_finite_after_a_few_epochs_is_diverged(tmp_path, check):
    """lr=1e6 for 5 epochs: diverged, whether or not a divergence check saw a non-finite loss first."""
    five = ("model.optimizer.lr=1e6,0.1", "trainer.max_epochs=5", "trainer.check_val_every_n_epoch=5", *check)
    result = sweep(tmp_path, *five)
    assert "2 in 1 stacked fit(s) of 2 jobs" in result.stdout
    diverged, completed = (read_metrics(d) for d in job_dirs(tmp_path))
    assert (diverged["status"], diverged["epochs"], completed["status"]) == ("diverged", 5, "completed")
    assert "the run diverged" in diverged["reason"] and all(math.isfinite(completed[k]) for k in REPORTED)
    assert json.loads(RunDir(job_dirs(tmp_path)[0]).job_status.read_text())["status"] == "ok"  # a result, not a failure
