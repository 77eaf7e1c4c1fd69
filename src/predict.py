"""Classify new points: `python src/predict.py ckpt_path=<run dir or checkpoint> input=<file.csv>`
(`--help` says more). Writes P(class 1) and the predicted class of every row."""

import functools

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import Entry
from cluster_logreg.config.preflight import PREDICT_CHECKS
from cluster_logreg.core.overrides import quote_path_arguments

PATHS = ("ckpt_path", "input", "output")  # as typed in a shell, quoted for Hydra
ENTRY = Entry(
    PREDICT_CHECKS, "cluster_logreg.training.predict:predict", functools.partial(quote_path_arguments, keys=PATHS)
)


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> int:
    return int(ENTRY.run(cfg))


if __name__ == "__main__":
    ENTRY.start(main)
