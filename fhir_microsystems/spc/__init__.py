"""Statistical process control for microsystem measures: pure functions, no I/O.

Run charts with the Anhøj rules, Laney P-prime charts for proportions and I charts for
everything measured or counted, computed as qicharts2 computes them. See ``docs/dashboard.md``.
"""

from ._limits import Limits, i_limits, p_prime_limits, run_centre
from ._rules import RunsResult, crossings_min, longest_run_max, qbinom, runs_analysis
from ._series import (
    BASELINE_POINTS,
    MEASUREMENT,
    MIN_LIMIT_POINTS,
    PROPORTION,
    Point,
    PointResult,
    SeriesResult,
    analyse,
    part_starts,
)

__all__ = [
    "BASELINE_POINTS",
    "MEASUREMENT",
    "MIN_LIMIT_POINTS",
    "PROPORTION",
    "Limits",
    "Point",
    "PointResult",
    "RunsResult",
    "SeriesResult",
    "analyse",
    "crossings_min",
    "i_limits",
    "longest_run_max",
    "p_prime_limits",
    "part_starts",
    "qbinom",
    "run_centre",
    "runs_analysis",
]
