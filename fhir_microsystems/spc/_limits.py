"""Centre lines and control limits, as qicharts2 computes them (``qic.run``, ``qic.i``, ``qic.pp``).

Every function takes the *baseline* points (from which the limits are computed and then
frozen) and the points to draw limits for.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: d2 for moving ranges of two points: sigma = mean moving range / 1.128 (3 sigma = 2.66 MR-bar)
D2 = 1.128
#: D4 for n = 2: a moving range above 3.267 x MR-bar is a freak and is left out (Nelson 1982)
D4 = 3.267


@dataclass(frozen=True, slots=True)
class Limits:
    """A centre line and per-point limits (``None`` where the chart has none)."""

    centre: float
    lower: tuple[float | None, ...]
    upper: tuple[float | None, ...]


def _moving_ranges(values: Sequence[float]) -> list[float]:
    return [abs(b - a) for a, b in itertools.pairwise(values)]


def run_centre(baseline: Sequence[float]) -> float:
    """A run chart's centre: the median of the baseline."""
    return float(statistics.median(baseline))


def i_limits(baseline: Sequence[float], points: int) -> Limits:
    """I (individuals) chart: mean +/- 3 x screened MR-bar / 1.128 (= 2.66 MR-bar).

    Moving ranges of 3.267 x MR-bar or more are screened out before MR-bar is recomputed,
    as qicharts2 does.
    """
    centre = statistics.fmean(baseline)
    mr = _moving_ranges(baseline)
    if not mr:
        return Limits(centre, (None,) * points, (None,) * points)
    amr = statistics.fmean(mr)
    kept = [r for r in mr if r < D4 * amr]
    amr = statistics.fmean(kept) if kept else amr
    sigma = amr / D2
    return Limits(centre, (centre - 3 * sigma,) * points, (centre + 3 * sigma,) * points)


def p_prime_limits(
    baseline_num: Sequence[float],
    baseline_den: Sequence[float],
    denominators: Sequence[float],
) -> Limits:
    """Laney P-prime chart: p = sum(num)/sum(den), s_i = sqrt(p(1-p)/n_i), z_i = (p_i - p)/s_i,
    s_z = mean moving range of the baseline z-scores / 1.128; limits p +/- 3 s_i s_z in 0..1.
    """
    centre = sum(baseline_num) / sum(baseline_den)
    spread = centre * (1 - centre)
    n = len(denominators)
    if spread <= 0:  # every baseline point 0 % or 100 %: no common-cause variation to model
        return Limits(centre, (centre,) * n, (centre,) * n)
    z = [
        (num / den - centre) / math.sqrt(spread / den)
        for num, den in zip(baseline_num, baseline_den, strict=True)
    ]
    mr = _moving_ranges(z)
    if not mr:
        return Limits(centre, (None,) * n, (None,) * n)
    sigma_z = statistics.fmean(mr) / D2
    lower: list[float | None] = []
    upper: list[float | None] = []
    for den in denominators:
        if den <= 0:
            lower.append(None)
            upper.append(None)
            continue
        half = 3 * math.sqrt(spread / den) * sigma_z
        lower.append(max(0.0, centre - half))
        upper.append(min(1.0, centre + half))
    return Limits(centre, tuple(lower), tuple(upper))
