"""On a real SLURM (`bash .ci/slurm.sh start`, which .ci/run does): the SLURM sweep and a DDP sweep give
the single process's metrics, `srun` starts a run's DDP processes; a request the cluster cannot run ends in
one line; preempted and requeued runs continue by themselves; jobs that end without a result are failed
jobs of their sweep, not a wait."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.summary_table import job_dirs
from helpers import REPO, final_metrics, read_metrics, run_command, run_entry, started, the_error_line, train_in_process

pytestmark = [pytest.mark.slurm, pytest.mark.cli]
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the [sweep] extra")
EPOCHS = "trainer.max_epochs=20"
COMPARED = ("loss/val", "acc/val", "loss/test", "acc/test", "acc/true", "acc/excess_error")


def queued() -> set[str]:
    """The jobs SLURM is running or holding (arrays by their base id)."""
    return set(subprocess.run(["squeue", "-h", "-o", "%F"], capture_output=True, text=True, timeout=60).stdout.split())


@pytest.fixture(autouse=True)
def cancel_what_the_test_submitted():
    """A test that fails part-way leaves no job of its own running or queued."""
    before = queued()
    yield
    left = queued() - before
    if left:
        subprocess.run(["scancel", *sorted(left)], timeout=60)
        deadline = time.monotonic() + 60
        while queued() & left and time.monotonic() < deadline:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    return train_in_process(tmp_path_factory.mktemp("single"), EPOCHS)


def assert_same_metrics(metrics: dict, expected: dict, rel: float = 0.0) -> None:
    for key in COMPARED:
        assert metrics[key] == pytest.approx(expected[key], rel=rel), key


@pytest.mark.slow
def test_a_sweep_on_slurm_runs_each_job_as_a_slurm_job(single, tmp_path):
    result = run_entry("train", "-m", "hydra/launcher=slurm", "seed=0,1", EPOCHS, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = job_dirs(tmp_path)
    assert_same_metrics(read_metrics(first), single)  # seed 0: the run in this process, to the last bit
    assert read_metrics(second)["seed"] == 1
    assert list((tmp_path / ".submitit").iterdir())  # submitted through sbatch


@pytest.mark.slow
def test_a_ddp_sweep_on_slurm_matches_a_single_process(single, tmp_path):
    settings = ("hydra.launcher.tasks_per_node=2", "trainer=ddp", "trainer.devices=2")
    result = run_entry("train", "-m", "hydra/launcher=slurm", *settings, EPOCHS, f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    (job,) = job_dirs(tmp_path)
    assert_same_metrics(read_metrics(job), single, rel=1e-4)


@pytest.mark.slow
def test_srun_starts_the_ddp_processes_of_a_run(srun_ddp):
    # The README's way on a cluster; that DDP under SLURM gives the single process's metrics is the DDP
    # sweep's test above (full batches: with mini-batches, two processes see other batches than one).
    log = (srun_ddp / "train.log").read_text()  # both processes log there (SLURM started them, not Lightning)
    assert "Starting with 2 processes" in log and read_metrics(srun_ddp)["status"] == "completed"


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("hydra.launcher.gpus_per_node=1", "Invalid generic resource"),  # no GPU on this cluster
        ("hydra.launcher.cpus_per_task=4096", "Requested node configuration is not available"),
        ("hydra.launcher.partition=nowhere", "invalid partition"),
    ],
)
def test_a_request_the_cluster_cannot_run_ends_at_once_in_one_line(setting, said, tmp_path):
    result = run_entry("train", "-m", "hydra/launcher=slurm", setting, EPOCHS, f"hydra.sweep.dir={tmp_path}")
    line = the_error_line(result)
    assert line.startswith("error: SLURM cannot run the sweep's jobs") and said in line and setting in line
    # At once: refused before anything was submitted (no job waits in the queue for a node that cannot come).
    assert not (tmp_path / ".submitit").exists() and not list(tmp_path.iterdir())


# -- preemption continues by itself ----------------------------------------------------------------

# Long enough to be caught part-way (several batches an epoch, a checkpoint every 50 of 600 epochs).
PREEMPTED = ("trainer.max_epochs=600", "data.batch_size=600", "callbacks.last_checkpoint.every_n_epochs=50")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train_in_process(run_dir, *PREEMPTED)
    return final_metrics(run_dir)


@pytest.fixture(scope="module")
def srun_ddp(tmp_path_factory) -> Path:
    """Two DDP processes under `srun` (the README's way on a cluster), uninterrupted."""
    run_dir = tmp_path_factory.mktemp("srun_ddp")
    command = ["srun", "-N1", "--ntasks-per-node=2", "--cpus-per-task=1", sys.executable, "src/train.py"]
    command += ["trainer=ddp", "trainer.devices=2", *PREEMPTED, f"hydra.run.dir={run_dir}"]
    result = run_command(command)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def wait_for(path_glob: Callable[[], list[Path]], seconds: float = 120) -> Path:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = path_glob()
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("waited in vain")


def start_again_now(job: str) -> None:
    """SLURM holds a requeued job for a while (its BeginTime); a test need not wait for it all."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "PENDING":
            # Not at once: started again within the second of its requeue, the node refuses the job
            # ("Job credential revoked") and SLURM ends it as failed; SLURM's own hold avoids that.
            time.sleep(3)
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job} was not requeued")


# DDP under srun, one process per task (the README's way on a cluster).
DDP = ("#SBATCH --ntasks-per-node=2 --cpus-per-task=1\n", "srun", "trainer=ddp trainer.devices=2")


def batch_job(tmp_path: Path, run_dir: Path, ddp: bool = False) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "job.sh"
    tasks, start, settings = DDP if ddp else ("", "exec", "")
    script.write_text(
        f"#!/bin/bash\n#SBATCH --requeue\n{tasks}"
        f"#SBATCH --output={tmp_path}/slurm-%j.out\n#SBATCH --chdir={REPO}\n"
        f"{start} {sys.executable} src/train.py hydra.run.dir={run_dir} {settings} {' '.join(PREEMPTED)}\n"
    )
    return subprocess.run(
        ["sbatch", "--parsable", str(script)], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.slow
def test_requeued_runs_continue_by_themselves_to_the_uninterrupted_metrics(uninterrupted, tmp_path):
    """Two batch jobs at once (one CPU each): one gets SIGUSR1 (what `sbatch --signal=B:USR1@<s>`
    sends before the time limit), the other `scontrol requeue`."""
    runs = {how: tmp_path / how for how in ("usr1", "requeue")}
    jobs = {how: batch_job(run_dir, run_dir / "run") for how, run_dir in runs.items()}
    for how, job in jobs.items():
        last = RunDir(runs[how] / "run").last_checkpoint
        wait_for(lambda last=last: [last] if last.exists() else [])
        if how == "usr1":
            subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True)
        else:
            subprocess.run(["scontrol", "requeue", job], check=True)
    for job in jobs.values():
        start_again_now(job)
    for how in jobs:
        run_dir = runs[how] / "run"
        wait_for_metrics(run_dir)
        # No `resume=` was typed: each continued by itself, and tested its final weights.
        assert "resume: continuing the requeued job from" in (run_dir / "train.log").read_text(), how
        assert final_metrics(run_dir) == uninterrupted, how


def wait_for_metrics(run_dir: Path) -> None:
    metrics = RunDir(run_dir).metrics
    wait_for(lambda: [metrics] if metrics.exists() else [])


@pytest.mark.slow
def test_a_requeued_ddp_run_continues_by_itself_to_the_uninterrupted_ddp_metrics(srun_ddp, tmp_path):
    """Two processes under srun (2 CPUs). SIGUSR1 goes to both (`sbatch --signal=USR1@<s>` without `B:`);
    they stop after the same epoch, process 0 asks SLURM to requeue the job, and both continue from the
    checkpoint, to the metrics of the same two processes uninterrupted."""
    job = batch_job(tmp_path / "usr1", tmp_path / "usr1" / "run", ddp=True)
    last = RunDir(tmp_path / "usr1" / "run").last_checkpoint
    wait_for(lambda: [last] if last.exists() else [], seconds=240)
    subprocess.run(["scancel", "--signal=USR1", job], check=True)
    start_again_now(job)
    wait_for_metrics(tmp_path / "usr1" / "run")
    assert "resume: continuing the requeued job from" in (tmp_path / "usr1" / "run" / "train.log").read_text()
    assert final_metrics(tmp_path / "usr1" / "run") == final_metrics(srun_ddp)


@pytest.mark.slow
def test_a_sweep_job_preempted_through_submitit_continues_by_itself(uninterrupted, tmp_path):
    command = [sys.executable, "src/train.py", "-m", "hydra/launcher=slurm", *PREEMPTED, f"hydra.sweep.dir={tmp_path}"]
    with started(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as sweep:
        checkpoint = wait_for(lambda: list(tmp_path.glob("000_*/checkpoints/last.ckpt")))
        job = next(p.name for p in (tmp_path / ".submitit").iterdir() if p.is_dir())
        subprocess.run(["scancel", "--signal=USR2", job], check=True)  # submitit's checkpoint-and-requeue signal
        start_again_now(job)
        stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, stderr[-3000:]
    job_dir = checkpoint.parents[1]
    assert "resume: continuing the requeued job from" in (job_dir / "train.log").read_text()
    assert final_metrics(job_dir) == uninterrupted


# -- jobs that end without a result ----------------------------------------------------------------

# On this cluster (no accounting: sacct fails, as on many small clusters) a job that died before Python
# was waited for forever. The bound: the launcher's look at SLURM (2, 4, 8 s... after the submission),
# then 15 s once for result files; the sweep must end well within it.
BOUND_S = 120


@pytest.mark.slow
def test_a_sweep_whose_jobs_die_before_python_ends_with_them_failed_and_why(tmp_path):
    setup = '+hydra.launcher.setup=["echo module python/3.11 not found >&2","exit 3"]'
    sweep = ("-m", "hydra/launcher=slurm", setup, "seed=0,1", EPOCHS, f"hydra.sweep.dir={tmp_path}")
    result = run_entry("train", *sweep, timeout=BOUND_S)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: sweep job 0 (seed=0 trainer.max_epochs=20) ended without a result: SLURM job ")
    assert "FAILED, exit code 3:0, its stderr ends: module python/3.11 not found (" in last
    assert f"continue the sweep with the same command and hydra.sweep.dir={tmp_path} to run it again" in last
    rows = summary_rows(tmp_path)
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert "sweep job 1 (seed=1 trainer.max_epochs=20) ended without a result" in rows[1]["reason"]
    # Recorded in each job's own directory, as a job that failed in Python would be.
    first, _ = job_dirs(tmp_path)
    assert "ended without a result" in (first / "train.log").read_text()
    assert not RunDir(first).metrics.exists()


@pytest.mark.slow
def test_a_killed_job_ends_failed_and_the_other_jobs_complete(tmp_path):
    command = [sys.executable, "src/train.py", "-m", "hydra/launcher=slurm", "trainer.max_epochs=20,1000000"]
    command += [f"hydra.sweep.dir={tmp_path}"]
    with started(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as sweep:
        wait_for(lambda: list(tmp_path.glob("001_*/train.log")))
        (array,) = {p.name.split("_")[0] for p in (tmp_path / ".submitit").iterdir() if p.is_dir()}
        subprocess.run(["scancel", "--signal=KILL", f"{array}_1"], check=True)  # as the kernel's OOM killer would
        _, stderr = sweep.communicate(timeout=BOUND_S)
    assert sweep.returncode == 2, stderr[-3000:]
    ok, killed = summary_rows(tmp_path)
    assert ok["status"] == "ok" and ok["epochs"] == "20"
    assert killed["status"] == "failed" and f"ended without a result: SLURM job {array}_1 " in killed["reason"]


def summary_rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv", newline="") as file:
        return list(csv.DictReader(file))
