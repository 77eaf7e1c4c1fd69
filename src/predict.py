"""Classify new points: `python src/predict.py ckpt_path=<run dir or checkpoint> input=<file.csv>`
(`--help` says more). Writes P(class 1) and the predicted class of every row."""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from cluster_logreg.cli import exit_on_user_error, prepare_hydra, task_errors
from cluster_logreg.errors import our_code
from cluster_logreg.preflight import PREDICT_CHECKS, preflight
from cluster_logreg.resume import quote_path_arguments


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> int:
    with task_errors(cfg, in_sweep=HydraConfig.get().mode == RunMode.MULTIRUN):
        preflight(cfg, PREDICT_CHECKS)
        from cluster_logreg.prediction import predict  # slow imports, see train.py

        return predict(cfg)


if __name__ == "__main__":
    prepare_hydra()
    with exit_on_user_error():
        with our_code():
            sys.argv = quote_path_arguments(sys.argv, ("ckpt_path", "input", "output"))
        main()
