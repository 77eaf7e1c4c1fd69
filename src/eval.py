"""Test a checkpoint: `python src/eval.py ckpt_path=<a checkpoint of train.py>` on its test split
(`evaluate_on=test`), a fresh draw of its clusters (`evaluate_on=fresh`) or a CSV file
(`evaluate_on=<file.csv>`). `--help` says more."""

import functools

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import checked, run
from cluster_logreg.config.preflight import EVAL_CHECKS
from cluster_logreg.core.overrides import quote_path_arguments

CHECKS = EVAL_CHECKS
# Paths as typed in a shell, quoted for Hydra (e.g. a sweep job's 001_lr=0.1 directory).
ARGUMENTS = functools.partial(quote_path_arguments, keys=("ckpt_path",))


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    with checked(cfg, CHECKS) as in_sweep:
        from cluster_logreg.training.evaluate import evaluate

        return evaluate(cfg, in_sweep)


if __name__ == "__main__":
    run(main, ARGUMENTS)
