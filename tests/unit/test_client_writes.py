"""Writes: put, conditional upsert, transaction, batch failures, 412."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import requests
import responses

from fhir_microsystems._errors import (
    FatalFhirError,
    InputError,
    MultipleMatchesError,
    ValidationRejectedError,
)
from fhir_microsystems.client import FhirClient, RetryPolicy, WriteResult

BASE = "https://fhir.example.test/fhir"
ORG = {"resourceType": "Organization", "id": "org-1", "name": "Clinic"}


def body_of(request: requests.PreparedRequest) -> bytes:
    assert isinstance(request.body, bytes)
    return request.body


@pytest.fixture
def client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(sleep=lambda _: None))


@responses.activate
def test_put_by_id(client: FhirClient) -> None:
    responses.put(
        f"{BASE}/Organization/org-1",
        status=201,
        json={**ORG, "meta": {"versionId": "1"}},
        headers={"Location": f"{BASE}/Organization/org-1/_history/1"},
    )
    result = client.put(ORG)
    assert result.status == 201 and result.created
    assert result.resource is not None and result.resource["meta"]["versionId"] == "1"
    assert result.location == f"{BASE}/Organization/org-1/_history/1"
    request = responses.calls[0].request
    assert orjson.loads(body_of(request)) == ORG
    assert request.headers["Content-Type"] == "application/fhir+json"
    assert request.headers["Prefer"] == "return=representation"


def test_put_needs_type_and_id(client: FhirClient) -> None:
    with pytest.raises(InputError):
        client.put({"resourceType": "Organization"})
    with pytest.raises(InputError):
        client.put({"id": "x"})


@responses.activate
def test_put_is_retried_on_temporary_errors(client: FhirClient) -> None:
    responses.put(f"{BASE}/Organization/org-1", status=502)
    responses.put(f"{BASE}/Organization/org-1", status=200, json=ORG)
    assert client.put(ORG).status == 200
    assert client.stats.retries == 1


@responses.activate
def test_upsert_is_a_conditional_put_with_escaped_identifier(client: FhirClient) -> None:
    responses.put(f"{BASE}/Organization", status=200, body=b"")
    result = client.upsert(ORG, identifier=("urn:sys", "a|b,c"))
    assert result.status == 200 and not result.created and result.resource is None
    url = str(responses.calls[0].request.url)
    assert urlsplit(url).path == "/fhir/Organization"
    assert parse_qsl(urlsplit(url).query) == [("identifier", "urn:sys|a\\|b\\,c")]


@responses.activate
def test_upsert_412_is_raised_as_multiple_matches(client: FhirClient) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "Multiple resources found matching"}],
    }
    responses.put(f"{BASE}/Organization", status=412, json=body)
    with pytest.raises(MultipleMatchesError) as info:
        client.upsert(ORG, identifier=("urn:sys", "1"))
    assert info.value.outcome == "error: Multiple resources found matching"
    assert info.value.url == f"{BASE}/Organization?identifier=*"


def tx(kind: str, *resources: Mapping[str, object]) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


@responses.activate
def test_transaction_returns_response_bundle(client: FhirClient) -> None:
    answer = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "201 Created"}}],
    }
    responses.post(BASE, json=answer)
    assert client.transaction(tx("transaction", ORG), prefer="return=minimal") == answer
    request = responses.calls[0].request
    assert request.headers["Prefer"] == "return=minimal"
    assert orjson.loads(body_of(request))["entry"][0]["request"]["url"] == "Organization/org-1"


@responses.activate
@responses.activate
def test_empty_transaction_answer_means_success(client: FhirClient) -> None:
    responses.post(BASE, status=200, body=b"")
    answer = client.transaction(tx("transaction", ORG), prefer="return=minimal")
    assert answer == {"resourceType": "Bundle", "type": "transaction-response", "entry": []}


@responses.activate
def test_empty_batch_answer_is_fatal(client: FhirClient) -> None:
    responses.post(BASE, status=200, body=b"")
    with pytest.raises(FatalFhirError, match="not a JSON object"):
        client.batch(tx("batch", ORG))


@responses.activate
def test_transaction_rejected_carries_outcome(client: FhirClient) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "bad"}],
    }
    responses.post(BASE, status=400, json=body)
    with pytest.raises(ValidationRejectedError) as info:
        client.transaction(tx("transaction", ORG))
    assert info.value.outcome == "error: bad"


def test_bundle_type_is_checked(client: FhirClient) -> None:
    with pytest.raises(InputError):
        client.transaction(tx("batch", ORG))


@responses.activate
def test_batch_reports_failed_entries(client: FhirClient) -> None:
    second = {"resourceType": "Organization", "id": "org-2"}
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "details": {"text": "Invalid name"}}],
    }
    answer = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"response": {"status": "200 OK"}},
            {"response": {"status": "422 Unprocessable Entity", "outcome": outcome}},
        ],
    }
    responses.post(BASE, json=answer)
    result = client.batch(tx("batch", ORG, second))
    assert not result.ok
    assert [(f.index, f.request, f.status, f.outcome) for f in result.failures] == [
        (1, "PUT Organization/org-2", 422, "error: Invalid name")
    ]
    assert result.bundle == answer


@responses.activate
def test_batch_entry_without_answer_is_a_failure(client: FhirClient) -> None:
    answer = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"response": {"status": "201"}}],
    }
    responses.post(BASE, json=answer)
    result = client.batch(tx("batch", ORG, {"resourceType": "Organization", "id": "org-2"}))
    assert [(f.index, f.status, f.outcome) for f in result.failures] == [
        (1, 0, "no response entry")
    ]


@responses.activate
def test_write_with_unreadable_body_still_succeeds(client: FhirClient) -> None:
    responses.put(f"{BASE}/Organization/org-1", status=200, body=b"OK")
    assert client.put(ORG) == WriteResult(200, None, None)
