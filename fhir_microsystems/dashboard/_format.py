"""How each measure's values read: percentages, minutes, days, indexes, counts."""

from __future__ import annotations

from collections.abc import Callable

from fhir_microsystems.measures import MEASURES_BY_ID

#: Short headings of the scorecard columns, in reading order (the CLI's table uses the same).
MEASURE_ORDER = (
    "volume",
    "ed-length-of-stay",
    "ed-return-72h",
    "inpatient-length-of-stay",
    "readmission-30d",
    "bp-control",
    "hba1c-poor-control",
    "continuity-of-care",
    "microsystem-assessment",
)


def title_of(measure: str) -> str:
    definition = MEASURES_BY_ID.get(measure)
    if definition is not None:
        return definition.title
    return "Microsystem assessment" if measure == "microsystem-assessment" else measure


def formatter(measure: str) -> Callable[[float], str]:
    definition = MEASURES_BY_ID.get(measure)
    if definition is None:
        return lambda v: f"{v:.3g}"
    if definition.scoring == "proportion":
        return lambda v: f"{v * 100:.1f}%"
    if definition.scoring == "cohort":
        return lambda v: f"{v:,.0f}"
    if definition.unit == "min":
        return lambda v: f"{v:,.0f} min"
    if definition.unit == "d":
        return lambda v: f"{v:.1f} d"
    return lambda v: f"{v:.2f}"


def order_key(measure: str) -> tuple[int, str]:
    return (MEASURE_ORDER.index(measure) if measure in MEASURE_ORDER else 99, measure)


#: Short headings of the scorecard columns.
SHORT_TITLES = {
    "volume": "Encounters",
    "ed-length-of-stay": "ED length of stay",
    "ed-return-72h": "ED return 72 h",
    "inpatient-length-of-stay": "Inpatient LOS",
    "readmission-30d": "Readmission 30 d",
    "bp-control": "BP < 140/90",
    "hba1c-poor-control": "HbA1c > 9 %",
    "continuity-of-care": "Continuity (COC)",
    "microsystem-assessment": "Assessment",
}


def short_title(measure: str) -> str:
    return SHORT_TITLES.get(measure, title_of(measure))
