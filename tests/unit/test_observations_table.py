"""extract_observation on tricky Observations: a table recorded from the original code.

The expectations were produced by the row-at-a-time Python implementation that the SQL of
``fhir_microsystems/extract/observations.sql`` replaced; they pin kind selection, units,
findings (and their order) on malformed and unusual input. Two changed deliberately: the
``encounter`` key is no longer kept (nothing read it), and an Observation without a usable
effective time is dropped (the extract stage always dropped it; its findings stay).
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures._inputs import ObservationFact
from fhir_microsystems.observations import extract_observation

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category"


def obs(coding: Any = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-03-01T00:30:00+02:00",
    }
    if coding is not None:
        out["code"] = {"coding": coding}
    out.update(extra)
    return out


def c(code: Any, system: Any = LOINC) -> dict[str, Any]:
    return {"system": system, "code": code}


def q(value: Any, code: Any = "mm[Hg]", **extra: Any) -> dict[str, Any]:
    return {"value": value, "system": UCUM, "code": code, **extra}


def comp(codings: Any, value: Any = 120, **extra: Any) -> dict[str, Any]:
    return {"code": {"coding": codings}, "valueQuantity": q(value), **extra}


CASES: dict[str, dict[str, Any]] = {
    "two kinds, smallest code wins": obs([c("8480-6"), c("4548-4")], valueQuantity=q(7, "%")),
    "kind code under snomed is other": obs([c("8480-6", SNOMED)], valueQuantity=q(120)),
    "kind code without system": obs([c("8480-6", None)], valueQuantity=q(120)),
    "snomed plus loinc kind": obs([c("1234", SNOMED), c("8462-4")], valueQuantity=q(80)),
    "integer code is text": obs([c(4548)], valueQuantity=q(7, "%")),
    "empty and missing codes": obs([c(""), {"system": LOINC}, "x", c(None)], valueInteger=3),
    "coding not a list of dicts": obs("abc", valueInteger=3),
    "code not a dict": obs(None, code=["x"], valueInteger=3),
    "panel with duplicate components": obs(
        [c("85354-9")],
        component=[
            comp([c("8480-6")], 120),
            comp([c("8480-6")], 999),
            comp([c("8462-4", SNOMED)], 70),
            comp([c("8462-4")], 80),
        ],
    ),
    "panel component with both codes": obs(
        [c("85354-9")], component=[comp([c("8462-4"), c("8480-6")], 101)]
    ),
    "panel component junk": obs(
        [c("85354-9")],
        component=["x", {"code": "y"}, {"code": {"coding": ["z", c(None)]}}, comp([c("8480-6")])],
    ),
    "panel without components": obs([c("85354-9")]),
    "panel bool and string values": obs(
        [c("85354-9")],
        component=[comp([c("8480-6")], True), comp([c("8462-4")], "80")],
    ),
    "systolic mmHg text unit": obs([c("8480-6")], valueQuantity={"value": 120, "unit": "mmHg"}),
    "systolic wrong system": obs([c("8480-6")], valueQuantity=q(120, system="urn:x")),
    "systolic comparator": obs([c("8480-6")], valueQuantity=q(120, comparator=">")),
    "systolic valueInteger only": obs([c("8480-6")], valueInteger=120),
    "diastolic float": obs([c("8462-4")], valueQuantity=q(80.5)),
    "hba1c unit text": obs([c("4548-4")], valueQuantity={"value": 7.1, "unit": "%"}),
    "hba1c no unit": obs([c("4548-4")], valueQuantity={"value": 7.1}),
    "pain integer": obs([c("72514-3")], valueInteger=4),
    "pain bool": obs([c("72514-3")], valueInteger=True),
    "pain quantity with unit": obs([c("72514-3")], valueQuantity={"value": 4, "unit": "{score}"}),
    "survey experience": obs(
        [c("9999-9")],
        category=[{"coding": [{"system": SURVEY, "code": "survey"}]}],
        valueInteger=5,
    ),
    "survey without value": obs(
        [c("9999-9")],
        category=[{"coding": [{"system": "", "code": "survey"}]}],
        valueString="x",
    ),
    "other with value": obs([c("1234", SNOMED)], valueString="x"),
    "other without value": obs([c("1234", SNOMED)]),
    "uncoded with component": obs(None, component=[{}]),
    "effective period": obs(
        [c("8480-6")],
        effectiveDateTime=None,
        effectivePeriod={"start": "2025-01"},
        valueQuantity=q(120),
    ),
    "effective instant with fraction": obs(
        [c("8480-6")],
        effectiveDateTime=None,
        effectiveInstant="2025-01-02T03:04:05.678Z",
        valueQuantity=q(120),
    ),
    "invalid effective": obs([c("8480-6")], effectiveDateTime="2025-13-01T00:00:00Z"),
    "no effective": obs([c("8480-6")], effectiveDateTime=None, valueQuantity=q(120)),
    "encounter absolute": obs(
        [c("8480-6")],
        encounter={"reference": "https://x/fhir/Encounter/e1/_history/2"},
        valueQuantity=q(120),
    ),
    "subject not a patient": obs([c("8480-6")], subject={"reference": "Group/g1"}),
    "subject missing": obs([c("8480-6")], subject=None),
    "entered in error": obs([c("8480-6")], status="entered-in-error"),
    "no status": obs([c("8480-6")], status=None, valueQuantity=q(120)),
}


EXPECTED: dict[str, tuple[Any, list[tuple[str, str, str]]]] = {
    "two kinds, smallest code wins": (
        ("hba1c", "final", "2025-02-28T22:30:00+00:00", None, None, 7.0, "%", True, True),
        [],
    ),
    "kind code under snomed is other": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, True),
        [],
    ),
    "kind code without system": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, False, True),
        [],
    ),
    "snomed plus loinc kind": (
        (
            "diastolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            80.0,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "integer code is text": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, True),
        [],
    ),
    "empty and missing codes": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, False, False),
        [("missing-code", "Observation.code.coding", "no code")],
    ),
    "coding not a list of dicts": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, False, False),
        [("missing-code", "Observation.code.coding", "no code")],
    ),
    "code not a dict": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, False, False),
        [("missing-code", "Observation.code.coding", "no code")],
    ),
    "panel with duplicate components": (
        (
            "bp-panel",
            "final",
            "2025-02-28T22:30:00+00:00",
            120.0,
            80.0,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "panel component with both codes": (
        (
            "bp-panel",
            "final",
            "2025-02-28T22:30:00+00:00",
            101.0,
            101.0,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "panel component junk": (
        (
            "bp-panel",
            "final",
            "2025-02-28T22:30:00+00:00",
            120.0,
            None,
            None,
            None,
            True,
            False,
        ),
        [("missing-value", "Observation.component[8462-4]", "absent")],
    ),
    "panel without components": (
        (
            "bp-panel",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            None,
            None,
            True,
            False,
        ),
        [
            ("missing-value", "Observation.component[8480-6]", "absent"),
            ("missing-value", "Observation.component[8462-4]", "absent"),
        ],
    ),
    "panel bool and string values": (
        (
            "bp-panel",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            None,
            None,
            True,
            False,
        ),
        [
            (
                "missing-value",
                "Observation.component[8480-6].valueQuantity.value",
                "absent or not a number",
            ),
            (
                "missing-value",
                "Observation.component[8462-4].valueQuantity.value",
                "absent or not a number",
            ),
        ],
    ),
    "systolic mmHg text unit": (
        (
            "systolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            120.0,
            None,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "systolic wrong system": (
        (
            "systolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            None,
            None,
            True,
            False,
        ),
        [("unexpected-unit", "Observation.valueQuantity", "expected mm[Hg]")],
    ),
    "systolic comparator": (
        (
            "systolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            None,
            None,
            True,
            False,
        ),
        [("inexact-value", "Observation.valueQuantity.comparator", "value with comparator")],
    ),
    "systolic valueInteger only": (
        (
            "systolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            None,
            None,
            True,
            False,
        ),
        [("missing-value", "Observation.valueQuantity.value", "absent or not a number")],
    ),
    "diastolic float": (
        (
            "diastolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            80.5,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "hba1c unit text": (
        ("hba1c", "final", "2025-02-28T22:30:00+00:00", None, None, 7.1, "%", True, True),
        [],
    ),
    "hba1c no unit": (
        ("hba1c", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, False),
        [("unexpected-unit", "Observation.valueQuantity", "expected %")],
    ),
    "pain integer": (
        ("pain", "final", "2025-02-28T22:30:00+00:00", None, None, 4.0, None, True, True),
        [],
    ),
    "pain bool": (
        ("pain", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, False),
        [("missing-value", "Observation.valueQuantity.value", "absent or not a number")],
    ),
    "pain quantity with unit": (
        (
            "pain",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            4.0,
            "{score}",
            True,
            True,
        ),
        [],
    ),
    "survey experience": (
        (
            "experience",
            "final",
            "2025-02-28T22:30:00+00:00",
            None,
            None,
            5.0,
            None,
            True,
            True,
        ),
        [],
    ),
    "survey without value": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, True),
        [],
    ),
    "other with value": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, True),
        [],
    ),
    "other without value": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, True, False),
        [],
    ),
    "uncoded with component": (
        ("other", "final", "2025-02-28T22:30:00+00:00", None, None, None, None, False, False),
        [("missing-code", "Observation.code.coding", "no code")],
    ),
    "effective period": (
        (
            "systolic",
            "final",
            "2025-01-01T00:00:00+00:00",
            120.0,
            None,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "effective instant with fraction": (
        (
            "systolic",
            "final",
            "2025-01-02T03:04:05.678000+00:00",
            120.0,
            None,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "invalid effective": (  # no period to belong to: dropped, with every finding
        None,
        [
            ("invalid-datetime", "Observation.effectiveDateTime", "not a FHIR dateTime"),
            ("missing-value", "Observation.valueQuantity.value", "absent or not a number"),
        ],
    ),
    "no effective": (
        None,
        [("missing-field", "Observation.effective[x]", "absent")],
    ),
    "encounter absolute": (
        (
            "systolic",
            "final",
            "2025-02-28T22:30:00+00:00",
            120.0,
            None,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
    "subject not a patient": (
        None,
        [("unresolved-reference", "Observation.subject", "not a Patient")],
    ),
    "subject missing": (None, [("missing-field", "Observation.subject", "absent")]),
    "entered in error": (None, [("ignored-status", "Observation.status", "entered-in-error")]),
    "no status": (
        (
            "systolic",
            "unknown",
            "2025-02-28T22:30:00+00:00",
            120.0,
            None,
            None,
            None,
            True,
            True,
        ),
        [],
    ),
}


def summary(fact: ObservationFact | None) -> Any:
    if fact is None:
        return None
    effective = None if fact.effective is None else fact.effective.isoformat()
    return (
        fact.kind,
        fact.status,
        effective,
        fact.systolic,
        fact.diastolic,
        fact.value,
        fact.unit,
        fact.coded,
        fact.complete,
    )


def test_table_covers_every_case() -> None:
    assert list(EXPECTED) == list(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_extract_observation_matches_recorded_outcome(name: str) -> None:
    findings = Findings()
    fact = extract_observation(CASES[name], findings)
    got = (summary(fact), [(f.kind, f.field, f.message) for f in findings])
    assert got == EXPECTED[name]
    assert all(f.where == "Observation/o1" for f in findings)
    if fact is not None:
        assert (fact.key, fact.patient) == ("Observation/o1", "Patient/p1")
