"""What a measure definition is, and the two shapes several measures share.

Each measure's definition lives in its own module (``ed_length_of_stay.py`` ...) beside its
SQL; every population rule is the exact text shipped in ``profiles/Measure-<id>.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default canonical base and version of the shipped Measures.
DEFAULT_CANONICAL_BASE = "https://fhir-microsystems.org/fhir"
MEASURE_VERSION = "1.0.0"

IN_PERIOD = "in the reporting period [start, end), compared as UTC instants"
COUNTED = "status not planned, cancelled or entered-in-error"
_AGE = "age band at the period start: 0-17, 18-44, 45-64, 65+ (unknown without a birth date)"
_GENDER = "administrative gender of the patient (unknown when absent)"
_CLASS = "encounter class (v3 ActCode, unknown when absent)"

STRATIFIER_DESCRIPTIONS = {"age-band": _AGE, "gender": _GENDER, "encounter-class": _CLASS}


@dataclass(frozen=True, slots=True)
class PopulationDefinition:
    """One population: its measure-population code and its rule in words."""

    code: str
    description: str


@dataclass(frozen=True, slots=True)
class GroupDefinition:
    """One Measure.group. Element ids are ``prefix + code`` (prefix empty for one group)."""

    id: str
    description: str
    populations: tuple[PopulationDefinition, ...]
    stratifiers: tuple[str, ...] = ("age-band", "gender")
    prefix: str = ""

    def element_id(self, code: str) -> str:
        """The id of the population/stratifier ``code`` (also the evidence List id)."""
        return f"{self.prefix}{code}"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.populations)


@dataclass(frozen=True, slots=True)
class Target:
    """A performance target: the score meets it when ``score <comparator> value``."""

    comparator: str  # "<=" or ">="
    value: float

    def met(self, score: float) -> bool:
        return score <= self.value if self.comparator == "<=" else score >= self.value


@dataclass(frozen=True, slots=True)
class MeasureDefinition:
    """What a measure is: scoring, direction, unit, precision, populations, target."""

    id: str
    name: str
    title: str
    description: str
    scoring: str  # proportion | continuous-variable | cohort
    improvement: str | None  # increase | decrease | None (cohort)
    subject: str  # what is counted: Encounter | Patient
    groups: tuple[GroupDefinition, ...]
    precision: int = 4
    unit: str | None = None  # UCUM code of a continuous-variable score
    unit_display: str | None = None
    aggregate: str | None = None  # median | average (continuous variable)
    target: Target | None = None
    measure_type: str = "outcome"

    def group(self, group_id: str | None = None) -> GroupDefinition:
        if group_id is None:
            return self.groups[0]
        return next(g for g in self.groups if g.id == group_id)


def pop(code: str, text: str) -> PopulationDefinition:
    return PopulationDefinition(code, text)


def length_of_stay(
    measure_id: str,
    cls: str,
    *,
    unit: str,
    unit_words: str,
    limit: str,
    precision: int,
    target: float,
) -> MeasureDefinition:
    what = "emergency department" if cls == "EMER" else "inpatient"
    return MeasureDefinition(
        id=measure_id,
        name=measure_id.title().replace("-", ""),
        title=f"{what.capitalize()} length of stay",
        description=(
            f"Median length of stay, in {unit_words}, of the {what} encounters ({cls}) "
            "attributed to the microsystem that ended in the reporting period. Lower is better."
        ),
        scoring="continuous-variable",
        improvement="decrease",
        subject="Encounter",
        unit=unit,
        unit_display=unit_words,
        aggregate="median",
        precision=precision,
        target=Target("<=", target),
        groups=(
            GroupDefinition(
                id=measure_id,
                description=f"Length of stay of attributed {cls} encounters, in {unit_words}.",
                populations=(
                    pop(
                        "initial-population",
                        f"Encounters attributed to the microsystem with class {cls} (v3 "
                        f"ActCode), status finished and period.end {IN_PERIOD}.",
                    ),
                    pop("measure-population", "Initial-population encounters with a period.start."),
                    pop(
                        "measure-population-exclusion",
                        "Measure-population encounters whose length (period.end - period.start) "
                        f"is negative or longer than {limit}.",
                    ),
                    pop(
                        "measure-observation",
                        "For each measure-population encounter not excluded: period.end - "
                        f"period.start in {unit_words} (UCUM {unit}). Score: the median of the "
                        "observations (the mean of the two middle values for an even count), "
                        f"rounded to {precision} decimal(s).",
                    ),
                ),
            ),
        ),
    )


def follow_up(
    measure_id: str,
    cls: str,
    *,
    window: str,
    what: str,
    exclusion: str | None,
    target: float,
) -> MeasureDefinition:
    populations = [
        pop(
            "initial-population",
            f"Encounters attributed to the microsystem with class {cls} (v3 ActCode), {COUNTED}, "
            f"with period.end {IN_PERIOD}.",
        ),
        pop("denominator", "Equals the initial population."),
    ]
    if exclusion:
        populations.append(pop("denominator-exclusion", exclusion))
    populations.append(
        pop(
            "numerator",
            f"Denominator encounters{' not excluded' if exclusion else ''} followed by another "
            f"{cls} encounter ({COUNTED}) of the same patient, attributed to any microsystem, "
            f"whose period.start is after the index period.end and at most {window} after it "
            "(it may fall after the reporting period). Score: numerator / (denominator - "
            "denominator exclusions), 0..1, 4 decimals. While the data end before index "
            f"period.end + {window} for a denominator encounter without such a {what}, the "
            "report is pending and counts those encounters.",
        )
    )
    return MeasureDefinition(
        id=measure_id,
        name=measure_id.title().replace("-", ""),
        title=f"{what.capitalize()} within {window}",
        description=(
            f"Share of the attributed {cls} encounters ending in the reporting period that were "
            f"followed by a {what} within {window}. Lower is better."
        ),
        scoring="proportion",
        improvement="decrease",
        subject="Encounter",
        target=Target("<=", target),
        groups=(
            GroupDefinition(
                id=measure_id,
                description=f"Attributed {cls} encounters and their {what}s within {window}.",
                populations=tuple(populations),
            ),
        ),
    )


__all__ = [
    "COUNTED",
    "DEFAULT_CANONICAL_BASE",
    "IN_PERIOD",
    "MEASURE_VERSION",
    "STRATIFIER_DESCRIPTIONS",
    "GroupDefinition",
    "MeasureDefinition",
    "PopulationDefinition",
    "Target",
    "follow_up",
    "length_of_stay",
    "pop",
]
