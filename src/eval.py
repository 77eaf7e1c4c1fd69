"""Test a checkpoint: `python src/eval.py ckpt_path=outputs/train/runs/<run>/checkpoints/last.ckpt`."""

import sys

import hydra
from omegaconf import DictConfig

from cluster_logreg.config_checks import check_eval_config
from cluster_logreg.errors import exit_on_user_error, user_errors_end_the_run
from cluster_logreg.resolvers import register_resolvers
from cluster_logreg.resume import quote_path_arguments


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
@user_errors_end_the_run
def main(cfg: DictConfig) -> float:
    check_eval_config(cfg)
    from cluster_logreg.pipeline import evaluate  # slow imports, see train.py

    return evaluate(cfg)


if __name__ == "__main__":
    register_resolvers()
    with exit_on_user_error():
        sys.argv = quote_path_arguments(sys.argv, ("ckpt_path",))  # e.g. a sweep job's <n>_lr=0.1 directory
        main()
