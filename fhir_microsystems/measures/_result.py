"""Measure results: cases (what was counted and where), populations, scores and strata.

Every measure reduces to :class:`Case` records (one per counted Encounter or Patient, with
the population codes it belongs to and, for continuous variables, its observation); one
generic :func:`aggregate` turns them into populations, a score and strata, so the scoring
rules live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from statistics import fmean, median

from ._catalog import GroupDefinition, MeasureDefinition
from ._constructor import frozen_constructor
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


#: ``Case(...)`` made faster (see ``_constructor``): the measures make cases by the thousand.
make_case = frozen_constructor(Case)


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
        excluded: set[str] = set()
        eligible: set[str] = set()
        hits: set[str] = set()
        for case in cases:
            populations = case.populations
            if "denominator-exclusion" in populations:
                excluded.add(case.key)
            if "denominator" in populations:
                eligible.add(case.key)
            if "numerator" in populations:
                hits.add(case.key)
        eligible -= excluded
        if not eligible:
            return None
        return len(hits & eligible) / len(eligible)
    if definition.scoring == "continuous-variable":
        observed = [
            c.value for c in cases if "measure-observation" in c.populations and c.value is not None
        ]
        if not observed:
            return None
        return median(observed) if definition.aggregate == "median" else fmean(observed)
    return None


def _populations(codes: tuple[str, ...], cases: Sequence[Case]) -> tuple[PopulationCount, ...]:
    """The populations ``codes`` of ``cases``, which are sorted by key (so are the members)."""
    return tuple(
        PopulationCount(code, tuple([c.key for c in cases if code in c.populations]))
        for code in codes
    )


class StrataKeys:
    """The stratum values of cases: each patient's age band and gender worked out once.

    One instance serves every measure of one microsystem and period (the same ``patients``
    and ``period_start``).
    """

    __slots__ = ("_ages", "_genders", "_patients", "_period_start")

    def __init__(self, patients: Mapping[str, PatientFact], period_start: datetime) -> None:
        self._patients = patients
        self._period_start = period_start
        self._ages: dict[str | None, str] = {}
        self._genders: dict[str | None, str] = {}

    def _age(self, patient: str | None) -> str:
        fact = self._patients.get(patient) if patient else None
        return age_band(fact.birth_date if fact else None, self._period_start)

    def _gender(self, patient: str | None) -> str:
        fact = self._patients.get(patient) if patient else None
        return (fact.gender if fact else None) or "unknown"

    def values(self, stratifier: str, cases: Sequence[Case]) -> list[str]:
        """The stratum value of each of ``cases`` for ``stratifier``."""
        match stratifier:
            case "encounter-class":
                return [c.encounter_class or "unknown" for c in cases]
            case "age-band":
                cache, work_out = self._ages, self._age
            case "gender":
                cache, work_out = self._genders, self._gender
            case _:
                raise KeyError(stratifier)
        out: list[str] = []
        for case in cases:
            value = cache.get(case.patient)
            if value is None:
                value = cache[case.patient] = work_out(case.patient)
            out.append(value)
        return out


def _strata(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: Sequence[Case],
    keys: StrataKeys,
) -> tuple[Stratum, ...]:
    """The strata of ``cases`` (sorted by key, as every bucket then is)."""
    out: list[Stratum] = []
    codes = group.codes
    for stratifier in group.stratifiers:
        buckets: dict[str, list[Case]] = {}
        for case, value in zip(cases, keys.values(stratifier, cases), strict=True):
            bucket = buckets.get(value)
            if bucket is None:
                buckets[value] = [case]
            else:
                bucket.append(case)
        for value in sorted(buckets):
            bucket = buckets[value]
            out.append(
                Stratum(
                    stratifier,
                    value,
                    _populations(codes, bucket),
                    score_cases(definition, bucket),
                )
            )
    return tuple(out)


def _case_key(case: Case) -> str:
    return case.key


def aggregate_with(
    definition: MeasureDefinition, group: GroupDefinition, cases: Iterable[Case], keys: StrataKeys
) -> GroupResult:
    """:func:`aggregate` with the stratum values of ``keys`` (shared between measures)."""
    items = sorted(cases, key=_case_key)
    observations = tuple(
        (c.key, c.value)
        for c in items
        if "measure-observation" in c.populations and c.value is not None
    )
    return GroupResult(
        id=group.id,
        populations=_populations(group.codes, items),
        score=score_cases(definition, items),
        observations=observations,
        strata=_strata(definition, group, items, keys),
        pending=tuple(c.key for c in items if c.pending),
    )


def aggregate(
    definition: MeasureDefinition,
    group: GroupDefinition,
    cases: Iterable[Case],
    patients: Mapping[str, PatientFact],
    period_start: datetime,
) -> GroupResult:
    """Populations, score, observations, strata and pending members of ``cases``."""
    return aggregate_with(definition, group, cases, StrataKeys(patients, period_start))


__all__ = [
    "AGE_BANDS",
    "Case",
    "GroupResult",
    "MeasureResult",
    "PopulationCount",
    "StrataKeys",
    "Stratum",
    "age_band",
    "aggregate",
    "aggregate_with",
    "score_cases",
]
