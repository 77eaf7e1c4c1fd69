"""The sweep summary rebuilt from job directories as a sweep leaves them (written here by hand)."""

import csv
import json
import re
from pathlib import Path

import pytest

from cluster_logreg.core.metrics import ACC_TRUE, EXCESS_ERROR, LOSS_VAL
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.settings_table import sign_test
from cluster_logreg.sweeps.summary import SweepSummary


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def job(sweep_dir: Path, number: int, record: dict | None, metrics: dict | None, overrides: str = "") -> None:
    """A job directory: Hydra's record of its overrides (`seed=<number>` unless given), its status
    record and its metrics where given."""
    overrides = overrides or f"seed={number}"
    run = RunDir(sweep_dir / f"{number}_{overrides.replace(' ', ',')}")
    run.overrides.parent.mkdir(parents=True)
    run.overrides.write_text("".join(f"- {o}\n" for o in overrides.split()))
    if record is not None:
        run.job_status.write_text(json.dumps({"job": number, "overrides": overrides, **record}))
    if metrics is not None:
        run.metrics.write_text(json.dumps(metrics))


def test_summary_of_a_sweep_with_an_unfinished_job_ranking_by_a_loss(tmp_path):
    for number, (status, loss) in enumerate([("ok", 0.3), ("ok", 0.1), ("failed", None), (None, None)]):
        record = {"status": status, "reason": "boom" if status == "failed" else ""} if status else None
        job(tmp_path, number, record, {"loss/val": loss, "acc/val_best": 1.0} if loss is not None else None)
    table = SweepSummary(rank_by="loss/val").write(tmp_path)
    rows = read_summary(tmp_path)
    assert [(r["job"], r["status"], r["best"]) for r in rows] == [
        ("0", "ok", ""),
        ("1", "ok", "yes"),
        ("2", "failed", ""),
        ("3", "incomplete", ""),
    ]
    assert "failed: boom" in table and "seed=3" in table
    # Seeds are all it varied: one setting above the jobs, and the best job below it.
    assert table.startswith("One setting, by loss/val over 2 seeds: no other setting to compare it with\n")
    assert "\nBest by loss/val (lowest): job 1, seed=1  \n" in table


def test_data_without_a_known_distribution_is_ranked_by_a_validation_metric(tmp_path):
    # A job's metrics name the metric `optimized_metric=auto` stood for: here what it falls back to.
    for number, acc in enumerate((0.9, 0.95)):
        metrics = {"acc/val_best": acc, "loss/val": 0.2, "optimized_metric": "acc/val_best"}
        job(tmp_path, number, {"status": "ok", "reason": ""}, metrics)
    table = SweepSummary().write(tmp_path)
    assert "\nBest by acc/val_best (highest): job 1, seed=1  \n" in table
    assert [r["best"] for r in read_summary(tmp_path)] == ["", "yes"]
    header = next(line for line in table.splitlines() if line.startswith("| job"))
    assert "acc/val_best" in header  # its column is shown


# -- where seeds are swept: one row per setting, and whether the best one wins beyond seed noise ----

LRS = ("0.01", "0.1", "1.0")
# acc/true of each learning rate at seeds 0, 1, 2: lr=0.1 is ahead of lr=1.0 in every seed.
ACCS = {"0.01": [0.9990, 0.9992, 0.9991], "0.1": [0.9996, 0.9995, 0.9997], "1.0": [0.9994, 0.9993, 0.9995]}
LOSSES = {"0.01": [0.004, 0.005, 0.003], "0.1": [3e-4, 2e-4, 4e-4], "1.0": [2e-9, 1e-9, 3e-9], "1e4": [0.0] * 3}
DIVERGED = {"status": "diverged", "reason": "the run diverged: loss/train became nan by epoch 10"}


def lr_seed_grid(sweep_dir: Path, results: dict[str, list], metric: str = ACC_TRUE, losses: dict = LOSSES) -> None:
    """Jobs in Hydra's order (learning rate outer, seed inner); a result is a value of `metric`, or
    `DIVERGED`, or "failed"."""
    number = 0
    for lr, by_seed in results.items():
        for seed, result in enumerate(by_seed):
            overrides = f"model.optimizer.lr={lr} seed={seed}"
            record = {"status": "failed", "reason": "boom"} if result == "failed" else {"status": "ok", "reason": ""}
            if result == "failed":
                metrics = None
            elif result == DIVERGED:
                metrics = DIVERGED
            else:
                metrics = {metric: result, LOSS_VAL: losses[lr][seed], "optimized_metric": metric, "bayes_acc": 0.99995}
            job(sweep_dir, number, record, metrics, overrides)
            number += 1


