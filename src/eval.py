"""Test a checkpoint: `python src/eval.py ckpt_path=<a checkpoint of train.py>` (`--help` says more)."""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from cluster_logreg.cli import exit_on_user_error, prepare_hydra, task_errors
from cluster_logreg.errors import our_code
from cluster_logreg.preflight import EVAL_CHECKS, preflight
from cluster_logreg.resume import quote_path_arguments


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    with task_errors(cfg, in_sweep=HydraConfig.get().mode == RunMode.MULTIRUN):
        preflight(cfg, EVAL_CHECKS)
        from cluster_logreg.pipeline import evaluate  # slow imports, see train.py

        return evaluate(cfg)


if __name__ == "__main__":
    prepare_hydra()
    with exit_on_user_error():
        with our_code():
            sys.argv = quote_path_arguments(sys.argv, ("ckpt_path",))  # e.g. a sweep job's <n>_lr=0.1 directory
        main()
