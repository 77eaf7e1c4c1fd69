"""The decision-boundary and score pictures: their size (read in TensorBoard's small cards), one axis
range for every job drawn from one distribution, the data's feature names and a title that names the run."""

import io

import numpy as np
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from matplotlib.image import imread

from cluster_logreg.core.population import GaussianPair
from cluster_logreg.data.clusters import make_clusters
from cluster_logreg.training.figures import (
    BOX_STD,
    TITLE_CHARS,
    as_rgb,
    decision_boundary_figure,
    png_bytes,
    run_title,
    score_figure,
)
from helpers import compose_config, refusal

MEAN_VALUE, STD, BIAS = 2.5, 1.0, 1.3
CLUSTERS = GaussianPair.clusters(n_features=2, mean_value=MEAN_VALUE, std=STD, bias=BIAS)
CLASS_NAMES = ("label = 0", "label = 1")


def sample(seed: int, n_per_class: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    return make_clusters(n_per_class, 2, MEAN_VALUE, STD, BIAS, torch.Generator().manual_seed(seed))


def linear_model(w: tuple[float, float], c: float):
    return lambda points: torch.sigmoid(points @ torch.tensor(w) + c)


def boundary(seed: int, w=(-1.0, -1.0), c=1.3, population=CLUSTERS, title="defaults, epoch 1", names=("x0", "x1")):
    x, y = sample(seed)
    return decision_boundary_figure(x, y, linear_model(w, c), population, title, names, CLASS_NAMES)


def png_size(fig) -> tuple[int, int]:
    """(width, height) in pixels of the PNG the callback writes for `fig`."""
    height, width, _ = imread(io.BytesIO(png_bytes(as_rgb(fig)))).shape
    return width, height


def test_the_pictures_are_480_pixels_wide_the_boundary_one_with_square_axes():
    assert png_size(boundary(0)) == (480, 510)
    scores = torch.cat([torch.randn(100) - 3, torch.randn(100) + 3])
    labels = torch.cat([torch.zeros(100), torch.ones(100)])
    assert png_size(score_figure(scores, labels, CLASS_NAMES, "defaults, epoch 1")) == (480, 380)
    axes = boundary(0).axes[0].get_window_extent()
    assert axes.width == pytest.approx(axes.height, abs=1)


def test_jobs_drawn_from_one_distribution_share_the_axis_range_whatever_their_seed_and_model():
    one, other = boundary(seed=0).axes[0], boundary(seed=1, w=(-0.3, -2.0), c=0.1).axes[0]
    assert one.get_xlim() == other.get_xlim() and one.get_ylim() == other.get_ylim()
    # The box around both centres +- BOX_STD std, the same in x and y (equal aspect).
    low, high = min(CLUSTERS.centre1) - BOX_STD * STD, max(CLUSTERS.centre0) + BOX_STD * STD
    assert one.get_xlim() == pytest.approx((low, high)) and one.get_ylim() == pytest.approx((low, high))


def test_without_a_distribution_the_range_covers_the_points():
    x, _ = sample(3)
    ax = boundary(3, population=None).axes[0]
    (x_low, x_high), (y_low, y_high) = ax.get_xlim(), ax.get_ylim()
    assert x_low <= x[:, 0].min() - 1 and x_high >= x[:, 0].max() + 1
    assert y_low <= x[:, 1].min() - 1 and y_high >= x[:, 1].max() + 1
    assert x_high - x_low == pytest.approx(y_high - y_low)  # square, as with a distribution


def test_the_axes_are_named_by_the_datas_features_and_the_title_by_the_runs_overrides():
    title = run_title("lr=0.1,seed=2", 1000)
    ax = boundary(0, title=title, names=("mean radius", "mean texture")).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("mean radius", "mean texture")
    assert ax.get_title() == "lr=0.1,seed=2, epoch 1000"
    scores = score_figure(torch.randn(50), torch.arange(50) % 2, CLASS_NAMES, title).axes[0]
    assert scores.get_title() == title


def test_the_title_says_defaults_where_nothing_was_changed_and_keeps_the_epoch_of_a_long_name():
    assert run_title("", 5) == "defaults, epoch 5"
    long = ",".join(f"setting_{i}=0.{i}" for i in range(20))
    lines = run_title(long, 1000).split("\n")
    assert len(lines) == 2 and all(len(line) <= TITLE_CHARS for line in lines)
    assert lines[0].startswith("setting_0=0.0,") and lines[1].endswith("..., epoch 1000")


def title_in_a_hydra_job(*overrides: str) -> str:
    """`callbacks.decision_boundary.title` as a job of `python src/train.py <overrides>` resolves it."""
    cfg = compose_config("train", list(overrides))
    try:
        HydraConfig.instance().set_config(cfg)  # as Hydra sets it for a job (and the stacked launcher for each)
        return cfg.callbacks.decision_boundary.title
    finally:
        HydraConfig.instance().cfg = None


def test_the_callbacks_title_is_the_jobs_overrides_as_its_sweep_directory_names_them():
    assert title_in_a_hydra_job("model.optimizer.lr=0.1", "seed=2") == "lr=0.1,seed=2"
    assert title_in_a_hydra_job() == ""  # the figure's title says defaults
    assert title_in_a_hydra_job("experiment=quick") == "experiment=quick"  # a preset alone names the run
    assert title_in_a_hydra_job("resume=/tmp/run", "seed=3") == "seed=3"  # a resumed run keeps its name


def test_the_callbacks_title_is_empty_where_no_hydra_job_runs():
    cfg = compose_config("train", ["seed=2"])  # train(cfg) in process: no Hydra job to read
    assert cfg.callbacks.decision_boundary.title == ""


def test_a_title_that_is_not_a_text_is_refused_in_one_line():
    assert refusal("callbacks.decision_boundary.title=5").startswith("callbacks.decision_boundary.title")


@pytest.mark.parametrize("values", [[1e15, 1e15 + 1, 1e15 + 2], [3.0, 3.0], [-1.0, 0.5, 2.0]])
def test_histogram_bins_are_drawn_wherever_the_values_lie(values):
    """Far from 0 with a small spread (data.mean_value=8.9e14), or all one value: numpy's `bins=30` refuses."""
    from cluster_logreg.training.pictures import bin_edges

    edges = bin_edges(np.array(values))
    assert 2 <= len(edges) <= 31 and np.all(np.diff(edges) > 0)
    assert np.histogram(values, bins=edges)[0].sum() == len(values)
