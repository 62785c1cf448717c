"""Dartmouth-framework assessment of a microsystem from transparent component indicators.

Each dimension scores 0..1 as the mean of its available indicators. Indicators computed from
the data carry source ``data``; staff self-assessment ratings (see ``_questionnaire``) carry
source ``staff``. An indicator without a value (e.g. an empty denominator) is listed with no
score and left out of the mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fhir_microsystems.measures import (
    EncounterCounts,
    MeasureResult,
    MicrosystemContext,
    PatientTimelines,
    measure_definition,
    observation_counts,
    own_encounter_counts,
)

from ._questionnaire import CHARACTERISTICS_BY_CODE, StaffScore

#: Dimension code -> (title, what it means).
DIMENSIONS: dict[str, tuple[str, str]] = {
    "evidence-base": ("Evidence base", "Outcomes are measured with standard codes."),
    "leadership": ("Leadership", "The team has a designated lead."),
    "patient-focus": ("Patient focus", "Continuity of care and patient-reported experience."),
    "staff-focus": ("Staff focus", "A stable team with a strong core membership."),
    "interdependence": ("Interdependence", "Care is given by several clinicians together."),
    "information-systems": (
        "Information systems",
        "The microsystem's records are complete and timely.",
    ),
    "performance-results": ("Performance results", "Outcome measures meet their targets."),
}

#: Data indicator code -> (dimension, definition).
DATA_INDICATORS: dict[str, tuple[str, str]] = {
    "standard-coded-observations": (
        "evidence-base",
        "Share of the patient group's observations effective in the period that carry a LOINC "
        "or SNOMED CT code.",
    ),
    "lead-role": ("leadership", "1 when the CareTeam has a designated lead role, else 0."),
    "continuity": ("patient-focus", "The continuity-of-care score (mean Bice-Boxerman index)."),
    "experience-measured": (
        "patient-focus",
        "Share of the patient group with a patient-reported experience observation (survey "
        "category, numeric value) effective in the period.",
    ),
    "stability": ("staff-focus", "The staff stability index of the microsystem (0..1)."),
    "core-member-share": ("staff-focus", "Share of the members who are core members."),
    "multi-clinician-encounters": (
        "interdependence",
        "Share of the volume encounters with at least two distinct practitioners.",
    ),
    "encounters-with-end": (
        "information-systems",
        "Share of the volume encounters with status finished that have a period.end.",
    ),
    "encounters-with-participants": (
        "information-systems",
        "Share of the volume encounters with at least one practitioner.",
    ),
    "complete-observations": (
        "information-systems",
        "Share of the patient group's observations in the period with a recognised code, "
        "a value and the expected unit.",
    ),
    "timeliness": (
        "information-systems",
        "Share of the reporting period the data cover (data end - period start) / length.",
    ),
    "targets-met": (
        "performance-results",
        "Share of the scored outcome measures whose score meets its default target.",
    ),
}


@dataclass(frozen=True, slots=True)
class Indicator:
    """One component indicator; ``numerator``/``denominator`` when it is a share."""

    code: str
    dimension: str
    source: str  # data | staff
    score: float | None
    numerator: int | None = None
    denominator: int | None = None


@dataclass(frozen=True, slots=True)
class DimensionScore:
    """One dimension and its indicators; ``score`` is the mean of those with a value."""

    code: str
    indicators: tuple[Indicator, ...]

    @property
    def score(self) -> float | None:
        values = [i.score for i in self.indicators if i.score is not None]
        return sum(values) / len(values) if values else None


#: How the overall assessment result is formed from the dimension scores.
OVERALL_RULE = "unweighted mean of the dimension scores that have a value"


def overall_score(scores: Iterable[float | None]) -> float | None:
    """The overall assessment result (:data:`OVERALL_RULE`); None when no dimension has one."""
    values = [s for s in scores if s is not None]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The seven dimensions of one microsystem in one period."""

    dimensions: tuple[DimensionScore, ...]

    @property
    def overall(self) -> float | None:
        """The overall result: :data:`OVERALL_RULE`."""
        return overall_score(d.score for d in self.dimensions)


def _share(code: str, hits: int, total: int) -> Indicator:
    dimension = DATA_INDICATORS[code][0]
    return Indicator(code, dimension, "data", hits / total if total else None, hits, total)


def _value(code: str, value: float | None) -> Indicator:
    return Indicator(code, DATA_INDICATORS[code][0], "data", value)


def _targets(results: Sequence[MeasureResult]) -> Indicator:
    met = scored = 0
    for result in results:
        target = measure_definition(result.measure).target
        if target is not None and result.score is not None:
            scored += 1
            met += target.met(result.score)
    return _share("targets-met", met, scored)


def data_indicators(
    ctx: MicrosystemContext,
    results: Sequence[MeasureResult],
    timelines: PatientTimelines,
    encounters: EncounterCounts | None = None,
) -> list[Indicator]:
    """The data indicators of ``ctx`` (see ``DATA_INDICATORS`` for their definitions);
    ``encounters`` counts its encounters
    (:func:`~fhir_microsystems.measures.own_encounter_counts` when not given)."""
    observations = observation_counts(timelines.observations, ctx.patients, ctx.period)
    counted = encounters if encounters is not None else own_encounter_counts(ctx)
    continuity = next((r.score for r in results if r.measure == "continuity-of-care"), None)
    length = (ctx.end - ctx.start).total_seconds()
    covered = (min(ctx.data_end, ctx.end) - ctx.start).total_seconds()
    return [
        _share("standard-coded-observations", observations.coded, observations.total),
        _share("lead-role", int(ctx.has_lead_role), 1),
        _value("continuity", continuity),
        _share(
            "experience-measured",
            len(observations.experienced & ctx.patients),
            len(ctx.patients),
        ),
        _value("stability", ctx.stability),
        _share("core-member-share", len(ctx.core_members & ctx.members), len(ctx.members)),
        _share("multi-clinician-encounters", counted.multi_clinician, counted.total),
        _share("encounters-with-end", counted.finished_with_end, counted.finished),
        _share("encounters-with-participants", counted.with_participants, counted.total),
        _share("complete-observations", observations.complete, observations.total),
        _value("timeliness", min(max(covered / length, 0.0), 1.0)),
        _targets(results),
    ]


def assess_microsystem(
    ctx: MicrosystemContext,
    results: Sequence[MeasureResult],
    timelines: PatientTimelines,
    *,
    staff: Mapping[str, StaffScore] | None = None,
    encounters: EncounterCounts | None = None,
) -> Assessment:
    """Score the seven dimensions from the data and, when given, staff ratings
    (``encounters``: see :func:`data_indicators`)."""
    indicators = data_indicators(ctx, results, timelines, encounters)
    for code, rating in sorted((staff or {}).items()):
        characteristic = CHARACTERISTICS_BY_CODE[code]
        indicators.append(
            Indicator(
                f"staff-{code}",
                characteristic.dimension,
                "staff",
                rating.score,
                denominator=rating.responses,
            )
        )
    return Assessment(
        tuple(
            DimensionScore(code, tuple(i for i in indicators if i.dimension == code))
            for code in DIMENSIONS
        )
    )


__all__ = [
    "DATA_INDICATORS",
    "DIMENSIONS",
    "OVERALL_RULE",
    "Assessment",
    "DimensionScore",
    "Indicator",
    "assess_microsystem",
    "data_indicators",
    "overall_score",
]
