"""The measure definitions: one source of truth for the code, the Measure resources and docs.

Every population rule below is the exact text shipped in ``profiles/Measure-<id>.json``;
the computations in this package implement those sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default canonical base and version of the shipped Measures.
DEFAULT_CANONICAL_BASE = "https://fhir-microsystems.org/fhir"
MEASURE_VERSION = "1.0.0"

_IN_PERIOD = "in the reporting period [start, end), compared as UTC instants"
_COUNTED = "status not planned, cancelled or entered-in-error"
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


def _pop(code: str, text: str) -> PopulationDefinition:
    return PopulationDefinition(code, text)


def _length_of_stay(
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
                    _pop(
                        "initial-population",
                        f"Encounters attributed to the microsystem with class {cls} (v3 "
                        f"ActCode), status finished and period.end {_IN_PERIOD}.",
                    ),
                    _pop(
                        "measure-population", "Initial-population encounters with a period.start."
                    ),
                    _pop(
                        "measure-population-exclusion",
                        "Measure-population encounters whose length (period.end - period.start) "
                        f"is negative or longer than {limit}.",
                    ),
                    _pop(
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


def _follow_up(
    measure_id: str,
    cls: str,
    *,
    window: str,
    what: str,
    exclusion: str | None,
    target: float,
) -> MeasureDefinition:
    populations = [
        _pop(
            "initial-population",
            f"Encounters attributed to the microsystem with class {cls} (v3 ActCode), {_COUNTED}, "
            f"with period.end {_IN_PERIOD}.",
        ),
        _pop("denominator", "Equals the initial population."),
    ]
    if exclusion:
        populations.append(_pop("denominator-exclusion", exclusion))
    populations.append(
        _pop(
            "numerator",
            f"Denominator encounters{' not excluded' if exclusion else ''} followed by another "
            f"{cls} encounter ({_COUNTED}) of the same patient, attributed to any microsystem, "
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


_READING_STATUS = "status final, amended or corrected"

_BP_READING = (
    "A blood pressure reading is a systolic (LOINC 8480-6) and a diastolic (LOINC 8462-4) "
    f"value in mm[Hg] ({_READING_STATUS}) with the same effective instant of the same "
    "patient: the components of a blood pressure panel (LOINC 85354-9) or standalone systolic "
    "and diastolic Observations."
)

_GROUP_PATIENTS = _pop("initial-population", "Patients of the microsystem's patient Group.")

MEASURES: tuple[MeasureDefinition, ...] = (
    _length_of_stay(
        "ed-length-of-stay",
        "EMER",
        unit="min",
        unit_words="minutes",
        limit="7 days (10080 min)",
        precision=1,
        target=240,
    ),
    _length_of_stay(
        "inpatient-length-of-stay",
        "IMP",
        unit="d",
        unit_words="days",
        limit="365 days",
        precision=2,
        target=5,
    ),
    _follow_up(
        "readmission-30d",
        "IMP",
        window="30 days",
        what="readmission",
        exclusion="Denominator encounters with discharge disposition code exp (expired), or whose "
        "patient has a deceasedDateTime at or before the encounter's period.end.",
        target=0.15,
    ),
    _follow_up(
        "ed-return-72h",
        "EMER",
        window="72 hours",
        what="return visit",
        exclusion=None,
        target=0.05,
    ),
    MeasureDefinition(
        id="bp-control",
        name="BloodPressureControl",
        title="Blood pressure control (<140/90 mmHg)",
        description=(
            "Share of the microsystem's group patients with a blood pressure reading in the "
            "period whose most recent reading is below 140/90 mmHg. Higher is better."
        ),
        scoring="proportion",
        improvement="increase",
        subject="Patient",
        target=Target(">=", 0.7),
        groups=(
            GroupDefinition(
                id="bp-control",
                description="Group patients with a blood pressure reading; controlled ones.",
                populations=(
                    _GROUP_PATIENTS,
                    _pop(
                        "denominator",
                        "Initial-population patients with at least one blood pressure reading "
                        f"effective {_IN_PERIOD}. {_BP_READING}",
                    ),
                    _pop(
                        "numerator",
                        "Denominator patients whose most recent reading in the period has "
                        "systolic < 140 and diastolic < 90 mm[Hg]; when several readings share "
                        "the most recent instant, the lowest systolic and the lowest diastolic "
                        "value are used. Score: numerator / denominator, 0..1, 4 decimals.",
                    ),
                ),
            ),
        ),
    ),
    MeasureDefinition(
        id="hba1c-poor-control",
        name="HbA1cPoorControl",
        title="HbA1c poor control (> 9.0 %)",
        description=(
            "Share of the microsystem's group patients with an HbA1c result in the period "
            "whose most recent result is above 9.0 %. Lower is better."
        ),
        scoring="proportion",
        improvement="decrease",
        subject="Patient",
        target=Target("<=", 0.2),
        groups=(
            GroupDefinition(
                id="hba1c-poor-control",
                description="Group patients with an HbA1c result; poorly controlled ones.",
                populations=(
                    _GROUP_PATIENTS,
                    _pop(
                        "denominator",
                        "Initial-population patients with at least one HbA1c Observation (LOINC "
                        f"4548-4, {_READING_STATUS}, value in UCUM %) effective {_IN_PERIOD}.",
                    ),
                    _pop(
                        "numerator",
                        "Denominator patients whose most recent HbA1c value in the period is "
                        "> 9.0 %; when several share the most recent instant, the lowest is "
                        "used. Score: numerator / denominator, 0..1, 4 decimals.",
                    ),
                ),
            ),
        ),
    ),
    MeasureDefinition(
        id="continuity-of-care",
        name="ContinuityOfCare",
        title="Continuity of care (Bice-Boxerman index)",
        description=(
            "Mean Bice-Boxerman continuity-of-care index of the patients seen at least twice "
            "by the microsystem in the period. Higher is better."
        ),
        scoring="continuous-variable",
        improvement="increase",
        subject="Patient",
        aggregate="average",
        unit="1",
        unit_display="index 0..1",
        target=Target(">=", 0.5),
        measure_type="process",
        groups=(
            GroupDefinition(
                id="continuity-of-care",
                description="Per-patient Bice-Boxerman index over the microsystem's members.",
                populations=(
                    _pop(
                        "initial-population",
                        "Patients of the encounters attributed to the microsystem whose "
                        f"period.start is {_IN_PERIOD}, {_COUNTED}.",
                    ),
                    _pop(
                        "measure-population",
                        "Initial-population patients with at least 2 such encounters that have "
                        "a primary practitioner: the first practitioner listed on the encounter "
                        "(the ATND/PPRF participant is listed first) who is a member of the "
                        "microsystem. Other encounters are not counted.",
                    ),
                    _pop(
                        "measure-observation",
                        "Per measure-population patient: COC = (sum_j n_j^2 - N) / (N (N - 1)), "
                        "N = the patient's counted encounters, n_j = those whose primary "
                        "practitioner is j. Score: the mean of the observations, 0..1, "
                        "4 decimals.",
                    ),
                ),
            ),
        ),
    ),
    MeasureDefinition(
        id="volume",
        name="Volume",
        title="Encounter and patient volume",
        description=(
            "Number of encounters attributed to the microsystem that started in the period and "
            "number of distinct patients they concern (two groups)."
        ),
        scoring="cohort",
        improvement=None,
        subject="Encounter",
        measure_type="structure",
        groups=(
            GroupDefinition(
                id="encounters",
                description="Attributed encounters that started in the period.",
                populations=(
                    _pop(
                        "initial-population",
                        "Encounters attributed to the microsystem whose period.start is "
                        f"{_IN_PERIOD}, {_COUNTED}.",
                    ),
                ),
                stratifiers=("encounter-class", "age-band", "gender"),
                prefix="encounters-",
            ),
            GroupDefinition(
                id="patients",
                description="Distinct patients of those encounters.",
                populations=(
                    _pop(
                        "initial-population",
                        "Distinct patients of the encounters in the encounters group.",
                    ),
                ),
                prefix="patients-",
            ),
        ),
    ),
)

MEASURES_BY_ID = {m.id: m for m in MEASURES}


def measure_definition(measure_id: str) -> MeasureDefinition:
    """The definition of ``measure_id``; raises ``KeyError`` for an unknown id."""
    return MEASURES_BY_ID[measure_id]


__all__ = [
    "DEFAULT_CANONICAL_BASE",
    "MEASURES",
    "MEASURES_BY_ID",
    "MEASURE_VERSION",
    "STRATIFIER_DESCRIPTIONS",
    "GroupDefinition",
    "MeasureDefinition",
    "PopulationDefinition",
    "Target",
    "measure_definition",
]
