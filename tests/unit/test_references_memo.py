"""The literal-reference memo of ``ReferenceIndex.resolve`` never changes an outcome."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.sources import ReferenceIndex, _references

BASE = "https://ehr.example/fhir"
SYS = "urn:sys"

#: literal -> (key, reason) before the expected-type check
CASES: list[tuple[str, str | None, str]] = [
    ("Patient/p1", "Patient/p1", ""),
    ("Patient/p1/_history/2", "Patient/p1", ""),
    (f"{BASE}/Patient/p1", "Patient/p1", ""),
    (f"{BASE}/Patient/p1/_history/2", "Patient/p1", ""),
    (
        "https://other.example/fhir/Patient/p1",
        None,
        "absolute reference to another server (https://other.example/fhir)",
    ),
    ("Patient/nope", None, "Patient not found"),
    ("Patient/a.b-c", None, "Patient not found"),
    ("Practitioner/x1", "Practitioner/x1", ""),
    ("Practitioner/x1/_history/7", "Practitioner/x1", ""),
    ("Encounter/e9", "Encounter/e9", ""),
    ("Encounter/e9/_history/1", "Encounter/e9", ""),
    (f"{BASE}/Encounter/e9", "Encounter/e9", ""),
    (f"Patient?identifier={SYS}|123", "Patient/p1", ""),
    (f"{BASE}/Patient?identifier={SYS}|123", "Patient/p1", ""),
    (f"Patient?identifier={SYS}|999", None, "no Patient with that identifier"),
    ("Patient?name=x", None, "conditional reference without a single identifier"),
    ("#c1", None, "contained references are not followed"),
    ("Patient/p1?x=1", None, "malformed reference"),
    ("Patient/p1/_history", None, "malformed reference"),
    ("Patient/p1/extra", None, "malformed reference"),
    ("patient/p1", None, "malformed reference"),
    ("Patient/", None, "malformed reference"),
    ("Encounter/" + "a" * 65, None, "malformed reference"),
    ("Encounter/" + "a" * 64, "Encounter/" + "a" * 64, ""),
]


def _index() -> ReferenceIndex:
    index = ReferenceIndex(base_urls=(BASE,), findings=Findings())
    index.add(
        {"resourceType": "Patient", "id": "p1", "identifier": [{"system": SYS, "value": "123"}]}
    )
    index.add({"resourceType": "Practitioner", "id": "x1"})
    index.finish()
    return index


def _outcome(
    index: ReferenceIndex, reference: Any, expected: str | None
) -> tuple[str | None, list[tuple[str, str, str, str]]]:
    before = len(index.findings.items)
    key = index.resolve(reference, where="Encounter/e1", field="f", expected=expected)
    new = [(f.kind, f.where, f.field, f.message) for f in index.findings.items[before:]]
    return key, new


def _truth(
    key: str | None, reason: str, expected: str | None
) -> tuple[str | None, list[tuple[str, str, str, str]]]:
    if key is not None and expected is not None and not key.startswith(expected + "/"):
        reason, key = f"refers to {key.split('/', 1)[0]}, expected {expected}", None
    findings = [] if key else [("unresolved-reference", "Encounter/e1", "f", reason)]
    return key, findings


@pytest.mark.parametrize(("literal", "key", "reason"), CASES)
def test_literal_outcome_same_with_and_without_memo(
    literal: str, key: str | None, reason: str
) -> None:
    index = _index()
    for _ in range(2):  # the second round is answered by the memo
        for expected in (None, "Patient", "Encounter", "Practitioner"):
            truth = _truth(key, reason, expected)
            assert _outcome(index, {"reference": literal}, expected) == truth
            assert index._resolve({"reference": literal}, expected) == (key, reason)
    assert literal in index._literals


def test_non_literal_references_bypass_memo() -> None:
    index = _index()
    logical = {"reference": "", "type": "Patient", "identifier": {"system": SYS, "value": "123"}}
    assert _outcome(index, logical, None) == ("Patient/p1", [])
    untyped = {"identifier": {"system": SYS, "value": "123"}}
    assert _outcome(index, untyped, "Patient") == ("Patient/p1", [])
    assert _outcome(index, {"reference": 5}, None)[1][0][3].startswith("reference has neither")
    assert _outcome(index, "Patient/p1", None)[1][0][3] == "reference element is not an object"
    assert index.resolve(None, where="w", field="f") is None
    assert index._literals == {}


def test_add_forgets_remembered_outcomes() -> None:
    index = _index()
    assert _outcome(index, {"reference": "Patient/p2"}, None)[0] is None
    assert _outcome(index, {"reference": "Organization/o1"}, None)[0] == "Organization/o1"
    index.add({"resourceType": "Patient", "id": "p2"})
    index.add({"resourceType": "Organization", "id": "o2"})
    assert _outcome(index, {"reference": "Patient/p2"}, None) == ("Patient/p2", [])
    assert _outcome(index, {"reference": "Organization/o1"}, None)[0] is None


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_references, "_LITERAL_MEMO_SIZE", 3)
    index = _index()
    for n in range(10):
        assert _outcome(index, {"reference": f"Encounter/e{n}"}, None) == (f"Encounter/e{n}", [])
        assert len(index._literals) <= 3
    assert _outcome(index, {"reference": "Patient/p1"}, None) == ("Patient/p1", [])
