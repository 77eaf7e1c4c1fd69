"""The sweep summary rebuilt from job directories as a sweep leaves them (written here by hand)."""

import csv
import itertools
import json
import re
from pathlib import Path

import pytest

from cluster_logreg.core.metrics import ACC_TRUE, ACC_VAL_BEST, EXCESS_ERROR, LOSS_VAL
from cluster_logreg.core.run_dir import RunDir
from cluster_logreg.sweeps.settings_table import SEEDS_NEEDED, signed_rank_p
from cluster_logreg.sweeps.summary import SweepSummary


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


def job(sweep_dir: Path, number: int, record: dict | None, metrics: dict | None, overrides: str = "") -> None:
    """A job directory: Hydra's record of its overrides (`seed=<number>` unless given), its status
    record and its metrics where given."""
    overrides = overrides or f"seed={number}"
    run = RunDir(sweep_dir / f"{number:03d}_{overrides.replace(' ', ',')}")
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
GAP = "the gap (best minus runner-up, median and range over those seeds)"
DIVERGED = {"status": "diverged", "reason": "the run diverged: loss/train became nan by epoch 10"}
BAYES_ACC = 0.99995


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
                metrics = {
                    metric: result,
                    LOSS_VAL: losses[lr][seed],
                    "optimized_metric": metric,
                    "bayes_acc": BAYES_ACC,
                }
                if metric == ACC_TRUE:  # as the clusters' jobs have it: how far below the Bayes-optimal accuracy
                    metrics[EXCESS_ERROR] = BAYES_ACC - result
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
        f" in 3 of 3 shared seeds; {GAP}: acc/true +0.0002 (+0.0002..+0.0002), acc/excess_error -0.0002"
        " (-0.0002..-0.0002), where the runner-up's median is 0.00055; one-sided exact Wilcoxon signed-rank"
        " p = 0.125, not < 0.05: too few seeds to tell (3 seeds can never reach it; run at least 5)",
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


# Five seeds of two learning rates; the runner-up's acc/true is 0.9993 but in the last seed.
RUNNER_UP = [0.9993, 0.9993, 0.9993, 0.9993, 0.9991]
FIVE_LOSSES = {lr: [0.1] * 5 for lr in ("0.1", "1.0")}
AHEAD = "model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0"


