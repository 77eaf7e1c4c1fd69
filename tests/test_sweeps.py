"""Multirun sweeps: the summary callback and its figure (on the session's learning-rate sweep,
conftest.lr_sweep), diverged and failed jobs, parallel and cluster launchers, Optuna, DDP, the presets,
a sweep stopped and continued."""

from __future__ import annotations

import csv
import inspect
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.summary_table import job_dirs
from helpers import (
    DIVERGING,
    LRS,
    REPO,
    SEEDS,
    files_of,
    read_metrics,
    run_entry,
    started,
    the_error_line,
    train_in_process,
)

pytestmark = [pytest.mark.cli, pytest.mark.slow]

COMPARED = ("job", "overrides", "status", "best", "acc/true", "acc/excess_error", "loss/val", "acc/val")
COMPARED += ("acc/test", "loss/test", "model/weight_norm", "epochs", "accelerator")


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def sweep(sweep_dir: Path, *overrides: str, expect_rc: int = 0, env: dict[str, str] | None = None):
    result = run_entry("train", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}", env=env)
    assert result.returncode == expect_rc, result.stderr[-3000:]
    return result


def needs_plugin(module: str):
    return pytest.importorskip(module, reason="needs the [sweep] extra: pip install -e '.[sweep]'")


def exact_accuracy(checkpoint: Path) -> tuple[float, float]:
    """The exact accuracy and excess error of a checkpoint's model on the tutorial's clusters,
    computed here from its weights, independently of the project's code."""
    weights = torch.load(checkpoint, weights_only=True)["state_dict"]
    w1, b1 = weights["net.0.weight"].double(), weights["net.0.bias"].double()
    w2, b2 = weights["net.1.weight"].double(), weights["net.1.bias"].double()
    w, c = (w2 @ w1).squeeze(0), (w2 @ b1 + b2).item()
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    mu0, mu1 = torch.full((2,), 3.8, dtype=torch.float64), torch.full((2,), -1.2, dtype=torch.float64)
    spread = w.norm().item()  # the score's standard deviation within a class (the clusters' std is 1)
    error = (phi(((w @ mu0).item() + c) / spread) + phi(-((w @ mu1).item() + c) / spread)) / 2
    bayes_error = phi(-(mu0 - mu1).norm().item() / 2)
    return 1 - error, error - bayes_error


def test_the_sweep_marks_the_setting_best_on_the_true_distribution(lr_sweep):
    rows = read_summary(lr_sweep.path)
    assert [r["overrides"] for r in rows] == [f"model.optimizer.lr={lr} seed={seed}" for lr in LRS for seed in SEEDS]
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["status"] for r in rows if r not in ok] == ["diverged"] * len(SEEDS)
    assert all(r["acc/val"] == "1.0" for r in ok)  # the validation split cannot tell them apart
    # Every row's exact metrics equal an independent computation from its job's final weights.
    for row, job in zip(rows, job_dirs(lr_sweep.path), strict=True):
        if row in ok:
            acc, excess = exact_accuracy(RunDir(job).last_checkpoint)
            assert float(row["acc/true"]) == pytest.approx(acc, abs=1e-9)
            assert float(row["acc/excess_error"]) == pytest.approx(excess, abs=1e-9)
    # The best is the highest exact accuracy: lr=0.1, although lr=1.0 has by far the lowest loss.
    best = max(ok, key=lambda r: float(r["acc/true"]))
    assert [r["job"] for r in rows if r["best"] == "yes"] == [best["job"]]
    assert best["overrides"].startswith("model.optimizer.lr=0.1 ")
    assert min(ok, key=lambda r: float(r["loss/val"]))["overrides"].startswith("model.optimizer.lr=1.0 ")
    table = (lr_sweep.path / "summary.md").read_text().splitlines()
    # Over its seeds too; two seeds are too few to call it more than a lead.
    assert table[0].startswith("Best setting by acc/true (median of 2 seeds): model.optimizer.lr=0.1, ahead of ")
    assert table[0].endswith("too few seeds to tell (2 seeds can never reach it; run at least 5)")
    assert f"Best by acc/true (highest): job {best['job']}, {best['overrides']}  " in table
    shown = f"Sweep summary ({lr_sweep.path}/summary.md, figure: {lr_sweep.path}/summary.png)"
    assert shown in lr_sweep.stdout
    assert (lr_sweep.path / "summary.png").read_bytes().startswith(b"\x89PNG")


