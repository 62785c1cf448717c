"""Staff survey responses: assigned to periods by ``authored``, folded into microsystems by
their author's memberships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import Period
from fhir_microsystems.reports import StaffResponse, responses_by_period, staff_scores
from fhir_microsystems.reports._staff import period_of

BASE = "https://example.org/fhir"
QUESTIONNAIRE = f"{BASE}/Questionnaire/microsystem-assessment"
PERIODS = [Period.parse("2025-01"), Period.parse("2025-02")]


def qr(ident: str, author: str | None, authored: str | None, rating: int = 3) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": ident,
        "status": "completed",
        "questionnaire": QUESTIONNAIRE,
        "item": [{"linkId": "leadership", "answer": [{"valueInteger": rating}]}],
    }
    if author is not None:
        resource["author"] = {"reference": author}
    if authored is not None:
        resource["authored"] = authored
    return resource


def author_of(resource: Mapping[str, Any], where: str) -> str | None:
    """Practitioners are clinicians; anything else (a Patient, none) is not."""
    ref = (resource.get("author") or {}).get("reference")
    return ref if isinstance(ref, str) and ref.startswith("Practitioner/") else None


def kinds(findings: Findings) -> list[tuple[str, str, str]]:
    return [(f.kind, f.where, f.field) for f in findings]


def test_period_of_converts_to_utc_and_rejects_what_is_no_instant() -> None:
    assert period_of(PERIODS, "2025-01-31T23:30:00Z") == "2025-01"
    assert period_of(PERIODS, "2025-02-01T00:30:00+02:00") == "2025-01"  # 22:30 UTC on Jan 31
    assert period_of(PERIODS, "2025-03-01T00:00:00Z") is None  # outside the periods
    assert period_of(PERIODS, "last week") is None


def test_responses_by_period_keeps_clinician_authored_ones_in_the_periods() -> None:
    findings = Findings()
    resources = [
        qr("a", "Practitioner/1", "2025-01-10T09:00:00Z"),
        qr("b", "Practitioner/2", "2025-02-03T09:00:00Z"),
        qr("c", "Practitioner/1", "2025-01-20"),  # a date is an instant at midnight
        qr("d", "Patient/9", "2025-01-10T09:00:00Z"),
        qr("e", "Practitioner/1", "2024-12-31T23:59:59Z"),
        qr("f", "Practitioner/1", None),
    ]
    by_period = responses_by_period(resources, author_of, PERIODS, findings)
    assert {label: [r.where for r in rs] for label, rs in by_period.items()} == {
        "2025-01": ["QuestionnaireResponse/a", "QuestionnaireResponse/c"],
        "2025-02": ["QuestionnaireResponse/b"],
    }
    assert by_period["2025-02"][0] == StaffResponse(
        "QuestionnaireResponse/b", "Practitioner/2", resources[1]
    )
    assert kinds(findings) == [
        ("unassignable-response", "QuestionnaireResponse/d", "QuestionnaireResponse.author"),
        ("unassignable-response", "QuestionnaireResponse/e", "QuestionnaireResponse.authored"),
        ("unassignable-response", "QuestionnaireResponse/f", "QuestionnaireResponse.authored"),
    ]


def test_staff_scores_fold_into_every_microsystem_of_the_author() -> None:
    findings = Findings()
    responses = [
        StaffResponse(f"QuestionnaireResponse/{ident}", author, qr(ident, author, None, rating))
        for ident, author, rating in [
            ("a", "Practitioner/1", 3),  # member of ms-b and ms-a
            ("b", "Practitioner/2", 1),  # member of ms-a only
            ("c", "Practitioner/3", 2),  # in no microsystem
        ]
    ]
    members = {"ms-b": ["Practitioner/1"], "ms-a": ["Practitioner/2", "Practitioner/1"]}
    scores = staff_scores(members, responses, findings, canonical_base=BASE)
    assert list(scores) == ["ms-a", "ms-b"]
    assert scores["ms-a"]["leadership"].score == pytest.approx(0.5)
    assert scores["ms-a"]["leadership"].responses == 2
    assert scores["ms-b"]["leadership"].score == 1.0
    assert kinds(findings) == [
        ("unassignable-response", "QuestionnaireResponse/c", "QuestionnaireResponse.author")
    ]


def test_staff_scores_check_the_questionnaire_against_the_canonical_base() -> None:
    findings = Findings()
    response = StaffResponse("QuestionnaireResponse/a", "Practitioner/1", qr("a", None, None))
    members = {"ms": ["Practitioner/1"]}
    assert staff_scores(members, [response], findings, canonical_base="https://other.org") == {
        "ms": {}
    }
    assert kinds(findings) == [
        (
            "unexpected-questionnaire",
            "QuestionnaireResponse/a",
            "QuestionnaireResponse.questionnaire",
        )
    ]
