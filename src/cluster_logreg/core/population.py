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

from cluster_logreg.core.metrics import (
    ACC_TRUE,
    ANGLE_TO_BAYES,
    COSINE_TO_BAYES,
    EXCESS_ERROR,
    EXCESS_ERROR_LOG10,
    OFFSET_TO_BAYES,
    WEIGHT_NORM,
)

# The smallest excess error told from 0 (float64 resolves differences of errors near 1e-3 to ~1e-19):
# the log10 of one at or below it, e.g. an exact 0, is this one's.
EXCESS_FLOOR = 1e-18


def normal_cdf(z: float) -> float:
    """Phi(z), accurate in both tails (erfc, not 1 - erf)."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _angle_degrees(a: Sequence[float], b: Sequence[float]) -> float:
    """The angle between two vectors, accurate near 0 (Kahan's formula: acos of a cosine near 1 is not)."""
    unit_a = [x / math.sqrt(_dot(a, a)) for x in a]
    unit_b = [x / math.sqrt(_dot(b, b)) for x in b]
    apart = math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(unit_a, unit_b, strict=True)))
    together = math.sqrt(math.fsum((x + y) ** 2 for x, y in zip(unit_a, unit_b, strict=True)))
    return math.degrees(2 * math.atan2(apart, together))


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

    def bayes_map(self) -> tuple[tuple[float, ...], float]:
        """The Bayes-optimal score w*.x + c*: the true log-odds of class 1, (mu1 - mu0).x / s^2 +
        (|mu0|^2 - |mu1|^2) / (2 s^2); its 0 line is the perpendicular bisector of the centres."""
        variance = self.std**2
        w = tuple(d / variance for d in self.bayes_direction)
        c = (_dot(self.centre0, self.centre0) - _dot(self.centre1, self.centre1)) / (2 * variance)
        return w, c

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
        """The exact accuracy, the excess error (how far below the Bayes-optimal accuracy) and its log10,
        and what the map looks like: the angle between its boundary and the Bayes-optimal one (degrees),
        the offset of its boundary from the Bayes-optimal one where it crosses the line between the centres
        (in cluster std, + towards class 1's centre), the cosine of the two directions and the norm |w|."""
        error = self.error(w, c)
        excess = error - self.bayes_error()  # differences of errors: no cancellation near 1
        norm, direction = math.sqrt(_dot(w, w)), self.bayes_direction
        distance = math.sqrt(_dot(direction, direction))
        return {
            ACC_TRUE: 1 - error,
            EXCESS_ERROR: excess,
            EXCESS_ERROR_LOG10: math.log10(max(excess, EXCESS_FLOOR)),
            ANGLE_TO_BAYES: _angle_degrees(w, direction) if norm else 90.0,
            OFFSET_TO_BAYES: self._offset(w, c, norm, distance) if norm else 0.0,
            COSINE_TO_BAYES: _dot(w, direction) / (norm * distance) if norm else 0.0,
            WEIGHT_NORM: norm,
        }

    def _offset(self, w: Sequence[float], c: float, norm: float, distance: float) -> float:
        """Where the model's boundary crosses the segment from centre0 to centre1, measured from its middle
        (where the Bayes-optimal boundary crosses it) towards centre1, in cluster std. The score along the
        segment is linear, so the crossing is where it reaches 0."""
        score0, score1 = _dot(w, self.centre0) + c, _dot(w, self.centre1) + c
        if score0 == score1:  # the boundary is parallel to the segment: it crosses it nowhere
            return math.copysign(math.inf, -score0) if score0 else 0.0
        crossing = score0 / (score0 - score1)  # in [0, 1] where it crosses between the centres
        return (crossing - 0.5) * distance / self.std