def test_a_job_directory_can_be_evaluated_and_resumed_as_typed(lr_sweep, tmp_path):
    job = job_dirs(lr_sweep.path)[2]  # 002_lr=0.1,seed=0: `=` and `,` in a path, which Hydra would read as syntax
    result = run_entry("eval", f"ckpt_path={RunDir(job).last_checkpoint}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 0, result.stderr[-3000:]
    trained = read_metrics(job)
    assert read_metrics(tmp_path / "eval")["acc/true"] == trained["acc/true"]
    copy = Path(shutil.copytree(job, tmp_path / job.name))  # the other tests read the sweep's
    result = run_entry("train", f"resume={copy}")  # a finished job: nothing left to train
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_metrics(copy)["acc/true"] == trained["acc/true"]


def test_a_sweep_shows_a_diverged_job_and_completes_the_others(lr_sweep):
    summary = [line for line in (lr_sweep.path / "summary.md").read_text().splitlines() if line.startswith("| ")]
    jobs = summary[summary.index(next(line for line in summary if line.startswith("| job "))) + 2 :]
    statuses = {row.split(" | ")[1]: row.split(" | ")[2] for row in jobs}
    for overrides, status in statuses.items():
        if DIVERGING in overrides:
            assert status.startswith("diverged: the run diverged: loss/train became nan by epoch 10"), status
        else:
            assert status == "ok", (overrides, status)
    assert not any("**best**" in row for row in jobs if DIVERGING in row)
    for job in job_dirs(lr_sweep.path):
        assert read_metrics(job)["status"] == ("diverged" if DIVERGING in job.name else "completed")


def test_accelerator_preset_sweeps_accelerators_data_and_batch_sizes_and_marks_the_fastest(tmp_path):
    # The preset's grid, shrunk to seconds: the same parameters, smaller values (a value given on
    # the command line replaces the preset's list for that parameter).
    grid = ("data.n_per_class=50,100", "data.batch_size=16,null", "trainer.max_epochs=2")
    sweep(tmp_path, "experiment=accelerators", *grid)
    rows = read_summary(tmp_path)
    expected_accelerators = {"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"}
    assert len(rows) == 4 * len(expected_accelerators)
    assert {r["accelerator"] for r in rows} == expected_accelerators
    assert all(r["status"] == "ok" and int(r["samples_per_second"]) > 0 for r in rows)
    assert "best" not in rows[0]  # five epochs say nothing of the model
    fastest = max(rows, key=lambda r: int(r["samples_per_second"]))
    assert [r["job"] for r in rows if r["fastest"] == "yes"] == [fastest["job"]]
    assert (tmp_path / "summary.md").read_text().startswith("Fastest by samples_per_second (highest)")


def test_learning_curve_preset_plots_the_excess_error_against_the_data_size(tmp_path):
    from matplotlib.image import imread

    # The preset's parameters with fewer values and epochs: the same sweep, in seconds.
    sweep(tmp_path, "experiment=learning_curve", "data.n_per_class=5,500", "seed=0,1", "trainer.max_epochs=30")
    rows = read_summary(tmp_path)
    assert len(rows) == 2 * 2 * 2 and all(r["status"] == "ok" for r in rows)  # sizes x learning rates x seeds
    best = next(r for r in rows if r["best"] == "yes")
    assert float(best["acc/excess_error"]) == min(float(r["acc/excess_error"]) for r in rows)
    height, width, _ = imread(tmp_path / "summary.png").shape
    assert width == 2 * 640 and height == 480  # a panel per swept setting (size, learning rate), none for seeds


def test_the_same_jobs_give_the_same_metrics_with_any_launcher_and_thread_count(tmp_path):
    """Several batches per epoch (sums whose split over threads would differ), jobs in this process,
    in parallel worker processes and through submitit, with OMP_NUM_THREADS 1 and 2."""
    needs_plugin("hydra_plugins.hydra_joblib_launcher")
    needs_plugin("hydra_plugins.hydra_submitit_launcher")
    grid = ("model.optimizer.lr=0.01,0.3", "data.batch_size=256", "trainer.max_epochs=30")
    runs = {
        "basic, 2 threads": ((), {"OMP_NUM_THREADS": "2"}),
        "joblib, 1 thread": (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), {"OMP_NUM_THREADS": "1"}),
        "submitit local, 2 threads": (("hydra/launcher=local",), {"OMP_NUM_THREADS": "2"}),
    }
    summaries = {}
    for name, (launcher, env) in runs.items():
        sweep(tmp_path / name.replace(" ", "_").replace(",", ""), *grid, *launcher, env=env)
        rows = read_summary(tmp_path / name.replace(" ", "_").replace(",", ""))
        summaries[name] = [{k: r[k] for k in COMPARED} for r in rows]
    first = summaries["basic, 2 threads"]
    assert len(first) == 2 and all(r["status"] == "ok" for r in first)
    for name, rows in summaries.items():
        assert rows == first, name  # every digit of every metric


