"""Streaming extraction of observation facts from plain Observation dicts."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.observations import extract_observation, literal_key
from tests.unit.test_measures_support import at

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def quantity(value: Any, code: str | None = "mm[Hg]", unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "system": UCUM}
    if code is not None:
        out["code"] = code
    if unit is not None:
        out["unit"] = unit
    return out


def observation(code: str | None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-03-01T00:30:00+02:00",
    }
    if code is not None:
        resource["code"] = {"coding": [{"system": LOINC, "code": code}]}
    resource.update(extra)
    return resource


def component(code: str, value: Any, unit: str = "mm[Hg]") -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "valueQuantity": quantity(value, unit),
    }


def kinds(findings: Findings) -> list[tuple[str, str, str]]:
    return [(f.kind, f.where, f.field) for f in findings]


def test_bp_panel_components_and_utc_time() -> None:
    findings = Findings()
    fact = extract_observation(
        observation(
            "85354-9",
            component=[component("8480-6", 128), component("8462-4", 82.5)],
            encounter={"reference": "Encounter/e1"},
        ),
        findings,
    )
    assert fact is not None
    assert (fact.kind, fact.systolic, fact.diastolic) == ("bp-panel", 128.0, 82.5)
    assert fact.effective == at("2025-02-28T22:30:00Z")
    assert (fact.patient, fact.key) == ("Patient/p1", "Observation/o1")
    assert fact.complete and fact.coded and not findings.total


def test_bp_component_with_wrong_unit_is_dropped_and_counted() -> None:
    findings = Findings()
    fact = extract_observation(
        observation("85354-9", component=[component("8480-6", 17, "kPa"), component("8462-4", 80)]),
        findings,
    )
    assert fact is not None
    assert (fact.systolic, fact.diastolic, fact.complete) == (None, 80.0, False)
    assert kinds(findings) == [
        ("unexpected-unit", "Observation/o1", "Observation.component[8480-6].valueQuantity")
    ]


def test_bp_panel_missing_component_is_a_missing_value() -> None:
    findings = Findings()
    fact = extract_observation(
        observation("85354-9", component=[component("8462-4", 80)]), findings
    )
    assert fact is not None and fact.systolic is None
    assert kinds(findings) == [("missing-value", "Observation/o1", "Observation.component[8480-6]")]


@pytest.mark.parametrize(
    ("value_quantity", "expected"),
    [
        (quantity(131), 131.0),
        (quantity(131, code=None, unit="mmHg"), 131.0),
        (quantity(131, code="mm[Hg]", unit="millimetre of mercury"), 131.0),
    ],
)
def test_standalone_systolic_units_accepted(
    value_quantity: dict[str, Any], expected: float
) -> None:
    fact = extract_observation(observation("8480-6", valueQuantity=value_quantity), Findings())
    assert fact is not None and fact.kind == "systolic" and fact.systolic == expected


def test_hba1c_percent_and_unit_mismatch() -> None:
    good = extract_observation(observation("4548-4", valueQuantity=quantity(7.1, "%")), Findings())
    assert good is not None and (good.kind, good.value, good.unit) == ("hba1c", 7.1, "%")
    findings = Findings()
    bad = extract_observation(
        observation("4548-4", valueQuantity=quantity(54, "mmol/mol")), findings
    )
    assert bad is not None and bad.value is None and not bad.complete
    assert kinds(findings) == [("unexpected-unit", "Observation/o1", "Observation.valueQuantity")]


def test_missing_value_missing_code_and_comparator() -> None:
    findings = Findings()
    fact = extract_observation(observation("4548-4"), findings)
    assert fact is not None and fact.value is None
    uncoded = extract_observation(observation(None, valueString="x"), findings)
    assert uncoded is not None and uncoded.kind == "other" and not uncoded.coded
    inexact = extract_observation(
        observation("4548-4", valueQuantity={**quantity(14, "%"), "comparator": ">"}), findings
    )
    assert inexact is not None and inexact.value is None
    assert kinds(findings) == [
        ("missing-value", "Observation/o1", "Observation.valueQuantity.value"),
        ("missing-code", "Observation/o1", "Observation.code.coding"),
        ("inexact-value", "Observation/o1", "Observation.valueQuantity.comparator"),
    ]


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_ignored_statuses_are_counted(status: str) -> None:
    findings = Findings()
    assert extract_observation(observation("8480-6", status=status), findings) is None
    assert kinds(findings) == [("ignored-status", "Observation/o1", "Observation.status")]


def test_subject_forms_and_custom_resolver() -> None:
    absolute = observation("8480-6", valueQuantity=quantity(120))
    absolute["subject"] = {"reference": "https://ehr.example/fhir/Patient/p9/_history/3"}
    fact = extract_observation(absolute, Findings())
    assert fact is not None and fact.patient == "Patient/p9"
    conditional = observation("8480-6", valueQuantity=quantity(120))
    conditional["subject"] = {"reference": "Patient?identifier=s|v"}
    findings = Findings()
    assert extract_observation(conditional, findings) is None
    assert kinds(findings) == [("unresolved-reference", "Observation/o1", "Observation.subject")]
    resolved = extract_observation(conditional, Findings(), resolve=lambda ref: "Patient/p7")
    assert resolved is not None and resolved.patient == "Patient/p7"
    assert literal_key({"reference": "Group/g1"}) == "Group/g1"


def test_effective_period_start_and_survey_experience() -> None:
    fact = extract_observation(
        observation(
            "99999-9",
            effectiveDateTime=None,
            effectivePeriod={"start": "2025-03-04T10:00:00-05:00"},
            category=[{"coding": [{"code": "survey"}]}],
            valueInteger=8,
        ),
        Findings(),
    )
    assert fact is not None
    assert (fact.kind, fact.value, fact.effective) == (
        "experience",
        8.0,
        at("2025-03-04T15:00:00Z"),
    )
    pain = extract_observation(observation("72514-3", valueInteger=3), Findings())
    assert pain is not None and (pain.kind, pain.value) == ("pain", 3.0)


def test_missing_and_invalid_effective_time() -> None:
    findings = Findings()
    missing = extract_observation(
        observation("8480-6", effectiveDateTime=None, valueQuantity=quantity(120)), findings
    )
    invalid = extract_observation(
        observation("8480-6", effectiveDateTime="March", valueQuantity=quantity(120)), findings
    )
    assert missing is None and invalid is None  # in no period: dropped, each a finding
    assert [f.kind for f in findings] == ["missing-field", "invalid-datetime"]
