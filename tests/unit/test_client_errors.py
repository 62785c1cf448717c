"""Error mapping: OperationOutcome text, fatal 4xx classes, URL redaction, pickling."""

from __future__ import annotations

import pickle

import pytest
import responses

from fhir_microsystems._errors import (
    AuthError,
    CapabilityError,
    FatalFhirError,
    FhirHttpError,
    MultipleMatchesError,
    ResourceGoneError,
    TemporaryFhirError,
    ValidationRejectedError,
)
from fhir_microsystems.client import FhirClient, RetryPolicy, outcome_text, redact_url

BASE = "https://fhir.example.test/fhir"


def test_outcome_text_joins_issues_with_severity() -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": "Missing required property",
                "details": {"text": "gender is required", "coding": [{"display": "Required"}]},
                "expression": ["Patient.gender"],
            },
            {"severity": "warning", "code": "informational", "details": {"text": "Be nice"}},
            {"severity": "error", "code": "processing"},
        ],
    }
    assert outcome_text(body) == (
        "error: Missing required property; gender is required; Required @ Patient.gender"
        " | warning: Be nice | error: processing"
    )


def test_outcome_text_drops_repeated_text_and_expressions() -> None:
    issue = {
        "severity": "error",
        "diagnostics": "Missing required property (Observation.status)",
        "details": {"text": "Missing required property"},
        "expression": ["Observation.status"],
    }
    body = {"resourceType": "OperationOutcome", "issue": [issue]}
    assert outcome_text(body) == "error: Missing required property (Observation.status)"


def test_outcome_text_truncates_and_ignores_other_bodies() -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "x" * 50}],
    }
    assert outcome_text(body, limit=20) == "error: " + "x" * 12 + "…"
    assert outcome_text({"resourceType": "Patient"}) == ""
    assert outcome_text("<html>") == ""
    assert outcome_text({"error": "invalid_client", "error_description": "bad sig"}) == (
        "invalid_client: bad sig"
    )


def test_redact_url_keeps_names_only() -> None:
    assert redact_url("https://h/fhir/Patient?identifier=a%7Cb&_count=5&identifier=c") == (
        "https://h/fhir/Patient?identifier=*&_count=*"
    )
    assert redact_url("https://h/fhir/Patient/1") == "https://h/fhir/Patient/1"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationRejectedError),
        (422, ValidationRejectedError),
        (403, FatalFhirError),
        (404, FatalFhirError),
        (409, FatalFhirError),
        (410, ResourceGoneError),
        (412, MultipleMatchesError),
    ],
)
@responses.activate
def test_fatal_statuses_map_to_classes_without_retry(status: int, cls: type[FhirHttpError]) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "nope"}],
    }
    responses.get(f"{BASE}/Patient/p1", status=status, json=body)
    client = FhirClient(BASE, retry=RetryPolicy(sleep=lambda _: pytest.fail("slept")))
    with pytest.raises(cls) as info:
        client.read("Patient", "p1")
    err = info.value
    assert type(err) is cls
    assert (err.status, err.outcome, err.method) == (status, "error: nope", "GET")
    assert err.url == f"{BASE}/Patient/p1"
    assert not err.temporary
    assert str(err).endswith(": error: nope")
    assert len(responses.calls) == 1


@responses.activate
def test_reason_is_the_fallback_outcome() -> None:
    responses.get(f"{BASE}/Patient/p1", status=404, body="<html>not here</html>")
    with pytest.raises(FatalFhirError) as info:
        FhirClient(BASE).read("Patient", "p1")
    assert info.value.outcome == "Not Found"


@responses.activate
def test_non_json_success_is_fatal() -> None:
    responses.get(f"{BASE}/Patient/p1", body="<html>login</html>")
    with pytest.raises(FatalFhirError, match="not a JSON object"):
        FhirClient(BASE).read("Patient", "p1")


@pytest.mark.parametrize(
    "err",
    [
        TemporaryFhirError(
            "GET x failed", status=503, outcome="busy", url="u", method="GET", attempts=3
        ),
        ValidationRejectedError("PUT x failed", status=422, outcome="bad", url="u", method="PUT"),
        ResourceGoneError("gone", status=410, outcome="", url="u", method="GET"),
        MultipleMatchesError("412", status=412, outcome="two", url="u", method="PUT"),
        AuthError("refused", status=401, url="u"),
        CapabilityError("lacks", missing=["search Encounter?date"]),
    ],
)
def test_errors_pickle_round_trip(err: Exception) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.__dict__ == err.__dict__
