"""Train the classifier: `python src/train.py [hydra overrides]`, e.g. `trainer.accelerator=gpu`.

`python src/train.py resume=<run dir>` continues a stopped run where its last checkpoint left it.
`python src/train.py --help` says more.
"""

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import checked, run
from cluster_logreg.config.preflight import TRAIN_CHECKS
from cluster_logreg.config.resume import resume_arguments
from cluster_logreg.sweeps.summary import summary_even_if_a_job_fails

CHECKS = TRAIN_CHECKS
ARGUMENTS = resume_arguments  # resume=<run dir>: that run's settings and directory


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with checked(cfg, CHECKS) as in_sweep:
        from cluster_logreg.training.fit import train

        return train(cfg, in_sweep)


if __name__ == "__main__":
    run(main, ARGUMENTS, around=summary_even_if_a_job_fails)  # a sweep's summary even if a job fails
