"""Test a checkpoint: `python src/eval.py ckpt_path=<a checkpoint of train.py>` on its test split
(`evaluate_on=test`), a fresh draw of its clusters (`evaluate_on=fresh`) or a CSV file
(`evaluate_on=<file.csv>`). `--help` says more."""

import functools

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import Entry
from cluster_logreg.config.preflight import EVAL_CHECKS
from cluster_logreg.core.overrides import quote_path_arguments

# Paths as typed in a shell, quoted for Hydra (e.g. a sweep job's <n>_lr=0.1 directory).
ENTRY = Entry(
    EVAL_CHECKS,
    "cluster_logreg.training.evaluate:evaluate",
    functools.partial(quote_path_arguments, keys=("ckpt_path",)),
)


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    return float(ENTRY.run(cfg))


if __name__ == "__main__":
    ENTRY.start(main)
