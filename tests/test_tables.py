"""The classifier on tables: your own CSV (a planted logistic model), the breast-cancer data against
scikit-learn, predict.py on new points, eval on other data, and every bad input refused by name.
The trained run they predict and evaluate with is the session's (conftest.default_run)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import cluster_logreg.core.table as table_module
from cluster_logreg.core.csv_file import header
from cluster_logreg.core.errors import UserError
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.core.table import read_table
from cluster_logreg.training.trained import load_trained
from helpers import (
    checked_config,
    evaluate_in_process,
    predict_in_process,
    read_metrics,
    refusal,
    run_entry,
    the_error_line,
    train_in_process,
)

PLANTED_W, PLANTED_C = np.array([1.5, -2.0, 0.7, 0.0, 3.0]), 0.5


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def planted_sample(path: Path, n: int, seed: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """`n` rows of 5 features on different scales and a label drawn from the planted logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)) * np.array([1.0, 2.0, 0.5, 1.0, 10.0]) + np.array([0.0, 5.0, -1.0, 0.0, 100.0])
    score = (x - np.array([0.0, 5.0, -1.0, 0.0, 100.0])) / np.array([1.0, 2.0, 0.5, 1.0, 10.0]) @ PLANTED_W + PLANTED_C
    y = rng.random(n) < 1 / (1 + np.exp(-score))
    rows = [[*map(float, row), "yes" if label else "no"] for row, label in zip(x, y, strict=True)]
    return write_csv(path, ["a", "b", "c", "d", "e", "outcome"], rows), score, y


def test_a_table_from_a_planted_logistic_model_trains_to_that_models_accuracy(tmp_path):
    train_csv, _, _ = planted_sample(tmp_path / "train.csv", 20_000, seed=1)
    run = tmp_path / "run"
    metrics = train_in_process(
        run, "data=csv", f"data.path={train_csv}", "data.target=outcome", "data.positive_class=yes",
        "model.optimizer.lr=0.1", "trainer.max_epochs=300",
    )  # fmt: skip
    assert metrics["status"] == "completed" and "acc/true" not in metrics and "bayes_acc" not in metrics
    assert metrics["optimized_metric"] == "acc/val_best"  # no known distribution: auto falls back
    # On a fresh sample: the planted model's own accuracy (the best any classifier can do, on average).
    fresh_csv, score, y = planted_sample(tmp_path / "fresh.csv", 20_000, seed=2)
    planted = float(np.mean((score > 0) == y))
    evaluated = evaluate_in_process(tmp_path / "eval", f"ckpt_path={run}", f"evaluate_on={fresh_csv}")
    assert evaluated["acc/test"] == pytest.approx(planted, abs=0.01)
    assert RunDir(run).decision_boundary.is_file()  # 5 features: the per-class score picture


def test_the_breast_cancer_preset_matches_scikit_learns_logistic_regression(tmp_path):
    from hydra.utils import instantiate
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from helpers import compose_config

    metrics = train_in_process(tmp_path, "experiment=breast_cancer")
    datamodule = instantiate(compose_config(overrides=["experiment=breast_cancer"]).data)
    datamodule.setup()
    (x_train, y_train), (x_test, y_test) = datamodule.splits["train"], datamodule.splits["test"]
    scaler = StandardScaler().fit(x_train.numpy())
    reference = LogisticRegression(max_iter=5000).fit(scaler.transform(x_train.numpy()), y_train.numpy())
    sklearn_acc = reference.score(scaler.transform(x_test.numpy()), y_test.numpy())
    assert len(y_test) == 113 and sklearn_acc > 0.95  # 20 % of each class: 42 malignant, 71 benign
    assert metrics["acc/test"] == pytest.approx(sklearn_acc, abs=0.02)
    model, _ = load_trained(RunDir(tmp_path).last_checkpoint)
    assert model.classes == ["benign", "malignant"] and model.hparams.target == "diagnosis"  # class 1: malignant


def test_predict_writes_the_models_own_probabilities(default_run, tmp_path):
    run = default_run
    points = np.random.default_rng(0).normal(1.3, 3.0, size=(1000, 2))
    # An extra column (an id) is ignored; the header names the model's columns, in any order.
    rows = [[i, y_, x_] for i, (x_, y_) in enumerate(points)]
    input_csv = write_csv(tmp_path / "points.csv", ["id", "x1", "x0"], rows)
    output = predict_in_process(tmp_path / "predict", f"ckpt_path={run}", f"input={input_csv}", "batch_size=300")
    with open(output, newline="") as file:
        written = list(csv.DictReader(file))
    model, _ = load_trained(RunDir(run).last_checkpoint)
    with torch.no_grad():
        expected = model.predict_proba(torch.tensor(points, dtype=torch.float32)).double()
    assert list(written[0]) == ["probability_of_1", "predicted_label"]
    assert len(written) == 1000
    for row, p in zip(written, expected.tolist(), strict=True):
        assert float(row["probability_of_1"]) == pytest.approx(p, abs=1e-6)
        assert row["predicted_label"] == ("1" if p > 0.5 else "0")


