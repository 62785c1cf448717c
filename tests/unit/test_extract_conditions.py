"""The Condition extract: the SQL drops the Conditions coded in no cohort (no spell, no
finding), Python reads the rest, and the spells and findings are those of
``condition_spells`` run on every line."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.derive.cohorts import ConditionSpell, condition_spells
from fhir_microsystems.extract import ConditionExtract
from fhir_microsystems.sources import LineBlock, ListSource, ReferenceIndex
from tests.support.lines import read_alone

_SCT = "http://snomed.info/sct"
_ICD = "http://hl7.org/fhir/sid/icd-10-cm"
_DIABETES = {"coding": [{"system": _SCT, "code": "44054006"}]}
_DROP: Any = object()


def _index() -> ReferenceIndex:
    return ReferenceIndex.build(
        ListSource({"Patient": [{"resourceType": "Patient", "id": f"p{n}"} for n in range(3)]})
    )


def _condition(rid: str, **extra: Any) -> bytes:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "subject": {"reference": "Patient/p1"},
        "code": _DIABETES,
        "onsetDateTime": "2024-05-01T00:00:00Z",
        **extra,
    }
    return orjson.dumps({k: v for k, v in resource.items() if v is not _DROP})


LINES: list[bytes] = [
    _condition("diabetes"),
    _condition("asthma", code={"coding": [{"system": _SCT, "code": "195967001"}]}),
    _condition(
        "icd",
        code={"coding": [{"system": _ICD, "code": "e11.9"}]},
        subject={"reference": "Patient/p2"},
    ),
    _condition("uncoded", code=_DROP),
    _condition("odd-coding", code={"coding": 7}),
    _condition("bad-onset", onsetDateTime="spring"),
    _condition("resolved", clinicalStatus={"coding": [{"code": "resolved"}]}),
    _condition("refuted", verificationStatus={"coding": [{"code": "refuted"}]}),
    _condition("odd-status", clinicalStatus={"coding": 3}, abatementDateTime="2024-09"),
    _condition("unknown-patient", subject={"reference": "Patient/nobody"}),
    _condition(
        "not-in-cohort-unknown-patient", code={"text": "x"}, subject={"reference": "Patient/nobody"}
    ),
    _condition("no-subject", subject=_DROP),
    _condition("../bad-id", code={"text": "x"}),
    b"not JSON",
    # JSON to DuckDB only (NaN, a trailing comma): invalid JSON, even when coded in no cohort
    _condition("nan", code={"text": "x"}).replace(b'"subject"', b'"stage":NaN,"subject"'),
    _condition("comma", code={"text": "x"})[:-1] + b",}",
    b"\xff not UTF-8",
    b'{"resourceType": "Encounter", "id": "e1"}',
]


def _by_python(lines: list[bytes], index: ReferenceIndex) -> tuple[list[Any], list[Finding]]:
    """Each line read as the source and ``condition_spells`` read it, alone."""
    findings = Findings()
    index.findings = findings

    def spells(resource: dict[str, Any]) -> tuple[str, list[ConditionSpell]] | None:
        patient, found = condition_spells(resource, index, findings)
        return (patient, found) if patient is not None and found else None

    return read_alone(lines, "Condition", findings, spells), list(findings)


def test_spells_and_findings_are_those_of_condition_spells() -> None:
    index = _index()
    expected, expected_findings = _by_python(LINES, index)
    findings = Findings()
    index.findings = findings
    extract = ConditionExtract(index, findings, where=lambda n: f"Condition.ndjson:{n}")
    try:
        numbers = pa.array(range(1, len(LINES) + 1), pa.int64())
        found = extract.batch(LineBlock(numbers, pa.array(LINES, pa.large_binary())))
    finally:
        extract.close()
    assert found == expected
    assert list(findings) == expected_findings
    assert [p for p, _ in found] == ["Patient/p1", "Patient/p2", "Patient/p1", "Patient/p1"]
    assert {f.kind for f in findings} == {
        "invalid-datetime",
        "missing-field",
        "unresolved-reference",
        "invalid-id",
        "invalid-json",
        "wrong-resource-type",
    }
    assert extract.resources == 11  # every usable Condition, in a cohort or not
    # read in Python: the seven usable ones coded in a cohort; the four coded in none
    # (asthma, uncoded, odd-coding, not-in-cohort-...) never are
    assert extract.in_python == 7
