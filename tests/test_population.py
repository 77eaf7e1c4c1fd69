"""The exact accuracy on the clusters' distribution: against a million fresh points and hand-computed cases."""

import math

import pytest
import torch

from cluster_logreg.core.population import EXCESS_FLOOR, GaussianPair
from cluster_logreg.data.clusters import make_clusters
from cluster_logreg.model.classifier import LogisticClassifier

POINTS_PER_CLASS = 500_000  # 10^6 fresh points in all
TUTORIAL = GaussianPair.clusters(n_features=2, mean_value=2.5, std=1.0, bias=1.3)


def accuracy(population: GaussianPair, w: list[float], c: float) -> float:
    """The exact accuracy of `class 1 where w.x + c > 0` (the complement of the exact error)."""
    return 1 - population.error(w, c)


def monte_carlo(population: GaussianPair, w: list[float], c: float, mean_value: float, bias: float):
    """Accuracy of `class 1 where w.x + c > 0` on points drawn by the project's own data generator,
    and the standard deviation of that estimate."""
    n_features = len(w)
    x, y = make_clusters(
        POINTS_PER_CLASS, n_features, mean_value, population.std, bias, torch.Generator().manual_seed(2026)
    )
    predicted = (x.double() @ torch.tensor(w, dtype=torch.float64) + c) > 0
    errors = [(predicted[y == label] != bool(label)).double().mean().item() for label in (0, 1)]
    # Half the points from each class: the two error rates are estimated independently.
    sd = 0.5 * math.sqrt(sum(e * (1 - e) / POINTS_PER_CLASS for e in errors))
    return 1 - sum(errors) / 2, sd


@pytest.mark.parametrize(
    ("n_features", "mean_value", "std", "bias", "w", "c"),
    [
        (2, 2.5, 1.0, 1.3, [-1.0, -0.8], 1.9),  # the tutorial's clusters, a boundary off the best one
        (2, 2.5, 1.0, 1.3, [-0.3, -1.2], 2.6),  # ... a worse one (accuracy ~99.5 %)
        (5, 0.3, 1.5, -0.7, [0.4, -1.1, -0.2, 0.9, -0.5], 0.3),  # overlapping clusters in 5-D, any bias
        (1, 1.0, 2.0, 4.0, [-2.0], 7.5),  # 1-D, wide clusters far from the origin
    ],
)
def test_exact_accuracy_agrees_with_a_million_fresh_points(n_features, mean_value, std, bias, w, c):
    population = GaussianPair.clusters(n_features, mean_value, std, bias)
    exact = accuracy(population, w, c)
    estimate, sd = monte_carlo(population, w, c, mean_value, bias)
    assert abs(estimate - exact) <= 5 * sd, (estimate, exact, sd)
    assert 0.5 < exact < population.bayes_accuracy()


def test_exact_accuracy_of_a_model_agrees_with_a_million_fresh_points():
    torch.manual_seed(3)
    model = LogisticClassifier(n_features=3, hidden_dim=5)  # an untrained model: a boundary anywhere
    population = GaussianPair.clusters(3, 1.0, 1.0, 0.5)
    w, c = model.affine_map()
    estimate, sd = monte_carlo(population, w, c, 1.0, 0.5)
    assert abs(estimate - accuracy(population, w, c)) <= 5 * sd


def test_the_perfect_boundary_scores_the_bayes_accuracy_and_the_flipped_one_its_complement():
    w = list(TUTORIAL.bayes_direction)  # normal to the perpendicular bisector, towards class 1
    middle = [(a + b) / 2 for a, b in zip(TUTORIAL.centre0, TUTORIAL.centre1, strict=True)]
    c = -sum(wi * mi for wi, mi in zip(w, middle, strict=True))
    bayes = TUTORIAL.bayes_accuracy()
    margin = 2.5 * math.sqrt(2)  # half the distance between the centres, in standard deviations
    assert bayes == pytest.approx(0.5 * math.erfc(-margin / math.sqrt(2)), abs=1e-15)  # Phi(3.536) = 99.98 %
    metrics = TUTORIAL.metrics(w, c)
    assert metrics["acc/true"] == pytest.approx(bayes, abs=1e-15)
    assert metrics["acc/excess_error"] == pytest.approx(0, abs=1e-15)
    assert metrics["model/cosine_to_bayes"] == pytest.approx(1)
    assert accuracy(TUTORIAL, [-v for v in w], -c) == pytest.approx(1 - bayes, abs=1e-15)
    assert TUTORIAL.metrics([3 * v for v in w], 3 * c)["acc/true"] == pytest.approx(bayes, abs=1e-15)  # any scale