def test_eval_takes_a_run_directory_and_a_fresh_draw(default_run, tmp_path):
    test = evaluate_in_process(tmp_path / "test", f"ckpt_path={default_run}")
    assert test["acc/test"] == read_metrics(default_run)["acc/test"]
    fresh = evaluate_in_process(tmp_path / "fresh", f"ckpt_path={default_run}", "evaluate_on=fresh")
    assert fresh["evaluated_on"] == "fresh" and fresh["loss/test"] != test["loss/test"]  # 2000 other points
    assert fresh["acc/true"] == test["acc/true"]  # the same model, the same distribution


# -- every bad input: one line naming the key ------------------------------------------------------


GOOD = [["1.0", "2.0", "a"], ["2.0", "1.0", "b"]] * 10


@pytest.mark.parametrize(
    ("name", "header", "rows", "settings", "line"),
    [
        ("no target", ["u", "v", "w"], GOOD, ["data.target=label"], "data.target='label' is not a column"),
        ("one class", ["u", "v", "label"], [["1", "2", "a"]] * 20, [], "has 1 distinct value ('a') in"),
        ("three classes", ["u", "v", "label"], [*GOOD, ["1", "1", "c"]], [], "has 3 distinct values ('a', 'b', 'c')"),
        ("text feature", ["u", "v", "label"], [*GOOD[:5], ["1", "high", "a"]], [], "'high' in row 7, column 'v'"),
        ("NaN", ["u", "v", "label"], [*GOOD[:3], ["nan", "1", "b"]], [], "'nan' in row 5, column 'u'"),
        ("beyond float32", ["u", "v", "label"], [*GOOD[:3], ["1", "-1e39", "b"]], [], "'-1e39' in row 5, column 'v'"),
        ("short row", ["u", "v", "label"], [*GOOD[:3], ["1", "b"]], [], "has 2 cells in row 5"),
        ("header only", ["u", "v", "label"], [], [], "has a header only"),
        ("unknown class", ["u", "v", "label"], GOOD, ["data.positive_class=c"], "data.positive_class='c'"),
    ],
)
def test_a_bad_table_is_refused_before_training(name, header, rows, settings, line, tmp_path):
    path = write_csv(tmp_path / "table.csv", header, rows)
    found = refusal("data=csv", f"data.path={path}", "data.target=label", *settings)
    assert line in found and "valid:" in found, found


