"""OmegaConf resolvers the configs use; registered by the entry points before Hydra composes."""

import os
import re
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from cluster_logreg.core.metrics import direction
from cluster_logreg.core.overrides import split_override
from cluster_logreg.core.run_dir import run_file

# Presets that name a whole sweep, not what one of its jobs varies: an Optuna search, and an
# experiment where it declares the sweep itself (`sweep_presets`). A swept `experiment=a,b` is named.
NOT_IN_JOB_NAMES = ("experiment", "hparams_search")
MAX_JOB_NAME = 120  # characters: far below the 255 bytes a file name may have


def available_accelerators() -> str:
    """'cpu,gpu' where a CUDA GPU is present, else 'cpu': a sweep list for trainer.accelerator."""
    import torch  # only when a config asks: torch takes seconds to import

    return "cpu,gpu" if torch.cuda.is_available() else "cpu"


def gpus_for(accelerator: str) -> int | None:
    """A SLURM job's GPUs per node for `trainer.accelerator`: one for a GPU run, none (null) otherwise."""
    return 1 if accelerator in ("gpu", "cuda") else None


def job_name(overrides: Sequence[str], left_out: Sequence[str] = NOT_IN_JOB_NAMES) -> str:
    """A sweep job's overrides, short, those of `left_out` left out: `model.optimizer.lr=0.1 seed=2` ->
    `lr=0.1,seed=2`.

    It names the job's directory, so TensorBoard (which names a run by its directory) shows each run
    by what it tried. A key is shortened to its last part unless another override ends the same way.
    """
    pairs = [(k, v) for k, v in map(split_override, overrides) if k not in left_out]
    parts = [re.split(r"[./]", key) for key, _ in pairs]

    def short(i: int) -> str:
        for n in range(1, len(parts[i]) + 1):
            tail = parts[i][-n:]
            if all(other[-n:] != tail for j, other in enumerate(parts) if j != i):
                return ".".join(tail)
        return ".".join(parts[i])

    name = ",".join(f"{short(i)}={value}" for i, (_, value) in enumerate(pairs))
    return re.sub(r"[/\\\s'\"]", "_", name)[:MAX_JOB_NAME]  # one directory level


def sweep_presets() -> tuple[str, ...]:
    """The presets the job's name leaves out: `hparams_search`, and `experiment` where the job's sweep
    is declared in its config (`hydra.sweeper.params`, as experiment=learning_curve declares its own):
    there it names the whole sweep. A job Hydra runs has its config set when its names are resolved."""
    declared = HydraConfig.initialized() and HydraConfig.get().sweeper.get("params")
    return NOT_IN_JOB_NAMES if declared else ("hparams_search",)


def job_dir(num: int, overrides: Sequence[str]) -> str:
    """`${job_dir:${hydra.job.num},${hydra.overrides.task}}`: a sweep job's directory, its number and
    its name (`003_lr=0.1,seed=2`). The number has 3 digits at least: TensorBoard sorts runs by name,
    so the jobs of a sweep of up to 1000 are listed in their order."""
    return f"{num:03d}_{job_name(overrides, sweep_presets())}"


def run_name() -> str:
    """`${run_name:}`: what the job's command line changed, named as a sweep job's directory is
    (`lr=0.1,seed=2`), or the presets it chose where nothing else (`experiment=learning_curve`); ''
    where nothing, or where no Hydra job runs (`train(cfg)` in process: `${hydra:...}` cannot be read)."""
    if not HydraConfig.initialized():
        return ""
    # Without resume=: a resumed run keeps its name.
    overrides = [o for o in HydraConfig.get().overrides.task if split_override(o)[0] != "resume"]
    return job_name(overrides, sweep_presets()) or ",".join(overrides)


# The data sets shipped with the project (data/ at the repository's root).
SHIPPED_DATA = Path(__file__).resolve().parents[3] / "data"


def shipped_data(name: str) -> str:
    """`${shipped_data:breast_cancer.csv}`: a data set of the repository, wherever the command runs."""
    return str(SHIPPED_DATA / name)


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("available_accelerators", available_accelerators, replace=True)
    # In run directory names: two runs started in the same microsecond are still two processes.
    OmegaConf.register_new_resolver("pid", os.getpid, replace=True)
    OmegaConf.register_new_resolver("job_dir", job_dir, replace=True)
    OmegaConf.register_new_resolver("run_name", run_name, replace=True)
    # The files of a run directory, named in one place: `${run_file:${run_dir},last_checkpoint}`.
    OmegaConf.register_new_resolver("run_file", run_file, replace=True)
    # An Optuna search's direction follows the metric it optimises (`auto` is an accuracy).
    OmegaConf.register_new_resolver("direction", direction, replace=True)
    OmegaConf.register_new_resolver("shipped_data", shipped_data, replace=True)
    OmegaConf.register_new_resolver("gpus_for", gpus_for, replace=True)
