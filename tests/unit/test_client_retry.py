"""Retries: backoff with jitter, Retry-After, the budget, stats and the on_retry callback."""

from __future__ import annotations

import logging
from email.utils import formatdate
from typing import Any, cast

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from fhir_microsystems._errors import ConfigurationError, FatalFhirError, TemporaryFhirError
from fhir_microsystems.client import FhirClient, RetryPolicy, parse_retry_after

BASE = "https://fhir.example.test/fhir"
PATIENT = {"resourceType": "Patient", "id": "p1"}
NOW = 1_700_000_000.0


def outcome(text: str) -> dict[str, object]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": text}],
    }


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.retries: list[tuple[int, int, float]] = []

    def policy(self, **kwargs: Any) -> RetryPolicy:
        return RetryPolicy(
            sleep=self.sleeps.append, random=lambda: 0.5, clock=lambda: NOW, **kwargs
        )

    def client(self, **kwargs: Any) -> FhirClient:
        return FhirClient(
            BASE,
            retry=self.policy(**kwargs),
            on_retry=lambda s, a, d: self.retries.append((s, a, d)),
        )


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@responses.activate
def test_each_retryable_status_is_retried(rec: Recorder, status: int) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=status, json=outcome("busy"))
    responses.get(url, json=PATIENT)
    client = rec.client()
    assert client.read("Patient", "p1") == PATIENT
    assert client.stats.retries == 1
    assert client.stats.requests == 2
    assert rec.sleeps == [0.25]  # random 0.5 * base 0.5 * 2**0
    assert rec.retries == [(status, 1, 0.25)]


@pytest.mark.parametrize(
    "fault",
    [
        requests.ConnectionError("connection reset"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectTimeout("connect timed out"),
        requests.exceptions.ChunkedEncodingError("connection dropped mid-body"),
    ],
)
@responses.activate
def test_network_faults_are_retried(rec: Recorder, fault: Exception) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, body=fault)
    responses.get(url, json=PATIENT)
    client = rec.client()
    assert client.read("Patient", "p1") == PATIENT
    assert rec.retries == [(0, 1, 0.25)]


