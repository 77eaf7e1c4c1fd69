"""What a linear classifier is worth on the clusters' true distribution, computed exactly.

On a few hundred test points every reasonable setting scores 100 %, and on separable data the loss
keeps falling as the weights grow, so neither tells settings apart. The clusters' distribution is
known, though: two isotropic Gaussians with equal priors. A model whose score is the affine map
f(x) = w.x + c (class 1 where f > 0) then has, on infinitely many fresh points, the accuracy

    acc = 1 - 1/2 Phi((w.mu0 + c) / (s |w|)) - 1/2 Phi(-(w.mu1 + c) / (s |w|))

(f(x) is normal with mean w.mu + c and standard deviation s |w| within each class), and the best
any classifier can do is Phi(|mu1 - mu0| / (2 s)). Plain Python floats (float64): the differences
between good settings lie in the 5th digit, below float32's resolution near 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cluster_logreg.core.metrics import ACC_TRUE, COSINE_TO_BAYES, EXCESS_ERROR, WEIGHT_NORM


def normal_cdf(z: float) -> float:
    """Phi(z), accurate in both tails (erfc, not 1 - erf)."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class GaussianPair:
    """Class 0 ~ Normal(centre0, std^2 I), class 1 ~ Normal(centre1, std^2 I), equal priors."""

    centre0: tuple[float, ...]
    centre1: tuple[float, ...]
    std: float

    @classmethod
    def clusters(cls, n_features: int, mean_value: float, std: float, bias: float) -> GaussianPair:
        """The tutorial's clusters: class 0 around (mean_value + bias) * 1, class 1 around (-mean_value + bias) * 1."""
        return cls((mean_value + bias,) * n_features, (-mean_value + bias,) * n_features, std)

    @property
    def bayes_direction(self) -> tuple[float, ...]:
        """centre1 - centre0: the direction the best boundary's normal points (towards class 1)."""
        return tuple(b - a for a, b in zip(self.centre0, self.centre1, strict=True))

    def bayes_error(self) -> float:
        """The error of the best possible classifier: the perpendicular bisector of the centres."""
        half_distance = math.sqrt(_dot(self.bayes_direction, self.bayes_direction)) / 2
        return normal_cdf(-half_distance / self.std)

    def bayes_accuracy(self) -> float:
        return 1 - self.bayes_error()

    def error(self, w: Sequence[float], c: float) -> float:
        """The exact error of `class 1 where w.x + c > 0`."""
        spread = self.std * math.sqrt(_dot(w, w))
        if spread == 0:  # a constant score: one class everywhere, right on half of the points
            return 0.5
        wrong_on_class0 = normal_cdf((_dot(w, self.centre0) + c) / spread)  # P(f > 0 | class 0)
        wrong_on_class1 = normal_cdf(-(_dot(w, self.centre1) + c) / spread)  # P(f <= 0 | class 1)
        return (wrong_on_class0 + wrong_on_class1) / 2

    def metrics(self, w: Sequence[float], c: float) -> dict[str, float]:
        """The exact accuracy, the excess error (how far below the Bayes-optimal accuracy), and what the map
        looks like: its cosine with the Bayes-optimal direction and its norm |w|."""
        error = self.error(w, c)
        norm, direction = math.sqrt(_dot(w, w)), self.bayes_direction
        scale = norm * math.sqrt(_dot(direction, direction))
        return {
            ACC_TRUE: 1 - error,
            EXCESS_ERROR: error - self.bayes_error(),  # differences of errors: no cancellation near 1
            COSINE_TO_BAYES: _dot(w, direction) / scale if scale else 0.0,
            WEIGHT_NORM: norm,
        }
