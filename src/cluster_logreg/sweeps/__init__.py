"""Tooling around a multirun, torch-free: the summary and its figure (Hydra callbacks), the
continued Optuna search and the submitit launchers (for the plugins in src/hydra_plugins/)."""
