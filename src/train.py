"""Train the classifier: `python src/train.py [hydra overrides]`, e.g. `trainer.accelerator=gpu`.

`python src/train.py resume=<run dir>` continues a stopped run where its last checkpoint left it.
`python src/train.py --help` says more.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from cluster_logreg.cli import exit_on_user_error, prepare_hydra, task_errors
from cluster_logreg.errors import our_code
from cluster_logreg.preflight import TRAIN_CHECKS, preflight
from cluster_logreg.resume import resume_arguments
from cluster_logreg.sweep_summary import summary_even_if_a_job_fails


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    with task_errors(cfg, in_sweep):
        preflight(cfg, TRAIN_CHECKS)
        # Imported only once a run really starts: Lightning takes seconds to import, and `--help`,
        # `--cfg job` and config mistakes should not wait for it.
        from cluster_logreg.pipeline import train

        return train(cfg, in_sweep)


if __name__ == "__main__":
    prepare_hydra()
    with exit_on_user_error(), summary_even_if_a_job_fails():
        with our_code():
            sys.argv = resume_arguments(sys.argv)  # resume=<run dir>: that run's settings and directory
        main()
