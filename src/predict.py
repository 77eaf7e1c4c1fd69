"""Classify new points: `python src/predict.py ckpt_path=<run dir or checkpoint> input=<file.csv>`
(`--help` says more). Writes P(class 1) and the predicted class of every row."""

import functools

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import checked, run
from cluster_logreg.config.preflight import PREDICT_CHECKS
from cluster_logreg.core.overrides import quote_path_arguments

CHECKS = PREDICT_CHECKS
# Paths as typed in a shell, quoted for Hydra.
ARGUMENTS = functools.partial(quote_path_arguments, keys=("ckpt_path", "input", "output"))


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> int:
    with checked(cfg, CHECKS) as in_sweep:
        from cluster_logreg.training.predict import predict

        return predict(cfg, in_sweep)


if __name__ == "__main__":
    run(main, ARGUMENTS)
