"""One measure's series over time: chart choice, frozen baseline, rebasing, signals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._limits import Limits, i_limits, p_prime_limits, run_centre
from ._rules import RunsResult, runs_analysis

#: Usable (non-pending, scored) baseline points a part needs before control limits are drawn;
#: with fewer the part is a run chart around the median. 12 is a year of monthly points, the
#: least the SPC literature accepts for trial limits (20 to 25 are preferred).
MIN_LIMIT_POINTS = 12
#: The baseline of a part is frozen after this many usable points (qicharts2's ``freeze``):
#: later points are judged against those limits until an annotation rebases the chart.
BASELINE_POINTS = 20

PROPORTION = "proportion"
MEASUREMENT = "measurement"


@dataclass(frozen=True, slots=True)
class Point:
    """One period's value; ``pending`` periods are drawn but never used for limits or signals."""

    start: str
    end: str
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    pending: bool = False

    @property
    def usable(self) -> bool:
        return self.value is not None and not self.pending


@dataclass(frozen=True, slots=True)
class PointResult:
    """A point's chart lines and whether it lies outside its limits."""

    chart: str  # run | i | p-prime
    centre: float | None
    lower: float | None
    upper: float | None
    outside: bool
    part: int
    baseline: bool


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """A series analysed: one result a point, and the runs analysis of the latest part."""

    points: tuple[PointResult, ...]
    runs: RunsResult | None

    @property
    def chart(self) -> str:
        return self.points[-1].chart if self.points else "run"

    @property
    def runs_signal(self) -> bool:
        return self.runs is not None and self.runs.signal


def part_starts(points: Sequence[Point], rebase_at: Sequence[str]) -> list[int]:
    """Indexes where a part begins: 0 and the first point at or after each rebase period."""
    starts = {0}
    for period in rebase_at:
        for i, p in enumerate(points):
            if p.start[: len(period)] >= period:
                if i:
                    starts.add(i)
                break
    return sorted(starts)


def analyse(
    points: Sequence[Point],
    kind: str,
    rebase_at: Sequence[str] = (),
    *,
    nonnegative: bool = False,
) -> SeriesResult:
    """Analyse ``points`` (time order) of a ``kind`` measure, rebased at ``rebase_at`` periods.

    ``nonnegative`` (qicharts2's ``y.neg = FALSE``) clips lower limits at 0 for a measure that
    cannot be negative.

    Proportions with numerators and denominators get a Laney P-prime chart, everything else
    (lengths of stay, continuity, counts, scores) an I chart, once a part has
    ``MIN_LIMIT_POINTS`` usable points; until then a run chart.
    """
    starts = part_starts(points, rebase_at)
    bounds = list(zip(starts, [*starts[1:], len(points)], strict=True))
    results: list[PointResult] = []
    runs: RunsResult | None = None
    for part, (lo, hi) in enumerate(bounds):
        segment = points[lo:hi]
        usable = [p for p in segment if p.usable]
        baseline = usable[:BASELINE_POINTS]
        base_ids = {id(p) for p in baseline}
        if not baseline:
            results.extend(
                PointResult("run", None, None, None, False, part, False) for _ in segment
            )
            runs = None
            continue
        chart, limits = _limits(segment, baseline, kind)
        if nonnegative:
            lows = tuple(None if v is None else max(v, 0.0) for v in limits.lower)
            limits = Limits(limits.centre, lows, limits.upper)
        values = [p.value for p in usable if p.value is not None]
        runs = runs_analysis(values, limits.centre)
        for i, p in enumerate(segment):
            lower, upper = limits.lower[i], limits.upper[i]
            outside = (
                p.usable
                and p.value is not None
                and (
                    (lower is not None and p.value < lower)
                    or (upper is not None and p.value > upper)
                )
            )
            results.append(
                PointResult(chart, limits.centre, lower, upper, outside, part, id(p) in base_ids)
            )
    return SeriesResult(tuple(results), runs)


def _limits(segment: Sequence[Point], baseline: Sequence[Point], kind: str) -> tuple[str, Limits]:
    values = [p.value for p in baseline if p.value is not None]
    n = len(segment)
    if len(baseline) < MIN_LIMIT_POINTS:
        return "run", Limits(run_centre(values), (None,) * n, (None,) * n)
    if kind == PROPORTION and all(p.numerator is not None and p.denominator for p in baseline):
        num = [p.numerator or 0.0 for p in baseline]
        den = [p.denominator or 0.0 for p in baseline]
        dens = [p.denominator or 0.0 for p in segment]
        return "p-prime", p_prime_limits(num, den, dens)
    return "i", i_limits(values, n)
