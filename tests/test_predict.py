"""predict.py never destroys a file, and keeps train.py's contract: its exit statuses, its one-line
messages, and no line on stderr that is not its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cluster_logreg.core.errors import UserError
from cluster_logreg.core.run_dir import RunDir
from helpers import REPO, predict_in_process, run_command, run_entry, started, the_error_line


def points(path: Path, n: int = 3) -> Path:
    rows = np.random.default_rng(0).normal(1.3, 3.0, size=(n, 2))
    np.savetxt(path, rows, fmt="%.4f", delimiter=",", header="x0,x1", comments="")
    return path


@pytest.mark.cli
@pytest.mark.parametrize("spelling", ["the same path", "another spelling", "a symlink"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_read(spelling, default_run, tmp_path):
    given = points(tmp_path / "points.csv")
    before = given.read_bytes()
    (tmp_path / "sub").mkdir()
    output = {
        "the same path": given,
        "another spelling": tmp_path / "sub" / ".." / "." / "points.csv",
        "a symlink": tmp_path / "sub" / "link.csv",
    }[spelling]
    if spelling == "a symlink":
        output.symlink_to(given)
    run = f"hydra.run.dir={tmp_path / 'run'}"
    result = run_entry("predict", f"ckpt_path={default_run}", f"input={given}", f"output={output}", run)
    line = the_error_line(result)
    assert line == f"error: output='{output}' is the input file (input='{given}'); valid: another file than the input"
    assert given.read_bytes() == before


@pytest.mark.cli
def test_a_path_through_a_directory_that_does_not_exist_is_checked_where_it_leads(default_run, tmp_path):
    """`new/../points.csv` is ./points.csv once `new` exists: the input (once replaced, exit 0), another
    file (once overwritten), or a new file, written where it leads and creating no `new`."""
    given = points(tmp_path / "points.csv")
    before = given.read_bytes()
    predict = [sys.executable, str(REPO / "src" / "predict.py"), f"ckpt_path={default_run}", "input=points.csv"]
    result = run_command([*predict, "output=new/../points.csv", "hydra.run.dir=p1"], cwd=tmp_path)
    assert the_error_line(result) == (
        "error: output='new/../points.csv' is the input file (input='points.csv'); valid: another file than the input"
    )
    (tmp_path / "notes.csv").write_text("my,own\n1,2\n")
    result = run_command([*predict, "output=new2/../notes.csv", "hydra.run.dir=p2"], cwd=tmp_path)
    notes = tmp_path / "notes.csv"
    assert the_error_line(result).startswith(
        f"error: output='new2/../notes.csv' is an existing file that predict.py did not write ({notes})"
    )
    assert given.read_bytes() == before and (tmp_path / "notes.csv").read_text() == "my,own\n1,2\n"
    result = run_command([*predict, "output=new3/../labels.csv", "hydra.run.dir=p3"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "labels.csv").read_text().count("\n") == 4
    assert not any((tmp_path / new).exists() for new in ("new", "new2", "new3"))


def test_a_file_that_appears_at_the_output_while_predicting_is_not_replaced(default_run, tmp_path, monkeypatch):
    """The check is made again just before the rename: a file written there meanwhile is kept."""
    from cluster_logreg.training import predict as predict_module

    given, output = points(tmp_path / "points.csv"), tmp_path / "out.csv"
    write = predict_module.CsvPredictionWriter.write_on_batch_end

    def someone_writes_the_output_meanwhile(self, *args):
        output.write_text("my,own\n")
        write(self, *args)

    monkeypatch.setattr(predict_module.CsvPredictionWriter, "write_on_batch_end", someone_writes_the_output_meanwhile)
    with pytest.raises(UserError, match="is an existing file that predict.py did not write"):
        predict_in_process(tmp_path / "p", f"ckpt_path={default_run}", f"input={given}", f"output={output}")
    assert output.read_text() == "my,own\n" and not list(tmp_path.glob(".out.csv.*"))


@pytest.mark.parametrize("way", ["a hard link", "a symlinked directory"])
def test_another_way_to_the_input_is_the_input(way, default_run, tmp_path):
    given = points(tmp_path / "points.csv")
    if way == "a hard link":
        output = tmp_path / "linked.csv"
        os.link(given, output)
    else:
        (tmp_path / "here").symlink_to(tmp_path, target_is_directory=True)
        output = tmp_path / "here" / "points.csv"
    with pytest.raises(UserError, match=r"^output='.*' is the input file"):
        predict_in_process(tmp_path / "p", f"ckpt_path={default_run}", f"input={given}", f"output={output}")


def test_an_existing_file_is_replaced_only_if_predict_wrote_it(default_run, tmp_path):
    given = points(tmp_path / "points.csv")
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\n1,2\n")
    with pytest.raises(UserError) as refused:
        predict_in_process(tmp_path / "p", f"ckpt_path={default_run}", f"input={given}", f"output={notes}")
    assert str(refused.value) == (
        f"output='{notes}' is an existing file that predict.py did not write; valid: a path that does not exist yet, "
        "or an earlier output of predict.py (replaced)"
    )
    assert notes.read_text() == "my,own\n1,2\n"
    # An earlier output is replaced (predicting again after retraining, say); so is the checkpoint never.
    labels = tmp_path / "labels.csv"
    predict_in_process(tmp_path / "p1", f"ckpt_path={default_run}", f"input={given}", f"output={labels}")
    labels.write_text(labels.read_text().replace("\n", "\r\n"))  # as a spreadsheet saves it
    predict_in_process(tmp_path / "p2", f"ckpt_path={default_run}", f"input={given}", f"output={labels}")
    assert labels.read_text().count("\n") == 4 and "\r" not in labels.read_text()
    for own in (RunDir(default_run).last_checkpoint, RunDir(default_run).metrics):  # nor a run's own files
        with pytest.raises(UserError, match="is an existing file that predict.py did not write"):
            predict_in_process(tmp_path / "p3", f"ckpt_path={default_run}", f"input={given}", f"output={own}")


@pytest.mark.slow
@pytest.mark.cli
def test_a_prediction_stopped_by_a_signal_exits_as_train_does_and_leaves_no_file(default_run, tmp_path):
    # Ctrl-C; SIGTERM takes the same handler (training.predict), and train's tests send it.
    signum = signal.SIGINT
    # Long enough to be caught part-way: 500,000 rows, 100 at a time (the whole file takes seconds).
    given = points(tmp_path / "points.csv", n=500_000)
    output = tmp_path / "labels.csv"
    command = [sys.executable, "src/predict.py", f"ckpt_path={default_run}", f"input={given}", f"output={output}"]
    command += ["batch_size=100", f"hydra.run.dir={tmp_path / 'run'}"]
    with started(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        partial = tmp_path / f".labels.csv.{process.pid}.partial"  # files.partial_path's, in that process
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.stat().st_size > 1000) and process.poll() is None:
            assert time.monotonic() < deadline, "the prediction never started writing"
            time.sleep(0.01)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    name = signal.Signals(signum).name
    said = f"interrupted: stopped by {name}: {output} was not written (run the same command again)"
    assert stderr.splitlines() == [said]
    assert not output.exists() and not partial.exists()
    assert f"interrupted: stopped by {name}" in (tmp_path / "run" / "predict.log").read_text()


@pytest.mark.slow
@pytest.mark.cli
def test_predict_prints_only_its_own_lines_even_on_a_slurm_login_node(default_run, tmp_path):
    """Lightning's banners, tips, deprecation warnings and its SLURM advice (srun on PATH) stay out."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    given = tmp_path / "points.csv"
    given.write_text("x0,x1\n3.8,3.8\n-1.2,-1.2\n")  # the two clusters' centres
    result = run_entry("predict", f"ckpt_path={default_run}", f"input={given}", f"hydra.run.dir={tmp_path}/p", env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    loggers = {line.split("][")[1] for line in result.stdout.splitlines()}
    assert loggers == {"cluster_logreg.training.predict"}, result.stdout
    predictions = RunDir(tmp_path / "p").predictions
    assert f"Predictions: {predictions}" in result.stdout
    lines = predictions.read_text().splitlines()
    assert lines[0] == "probability_of_1,predicted_label" and [line.split(",")[1] for line in lines[1:]] == ["0", "1"]
    assert float(lines[1].split(",")[0]) < 0.1 < 0.9 < float(lines[2].split(",")[0])
    # A mistake found while predicting (after Lightning has started): one line, nothing before it.
    (tmp_path / "bad.csv").write_text("x0,x1\n1,2\n3,four\n")
    bad = (f"ckpt_path={default_run}", f"input={tmp_path}/bad.csv", f"output={tmp_path}/x.csv")
    result = run_entry("predict", *bad, f"hydra.run.dir={tmp_path}/bad", env=env)
    assert the_error_line(result) == (
        f"error: input='{tmp_path}/bad.csv' has 'four' in row 3, column 'x1'; valid: numbers in every feature column"
    )
