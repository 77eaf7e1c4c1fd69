"""Train the classifier: `python src/train.py [hydra overrides]`, e.g. `trainer.accelerator=gpu`.

`python src/train.py resume=<run dir>` continues a stopped run where its last checkpoint left it.
`python src/train.py --help` says more.
"""

import hydra
from omegaconf import DictConfig

from cluster_logreg.config.entry import Entry
from cluster_logreg.config.preflight import TRAIN_CHECKS
from cluster_logreg.config.resume import resume_arguments
from cluster_logreg.sweeps.summary import summary_even_if_a_job_fails

# resume=<run dir>: that run's settings and directory. A sweep's summary is printed even if a job fails.
ENTRY = Entry(TRAIN_CHECKS, "cluster_logreg.training.fit:train", resume_arguments, summary_even_if_a_job_fails)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return float(ENTRY.run(cfg))


if __name__ == "__main__":
    ENTRY.start(main)