def test_a_shifted_boundary_by_hand():
    # 1-D, class 0 ~ N(1, 1), class 1 ~ N(-1, 1); class 1 where -x + 0.5 > 0, i.e. x < 0.5:
    # class 0 is wrong below 0.5, Phi(-0.5); class 1 above it, Phi(-1.5) (from tables).
    population = GaussianPair.clusters(n_features=1, mean_value=1.0, std=1.0, bias=0.0)
    expected = 1 - (0.30853753872598688 + 0.066807201268858057) / 2
    assert accuracy(population, [-1.0], 0.5) == pytest.approx(expected, abs=1e-15)
    metrics = population.metrics([-1.0], 0.5)
    assert metrics["acc/excess_error"] == pytest.approx(population.bayes_accuracy() - expected, abs=1e-15)
    assert metrics["model/cosine_to_bayes"] == 1.0 and metrics["model/weight_norm"] == 1.0


def test_a_constant_score_is_right_on_half_of_the_points():
    assert accuracy(TUTORIAL, [0.0, 0.0], 3.0) == 0.5
    assert TUTORIAL.metrics([0.0, 0.0], -1.0)["model/cosine_to_bayes"] == 0.0


def test_the_boundary_s_angle_and_offset_by_hand_and_what_each_costs():
    # 1-D as above: the boundary x = 0.5 lies half a std from the Bayes one (x = 0) towards class 0 (at +1).
    population = GaussianPair.clusters(n_features=1, mean_value=1.0, std=2.0, bias=0.0)
    assert population.metrics([-1.0], 0.5)["model/offset_to_bayes"] == pytest.approx(-0.25)  # 0.5 / std 2
    assert population.metrics([-1.0], -0.5)["model/offset_to_bayes"] == pytest.approx(0.25)  # towards class 1
    assert population.metrics([-1.0], 0.0)["model/angle_to_bayes"] == 0.0
    # 2-D: a boundary through the middle, its normal turned 10 degrees from the centres' line.
    w = [math.cos(math.radians(10)), math.sin(math.radians(10))]
    turned = GaussianPair((1.0, 0.0), (-1.0, 0.0), 1.0).metrics([-v for v in w], 0.0)
    assert turned["model/angle_to_bayes"] == pytest.approx(10, abs=1e-12)
    assert turned["model/offset_to_bayes"] == pytest.approx(0, abs=1e-15)
    assert turned["model/cosine_to_bayes"] == pytest.approx(math.cos(math.radians(10)), abs=1e-15)
    # Neither turned nor shifted: the Bayes error; each alone costs accuracy, and both cost more.
    population = GaussianPair((1.0, 0.0), (-1.0, 0.0), 1.0)
    excess = {
        (degrees, shift): population.metrics([-math.cos(math.radians(degrees)), math.sin(math.radians(degrees))], shift)
        for degrees in (0, 10)
        for shift in (0.0, -0.3)  # c < 0: class 1 where w.x > 0.3, the boundary moved towards class 1
    }
    assert excess[0, 0.0]["acc/excess_error"] == pytest.approx(0, abs=1e-15)
    assert (
        excess[0, -0.3]["model/offset_to_bayes"] == pytest.approx(0.3) and excess[0, -0.3]["model/angle_to_bayes"] == 0
    )
    errors = {key: metrics["acc/excess_error"] for key, metrics in excess.items()}
    assert (
        errors[0, 0.0]
        < min(errors[10, 0.0], errors[0, -0.3])
        <= max(errors[10, 0.0], errors[0, -0.3])
        < errors[10, -0.3]
    )


def test_the_angle_is_accurate_where_the_cosine_is_1_to_float64():
    tiny = 1e-9  # radians: the cosine is 1 - 5e-19, which float64 rounds to 1
    population = GaussianPair((1.0, 0.0), (-1.0, 0.0), 1.0)
    metrics = population.metrics([-math.cos(tiny), math.sin(tiny)], 0.0)
    assert metrics["model/cosine_to_bayes"] == 1.0
    assert metrics["model/angle_to_bayes"] == pytest.approx(math.degrees(tiny), rel=1e-6)


def test_the_log_of_the_excess_error_reads_the_excess_error():
    population = GaussianPair.clusters(n_features=1, mean_value=1.0, std=1.0, bias=0.0)
    metrics = population.metrics([-1.0], 0.5)
    assert 10 ** metrics["acc/excess_error_log10"] == pytest.approx(metrics["acc/excess_error"], rel=1e-12)
    assert population.metrics([-1.0], 0.0)["acc/excess_error_log10"] == math.log10(EXCESS_FLOOR)  # an exact 0


def test_the_bayes_map_is_the_true_log_odds():
    # 1-D, class 0 ~ N(1, 4), class 1 ~ N(-1, 4): log p1/p0 = ((x - 1)^2 - (x + 1)^2) / 8 = -x / 2.
    w, c = GaussianPair.clusters(n_features=1, mean_value=1.0, std=2.0, bias=0.0).bayes_map()
    assert w == (-0.5,) and c == 0.0
    w, c = TUTORIAL.bayes_map()  # centres 3.8 and -1.2 in both coordinates, std 1
    assert w == pytest.approx((-5.0, -5.0)) and c == pytest.approx((2 * 3.8**2 - 2 * 1.2**2) / 2)
    metrics = TUTORIAL.metrics(list(w), c)
    assert metrics["model/offset_to_bayes"] == pytest.approx(0, abs=1e-12) and metrics["acc/excess_error"] < 1e-15
