"""`--help` of both entry points: the project's own help (conf/hydra/help/), fast, on one screen."""

import pytest

from helpers import run_entry


def exit_statuses(help_text: str) -> list[str]:
    """The first word of each line of the help's `Exit status` section."""
    lines = help_text.split("Exit status\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.split()[0] for line in lines if line.startswith("  ") and line.split()[0][0].isdigit()]


def help_of(script: str) -> str:
    # Python reports every import on stderr: --help must not wait seconds for torch and Lightning.
    result = run_entry(script, "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"torch", "lightning"}
    lines = result.stdout.splitlines()
    assert len(lines) <= 50 and max(map(len, lines)) <= 100  # one screen
    return result.stdout


@pytest.mark.cli
def test_train_help_says_what_to_run_where_results_go_and_how_it_ends():
    text = help_of("train")
    for needed in ("resume=<run dir>", "-m ", "hparams_search=optuna", "eval.py ckpt_path=", "--cfg job", "README.md"):
        assert needed in text, needed
    assert "debug: fdr, limit, overfit, profiler" in text  # the config groups, as Hydra finds them
    assert "experiment=quick" in text and "debug=fdr" in text
    for result in ("outputs/train/runs/", "metrics.json", "last.ckpt", "best.ckpt", "train.log", "summary.md"):
        assert result in text, result
    assert "tensorboard --logdir outputs" in text
    assert exit_statuses(text) == ["0", "2", "3", "128+N", "1"]
    assert "130" in text and "143" in text and "error:" in text and "traceback" in text


@pytest.mark.cli
def test_eval_help_says_how_to_test_a_checkpoint():
    text = help_of("eval")
    assert "ckpt_path=" in text and "trainer.accelerator=gpu" in text
    assert "outputs/eval/runs/" in text and "metrics.json" in text
    assert exit_statuses(text) == ["0", "2", "128+N", "1"]
