"""Train the classifier: `python src/train.py [hydra overrides]`, e.g. `trainer.accelerator=gpu`.

`python src/train.py resume=<run dir>` continues a stopped run where its last checkpoint left it.
"""

import sys

import hydra
from omegaconf import DictConfig

from cluster_logreg.config_checks import check_train_config
from cluster_logreg.errors import exit_on_user_error, user_errors_end_the_run
from cluster_logreg.resolvers import register_resolvers
from cluster_logreg.resume import resume_arguments
from cluster_logreg.sweep_summary import summary_even_if_a_job_fails


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@user_errors_end_the_run
def main(cfg: DictConfig) -> float:
    check_train_config(cfg)
    # Imported only once a run really starts: torch and Lightning take seconds to import, and
    # `--help`, `--cfg job` and config mistakes should not wait for them.
    from cluster_logreg.pipeline import train

    return train(cfg)


if __name__ == "__main__":
    register_resolvers()
    with exit_on_user_error(), summary_even_if_a_job_fails():
        sys.argv = resume_arguments(sys.argv)  # resume=<run dir>: that run's settings and directory
        main()
