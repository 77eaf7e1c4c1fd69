"""hydra/launcher=stacked: the jobs of a sweep trained together as one stacked model, each job then a
normal job: the same results as one by one, a diverging member among healthy ones, eval, predict and
resume on a stacked job, a killed stacked sweep continued, Optuna's batches, jobs that cannot share a stack."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.hparams_columns import RECORD_DIR
from cluster_logreg.sweeps.summary_table import job_dirs
from helpers import REPO, read_metrics, run_entry, started

# Stacked and alone, a job's sums are taken in another order (float32), and a thousand steps amplify
# the difference: over the README's 100-job grid the largest was 8.4e-6 relative (|w| 217.7429 against
# 217.7445) and 1.3e-5 absolute (a validation loss), the accuracies equal. Ten times that is allowed;
# anything beyond is a bug, not rounding.
RELATIVE, ABSOLUTE = 1e-4, 1e-4
TIMES_AND_PATHS = ("fit_seconds", "samples_per_second", "best_checkpoint", "stacked_with")

# Every setting a stack may vary, two values each (32 jobs), with three batches per epoch, so each
# member's own shuffling counts too; a short run, validated every 5 epochs.
GRID = (
    "model.optimizer.lr=0.05,0.2",
    "model.optimizer.momentum=0,0.9",
    "model.optimizer.weight_decay=0,0.01",
    "model.hidden_dim=2,5",
    "seed=0,1",
)
SHORT = ("trainer.max_epochs=30", "trainer.check_val_every_n_epoch=5", "data.batch_size=600")
SHORT += ("callbacks.last_checkpoint.every_n_epochs=10", "callbacks.epoch_report.every_n_epochs=10")

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def sweep(sweep_dir: Path, *overrides: str, stacked: bool = True, expect_rc: int = 0) -> subprocess.CompletedProcess:
    launcher = ("hydra/launcher=stacked",) if stacked else ()
    result = run_entry("train", "-m", *launcher, *overrides, f"hydra.sweep.dir={sweep_dir}", timeout=600)
    assert result.returncode == expect_rc, result.stderr[-3000:]
    return result


def metrics_of(sweep_dir: Path) -> dict[str, dict]:
    return {d.name: {k: v for k, v in read_metrics(d).items() if k not in TIMES_AND_PATHS} for d in job_dirs(sweep_dir)}


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
def grid(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The grid, stacked and with the basic launcher (one job after another)."""
    root = tmp_path_factory.mktemp("grid")
    stacked = sweep(root / "stacked", *GRID, *SHORT)
    sweep(root / "alone", *GRID, *SHORT, stacked=False)
    return root / "stacked", root / "alone", stacked


def test_a_stacked_sweep_gives_each_job_the_results_it_has_alone(grid):
    stacked_dir, alone_dir, result = grid
    assert "32 in 1 stacked fit(s) of 32 jobs, 0 alone" in result.stdout
    stacked, alone = metrics_of(stacked_dir), metrics_of(alone_dir)
    assert_same_results(stacked, alone)
    assert {m["status"] for m in stacked.values()} == {"completed"}
    assert all(read_metrics(d)["stacked_with"] == 32 for d in job_dirs(stacked_dir))
    # The same best and the same ranking in the summary.
    best = lambda d: (d / "summary.md").read_text().splitlines()[0]  # noqa: E731
    assert best(stacked_dir) == best(alone_dir)
    rank = lambda m: sorted(m, key=lambda job: -m[job]["acc/true"])  # noqa: E731
    assert rank(stacked) == rank(alone)


