"""OmegaConf resolvers the configs use; registered by the entry points before Hydra composes."""

import os

from omegaconf import OmegaConf


def available_accelerators() -> str:
    """'cpu,gpu' where a CUDA GPU is present, else 'cpu': a sweep list for trainer.accelerator."""
    import torch  # only when a config asks: torch takes seconds to import

    return "cpu,gpu" if torch.cuda.is_available() else "cpu"


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("available_accelerators", available_accelerators, replace=True)
    # In run directory names: two runs started in the same microsecond are still two processes.
    OmegaConf.register_new_resolver("pid", os.getpid, replace=True)
