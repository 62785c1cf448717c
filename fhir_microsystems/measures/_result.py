"""Measure results: cases (what was counted and where), populations, scores and strata.

Every measure reduces to :class:`Case` records (one per counted Encounter or Patient, with
the population codes it belongs to and, for continuous variables, its observation); one
generic :func:`aggregate` turns them into populations, a score and strata, so the scoring
rules live in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import fmean, median

from ._catalog import GroupDefinition, MeasureDefinition
from ._inputs import PatientFact


@dataclass(frozen=True, slots=True)
class Case:
    """One counted item: ``key`` (``Encounter/x`` or ``Patient/x``) and its populations."""

    key: str
    patient: str | None
    populations: frozenset[str]
    value: float | None = None
    encounter_class: str | None = None
    pending: bool = False  # its follow-up window reaches past the data


@dataclass(frozen=True, slots=True)
class PopulationCount:
    """A population: its code and its sorted member keys."""

    code: str
    members: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(frozen=True, slots=True)
class Stratum:
    """One value of one stratifier, with its own populations and score."""

    stratifier: str
    value: str
    populations: tuple[PopulationCount, ...]
    score: float | None


@dataclass(frozen=True, slots=True)
class GroupResult:
    """One Measure.group's result. ``observations`` are (key, value) pairs of a continuous
    variable; ``pending`` the members whose follow-up window the data cannot yet see."""

    id: str
    populations: tuple[PopulationCount, ...]
    score: float | None
    observations: tuple[tuple[str, float], ...] = ()
    strata: tuple[Stratum, ...] = ()
    pending: tuple[str, ...] = ()

    def population(self, code: str) -> PopulationCount:
        """The population ``code`` (empty if the group has no such population)."""
        for population in self.populations:
            if population.code == code:
                return population
        return PopulationCount(code, ())


@dataclass(frozen=True, slots=True)
class MeasureResult:
    """The result of one measure for one microsystem and period."""

    measure: str
    groups: tuple[GroupResult, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def score(self) -> float | None:
        """The first group's score (the only group, except for the volume cohort)."""
        return self.groups[0].score


AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 17, "0-17"),
    (18, 44, "18-44"),
    (45, 64, "45-64"),
    (65, None, "65+"),
)


def age_band(birth_date: date | None, at: datetime) -> str:
    """The age band at ``at`` (negative ages count as 0); ``unknown`` without a birth date."""
    if birth_date is None:
        return "unknown"
    years = at.year - birth_date.year - ((at.month, at.day) < (birth_date.month, birth_date.day))
    years = max(years, 0)
    for low, high, label in AGE_BANDS:
        if years >= low and (high is None or years <= high):
            return label
    return "unknown"  # pragma: no cover - the bands cover every age


def score_cases(definition: MeasureDefinition, cases: Sequence[Case]) -> float | None:
    """The score of ``cases`` by the measure's scoring rule; None when it is undefined."""
    if definition.scoring == "proportion":
        excluded = {c.key for c in cases if "denominator-exclusion" in c.populations}
        eligible = {c.key for c in cases if "denominator" in c.populations} - excluded
        if not eligible:
            return None
        hits = {c.key for c in cases if "numerator" in c.populations} & eligible
        return len(hits) / len(eligible)
    if definition.scoring == "continuous-variable":
        values = [c.value for c in cases if "measure-observation" in c.populations]
        observed = [v for v in values if v is not None]
        if not observed:
            return None
        return median(observed) if definition.aggregate == "median" else fmean(observed)
    return None


def _populations(group: GroupDefinition, cases: Sequence[Case]) -> tuple[PopulationCount, ...]:
    return tuple(
        PopulationCount(code, tuple(sorted(c.key for c in cases if code in c.populations)))
        for code in group.codes
    )


def _strata(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: Sequence[Case],
    keyers: Mapping[str, Callable[[Case], str]],
) -> tuple[Stratum, ...]:
    out: list[Stratum] = []
    for stratifier in group.stratifiers:
        keyer = keyers[stratifier]
        buckets: dict[str, list[Case]] = {}
        for case in cases:
            buckets.setdefault(keyer(case), []).append(case)
        for value in sorted(buckets):
            bucket = buckets[value]
            out.append(
                Stratum(
                    stratifier,
                    value,
                    _populations(group, bucket),
                    score_cases(definition, bucket),
                )
            )
    return tuple(out)


def aggregate(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: Iterable[Case],
    patients: Mapping[str, PatientFact],
    period_start: datetime,
) -> GroupResult:
    """Populations, score, observations, strata and pending members of ``cases``."""
    items = sorted(cases, key=lambda c: c.key)

    def patient_of(case: Case) -> PatientFact | None:
        return patients.get(case.patient) if case.patient else None

    def by_age(case: Case) -> str:
        fact = patient_of(case)
        return age_band(fact.birth_date if fact else None, period_start)

    def by_gender(case: Case) -> str:
        fact = patient_of(case)
        return (fact.gender if fact else None) or "unknown"

    keyers: dict[str, Callable[[Case], str]] = {
        "age-band": by_age,
        "gender": by_gender,
        "encounter-class": lambda c: c.encounter_class or "unknown",
    }
    observations = tuple(
        (c.key, c.value)
        for c in items
        if "measure-observation" in c.populations and c.value is not None
    )
    return GroupResult(
        id=group.id,
        populations=_populations(group, items),
        score=score_cases(definition, items),
        observations=observations,
        strata=_strata(definition, group, items, keyers),
        pending=tuple(c.key for c in items if c.pending),
    )


__all__ = [
    "AGE_BANDS",
    "Case",
    "GroupResult",
    "MeasureResult",
    "PopulationCount",
    "Stratum",
    "age_band",
    "aggregate",
    "score_cases",
]