def read_settings(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary_settings.csv") as f:
        return list(csv.DictReader(f))


def test_a_seed_sweep_summary_starts_with_the_settings_best_first_and_the_jobs_below(tmp_path):
    lr_seed_grid(tmp_path, ACCS)
    table = SweepSummary().write(tmp_path)
    assert (tmp_path / "summary.md").read_text() == table
    lines = table.splitlines()
    assert lines[:10] == [
        "Best setting by acc/true (median of 3 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0"
        " in 3 of 3 shared seeds (sign test p = 0.125): beyond seed noise",
        "",
        "| setting | acc/true median | acc/true spread | seeds ok | not ok | loss/val median |",
        "|---|---|---|---|---|---|",
        "| model.optimizer.lr=0.1 | 0.999600 | 0.000200 | 3 | 0 | 0.0003 |",
        "| model.optimizer.lr=1.0 | 0.999400 | 0.000200 | 3 | 0 | 2e-09 |",
        "| model.optimizer.lr=0.01 | 0.999100 | 0.000200 | 3 | 0 | 0.004 |",
        "",
        "Best by acc/true (highest): job 5, model.optimizer.lr=0.1 seed=2  ",
        "Bayes-optimal accuracy on this data (the ceiling of acc/true): 0.999950  ",
    ]
    # How to see it in TensorBoard (tests/test_tensorboard.py follows the address).
    assert lines[10].startswith(f"TensorBoard: `tensorboard --logdir {tmp_path} --host 127.0.0.1`, then <http")
    assert lines[11] == "" and lines[12].startswith("| job | overrides | status |")
    assert len(lines) == 12 + 2 + 9  # a row per job
    # summary.csv stays one row per job; the settings have their own file, with every digit.
    assert [r["overrides"] for r in read_summary(tmp_path)][:2] == [f"model.optimizer.lr=0.01 seed={s}" for s in (0, 1)]
    settings = read_settings(tmp_path)
    columns = ["setting", "acc/true median", "acc/true spread", "seeds ok", "not ok", "loss/val median"]
    assert list(settings[0]) == columns  # those of summary.md's settings table
    assert [r["setting"] for r in settings] == [f"model.optimizer.lr={lr}" for lr in ("0.1", "1.0", "0.01")]
    assert [float(r["acc/true median"]) for r in settings] == [0.9996, 0.9994, 0.9991]
    assert [float(r["acc/true spread"]) for r in settings] == pytest.approx([0.0002] * 3, abs=1e-12)
    assert [(r["seeds ok"], r["not ok"]) for r in settings] == [("3", "0")] * 3
    assert [float(r["loss/val median"]) for r in settings] == [3e-4, 2e-9, 0.004]


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        # A tie inside a seed is not a win: 2 of 3, p = (3 + 1) / 8.
        (
            ACCS | {"1.0": [0.9994, 0.9995, 0.9995]},
            "(median of 3 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0 in 2 of 3 shared seeds"
            " (sign test p = 0.5): within seed noise",
        ),
        # Winning both of two seeds is what a fair coin does once in four.
        (
            {lr: accs[:2] for lr, accs in ACCS.items()},
            "(median of 2 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0 in 2 of 2 shared seeds"
            " (sign test p = 0.25): too few shared seeds to tell (3 or more needed)",
        ),
        # A diverged seed: ranked by its two ok seeds, compared over the two seeds both settings have.
        (
            ACCS | {"0.1": [0.9996, 0.9995, DIVERGED]},
            "(median of 2 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0 in 2 of 2 shared seeds"
            " (sign test p = 0.25): too few shared seeds to tell (3 or more needed)",
        ),
    ],
    ids=["within seed noise", "too few seeds", "a diverged seed"],
)
def test_the_verdict_on_the_best_setting_against_the_runner_up(tmp_path, results, verdict):
    lr_seed_grid(tmp_path, results)
    table = SweepSummary().write(tmp_path)
    assert table.splitlines()[0] == f"Best setting by acc/true {verdict}"


def test_a_setting_with_a_seed_not_ok_shows_it_and_one_with_no_ok_seed_comes_last(tmp_path):
    lr_seed_grid(tmp_path, {"1e4": [DIVERGED] * 3} | ACCS | {"0.1": [0.9996, "failed", DIVERGED]})
    table = SweepSummary().write(tmp_path)
    assert table.splitlines()[4:8] == [
        "| model.optimizer.lr=0.1 | 0.999600 | 0.000000 | 1 | 2 | 0.0003 |",
        "| model.optimizer.lr=1.0 | 0.999400 | 0.000200 | 3 | 0 | 2e-09 |",
        "| model.optimizer.lr=0.01 | 0.999100 | 0.000200 | 3 | 0 | 0.004 |",
        "| model.optimizer.lr=1e4 |  |  | 0 | 3 |  |",
    ]
    assert "in 1 of 1 shared seeds (sign test p = 0.5): too few shared seeds to tell" in table.splitlines()[0]
    assert read_settings(tmp_path)[-1] == {
        "setting": "model.optimizer.lr=1e4",
        "acc/true median": "",
        "acc/true spread": "",
        "seeds ok": "0",
        "not ok": "3",
        "loss/val median": "",
    }