@pytest.mark.parametrize(
    ("results", "metric", "verdict"),
    [
        # Ahead in each of 5 seeds: 1 of the 2**5 sign assignments is as far ahead.
        (
            {"0.1": [0.9996, 0.9995, 0.9997, 0.99945, 0.9992], "1.0": RUNNER_UP},
            ACC_TRUE,
            f"(median of 5 seeds): {AHEAD} in 5 of 5 shared seeds; {GAP}:"
            " acc/true +0.0002 (+0.0001..+0.0004), acc/excess_error -0.0002 (-0.0004..-0.0001), where the runner-up's"
            " median is 0.00065; one-sided exact Wilcoxon signed-rank p = 0.0312 < 0.05: beyond seed noise",
        ),
        # Ahead in 4 of 5, behind in one by the smallest gap: its rank 1 of 15 leaves p = 2/32.
        (
            {"0.1": [0.9996, 0.9995, 0.9997, 0.99945, 0.9990], "1.0": RUNNER_UP},
            ACC_TRUE,
            f"(median of 5 seeds): {AHEAD} in 4 of 5 shared seeds; {GAP}:"
            " acc/true +0.0002 (-0.0001..+0.0004), acc/excess_error -0.0002 (-0.0004..+0.0001), where the runner-up's"
            " median is 0.00065; one-sided exact Wilcoxon signed-rank p = 0.0625, not < 0.05: within seed noise",
        ),
        # A tie inside a seed is not a win and says neither is better: 5 seeds, but 3 that differ.
        (
            {"0.1": [0.9996, 0.9995, 0.9997, 0.9993, 0.9991], "1.0": RUNNER_UP},
            ACC_TRUE,
            f"(median of 5 seeds): {AHEAD} in 3 of 5 shared seeds; {GAP}:"
            " acc/true +0.0002 (+0..+0.0004), acc/excess_error -0.0002 (-0.0004..+0), where the runner-up's median is"
            " 0.00065; one-sided exact Wilcoxon signed-rank p = 0.125, not < 0.05: too few seeds to tell (they differ"
            " in only 3 of 5 shared seeds, which can never reach it; run seeds until 5 differ)",
        ),
        # Data without a known distribution (a CSV table): no excess error, the gap in what there is.
        (
            {"0.1": [1.0, 0.995, 1.0, 0.995, 0.99], "1.0": [0.995, 0.995, 0.99, 0.985, 0.985]},
            ACC_VAL_BEST,
            f"(median of 5 seeds): {AHEAD} in 4 of 5 shared seeds; {GAP}:"
            " acc/val_best +0.005 (+0..+0.01); one-sided exact Wilcoxon signed-rank p = 0.0625, not < 0.05: too few"
            " seeds to tell (they differ in only 4 of 5 shared seeds, which can never reach it; run seeds until 5"
            " differ)",
        ),
        # A diverged seed: ranked by its two ok seeds, compared over the two seeds both settings have.
        (
            ACCS | {"0.1": [0.9996, 0.9995, DIVERGED]},
            ACC_TRUE,
            f"(median of 2 seeds): {AHEAD} in 2 of 2 shared seeds; {GAP}:"
            " acc/true +0.0002 (+0.0002..+0.0002), acc/excess_error -0.0002 (-0.0002..-0.0002), where the runner-up's"
            " median is 0.0006; one-sided exact Wilcoxon signed-rank p = 0.25, not < 0.05: too few seeds to tell"
            " (2 seeds can never reach it; run at least 5)",
        ),
    ],
    ids=["beyond seed noise", "within seed noise", "ties", "no known distribution", "a diverged seed"],
)
def test_the_verdict_on_the_best_setting_against_the_runner_up(tmp_path, results, metric, verdict):
    lr_seed_grid(tmp_path, results, metric, losses=LOSSES | FIVE_LOSSES)
    table = SweepSummary().write(tmp_path)
    assert table.splitlines()[0] == f"Best setting by {metric} {verdict}"


@pytest.mark.parametrize("seeds", [2, 3, 4, 5])  # 1 seed: a setting not ok below
def test_the_verdict_says_how_many_seeds_could_ever_reach_the_threshold(tmp_path, seeds):
    # Ahead in every seed: the least p they can give, 2**-seeds; below 0.05 from 5 seeds on.
    lr_seed_grid(tmp_path, {"0.1": [0.9996] * seeds, "1.0": [0.9993] * seeds}, losses=FIVE_LOSSES)
    verdict = SweepSummary().write(tmp_path).splitlines()[0]
    p = f"p = {0.5**seeds:.3g}"
    if seeds < SEEDS_NEEDED:
        assert verdict.endswith(
            f"{p}, not < 0.05: too few seeds to tell ({seeds} seeds can never reach it; run at least 5)"
        )
    else:
        assert verdict.endswith(f"{p} < 0.05: beyond seed noise")


def test_a_setting_with_a_seed_not_ok_shows_it_and_one_with_no_ok_seed_comes_last(tmp_path):
    lr_seed_grid(tmp_path, {"1e4": [DIVERGED] * 3} | ACCS | {"0.1": [0.9996, "failed", DIVERGED]})
    table = SweepSummary().write(tmp_path)
    assert table.splitlines()[4:8] == [
        "| model.optimizer.lr=0.1 | 0.999600 | 0.000000 | 1 | 2 | 0.0003 |",
        "| model.optimizer.lr=1.0 | 0.999400 | 0.000200 | 3 | 0 | 2e-09 |",
        "| model.optimizer.lr=0.01 | 0.999100 | 0.000200 | 3 | 0 | 0.004 |",
        "| model.optimizer.lr=1e4 |  |  | 0 | 3 |  |",
    ]
    assert table.splitlines()[0].endswith(
        "in 1 of 1 shared seeds; the gap (best minus runner-up, median and range over those seeds): acc/true +0.0002"
        " (+0.0002..+0.0002), acc/excess_error -0.0002 (-0.0002..-0.0002), where the runner-up's median is 0.00055;"
        " one-sided exact Wilcoxon signed-rank p = 0.5, not < 0.05: too few seeds to tell (1 seed can never reach it;"
        " run at least 5)"
    )
    assert read_settings(tmp_path)[-1] == {
        "setting": "model.optimizer.lr=1e4",
        "acc/true median": "",
        "acc/true spread": "",
        "seeds ok": "0",
        "not ok": "3",
        "loss/val median": "",
    }


