"""Anhøj run-chart rules (qicharts2's ``runs.analysis``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunsResult:
    """The runs analysis of one series against its centre line."""

    useful: int  # points not on the centre line
    longest_run: int
    longest_run_max: int
    crossings: int
    crossings_min: int

    @property
    def long_run(self) -> bool:
        return self.useful > 0 and self.longest_run > self.longest_run_max

    @property
    def few_crossings(self) -> bool:
        return self.useful > 0 and self.crossings < self.crossings_min

    @property
    def signal(self) -> bool:
        """Non-random variation: an unusually long run or unusually few crossings."""
        return self.long_run or self.few_crossings


def qbinom(p: float, size: int, prob: float = 0.5) -> int:
    """R's ``qbinom``: the smallest k with P(X <= k) >= p for X ~ Binomial(size, prob)."""
    if size <= 0:
        return 0
    cumulative = 0.0
    for k in range(size + 1):
        cumulative += math.comb(size, k) * prob**k * (1 - prob) ** (size - k)
        # R compares with a small fuzz so that exact binomial quantiles are not missed
        if cumulative >= p * (1 - 64 * 2.220446e-16):
            return k
    return size


def longest_run_max(useful: int) -> int:
    """Upper limit for the longest run: round(log2(n)) + 3 (Schilling 2012)."""
    return round(math.log2(useful)) + 3 if useful > 0 else 0


def crossings_min(useful: int) -> int:
    """Lower limit for crossings: the 5th percentile of Binomial(n - 1, 0.5) (Chen 2010)."""
    return qbinom(0.05, max(useful - 1, 0), 0.5)


def runs_analysis(values: Sequence[float], centre: float) -> RunsResult:
    """Anhøj's rules for ``values`` (in time order) around ``centre``; ties are not useful."""
    signs = [1 if v > centre else -1 for v in values if v != centre]
    useful = len(signs)
    if not useful:
        return RunsResult(0, 0, 0, 0, 0)
    runs = [1]
    for prev, cur in itertools.pairwise(signs):
        if cur == prev:
            runs[-1] += 1
        else:
            runs.append(1)
    return RunsResult(
        useful=useful,
        longest_run=max(runs),
        longest_run_max=longest_run_max(useful),
        crossings=len(runs) - 1,
        crossings_min=crossings_min(useful),
    )