@responses.activate
def test_backoff_grows_exponentially_with_full_jitter(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    for _ in range(4):
        responses.get(url, status=503)
    responses.get(url, json=PATIENT)
    rec.client(base_delay=1.0, max_delay=3.0).read("Patient", "p1")
    assert rec.sleeps == [0.5, 1.0, 1.5, 1.5]  # 0.5 * min(3, 1 * 2**n)


@responses.activate
def test_retry_after_seconds_replaces_backoff(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=429, headers={"Retry-After": "7"})
    responses.get(url, json=PATIENT)
    rec.client().read("Patient", "p1")
    assert rec.sleeps == [7.0]


@responses.activate
def test_retry_after_http_date(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=503, headers={"Retry-After": formatdate(NOW + 30, usegmt=True)})
    responses.get(url, json=PATIENT)
    rec.client().read("Patient", "p1")
    assert rec.sleeps == [30.0]


@responses.activate
def test_retry_after_is_capped(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=429, headers={"Retry-After": "3600"})
    responses.get(url, json=PATIENT)
    rec.client(max_retry_after=20.0).read("Patient", "p1")
    assert rec.sleeps == [20.0]


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("12", now=NOW) == 12.0
    assert parse_retry_after(formatdate(NOW + 5, usegmt=True), now=NOW) == 5.0
    assert parse_retry_after(formatdate(NOW - 50, usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None


@responses.activate
def test_attempt_budget_exhausted_raises_temporary_with_outcome(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=503, json=outcome("database is restarting"))
    client = rec.client(max_attempts=3)
    with pytest.raises(TemporaryFhirError) as info:
        client.read("Patient", "p1")
    err = info.value
    assert err.status == 503
    assert err.outcome == "error: database is restarting"
    assert "after 3 attempts" in str(err)
    assert err.temporary
    assert len(responses.calls) == 3
    assert client.stats.retries == 2


@responses.activate
def test_sleep_budget_exhausted(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=429, headers={"Retry-After": "40"})
    client = rec.client(max_total_sleep=60.0, max_retry_after=100.0)
    with pytest.raises(TemporaryFhirError) as info:
        client.read("Patient", "p1")
    assert rec.sleeps == [40.0]  # a second 40 s wait would pass the 60 s budget
    assert len(responses.calls) == 2
    assert info.value.outcome == "Too Many Requests"  # no OperationOutcome: HTTP reason


@responses.activate
def test_connection_fault_budget(rec: Recorder) -> None:
    responses.get(f"{BASE}/Patient/p1", body=requests.ConnectionError("refused"))
    with pytest.raises(TemporaryFhirError) as info:
        rec.client(max_attempts=2).read("Patient", "p1")
    assert info.value.status == 0
    assert info.value.outcome == "ConnectionError"


@responses.activate
def test_stats_count_bytes_and_requests(rec: Recorder) -> None:
    url = f"{BASE}/Patient/p1"
    responses.get(url, status=500, body=b"oops")
    responses.get(url, body=b'{"resourceType":"Patient","id":"p1"}')
    client = rec.client()
    client.read("Patient", "p1")
    assert (client.stats.requests, client.stats.retries, client.stats.bytes) == (2, 1, 4 + 36)


def _post_bundle(method: str) -> dict[str, object]:
    entry = {"resource": PATIENT, "request": {"method": method, "url": "Patient"}}
    return {"resourceType": "Bundle", "type": "batch", "entry": [entry]}


BATCH_OK = {
    "resourceType": "Bundle",
    "type": "batch-response",
    "entry": [{"response": {"status": "201 Created"}}],
}


@responses.activate
def test_unconditional_post_is_not_replayed_after_a_500(rec: Recorder) -> None:
    responses.post(BASE, status=500)
    with pytest.raises(TemporaryFhirError):
        rec.client().batch(_post_bundle("POST"))
    assert len(responses.calls) == 1


@responses.activate
def test_unconditional_post_is_not_replayed_after_a_read_timeout(rec: Recorder) -> None:
    responses.post(BASE, body=requests.ReadTimeout("slow"))
    with pytest.raises(TemporaryFhirError):
        rec.client().batch(_post_bundle("POST"))
    assert len(responses.calls) == 1


@responses.activate
def test_unconditional_post_is_retried_when_never_sent_or_throttled(rec: Recorder) -> None:
    never_connected = NewConnectionError(cast(Any, None), "refused")
    refused = requests.ConnectionError(MaxRetryError(cast(Any, None), "/", never_connected))
    responses.post(BASE, body=refused)
    responses.post(BASE, status=429)
    responses.post(BASE, json=BATCH_OK)
    assert rec.client().batch(_post_bundle("POST")).ok
    assert len(responses.calls) == 3


@responses.activate
def test_put_bundle_is_retried_after_500(rec: Recorder) -> None:
    responses.post(BASE, status=500)
    responses.post(BASE, json=BATCH_OK)
    assert rec.client().batch(_post_bundle("PUT")).ok


@responses.activate
def test_custom_status_set(rec: Recorder) -> None:
    responses.get(f"{BASE}/Patient/p1", status=500)
    with pytest.raises(TemporaryFhirError):
        rec.client(statuses=frozenset({503})).read("Patient", "p1")
    assert len(responses.calls) == 1


@responses.activate
def test_retry_log_has_no_query_values(rec: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    url = f"{BASE}/Patient?identifier=urn%3Assn%7C123-45-6789"
    responses.get(url, status=503)
    responses.get(url, json={"resourceType": "Bundle", "type": "searchset"})
    with caplog.at_level(logging.DEBUG, logger="fhir_microsystems.client"):
        list(rec.client().search("Patient", {"identifier": "urn:ssn|123-45-6789"}))
    assert "retrying GET https://fhir.example.test/fhir/Patient?identifier=*" in caplog.text
    assert "6789" not in caplog.text


@pytest.mark.parametrize(
    "fault",
    [requests.exceptions.SSLError("certificate verify failed"), requests.TooManyRedirects("loop")],
)
@responses.activate
def test_tls_and_other_request_faults_are_fatal(rec: Recorder, fault: Exception) -> None:
    responses.get(f"{BASE}/Patient/p1", body=fault)
    with pytest.raises(FatalFhirError) as info:
        rec.client().read("Patient", "p1")
    assert type(fault).__name__ in str(info.value)
    assert len(responses.calls) == 1 and rec.sleeps == []


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
