"""Hydra's own refusals, in the project's words: one line naming the key, the value and what is valid,
the same however the mistake was typed, and the way out where a plugin is missing."""

from __future__ import annotations

import logging
import sys

import pytest

from cluster_logreg.config.rules import CPU_CORES
from helpers import REPO, built_refusal, checked_config, refusal, run_command, run_entry, the_error_line

SEED_TYPO = "seeed=5 is not a setting; valid: one of the config's keys (did you mean seed?)"


@pytest.mark.parametrize(
    ("typed", "line"),
    [
        ("seeed=5", SEED_TYPO),
        ("data.n_per_clas=5", "data.n_per_clas=5 is not a setting; valid: one of the config's keys (did you mean "),
        ("trainer.max_epoch=5", "trainer.max_epoch=5 is not a setting; valid: one of the config's keys (did you mean "),
    ],
)
def test_an_unknown_key_without_plus_gets_the_line_it_gets_with_plus(typed, line):
    assert refusal(typed).startswith(line)
    if not typed.startswith("trainer."):  # the trainer's keys are Lightning's: the CLI test below
        assert refusal(f"+{typed}") == refusal(typed)


@pytest.mark.parametrize(
    ("typed", "closest"),
    [
        ("trainer.max_epoch=5", "did you mean trainer.max_epochs?"),  # Lightning's Trainer
        ("logger.tensorboard.nam='x'", "did you mean logger.tensorboard.name?"),  # TensorBoard's, through Lightning
    ],
)
def test_a_key_a_lightning_class_does_not_take_gets_the_same_line_with_or_without_plus(typed, closest):
    # Without +, Hydra refuses it while it composes; with +, the class refuses it when it is built.
    line = f"{typed} is not a setting; valid: one of the config's keys ({closest})"
    assert [refusal(typed), built_refusal(f"+{typed}")] == [line, line]


@pytest.mark.slow
@pytest.mark.cli
def test_a_key_a_lightning_class_does_not_take_is_one_line_on_the_command_line(tmp_path):
    line = the_error_line(run_entry("train", "+trainer.max_epoch=5", f"hydra.run.dir={tmp_path}"))
    assert line == f"error: {built_refusal('+trainer.max_epoch=5')}"  # what the test above sees in process


@pytest.mark.parametrize(
    ("typed", "line"),
    [
        ("data=cvs", "data='cvs' is not an option of data; valid: clusters | csv"),
        ("model/optimizer=adamw", "model/optimizer='adamw' is not an option of model/optimizer; valid: adam | sgd"),
        ("~seeed", "~seeed removes a key the config does not have; valid: ~KEY with one of its keys"),
        ("+seed=3", "+seed=... adds a key the config already has; valid: seed=VALUE (no +) to set it"),
    ],
)
def test_hydras_refusals_read_as_the_projects_lines(typed, line):
    assert refusal(typed) == line


# Without the [sweep] extra: Hydra finds only the project's own plugins (src/hydra_plugins), as in a core install.
CORE_INSTALL = """
import runpy, sys
import hydra_plugins
hydra_plugins.__path__ = [p for p in hydra_plugins.__path__ if p.startswith(sys.argv[1])]
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.cli
@pytest.mark.parametrize(
    ("typed", "plugin"),
    [
        ("hydra/launcher=joblib", "joblib launcher (hydra-joblib-launcher)"),
        ("hydra/launcher=slurm", "submitit launcher (hydra-submitit-launcher)"),
        ("hparams_search=optuna", "Optuna sweeper (hydra-optuna-sweeper)"),
    ],
)
def test_a_sweep_plugin_that_is_not_installed_says_which_extra_brings_it(typed, plugin, tmp_path):
    command = [sys.executable, "-c", CORE_INSTALL, str(REPO / "src"), "src/train.py", "-m", typed]
    line = the_error_line(run_command([*command, f"hydra.sweep.dir={tmp_path}"]))
    assert line == (
        f"error: {typed} needs Hydra's {plugin}, which is not installed; "
        "valid: install the [sweep] extra: .venv/bin/pip install -e '.[sweep]'"
    )


def test_more_cpu_processes_than_cores_is_said_not_refused(caplog):
    from cluster_logreg.training.build import build

    with caplog.at_level(logging.WARNING, logger="cluster_logreg.training.build"):
        build(checked_config("trainer=ddp", f"trainer.devices={CPU_CORES + 1}"))
    assert caplog.messages == [
        f"trainer.devices={CPU_CORES + 1} starts {CPU_CORES + 1} CPU processes of 1 thread(s) on this machine's "
        f"{CPU_CORES} cores: they share the cores and wait for each other at every step; "
        f"faster: trainer.devices <= {CPU_CORES}"
    ]


def test_ddp_inside_a_local_multirun_is_refused_clearly():
    line = built_refusal("trainer=ddp", "trainer.max_epochs=2", in_sweep=True)
    assert "cannot run inside a local Hydra multirun" in line and "hydra/launcher=slurm" in line
