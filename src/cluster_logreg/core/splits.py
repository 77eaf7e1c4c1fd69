"""How the points are split into train, validation and test: the one arithmetic the DataModule and
the pre-flight checks share. Torch-free, so an empty split is refused before the slow imports."""

import numpy as np


def split_sizes(n_total: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Points in the train, validation and test splits."""
    n_val = round(n_total * val_fraction)
    n_test = round(n_total * test_fraction)
    return n_total - n_val - n_test, n_val, n_test


def stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the train, validation and test splits, each class split in the same proportions,
    in an order drawn from `seed`."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label in (0.0, 1.0):
        members = rng.permutation(np.flatnonzero(y == label))
        n_train, n_val, _ = split_sizes(len(members), val_fraction, test_fraction)
        for name, chunk in zip(parts, np.split(members, [n_train, n_train + n_val]), strict=True):
            parts[name].append(chunk)
    return {name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}
