"""FHIR R4 Measure resources built from the catalog (``profiles/Measure-<id>.json``)."""

from __future__ import annotations

from typing import Any

from ._catalog import STRATIFIER_DESCRIPTIONS, GroupDefinition, MeasureDefinition

SCORING = "http://terminology.hl7.org/CodeSystem/measure-scoring"
POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
IMPROVEMENT = "http://terminology.hl7.org/CodeSystem/measure-improvement-notation"
MEASURE_TYPE = "http://terminology.hl7.org/CodeSystem/measure-type"
UCUM = "http://unitsofmeasure.org"
CQFM = "http://hl7.org/fhir/us/cqfmeasures/StructureDefinition"
PUBLISHER = "fhir-microsystems"


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one coding."""
    item = {"system": system, "code": code}
    if display:
        item["display"] = display
    return {"coding": [item]}


def stratifier_concept(canonical_base: str, code: str) -> dict[str, Any]:
    """The code of a stratifier (``age-band``, ``gender``, ``encounter-class``)."""
    concept = coding(f"{canonical_base}/CodeSystem/microsystem-stratifier", code)
    concept["text"] = code
    return concept


def _criteria(text: str) -> dict[str, Any]:
    return {"language": "text/plain", "expression": text}


def _group(definition: MeasureDefinition, group: GroupDefinition, base: str) -> dict[str, Any]:
    populations = []
    for population in group.populations:
        item: dict[str, Any] = {
            "id": group.element_id(population.code),
            "code": coding(POPULATION, population.code),
            "description": population.description,
            "criteria": _criteria(population.description),
        }
        if population.code == "measure-observation":
            item["extension"] = [
                {"url": f"{CQFM}/cqfm-aggregateMethod", "valueCode": definition.aggregate},
                {
                    "url": f"{CQFM}/cqfm-criteriaReference",
                    "valueString": group.element_id("measure-population"),
                },
            ]
        populations.append(item)
    out: dict[str, Any] = {"id": group.id, "description": group.description}
    if definition.unit:
        concept = coding(UCUM, definition.unit, definition.unit_display)
        out["extension"] = [{"url": f"{CQFM}/cqfm-scoringUnit", "valueCodeableConcept": concept}]
    out["population"] = populations
    out["stratifier"] = [
        {
            "id": group.element_id(code),
            "code": stratifier_concept(base, code),
            "description": STRATIFIER_DESCRIPTIONS[code],
            "criteria": _criteria(STRATIFIER_DESCRIPTIONS[code]),
        }
        for code in group.stratifiers
    ]
    return out


def _guidance(definition: MeasureDefinition) -> str:
    parts = []
    if definition.unit:
        parts.append(
            f"Scoring unit: {definition.unit_display} (UCUM {definition.unit}); "
            f"score rounded half-up to {definition.precision} decimal(s)."
        )
    elif definition.scoring == "proportion":
        parts.append("Scoring unit: proportion 0..1, rounded half-up to 4 decimals.")
    if definition.target:
        target = definition.target
        parts.append(
            f"Default performance target (microsystem assessment): score {target.comparator} "
            f"{target.value:g}."
        )
    parts.append(
        "Periods are half-open [start, end) in UTC; times with offsets are compared as instants. "
        "An empty denominator or measure population gives no measureScore."
    )
    return " ".join(parts)


def measure_resource(
    definition: MeasureDefinition, *, canonical_base: str, version: str
) -> dict[str, Any]:
    """The FHIR R4 Measure of ``definition`` under ``canonical_base``."""
    basis = "Encounter" if definition.subject == "Encounter" else "boolean"
    resource: dict[str, Any] = {
        "resourceType": "Measure",
        "id": definition.id,
        "extension": [{"url": f"{CQFM}/cqfm-populationBasis", "valueCode": basis}],
        "url": f"{canonical_base}/Measure/{definition.id}",
        "version": version,
        "name": definition.name,
        "title": definition.title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": definition.description,
        "scoring": coding(SCORING, definition.scoring),
        "type": [coding(MEASURE_TYPE, definition.measure_type)],
        "guidance": _guidance(definition),
        "group": [_group(definition, g, canonical_base) for g in definition.groups],
    }
    if definition.improvement:
        resource["improvementNotation"] = coding(IMPROVEMENT, definition.improvement)
    return resource


def shipped_measures(
    *, canonical_base: str | None = None, version: str | None = None
) -> list[dict[str, Any]]:
    """The Measure resources of every catalog measure (what ``profiles/`` ships)."""
    from ._catalog import DEFAULT_CANONICAL_BASE, MEASURE_VERSION
    from ._registry import MEASURES

    return [
        measure_resource(
            d,
            canonical_base=canonical_base or DEFAULT_CANONICAL_BASE,
            version=version or MEASURE_VERSION,
        )
        for d in MEASURES
    ]


__all__ = [
    "CQFM",
    "IMPROVEMENT",
    "MEASURE_TYPE",
    "POPULATION",
    "SCORING",
    "UCUM",
    "coding",
    "measure_resource",
    "shipped_measures",
    "stratifier_concept",
]
