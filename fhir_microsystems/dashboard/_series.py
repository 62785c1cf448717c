"""Series of one microsystem x measure over time, analysed with :mod:`fhir_microsystems.spc`."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fhir_microsystems.measures import MEASURES_BY_ID
from fhir_microsystems.spc import MEASUREMENT, PROPORTION, Point, SeriesResult, analyse

from ._model import Report, RunData, Team

#: Largest annotations file read.
MAX_ANNOTATIONS_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Annotation:
    """A line of the annotations file: a note on a period, or a deliberate rebase there."""

    period: str
    reason: str
    rebase: bool
    microsystem_id: str = ""  # empty: every microsystem
    measure: str = ""  # empty: every measure

    def applies(self, microsystem_id: str, measure: str) -> bool:
        return self.microsystem_id in ("", microsystem_id) and self.measure in ("", measure)


@dataclass(frozen=True, slots=True)
class Variation:
    """The NHS "Making Data Count" variation verdict of a series' latest point."""

    code: str  # improvement | concern | neutral-high | neutral-low | common | none
    text: str


@dataclass(frozen=True, slots=True)
class Assurance:
    """Whether the process, as its limits show, will meet the target."""

    code: str  # pass | fail | hit-and-miss | none
    text: str


@dataclass(frozen=True, slots=True)
class Series:
    """One microsystem x measure, its points, their SPC analysis and the verdicts."""

    microsystem_id: str
    measure: str
    reports: tuple[Report, ...]
    points: tuple[Point, ...]
    result: SeriesResult
    annotations: tuple[Annotation, ...]
    variation: Variation
    assurance: Assurance

    @property
    def latest(self) -> Report | None:
        return self.reports[-1] if self.reports else None

    @property
    def concern(self) -> int:
        """Sort key: 3 special-cause concern, 2 failing target, 1 hit and miss, 0 otherwise."""
        if self.variation.code == "concern":
            return 3
        return {"fail": 2, "hit-and-miss": 1}.get(self.assurance.code, 0)


def kind_of(measure: str) -> str:
    definition = MEASURES_BY_ID.get(measure)
    return PROPORTION if definition and definition.scoring == "proportion" else MEASUREMENT


def value_of(report: Report) -> float | None:
    """The value plotted: the score, or the count of a cohort measure (volume)."""
    if report.score is not None:
        return report.score
    definition = MEASURES_BY_ID.get(report.measure)
    if definition is not None and definition.scoring == "cohort":
        return float(report.populations.get("initial-population", 0))
    return None


def point_of(report: Report) -> Point:
    proportion = kind_of(report.measure) == PROPORTION
    return Point(
        start=report.start,
        end=report.end,
        value=value_of(report),
        numerator=float(report.numerator) if proportion and report.numerator is not None else None,
        denominator=(
            float(report.denominator) if proportion and report.denominator is not None else None
        ),
        pending=report.pending,
    )


def read_annotations(path: Path) -> tuple[Annotation, ...]:
    """Read ``period,reason[,kind][,microsystem][,measure]`` rows (kind: rebase or note)."""
    if path.stat().st_size > MAX_ANNOTATIONS_BYTES:
        raise ValueError(f"{path.name}: larger than {MAX_ANNOTATIONS_BYTES} bytes")
    rows = csv.DictReader(path.read_text(encoding="utf-8").splitlines())
    if not rows.fieldnames or not {"period", "reason"} <= set(rows.fieldnames):
        raise ValueError(f"{path.name}: needs the columns period and reason")
    found = []
    for n, row in enumerate(rows, 2):
        period = (row.get("period") or "").strip()
        kind = (row.get("kind") or "rebase").strip().lower()
        if not period or kind not in ("rebase", "note"):
            raise ValueError(f"{path.name} line {n}: period is required, kind is rebase or note")
        found.append(
            Annotation(
                period=period,
                reason=(row.get("reason") or "").strip(),
                rebase=kind == "rebase",
                microsystem_id=(row.get("microsystem") or "").strip(),
                measure=(row.get("measure") or "").strip(),
            )
        )
    return tuple(found)


def _variation(
    measure: str, improvement: str | None, result: SeriesResult, points: Sequence[Point]
) -> Variation:
    last = next((i for i in range(len(points) - 1, -1, -1) if points[i].usable), None)
    if last is None or sum(p.usable for p in points) < 2:
        return Variation("none", "not enough data")
    pr = result.points[last]
    value = points[last].value
    if pr.centre is None or value is None:
        return Variation("none", "no data")
    outside = pr.outside
    runs = result.runs_signal and value != pr.centre
    if not (outside or runs):
        return Variation("common", "common cause variation")
    high = value > pr.centre
    if outside:
        why = "outside the limits"
    elif result.runs is not None and result.runs.long_run:
        why = "unusually long run"
    else:
        why = "unusually few crossings"
    if improvement not in ("increase", "decrease"):
        return Variation("neutral-high" if high else "neutral-low", f"special cause ({why})")
    good = high == (improvement == "increase")
    word = "improvement" if good else "concern"
    direction = "higher" if high else "lower"
    return Variation(
        "improvement" if good else "concern", f"special cause {word}: {direction} ({why})"
    )


def _assurance(measure: str, result: SeriesResult, points: Sequence[Point]) -> Assurance:
    definition = MEASURES_BY_ID.get(measure)
    target = definition.target if definition else None
    if target is None:
        return Assurance("none", "no target")
    last = next((i for i in range(len(points) - 1, -1, -1) if points[i].usable), None)
    if last is None:
        return Assurance("none", "no data")
    pr = result.points[last]
    if pr.lower is None or pr.upper is None:
        return Assurance(
            "none", f"target {target.comparator} {target.value:g}; too few points for limits"
        )
    low_ok, high_ok = target.met(pr.lower), target.met(pr.upper)
    if low_ok and high_ok:
        return Assurance(
            "pass", f"will consistently meet the target {target.comparator} {target.value:g}"
        )
    if not low_ok and not high_ok:
        return Assurance(
            "fail", f"will consistently miss the target {target.comparator} {target.value:g}"
        )
    return Assurance(
        "hit-and-miss", f"may meet or miss the target {target.comparator} {target.value:g}"
    )


def build_series(data: RunData, annotations: Iterable[Annotation] = ()) -> list[Series]:
    """Every microsystem x measure series of ``data``, analysed."""
    notes = tuple(annotations)
    by_key: dict[tuple[str, str], list[Report]] = defaultdict(list)
    for r in data.reports:
        by_key[(r.microsystem_id, r.measure)].append(r)
    out = []
    for (ms, measure), reports in sorted(by_key.items()):
        reports.sort(key=lambda r: r.start)
        points = tuple(point_of(r) for r in reports)
        mine = tuple(a for a in notes if a.applies(ms, measure))
        result = analyse(
            points, kind_of(measure), [a.period for a in mine if a.rebase], nonnegative=True
        )
        improvement = reports[-1].improvement
        out.append(
            Series(
                microsystem_id=ms,
                measure=measure,
                reports=tuple(reports),
                points=points,
                result=result,
                annotations=mine,
                variation=_variation(measure, improvement, result, points),
                assurance=_assurance(measure, result, points),
            )
        )
    return out


def latest_teams(data: RunData) -> dict[str, Team]:
    """Each microsystem's CareTeam of its latest period."""
    latest: dict[str, Team] = {}
    for t in sorted(data.teams, key=lambda t: t.period):
        latest[t.microsystem_id] = t
    return latest