def test_settings_ranked_by_an_error_go_lowest_first_and_five_winning_seeds_are_beyond_noise(tmp_path):
    errors = {"1.0": [3e-4, 2.5e-4, 2.9e-4, 1.3e-4, 3.1e-4], "0.1": [1e-4, 2e-4, 1.5e-4, 1.2e-4, 1.1e-4]}
    lr_seed_grid(tmp_path, errors, metric=EXCESS_ERROR, losses={lr: [0.1] * 5 for lr in errors})
    lines = SweepSummary().write(tmp_path).splitlines()
    assert lines[0] == (
        "Best setting by acc/excess_error (median of 5 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0"
        " in 5 of 5 shared seeds (sign test p = 0.0312): beyond seed noise"
    )
    assert lines[4:6] == [
        "| model.optimizer.lr=0.1 | 0.00012 | 0.0001 | 5 | 0 | 0.1 |",
        "| model.optimizer.lr=1.0 | 0.00029 | 0.00018 | 5 | 0 | 0.1 |",
    ]


def test_the_sign_test_is_the_chance_of_at_least_as_many_wins_for_a_fair_coin():
    assert [sign_test(3, 3), sign_test(5, 5), sign_test(2, 3), sign_test(4, 6)] == [0.125, 0.03125, 0.5, 22 / 64]


def test_without_a_seed_swept_or_with_jobs_ranked_by_different_metrics_there_is_no_settings_table(tmp_path):
    lr_seed_grid(tmp_path / "no seeds", {lr: accs[:1] for lr, accs in ACCS.items()})
    table = SweepSummary().write(tmp_path / "no seeds")
    assert table.startswith("Best by acc/true (highest): job 1, model.optimizer.lr=0.1")
    assert not (tmp_path / "no seeds" / "summary_settings.csv").exists()
    # One job's metrics name another optimised metric: its seeds cannot be compared with the others'.
    lr_seed_grid(tmp_path / "two metrics", ACCS)
    (tmp_path / "two metrics" / "summary_settings.csv").write_text("from an earlier summary")
    metrics = RunDir(next((tmp_path / "two metrics").glob("0_*"))).metrics
    metrics.write_text(json.dumps({"acc/val_best": 0.99, "optimized_metric": "acc/val_best"}))
    assert SweepSummary().write(tmp_path / "two metrics").startswith("Best by acc/val_best (highest): job 0, ")
    assert not (tmp_path / "two metrics" / "summary_settings.csv").exists()


def test_the_figure_says_what_its_thin_and_thick_lines_are_and_which_way_is_better(tmp_path):
    from cluster_logreg.sweeps.figure import sweep_figure
    from cluster_logreg.sweeps.summary_table import job_dirs, job_row

    lr_seed_grid(tmp_path, ACCS)
    figure = sweep_figure([job_row(d) for d in job_dirs(tmp_path)], ACC_TRUE)
    assert figure is not None
    (ax,) = figure.axes  # a panel for the learning rate, none for the seed
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["median of 3 seeds", "seed=0 (thin line)", "seed=1 (thin line)", "seed=2 (thin line)"]
    seed_lines = [line for line in ax.get_lines() if line.get_linewidth() == 1 and len(line.get_xdata())]
    assert sorted(line.get_linestyle() for line in seed_lines) == sorted(["-", "--", ":"])  # one dash pattern a seed
    assert ax.get_ylabel() == "acc/true (higher is better)" and ax.get_xlabel() == "model.optimizer.lr"


@pytest.mark.parametrize(
    ("swept", "runs", "colours"),
    [
        (["model.optimizer.lr", "seed"], ["0_lr=0.1,seed=0", "1_lr=0.1,seed=1", "2_lr=1.0,seed=0"], 2),
        (["seed", "model.optimizer.lr"], ["0_seed=0,lr=0.1", "1_seed=1,lr=0.1", "2_seed=0,lr=1.0"], 2),
        (
            ["data.n_per_class", "model.optimizer.lr", "seed"],
            ["0_n_per_class=5,lr=0.1,seed=0", "1_n_per_class=5,lr=0.1,seed=2"],
            1,
        ),
        (["model.optimizer.lr"], ["0_lr=0.1", "1_lr=1.0"], 2),  # no seeds: a colour a run
        # Under --logdir outputs: a run is named by its sweep's directory too.
        (["model.optimizer.lr", "seed"], ["2026_1/0_lr=0.1,seed=0", "2026_1/1_lr=0.1,seed=1"], 1),
    ],
)
def test_the_tensorboard_address_gives_the_seeds_of_a_setting_one_colour(swept, runs, colours):
    from urllib.parse import parse_qs, urlsplit

    from cluster_logreg.sweeps.tensorboard_link import tensorboard_address

    query = parse_qs(urlsplit(tensorboard_address(swept, "acc/true")).query)
    pattern = re.compile(query["runColorGroup"][0].removeprefix("regex:"))
    assert len({pattern.search(run).groups() for run in runs}) == colours
    assert query["smoothing"] == ["0"]
    pinned = [card["tag"] for card in json.loads(query["pinnedCards"][0])]
    assert pinned == ["acc/excess_error_log10", "model/angle_to_bayes", "model/offset_to_bayes"]
    fallback = parse_qs(urlsplit(tensorboard_address(swept, "acc/val_best")).query)  # data without a population
    assert [card["tag"] for card in json.loads(fallback["pinnedCards"][0])] == ["acc/val_best", "loss/val"]