def test_an_empty_or_missing_file_is_refused(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in refusal("data=csv", f"data.path={tmp_path / 'empty.csv'}", "data.target=label")
    assert "is not a file" in refusal("data=csv", f"data.path={tmp_path / 'nope.csv'}", "data.target=label")


# What spreadsheets and hand edits put in a CSV: what would be read as other columns or classes than
# the file means is refused, naming the column; what has one reading is read so.
BAD_FILES = [
    ("a name twice", "u,v,v,label\n1,2,3,a\n", "names the column 'v' twice in its header (columns 2 and 3)"),
    ("the target twice", "label,u,label\na,1,b\n", "names the column 'label' twice in its header (columns 1 and 3)"),
    ("an unnamed column", ",u,v,label\n0,1,2,a\n", "has a column without a name (column 1 of 4 in its header)"),
    ("a trailing comma", "u,v,label,\n1,2,a,\n", "has a column without a name (column 4 of 4 in its header)"),
    ("semicolons", "u;v;label\n1;2;a\n", "has its cells separated by semicolons, not commas"),
    ("tabs", "u\tv\tlabel\n1\t2\ta\n", "has its cells separated by tabs, not commas"),
    ("an empty feature cell", "u,v,label\n1,2,a\n1,,b\n", "has an empty cell in row 3, column 'v'"),
    ("a decimal comma", 'u,v,label\n1,"2,5",a\n', "has '2,5' in row 2, column 'v' (a decimal comma?"),
    ("an unclosed quote", 'u,v,label\n1,"2,a\n3,4,b\n', "cannot be read as CSV (unexpected end of data in row 2)"),
    ("a stray quote", 'u,v,label\n1,"2"x,a\n', "cannot be read as CSV (',' expected after '\"' in row 2)"),
]
BAD_TARGETS = [  # refused as data.target's: the column named is not what the file holds
    ("no header row", "1.5,2,0\n2,1,1\n", "its first row holds numbers (1.5, 2, 0), not column names"),
    ("an empty class", "u,v,label\n1,2,a\n2,1,b\n3,3,\n", "has an empty cell at row 4 in"),
    ("a class in two cases", "u,v,label\n1,2,Yes\n2,1,yes\n", "has one class written two ways ('Yes' and 'yes')"),
    ("a number two ways", "u,v,label\n1,2,1\n2,1,1.0\n", "has one class written two ways ('1' and '1.0')"),
]


@pytest.mark.parametrize(
    ("name", "content", "line"), BAD_FILES + BAD_TARGETS, ids=[c[0] for c in BAD_FILES + BAD_TARGETS]
)
def test_a_file_whose_columns_or_classes_are_ambiguous_is_refused(name, content, line, tmp_path):
    path = tmp_path / "table.csv"
    path.write_text(content, newline="")
    found = refusal("data=csv", f"data.path={path}", "data.target=label")
    key = "data.target='label'" if (name, content, line) in BAD_TARGETS else f"data.path='{path}'"
    assert found.startswith(key) and line in found and "; valid: " in found, found


def test_a_file_that_is_not_utf8_is_refused_naming_the_byte(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("u,v,label\n1,2,caf\u00e9\n2,1,b\n".encode("latin-1"))
    found = refusal("data=csv", f"data.path={path}", "data.target=label")
    assert found.startswith(f"data.path='{path}' is not UTF-8 text (byte 0xe9 in line 2)"), found
    assert "valid: a CSV file of UTF-8 text" in found


def test_the_features_named_are_the_models_inputs_and_each_only_once(tmp_path):
    path = write_csv(tmp_path / "table.csv", ["u", "v", "w", "label"], [[*row[:2], "9", row[2]] for row in GOOD])
    cfg = checked_config("data=csv", f"data.path={path}", "data.target=label", "data.features=[w,u]")
    assert instantiate(cfg.data).model_inputs()["feature_names"] == ["w", "u"]
    found = refusal("data=csv", f"data.path={path}", "data.target=label", "data.features=[u,u]")
    assert found == "data.features=['u', 'u'] names 'u' twice; valid: each column once"


@pytest.mark.parametrize("target_first", [True, False], ids=["target first", "target last"])
def test_a_byte_order_mark_is_not_part_of_the_first_name(target_first, tmp_path):
    """Spreadsheet programs start a 'CSV UTF-8' file with one: the columns are the names as shown."""
    names = ["label", "x0", "x1"] if target_first else ["x0", "x1", "label"]
    rows = [["a", "1", "2"], ["b", "2", "1"]] if target_first else [["1", "2", "a"], ["2", "1", "b"]]
    path = tmp_path / "exported.csv"
    path.write_text("\ufeff" + ",".join(names) + "\r\n" + "".join(",".join(r) + "\r\n" for r in rows * 10), newline="")
    table = read_table(str(path), "label")
    assert table.features == ("x0", "x1") and table.classes == ("a", "b")
    assert table.x[:2].tolist() == [[1.0, 2.0], [2.0, 1.0]]
    assert header(path, "input") == names  # predict.py's input likewise


def test_quoted_cells_blank_rows_and_numeric_classes_are_read_as_meant(tmp_path):
    path = tmp_path / "edited.csv"
    # Quoted names and numbers, a blank line, a row of empty cells (a spreadsheet's trailing rows), CRLF.
    path.write_text('"size, cm"," weight ",class\r\n"1.5",2,10\r\n\r\n2.5,1,2\r\n,,\r\n3,3,10\r\n', newline="")
    table = read_table(str(path), "class")
    assert table.features == ("size, cm", "weight")
    assert table.x.tolist() == [[1.5, 2.0], [2.5, 1.0], [3.0, 3.0]]
    assert table.classes == ("2", "10") and table.y.tolist() == [1.0, 0.0, 1.0]  # numbers by value: 2 < 10


def test_a_table_larger_than_memory_is_refused_before_reading_it(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "table.csv", ["u", "v", "label"], GOOD)
    monkeypatch.setattr(table_module, "available_memory", lambda: 100)  # bytes: this file needs more
    found = refusal("data=csv", f"data.path={path}", "data.target=label")
    assert found.startswith(f"data.path='{path}' is ") and "reading it would need about" in found


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("missing column", "x0,y\n1,2\n", "has no column 'x1' (its columns: x0, y)"),
        ("the column twice", "x0,x1,x1\n1,2,3\n", "names the column 'x1' twice in its header (columns 2 and 3)"),
        ("text", "x0,x1\n1,2\n3,four\n", "'four' in row 3, column 'x1'"),
        ("NaN", "x0,x1\nnan,2\n", "'nan' in row 2, column 'x0'"),
        ("beyond float32", "x0,x1\n1,2\n-1e39,2\n", "'-1e39' in row 3, column 'x0'; valid: numbers that fit float32"),
        ("a score beyond float32", "x0,x1\n1,2\n\n3e38,3e38\n", "has a row whose score overflows float32 (row 4: "),
        ("short row", "x0,x1\n1,2\n3\n", "has 1 cells in row 3"),
        ("empty", "", "is empty"),
        ("header only", "x0,x1\n", "has a header only"),
    ],
)
def test_bad_input_to_predict_is_refused_and_leaves_no_output(name, content, line, default_run, tmp_path):
    path = tmp_path / "input.csv"
    path.write_text(content)
    with pytest.raises(UserError) as refused:
        predict_in_process(tmp_path / "predict", f"ckpt_path={default_run}", f"input={path}")
    assert str(refused.value).startswith(f"input='{path}'") and line in str(refused.value)
    assert not RunDir(tmp_path / "predict").predictions.exists()


