"""Multirun sweeps: the summary callback, failed jobs, parallel and cluster launchers, Optuna, DDP."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cluster_logreg.sweep_summary import JOB_STATUS, SweepSummary
from helpers import run_entry

pytestmark = pytest.mark.cli

METRICS = ("val/loss", "val/acc", "val/acc_best", "test/acc", "test/loss", "epochs", "accelerator")


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def sweep(sweep_dir: Path, *overrides: str, expect_rc: int = 0):
    result = run_entry("train", "-m", *overrides, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == expect_rc, result.stderr[-3000:]
    return result


def needs_plugin(module: str):
    return pytest.importorskip(module, reason="needs the [sweep] extra: pip install -e '.[sweep]'")


def test_summary_lists_every_job_and_marks_the_best(tmp_path):
    sweep(tmp_path, "model.optimizer.lr=0.001,0.01,0.1", "trainer.max_epochs=20")
    rows = read_summary(tmp_path)
    assert [r["job"] for r in rows] == ["0", "1", "2"]
    assert [r["overrides"].split()[0] for r in rows] == [f"model.optimizer.lr={lr}" for lr in (0.001, 0.01, 0.1)]
    assert all(r["status"] == "ok" and r["epochs"] == "20" and r["accelerator"] == "cpu" for r in rows)
    for row in rows:  # the summary shows what each job's own metrics.json says
        metrics = json.loads((tmp_path / row["job"] / "metrics.json").read_text())
        assert float(row["test/acc"]) == metrics["test/acc"] and float(row["val/loss"]) == metrics["val/loss"]
    # Best: the highest val/acc_best, ties broken by the lowest val/loss.
    expected = max(rows, key=lambda r: (float(r["val/acc_best"]), -float(r["val/loss"])))
    assert [r["job"] for r in rows if r["best"] == "yes"] == [expected["job"]]
    table = (tmp_path / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 3 and sum("**best**" in line for line in table) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_failed_gpu_job_keeps_the_cpu_job_and_the_sweep_fails_at_the_end(tmp_path):
    result = sweep(tmp_path, "trainer.accelerator=cpu,gpu", "trainer.max_epochs=10", expect_rc=2)
    assert result.stderr.strip().splitlines()[-1].startswith("error: trainer.accelerator='gpu'")
    assert "Traceback" not in result.stderr
    cpu, gpu = read_summary(tmp_path)
    assert cpu["status"] == "ok" and cpu["best"] == "yes" and float(cpu["test/acc"]) > 0.9
    assert (tmp_path / "0" / "metrics.json").is_file()
    assert gpu["status"] == "failed" and "no CUDA GPU" in gpu["reason"] and gpu["test/acc"] == ""
    assert not (tmp_path / "1" / "metrics.json").exists()


def test_accelerator_preset_sweeps_accelerators_data_and_batch_sizes(tmp_path):
    # The preset's grid, shrunk to seconds: the same parameters, smaller values (a value given on
    # the command line replaces the preset's list for that parameter).
    result = run_entry(
        "train",
        "experiment=accelerators",
        "data.n_per_class=50,100",
        "data.batch_size=16,null",
        "trainer.max_epochs=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_summary(tmp_path)
    expected_accelerators = {"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"}
    assert len(rows) == 4 * len(expected_accelerators)
    assert {r["accelerator"] for r in rows} == expected_accelerators
    assert all(r["status"] == "ok" and int(r["samples_per_second"]) > 0 for r in rows)


def test_joblib_runs_jobs_in_parallel_processes_with_the_same_results(tmp_path):
    needs_plugin("hydra_plugins.hydra_joblib_launcher")
    grid = ("model.optimizer.lr=0.001,0.01,0.1,0.3", "trainer.max_epochs=30")
    sweep(tmp_path / "basic", *grid)
    sweep(tmp_path / "joblib", *grid, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    basic, parallel = read_summary(tmp_path / "basic"), read_summary(tmp_path / "joblib")
    assert len(parallel) == 4
    assert [{k: r[k] for k in ("job", "overrides", "best", *METRICS)} for r in parallel] == [
        {k: r[k] for k in ("job", "overrides", "best", *METRICS)} for r in basic
    ]
    logs = [(tmp_path / "joblib" / str(job) / "train.log").read_text() for job in range(4)]
    assert all("Run directory" in log for log in logs)  # each job wrote its own directory


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
    # The search minimises val/loss; Optuna's own record agrees with the summary's best row.
    assert float(best["val/loss"]) == min(float(r["val/loss"]) for r in rows)
    assert f"best_value: {best['val/loss']}" in (tmp_path / "optimization_results.yaml").read_text()
    train_result = run_entry("train", epochs, f"hydra.run.dir={tmp_path / 'default'}")
    assert train_result.returncode == 0
    default = json.loads((tmp_path / "default" / "metrics.json").read_text())
    assert float(best["val/acc_best"]) >= default["val/acc_best"]


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


def test_submitit_local_launcher_runs_the_jobs(tmp_path):
    needs_plugin("hydra_plugins.hydra_submitit_launcher")
    sweep(tmp_path, "hydra/launcher=submitit_local", "model.optimizer.lr=0.01,0.1", "trainer.max_epochs=20")
    rows = read_summary(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert (tmp_path / ".submitit").is_dir()  # the jobs went through submitit


def test_ddp_with_two_cpu_processes_matches_a_single_process(tmp_path):
    epochs = "trainer.max_epochs=20"
    ddp = run_entry("train", "trainer=ddp", epochs, f"hydra.run.dir={tmp_path / 'ddp'}")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert (tmp_path / "ddp" / "train_ddp_process_1.log").is_file()  # the second process ran
    single = run_entry("train", epochs, f"hydra.run.dir={tmp_path / 'single'}")
    assert single.returncode == 0
    ddp_metrics, single_metrics = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("ddp", "single"))
    for key in ("val/loss", "val/acc", "test/loss", "test/acc"):
        assert ddp_metrics[key] == pytest.approx(single_metrics[key], rel=1e-4)


def test_ddp_inside_a_local_multirun_is_refused_clearly(tmp_path):
    result = sweep(tmp_path, "trainer=ddp", "trainer.max_epochs=2", expect_rc=2)
    assert "cannot run inside a local Hydra multirun" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_summary_of_a_sweep_with_an_unfinished_job_ranking_by_a_loss(tmp_path):
    for job, (status, loss) in enumerate([("ok", 0.3), ("ok", 0.1), ("failed", None), (None, None)]):
        job_dir = tmp_path / str(job)
        (job_dir / ".hydra").mkdir(parents=True)
        (job_dir / ".hydra" / "overrides.yaml").write_text(f"- seed={job}\n")
        if status:
            reason = "boom" if status == "failed" else ""
            record = {"job": job, "overrides": f"seed={job}", "status": status, "reason": reason}
            (job_dir / JOB_STATUS).write_text(json.dumps(record))
        if loss is not None:
            (job_dir / "metrics.json").write_text(json.dumps({"val/loss": loss, "val/acc_best": 1.0}))
    table = SweepSummary(rank_by="val/loss").write(tmp_path)
    rows = read_summary(tmp_path)
    assert [(r["job"], r["status"], r["best"]) for r in rows] == [
        ("0", "ok", ""),
        ("1", "ok", "yes"),
        ("2", "failed", ""),
        ("3", "incomplete", ""),
    ]
    assert "failed: boom" in table and "seed=3" in table
