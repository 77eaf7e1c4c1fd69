"""The bottom layer: what every other layer shares, without Hydra, torch or Lightning: the errors,
the metric names, a run directory's files, override strings, the CSV reader and the exact maths."""
