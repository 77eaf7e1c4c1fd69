"""Logistic regression on two Gaussian clusters, the tutorial experiment done right.

Layers, each importing only those below it (pyproject.toml's import-linter contract checks it):
training and sweeps, then model, data, config (the torch-free front end) and core. Importing this
package, or config, core and sweeps, is cheap (no torch), so `--help` and config errors stay fast.
"""

from cluster_logreg.config.resolvers import register_resolvers

# The configs' own resolvers (`${run_file:...}`, ...), there for whatever imports the package: an
# entry point before Hydra composes, or `train(cfg)` on a config that `hydra.compose` made.
register_resolvers()