@pytest.mark.parametrize(
    ("config_name", "overrides", "line"),
    [
        ("train", ["+seeed=5"], "seeed=5 is not a setting; valid: one of the config's keys (did you mean seed?)"),
        ("train", ["+data.n_per_clas=5"], "data.n_per_clas=5 is not a setting; valid: one of the config's keys "),
        ("eval", ["ckpt_path=x.ckpt", "+data.n_per_class=100000"], "data.n_per_class=100000 is not a setting"),
        ("predict", ["ckpt_path=x.ckpt", "input=x.csv", "+threshold=0.3"], "threshold=0.3 is not a setting"),
    ],
)
def test_a_setting_the_program_does_not_know_is_refused_not_ignored(config_name, overrides, line, tmp_path):
    assert line in refusal(*overrides, config_name=config_name)


def test_eval_on_data_that_is_not_there_is_refused(default_run):
    found = refusal(f"ckpt_path={default_run}", "evaluate_on=nowhere.csv", config_name="eval")
    assert found.startswith("evaluate_on='nowhere.csv' is neither") and "valid: test | fresh | a CSV file" in found


@pytest.mark.cli
def test_numbers_beyond_float32_are_refused_with_their_row_and_column(default_run, tmp_path):
    """The quoted cases: 1e300 in a training table, 1e39 and -1e39 in predict's input (once written nan,0)."""
    table = write_csv(tmp_path / "table.csv", ["u", "v", "label"], [*GOOD[:3], ["1e300", "1", "b"], *GOOD[3:]])
    run = f"hydra.run.dir={tmp_path / 'r'}"
    line = the_error_line(run_entry("train", "data=csv", f"data.path={table}", "data.target=label", run))
    assert line == (
        f"error: data.path='{table}' has '1e300' in row 5, column 'u'; valid: numbers that fit float32 (|x| <= 3.4e38)"
    )
    points = tmp_path / "points.csv"
    points.write_text("x0,x1\n1e39,1\n-1e39,1\n")
    result = run_entry("predict", f"ckpt_path={default_run}", f"input={points}", f"hydra.run.dir={tmp_path / 'p'}")
    assert the_error_line(result).startswith(f"error: input='{points}' has '1e39' in row 2, column 'x0'; valid: ")
    assert not RunDir(tmp_path / "p").predictions.exists()


@pytest.mark.cli
def test_a_bad_table_and_an_unknown_setting_on_the_command_line(tmp_path):
    table = write_csv(tmp_path / "table.csv", ["u", "v", "label"], [["1", "2", "a"]] * 5)
    run_dir = f"hydra.run.dir={tmp_path / 'r'}"
    line = the_error_line(run_entry("train", "data=csv", f"data.path={table}", "data.target=label", run_dir))
    assert (
        line.startswith("error: data.target='label' has 1 distinct value ('a') in")
        and "valid: a column with exactly two" in line
    )
    line = the_error_line(run_entry("train", "+seeed=5", run_dir))
    assert "did you mean seed?" in line
