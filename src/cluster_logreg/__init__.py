"""Logistic regression on two Gaussian clusters, the tutorial experiment done right.

Importing this package is cheap (no torch): the entry points import it before deciding
whether a run really starts, so `--help` and config errors stay fast.
"""