def test_a_stacked_job_directory_holds_what_its_run_alone_holds(grid):
    stacked_dir, alone_dir, _ = grid
    for stacked, alone in zip(job_dirs(stacked_dir), job_dirs(alone_dir), strict=True):
        files = lambda d: {p.name for p in d.iterdir() if not p.name.startswith("events.")}  # noqa: E731
        assert files(stacked) == files(alone) and any(stacked.glob("events.out.tfevents.*"))
        for name in ("last.ckpt", "best.ckpt"):
            mine = torch.load(stacked / "checkpoints" / name, weights_only=True)
            theirs = torch.load(alone / "checkpoints" / name, weights_only=True)
            assert mine.keys() == theirs.keys() and mine["epoch"] == theirs["epoch"], name
            assert mine["loops"] == theirs["loops"] and mine["callbacks"].keys() == theirs["callbacks"].keys()
            for key, weights in theirs["state_dict"].items():  # hidden_dim=2 jobs: their own shapes, unpadded
                assert torch.allclose(
                    mine["state_dict"][key].double(), weights.double(), rtol=RELATIVE, atol=ABSOLUTE
                ), key
            assert mine["optimizer_states"][0]["param_groups"] == theirs["optimizer_states"][0]["param_groups"]
        log = (stacked / "train.log").read_text()
        assert log.count("epoch ") == 3 and "Run directory:" in log  # the epoch lines: 10, 20, 30
        assert (stacked / ".hydra" / "overrides.yaml").is_file() and (stacked / "decision_boundary.png").is_file()


def test_a_stacked_job_has_its_own_curves_at_the_steps_of_its_run_alone(grid):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    stacked_dir, alone_dir, _ = grid
    for stacked, alone in zip(job_dirs(stacked_dir), job_dirs(alone_dir), strict=True):
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


def test_eval_predict_and_resume_take_a_stacked_job_as_a_run(grid, tmp_path):
    stacked_dir, _, _ = grid
    job = job_dirs(stacked_dir)[5]
    trained = read_metrics(job)
    evaluated = run_entry("eval", f"ckpt_path={job}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert read_metrics(tmp_path / "eval")["acc/test"] == trained["acc/test"]
    points = tmp_path / "points.csv"
    points.write_text("x0,x1\n3.8,3.8\n-1.2,-1.2\n")  # the two clusters' centres
    predicted = run_entry("predict", f"ckpt_path={job}", f"input={points}", f"hydra.run.dir={tmp_path / 'predict'}")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert RunDir(tmp_path / "predict").predictions.read_text().count("\n") == 3
    copy = tmp_path / job.name  # resumed elsewhere: the other tests read the sweep's
    shutil.copytree(job, copy)
    resumed = run_entry("train", f"resume={copy}", "trainer.max_epochs=40")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "continuing" in (copy / "train.log").read_text() and read_metrics(copy)["epochs"] == 40


def test_a_diverging_member_ends_diverged_while_the_others_train_on(tmp_path):
    result = sweep(tmp_path / "stacked", "model.optimizer.lr=0.05,1e6", "seed=0,1", *SHORT)
    assert "4 in 1 stacked fit(s)" in result.stdout
    stacked = metrics_of(tmp_path / "stacked")
    assert [m["status"] for m in stacked.values()] == ["completed", "completed", "diverged", "diverged"]
    sweep(tmp_path / "alone", "model.optimizer.lr=0.05,1e6", "seed=0,1", *SHORT, stacked=False)
    assert_same_results(stacked, metrics_of(tmp_path / "alone"))
    rows = (tmp_path / "stacked" / "summary.md").read_text()
    assert rows.count("| diverged: the run diverged") == 2


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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stacked_sweep_killed_part_way_continues_to_the_metrics_of_an_uninterrupted_one(tmp_path, signum):
    grid = ("model.optimizer.lr=0.05,0.2", "seed=0,1", "trainer.max_epochs=300", *SHORT[1:])
    uninterrupted = tmp_path / "uninterrupted"
    sweep(uninterrupted, *grid)
    killed = tmp_path / "killed"
    command = [sys.executable, "src/train.py", "-m", "hydra/launcher=stacked", *grid, f"hydra.sweep.dir={killed}"]
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
    stopped = [d for d in killed.iterdir() if d.is_dir() and d.name != RECORD_DIR]  # (not the HParams columns)
    assert len(stopped) == 4 and all(
        RunDir(d).last_checkpoint.exists() and not RunDir(d).metrics.exists() for d in stopped
    )
    again = sweep(killed, *grid)
    # Stacked again from the jobs' last checkpoints (those killed between two saves of one epoch: apart).
    assert "stacked fit(s)" in again.stdout
    assert_same_results(metrics_of(killed), metrics_of(uninterrupted))


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
    assert_same_results(metrics_of(tmp_path / "s"), metrics_of(tmp_path / "a"))
    study = lambda d: (d / "optimization_results.yaml").read_text().split("best_value")[0]  # noqa: E731
    assert study(tmp_path / "s") == study(tmp_path / "a")  # the same best parameters
