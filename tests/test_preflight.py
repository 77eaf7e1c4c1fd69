"""The pre-flight list: a rule for every settable key (its type and its value), cheap checks before torch."""

from __future__ import annotations

import sys

import pytest

from cluster_logreg.config.schema import RULES
from helpers import REPO, group_options, leaf_keys, refusal, run_command

# Every option of every group a user picks from (each composed once on top of the defaults).
OPTIONS = group_options()


def every_settable_key() -> set[str]:
    keys = leaf_keys("eval", ["ckpt_path=x.ckpt"]) | leaf_keys("predict", ["ckpt_path=x.ckpt", "input=x.csv"])
    for option in ["", *OPTIONS]:
        keys |= leaf_keys("train", [option] if option else [])
    return keys


def test_the_options_include_every_group():
    groups = {o.split("=")[0] for o in OPTIONS}
    assert {"data", "model", "model/optimizer", "trainer", "logger", "experiment", "debug"} <= groups


def test_every_settable_key_has_a_rule_and_every_rule_a_key():
    keys = every_settable_key()
    assert sorted(keys - RULES.keys()) == [], "settable keys without a rule in config.schema.RULES"
    assert sorted(RULES.keys() - keys) == [], "rules for keys that no config has"


@pytest.mark.parametrize(
    ("override", "line"),
    [
        # A wrong type, in the words of the key's rule.
        ("data.n_per_class=abc", "data.n_per_class='abc' is not valid; valid: an integer >= 1"),
        ("seed=1.5", "seed=1.5 is not valid; valid: an integer from 0 to 4294967295"),
        ("model.optimizer.lr=fast", "model.optimizer.lr='fast' is not valid; valid: a finite number > 0"),
        # Refused by the rule.
        ("data.n_per_class=0", "data.n_per_class=0 is not valid; valid: an integer >= 1"),
    ],
)
def test_a_wrong_type_and_a_wrong_value_read_the_same(override, line):
    assert refusal(override).startswith(line)


def test_a_number_given_as_an_integer_is_taken_where_a_float_is_meant():
    from helpers import checked_config

    cfg = checked_config("model.optimizer.lr=1", "data.std=2")
    assert (cfg.model.optimizer.lr, cfg.data.std) == (1, 2)


CHEAP = """
import sys
from helpers import compose_config
from cluster_logreg.config.preflight import TRAIN_CHECKS, check_accelerator, preflight
cheap = TRAIN_CHECKS[: TRAIN_CHECKS.index(check_accelerator)]  # all but the last
cfg = compose_config(overrides=["run_dir={run_dir}"])
preflight(cfg, cheap)
assert "torch" not in sys.modules, "a cheap check imported torch"
try:
    preflight(compose_config(overrides=["run_dir={run_dir}", "data.val_fraction=0.0001"]), cheap)
except Exception as error:
    print(error)
"""


def test_the_cheap_checks_refuse_a_mistake_without_importing_torch(tmp_path):
    script = CHEAP.format(run_dir=tmp_path)
    result = run_command([sys.executable, "-c", script], cwd=REPO / "tests", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("data.val_fraction=0.0001 leaves the validation split empty")
