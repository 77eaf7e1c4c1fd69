"""How the points are split into train, validation and test: the one arithmetic the DataModule and
the pre-flight checks share. Torch-free, so an empty split is refused before the slow imports."""


def split_sizes(n_total: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Points in the train, validation and test splits."""
    n_val = round(n_total * val_fraction)
    n_test = round(n_total * test_fraction)
    return n_total - n_val - n_test, n_val, n_test
