"""Logistic regression on two Gaussian clusters, the tutorial experiment done right.

Layers, each importing only those below it (pyproject.toml's import-linter contract checks it):
training and sweeps, then model, data, config (the torch-free front end) and core. Importing this
package, or config, core and sweeps, is cheap (no torch), so `--help` and config errors stay fast.
"""