def test_a_submitit_job_that_dies_before_python_is_a_failed_job_not_a_wait(tmp_path):
    """submitit's local jobs, as its SLURM ones (test_slurm.py): each recorded with why, the sweep ends."""
    needs_plugin("hydra_plugins.hydra_submitit_launcher")
    sweep = ("-m", "hydra/launcher=local", '+hydra.launcher.setup=["exit 3"]', "seed=0,1", "trainer.max_epochs=5")
    result = run_entry("train", *sweep, f"hydra.sweep.dir={tmp_path}", timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    said = "ended without a result: local job "
    assert result.stderr.splitlines()[-1].startswith(f"error: sweep job 0 (seed=0 trainer.max_epochs=5) {said}")
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all(said in r["reason"] and " exited, its stderr is empty" in r["reason"] for r in rows)


def test_the_optuna_plugin_s_private_names_the_continued_search_uses_are_still_there():
    # sweeps/optuna_search.py subclasses the plugin's implementation and its hook for each batch's trials
    # (no public way gives which job runs which trial): a release that renames or changes them fails here.
    impl = pytest.importorskip("hydra_plugins.hydra_optuna_sweeper._impl", reason="needs the [sweep] extra")
    hook = inspect.signature(impl.OptunaSweeperImpl._configure_trials)
    assert list(hook.parameters) == ["self", "trials", "search_space_distributions", "fixed_params"]
    search = impl.OptunaSweeperImpl(None, "maximize", None, "s", 4, 2, 0.0, None, None, None)
    assert {"job_idx", "n_trials", "n_jobs", "storage", "study_name", "sampler", "direction"} <= set(vars(search))


def test_optuna_search_runs_trials_and_finds_a_setting_at_least_as_good_as_the_default(tmp_path):
    needs_plugin("hydra_plugins.hydra_optuna_sweeper")
    epochs = "trainer.max_epochs=100"
    result = run_entry(
        "train", "hparams_search=optuna", "hydra.sweeper.n_trials=8", epochs, f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    best = next(r for r in rows if r["best"] == "yes")
    # The search maximises the exact accuracy; Optuna's own record agrees with the summary's best row.
    assert float(best["acc/true"]) == max(float(r["acc/true"]) for r in rows)
    results = (tmp_path / "optimization_results.yaml").read_text()
    assert f"best_value: {best['acc/true']}" in results
    default = train_in_process(tmp_path / "default", epochs)
    assert float(best["acc/true"]) >= default["acc/true"]


def test_optuna_search_goes_on_past_a_diverged_trial(tmp_path):
    needs_plugin("hydra_plugins.hydra_optuna_sweeper")
    params = '{model/optimizer: "choice(sgd)", model.optimizer.lr: "choice(1e6, 0.05)"}'
    result = run_entry(
        "train",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.params={params}",
        "trainer.max_epochs=20",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok", "diverged"}  # seeded sampler: both occur
    assert all(r["best"] != "yes" for r in rows if r["status"] == "diverged")
    assert "model.optimizer.lr: 0.05" in (tmp_path / "optimization_results.yaml").read_text()


def test_optuna_with_a_misnamed_metric_says_so_in_one_line(tmp_path):
    needs_plugin("hydra_plugins.hydra_optuna_sweeper")
    result = run_entry(
        "train",
        "hparams_search=optuna",
        "optimized_metric=val/accuracy",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: optimized_metric='val/accuracy'")
    assert "float-castable" not in result.stderr + result.stdout and "Traceback" not in result.stderr


def test_ddp_with_two_cpu_processes_matches_a_single_process(tmp_path):
    epochs = "trainer.max_epochs=20"
    ddp = run_entry("train", "trainer=ddp", epochs, f"hydra.run.dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert (tmp_path / "ddp" / "train_ddp_process_1.log").is_file()  # the second process ran
    assert "sync_dist" not in ddp.stderr
    ddp_metrics, single_metrics = read_metrics(tmp_path / "ddp"), train_in_process(tmp_path / "single", epochs)
    for key in ("loss/val", "acc/val", "loss/test", "acc/test", "acc/true", "acc/excess_error"):
        assert ddp_metrics[key] == pytest.approx(single_metrics[key], rel=1e-4)


def test_a_stopped_sweep_continues_in_its_directory_without_rerunning_finished_jobs(tmp_path):
    lrs = ("0.01", "0.02", "0.03", "0.04")
    command = [
        sys.executable,
        "src/train.py",
        "-m",
        f"model.optimizer.lr={','.join(lrs)}",
        f"hydra.sweep.dir={tmp_path}",
    ]
    with started(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as first:
        deadline = time.monotonic() + 240
        while len(list(tmp_path.glob("*/metrics.json"))) < 2 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()  # as a power cut would: no chance to save anything more
        first.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in tmp_path.glob("*/metrics.json")}
    assert 2 <= len(finished) < 4, "the sweep was not stopped part-way"

    again = run_entry("train", *command[2:])
    assert again.returncode == 0, again.stderr[-3000:]
    rows = read_summary(tmp_path)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    for name, stamp in finished.items():  # finished jobs were kept, not trained again
        assert (tmp_path / name / "metrics.json").stat().st_mtime_ns == stamp, name
    assert "says this job has finished (in an earlier run, or its stacked fit): kept" in again.stdout + again.stderr


def test_an_optuna_search_killed_part_way_continues_to_its_full_count_beside_another_worker(tmp_path):
    needs_plugin("hydra_plugins.hydra_optuna_sweeper")
    optuna = pytest.importorskip("optuna")
    here, elsewhere, storage = tmp_path / "here", tmp_path / "elsewhere", f"sqlite:///{tmp_path}/here/optuna.db"
    search = ("hparams_search=optuna", "callbacks.last_checkpoint.every_n_epochs=10")
    command = [sys.executable, "src/train.py", *search, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={here}"]
    with started(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as first:
        # Killed while its third trial trains (after that trial's first checkpoint), as a power cut would.
        deadline = time.monotonic() + 240
        while not list(here.glob("002_*/checkpoints/last.ckpt")) and first.poll() is None:
            assert time.monotonic() < deadline, "the third trial never saved a checkpoint"
            time.sleep(0.05)
        first.kill()
        first.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in here.glob("*/metrics.json")}
    assert len(finished) == 2, "the search was not stopped in its third trial"

    # Another worker on the same study (its own directory) counts those trials and leaves the stopped one alone.
    other = run_entry(
        "train", *search, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", f"hydra.sweep.dir={elsewhere}"
    )
    assert other.returncode == 0, other.stderr[-3000:]
    counted = "4 trials in all): 2 finished, 0 stopped part-way, 1 running elsewhere, 1 new to go"
    assert counted in other.stdout + other.stderr
    assert len(job_dirs(elsewhere)) == 1

    again = run_entry("train", *command[2:-2], "hydra.sweeper.n_trials=5", f"hydra.sweep.dir={here}")
    assert again.returncode == 0, again.stderr[-3000:]
    said = again.stdout + again.stderr
    assert "5 trials in all): 3 finished, 1 stopped part-way, 0 running elsewhere, 1 new to go" in said
    assert "trial 2 (job 2) was stopped part-way: continuing it" in said
    study = optuna.load_study(study_name="cluster_logreg", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 5  # 5 in all, none twice
    rows = read_summary(here)
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"] and all(r["status"] == "ok" for r in rows)
    for name, stamp in finished.items():  # trials that had finished were kept, not trained again
        assert (here / name / "metrics.json").stat().st_mtime_ns == stamp, name
    # The stopped trial continued from its checkpoint, not from epoch 0.
    assert (
        "resume: continuing the sweep job stopped part-way from" in (next(here.glob("002_*")) / "train.log").read_text()
    )
    best = max(study.trials, key=lambda t: t.value)
    assert f"best_value: {best.value}" in (here / "optimization_results.yaml").read_text()


@pytest.mark.cli
def test_another_sweep_in_a_sweeps_directory_is_refused_before_anything_is_written(lr_sweep, tmp_path):
    """Its jobs would fail or add to the directory, and the summary, multirun.yaml and HParams columns
    would be the new command's: refused at the sweep's start; the sweep's own command continues it."""
    copy = Path(shutil.copytree(lr_sweep.path, tmp_path / "lr"))
    before = files_of(copy)
    result = run_entry("train", "-m", "seed=0,1", "model.optimizer.lr=-1", f"hydra.sweep.dir={copy}")
    assert the_error_line(result) == (
        f"error: hydra.sweep.dir='{copy}' holds another sweep (its multirun.yaml records another command line); "
        "valid: a new directory, or that sweep's own command to continue it"
    )
    assert files_of(copy) == before