def test_settings_that_share_no_ok_seed_are_not_compared(tmp_path):
    lr_seed_grid(tmp_path, {"0.1": [0.9996, 0.9995, DIVERGED], "1.0": ["failed", "failed", 0.9994]})
    assert SweepSummary().write(tmp_path).splitlines()[0] == (
        "Best setting by acc/true (median of 2 seeds): model.optimizer.lr=0.1; the runner-up, model.optimizer.lr=1.0,"
        " has no ok seed in common with it to compare them in"
    )


def test_settings_ranked_by_an_error_go_lowest_first_and_five_winning_seeds_are_beyond_noise(tmp_path):
    errors = {"1.0": [3e-4, 2.5e-4, 2.9e-4, 1.3e-4, 3.1e-4], "0.1": [1e-4, 2e-4, 1.5e-4, 1.2e-4, 1.1e-4]}
    lr_seed_grid(tmp_path, errors, metric=EXCESS_ERROR, losses={lr: [0.1] * 5 for lr in errors})
    lines = SweepSummary().write(tmp_path).splitlines()
    assert lines[0] == (
        "Best setting by acc/excess_error (median of 5 seeds): model.optimizer.lr=0.1, ahead of model.optimizer.lr=1.0"
        f" in 5 of 5 shared seeds; {GAP}: acc/excess_error -0.00014 (-0.0002..-1e-05), where the runner-up's median is"
        " 0.00029; one-sided exact Wilcoxon signed-rank p = 0.0312 < 0.05: beyond seed noise"
    )
    assert lines[4:6] == [
        "| model.optimizer.lr=0.1 | 0.00012 | 0.0001 | 5 | 0 | 0.1 |",
        "| model.optimizer.lr=1.0 | 0.00029 | 0.00018 | 5 | 0 | 0.1 |",
    ]


def test_the_signed_rank_p_on_cases_counted_by_hand():
    # Ahead in all n seeds: 1 of the 2**n sign assignments, whatever the sizes; 4 seeds cannot go below 0.05.
    assert [signed_rank_p([1e-6] * 5), signed_rank_p([3.0, 1.0, 2.0]), signed_rank_p([1, 2, 3, 4])] == [
        1 / 32,
        1 / 8,
        1 / 16,
    ]
    assert SEEDS_NEEDED == 5
    # Behind in one seed: its rank counts. Smallest of 3: positive ranks 2 + 3 = 5, reached by {2,3} and {1,2,3}.
    assert signed_rank_p([3, 2, -1]) == 2 / 8
    assert signed_rank_p([5, 4, 3, 2, -1]) == 2 / 32  # 4 of 5 is not enough even when the loss is the smallest
    # Behind in the largest: 10 of 15, which 10 of the 32 reach (as many as reach 5 or less: 1+1+1+2+2+3).
    assert signed_rank_p([-5, 4, 3, 2, 1]) == 10 / 32
    # Ties: a zero difference is left out; equal sizes share their mean rank (2 each: sums 0, 2, 4, 6 as 1, 3, 3, 1).
    assert [signed_rank_p([0, 0, 1, 2, 3]), signed_rank_p([1, 1, -1]), signed_rank_p([0, 0])] == [1 / 8, 4 / 8, 1.0]
    assert signed_rank_p([-1, -2, -3]) == 1.0  # behind in each: nothing is as far behind


