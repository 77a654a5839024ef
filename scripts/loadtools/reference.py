"""An independent reference of the detector contract (docs/architecture.md section 3).

Per metric, in commit order: the baseline is the window before the new value x
(n <= W values); mean and *population* standard deviation of the baseline; if
n < WARMUP or std == 0 then z = 0 and no anomaly, else z = (x - mean) / std and
anomaly = |z| > threshold (strictly); then x is appended and the oldest value is
evicted beyond W.

Everything here is exact: every double is a rational number, so the window's sum
and sum of squares are kept as Fractions (no drift, no cancellation: the naive
formula is exact in rational arithmetic), z^2 is an exact rational, the flag is
decided exactly (z^2 > threshold^2), and z itself is rounded once from a 40-digit
square root. The service, working in doubles, must agree within section 3's bound:

    |dz| <= 1e-9 * max(1, |z|) + 8 * ulp(max |value|) / std

and its flag must agree wherever |z| is farther than that bound from the threshold.
"""

from __future__ import annotations

import decimal
import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

_DEC = decimal.Context(prec=40)


@dataclass(frozen=True)
class Judgement:
    """What the detector must say about one value."""

    value: float
    n: int                 # baseline size
    z: float               # the exact z rounded to a double (0.0 when not computed)
    anomaly: bool          # exact decision
    computed: bool         # False during warmup or when the baseline's std is 0
    tolerance: float       # section 3's bound on |z_service - z|
    borderline: bool       # |z| within tolerance of the threshold: either flag is fine

    def z_agrees(self, z_service: float) -> bool:
        if not self.computed:
            return z_service == 0.0
        return math.isfinite(z_service) and abs(z_service - self.z) <= self.tolerance

    def flag_agrees(self, anomaly_service: bool) -> bool:
        return self.borderline or anomaly_service == self.anomaly


def _sqrt(q: Fraction) -> decimal.Decimal:
    return (decimal.Decimal(q.numerator, _DEC) / decimal.Decimal(q.denominator, _DEC)).sqrt(_DEC)


class MetricReference:
    """The rolling window and detector of one metric, in exact arithmetic."""

    def __init__(self, window: int, threshold: float, warmup: int | None = None) -> None:
        if window < 2:
            raise ValueError("window must be >= 2")
        self.window = window
        self.warmup = window if warmup is None else warmup
        if not 2 <= self.warmup <= window:
            raise ValueError("warmup must be in 2..window")
        if not threshold > 0:
            raise ValueError("threshold must be > 0")
        self.threshold = threshold
        self._threshold_sq = Fraction(threshold) ** 2
        self.values: deque[float] = deque()
        self._sum = Fraction(0)
        self._sumsq = Fraction(0)

    def _variance(self) -> Fraction:
        n = len(self.values)
        mean = self._sum / n
        return self._sumsq / n - mean * mean

    def judge(self, x: float) -> Judgement:
        """The judgement of x against the current window, without committing x."""
        if not math.isfinite(x):
            raise ValueError("non-finite values never enter a window")
        n = len(self.values)
        if n < self.warmup:
            return Judgement(x, n, 0.0, False, False, 0.0, False)
        variance = self._variance()
        if variance == 0:
            return Judgement(x, n, 0.0, False, False, 0.0, False)
        mean = self._sum / n
        dev = Fraction(x) - mean
        z_sq = dev * dev / variance
        z_abs = _sqrt(z_sq)
        z = float(z_abs if dev >= 0 else -z_abs)
        std = float(_sqrt(variance))
        max_abs = max(abs(x), max(abs(v) for v in self.values))
        tolerance = 1e-9 * max(1.0, abs(z)) + 8.0 * math.ulp(max_abs) / std
        anomaly = z_sq > self._threshold_sq
        borderline = abs(abs(z) - self.threshold) <= tolerance
        return Judgement(x, n, z, anomaly, True, tolerance, borderline)

    def push(self, x: float) -> None:
        """Appends x, evicting the oldest value beyond the window size."""
        self.values.append(x)
        q = Fraction(x)
        self._sum += q
        self._sumsq += q * q
        if len(self.values) > self.window:
            old = Fraction(self.values.popleft())
            self._sum -= old
            self._sumsq -= old * old

    def commit(self, x: float) -> Judgement:
        judgement = self.judge(x)
        self.push(x)
        return judgement

    def mean(self) -> float | None:
        return float(self._sum / len(self.values)) if self.values else None

    def std(self) -> float | None:
        return float(_sqrt(self._variance())) if self.values else None

    def baseline(self) -> tuple[float, float] | None:
        """(mean, std) of the current window as doubles, None while empty."""
        if not self.values:
            return None
        return float(self._sum / len(self.values)), float(_sqrt(self._variance()))