def brute_force_p(differences: tuple[int, ...]) -> float:
    """The same test counted the long way: every sign of every nonzero difference, ranks as mid-ranks."""
    sizes = [abs(d) for d in differences if d]
    rank = lambda x: (sum(y < x for y in sizes) + sum(y <= x for y in sizes) + 1) / 2  # noqa: E731
    observed = sum(rank(abs(d)) for d in differences if d > 0)
    sums = [
        sum(rank(x) for x, plus in zip(sizes, signs, strict=True) if plus)
        for signs in itertools.product((0, 1), repeat=len(sizes))
    ]
    return sum(total >= observed for total in sums) / len(sums)


def test_the_signed_rank_p_equals_counting_every_sign_assignment():
    for n in range(6):
        for differences in itertools.product((-2, -1, 0, 1, 3), repeat=n):
            assert signed_rank_p(list(differences)) == brute_force_p(differences), differences


def test_without_a_seed_swept_or_with_jobs_ranked_by_different_metrics_there_is_no_settings_table(tmp_path):
    lr_seed_grid(tmp_path / "no seeds", {lr: accs[:1] for lr, accs in ACCS.items()})
    table = SweepSummary().write(tmp_path / "no seeds")
    assert table.startswith("Best by acc/true (highest): job 1, model.optimizer.lr=0.1")
    assert not (tmp_path / "no seeds" / "summary_settings.csv").exists()
    # One job's metrics name another optimised metric: its seeds cannot be compared with the others'.
    lr_seed_grid(tmp_path / "two metrics", ACCS)
    (tmp_path / "two metrics" / "summary_settings.csv").write_text("from an earlier summary")
    metrics = RunDir(next((tmp_path / "two metrics").glob("000_*"))).metrics
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
        (["model.optimizer.lr", "seed"], ["000_lr=0.1,seed=0", "001_lr=0.1,seed=1", "002_lr=1.0,seed=0"], 2),
        (["seed", "model.optimizer.lr"], ["000_seed=0,lr=0.1", "001_seed=1,lr=0.1", "002_seed=0,lr=1.0"], 2),
        (
            ["data.n_per_class", "model.optimizer.lr", "seed"],
            ["000_n_per_class=5,lr=0.1,seed=0", "001_n_per_class=5,lr=0.1,seed=2"],
            1,
        ),
        (["model.optimizer.lr"], ["000_lr=0.1", "001_lr=1.0"], 2),  # no seeds: a colour a run
        # Under --logdir outputs: a run is named by its sweep's directory too.
        (["model.optimizer.lr", "seed"], ["2026_1/000_lr=0.1,seed=0", "2026_1/001_lr=0.1,seed=1"], 1),
        # A swept experiment is in the jobs' names (and a job past 999 has more digits).
        (
            ["experiment", "seed"],
            ["999_experiment=a,seed=0", "1000_experiment=a,seed=1", "1001_experiment=b,seed=0"],
            2,
        ),
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


@pytest.mark.parametrize(
    ("overrides", "num", "name"),
    [
        (["model.optimizer.lr=0.1", "seed=2"], 3, "003_lr=0.1,seed=2"),  # TensorBoard lists 000 to 999 in job order
        (["experiment=quick", "seed=2"], 1000, "1000_experiment=quick,seed=2"),  # experiment=quick,large_data
        (["experiment=learning_curve", "seed=2"], 7, "007_seed=2"),  # the preset declares the sweep: every job's
    ],
)
def test_a_job_s_directory_is_its_number_then_what_it_varies_among_the_sweep_s_jobs(overrides, num, name):
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from helpers import compose_config

    config = compose_config(overrides=overrides)
    with open_dict(config):
        config.hydra.job.num = num  # as a launcher sets it, before the job's directory is resolved
    before = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(config)
        assert config.hydra.sweep.subdir == name
    finally:
        HydraConfig.instance().cfg = before
