"""Bulk Data client pieces with faked HTTP: kick-off, polling, redirects, manifests, windows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import responses

from fhir_microsystems._errors import FatalFhirError, ValidationRejectedError
from fhir_microsystems.bulk_runs import BulkJob, _meets, filter_window, read_window, type_filters
from fhir_microsystems.client import BearerToken, Capabilities, FhirClient
from fhir_microsystems.client._bulk import (
    BulkClient,
    BulkPolicy,
    ExportExpiredError,
    ExportFile,
    ExportRequest,
    Manifest,
)

BASE = "https://ehr.example.test/fhir"
STATUS = f"{BASE}/status/1"
NOW = 1_700_000_000.0


def bulk(sleeps: list[float], token: str | None = None, **kw: Any) -> BulkClient:
    client = FhirClient(BASE, auth=BearerToken(token) if token else None)
    policy = BulkPolicy(sleep=sleeps.append, random=lambda: 0.5, clock=lambda: NOW, **kw)
    return BulkClient(client, policy)


def manifest(requires: bool, url: str) -> Manifest:
    data = {"transactionTime": "2026-01-01T00:00:00Z", "requiresAccessToken": requires}
    data["output"] = [{"type": "Patient", "url": url}]
    return Manifest.from_json(data, STATUS)


def test_request_url_comma_joins_types_and_repeats_type_filters() -> None:
    request = ExportRequest(
        level="group",
        group_id="g1",
        types=("Patient", "Encounter"),
        since=datetime(2026, 1, 2, tzinfo=UTC),
        type_filters=("Encounter?date=ge2025-01-01", "Observation?date=ge2025-01-01"),
    )
    url = request.url(BASE)
    assert url.startswith(f"{BASE}/Group/g1/$export?_outputFormat=application%2Ffhir%2Bndjson")
    assert "_type=Patient%2CEncounter" in url
    assert "_since=2026-01-02T00%3A00%3A00Z" in url
    assert url.count("_typeFilter=") == 2
    assert ExportRequest(level="patient").url(BASE).startswith(f"{BASE}/Patient/$export?")


@responses.activate
def test_kickoff_retries_429_and_sends_prefer() -> None:
    url = ExportRequest().url(BASE)
    responses.get(url, status=429, headers={"Retry-After": "7"})
    responses.get(url, status=202, headers={"Content-Location": "/fhir/status/1"})
    sleeps: list[float] = []
    assert bulk(sleeps).kick_off(ExportRequest()) == "https://ehr.example.test/fhir/status/1"
    assert sleeps == [7.0]
    assert responses.calls[1].request.headers["Prefer"] == "respond-async"


@responses.activate
def test_kickoff_refusal_carries_the_outcome() -> None:
    body = {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "_typeFilter no"}]}
    responses.get(ExportRequest().url(BASE), status=400, json=body)
    with pytest.raises(ValidationRejectedError, match="HTTP 400") as info:
        bulk([]).kick_off(ExportRequest())
    assert "_typeFilter" in info.value.outcome


@responses.activate
def test_status_on_another_origin_is_refused() -> None:
    responses.get(
        ExportRequest().url(BASE),
        status=202,
        headers={"Content-Location": "https://elsewhere.test/status/1"},
    )
    with pytest.raises(FatalFhirError, match="another origin"):
        bulk([]).kick_off(ExportRequest())


@responses.activate
def test_polling_retries_5xx_and_network_faults_then_completes() -> None:
    responses.get(STATUS, status=503)
    responses.get(STATUS, body=requests.ConnectionError("reset"))
    responses.get(STATUS, status=202, headers={"Retry-After": "Tue, 14 Nov 2023 22:15:00 GMT"})
    responses.get(STATUS, status=202, headers={"Retry-After": "99999"})
    responses.get(STATUS, json={"transactionTime": "2026-01-01T00:00:00Z", "output": []})
    sleeps: list[float] = []
    result = bulk(sleeps).wait(STATUS)
    assert result.transaction_time == "2026-01-01T00:00:00Z"
    # back-off 1 + 0.5 * min(120, 2**n); the HTTP date is 100 s after NOW; 99999 capped at 300
    assert sleeps == [2.0, 3.0, 100.0, 300.0]


@responses.activate
def test_status_error_and_gone() -> None:
    responses.get(STATUS, status=404)
    with pytest.raises(ExportExpiredError):
        bulk([]).wait(STATUS)
    responses.replace(responses.GET, STATUS, status=403, json={"resourceType": "OperationOutcome"})
    with pytest.raises(FatalFhirError, match="HTTP 403"):
        bulk([]).wait(STATUS)


def test_manifest_needs_transaction_time_and_resolves_relative_urls() -> None:
    with pytest.raises(FatalFhirError, match="transactionTime"):
        Manifest.from_json({"output": []}, STATUS)
    with pytest.raises(FatalFhirError, match="not a list"):
        Manifest.from_json({"transactionTime": "2026-01-01T00:00:00Z", "output": "x"}, STATUS)
    parsed = manifest(True, "../files/p.ndjson")
    assert parsed.output == (ExportFile("Patient", f"{BASE}/files/p.ndjson"),)


@responses.activate
def test_redirected_file_gets_no_token_on_another_origin(tmp_path: Path) -> None:
    file_url = f"{BASE}/files/p.ndjson"
    storage = "https://storage.example.test/p.ndjson?sig=abc"
    responses.get(file_url, status=302, headers={"Location": storage})
    responses.get(storage, body=b'{"resourceType":"Patient","id":"a"}\n')
    size = bulk([], token="secret").download(
        ExportFile("Patient", file_url), tmp_path / "p.ndjson", manifest(True, file_url)
    )
    assert size == (tmp_path / "p.ndjson").stat().st_size > 0
    assert responses.calls[0].request.headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
def test_token_only_when_required_and_listed(tmp_path: Path) -> None:
    other = "https://storage.example.test/p.ndjson"
    responses.get(other, body=b"{}\n")
    client = bulk([], token="secret", token_origins=("https://storage.example.test",))
    client.download(ExportFile("Patient", other), tmp_path / "a", manifest(True, other))
    client.download(ExportFile("Patient", other), tmp_path / "b", manifest(False, other))
    assert responses.calls[0].request.headers["Authorization"] == "Bearer secret"
    assert "Authorization" not in responses.calls[1].request.headers


@responses.activate
def test_file_size_limit(tmp_path: Path) -> None:
    url = f"{BASE}/files/p.ndjson"
    responses.get(url, body=b"x" * 100_000)
    with pytest.raises(FatalFhirError, match="exceeds"):
        bulk([], max_file_bytes=1000).download(
            ExportFile("Patient", url), tmp_path / "p", manifest(False, url)
        )


def test_supports_export_reads_system_and_type_operations() -> None:
    statement = {
        "fhirVersion": "4.0.1",
        "rest": [
            {
                "mode": "server",
                "operation": [
                    {"name": "export", "definition": "http://hl7.org/fhir/OperationDefinition/x"}
                ],
                "resource": [
                    {
                        "type": "Group",
                        "operation": [
                            {
                                "name": "some-name",
                                "definition": "http://hl7.org/fhir/uv/bulkdata/"
                                "OperationDefinition/group-export",
                            }
                        ],
                    },
                    {"type": "Patient"},
                ],
            }
        ],
    }
    caps = Capabilities.from_statement(statement)
    assert caps.supports_export() and caps.supports_export("Group")
    assert not caps.supports_export("Patient")
    assert not Capabilities.from_statement({"rest": [{"mode": "server"}]}).supports_export()


def test_type_filters_and_window() -> None:
    assert type_filters(None, None) == ()
    assert type_filters("2025-03-01", "2025-04-01") == (
        "Encounter?date=ge2025-01-29&date=lt2025-05-02",
        "Observation?date=ge2025-01-29&date=lt2025-05-02",
    )
    lo, hi = read_window("2025-03-01", "2025-04-01")
    assert (lo, hi) == (datetime(2025, 1, 29, tzinfo=UTC), datetime(2025, 5, 2, tzinfo=UTC))
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "period": {"start": "2025-01-20T10:00:00Z"},
    }
    assert _meets(encounter, lo, hi)  # open-ended: still in progress
    encounter["period"]["end"] = "2025-01-21T10:00:00Z"
    assert not _meets(encounter, lo, hi)
    observation = {"resourceType": "Observation", "effectiveDateTime": "2025-05-01"}
    assert _meets(observation, lo, hi)
    assert not _meets({"resourceType": "Observation"}, lo, hi)  # no date: a search skips it


def test_filter_window_rewrites_files_and_counts(tmp_path: Path) -> None:
    inside = {"resourceType": "Observation", "id": "in", "effectiveDateTime": "2025-03-05"}
    outside = {"resourceType": "Observation", "id": "out", "effectiveDateTime": "2024-01-01"}
    (tmp_path / "Observation.000.ndjson").write_bytes(
        orjson.dumps(inside) + b"\n" + orjson.dumps(outside) + b"\n"
    )
    (tmp_path / "manifest.json").write_bytes(
        orjson.dumps({"output": [{"type": "Observation", "url": "Observation.000.ndjson"}]})
    )
    dropped = filter_window(tmp_path, *read_window("2025-03-01", "2025-04-01"))
    assert dropped == {"Observation": -1}
    assert (tmp_path / "Observation.000.ndjson").read_bytes() == orjson.dumps(inside) + b"\n"
    assert orjson.loads((tmp_path / "manifest.json").read_bytes())["output"][0]["count"] == 1


@responses.activate
def test_one_poll_gives_the_delay_and_progress_then_the_manifest_without_sleeping() -> None:
    sleeps: list[float] = []
    client = bulk(sleeps, max_retry_after=30)
    responses.get(STATUS, status=202, headers={"Retry-After": "120", "X-Progress": "40% done"})
    responses.get(STATUS, status=429)
    responses.get(STATUS, json={"transactionTime": "2026-01-01T00:00:00Z", "output": []})
    step = client.poll(STATUS, 1)
    assert (step.manifest, step.delay, step.progress, step.status) == (None, 30, "40% done", 202)
    throttled = client.poll(STATUS, 2)
    assert throttled.manifest is None and throttled.status == 429
    assert throttled.delay == client.policy.backoff(2)  # no Retry-After: jittered back-off
    done = client.poll(STATUS, 3)
    assert done.manifest is not None and done.manifest.transaction_time.startswith("2026")
    assert sleeps == []  # a poll never sleeps: the caller (a Celery countdown) waits


def test_bulk_job_round_trips_as_json(tmp_path: Path) -> None:
    job = BulkJob(BASE, str(tmp_path), "group", "g1", ("Encounter?date=ge2026-01-01",))
    assert BulkJob.from_json(job.to_json()) == job
    request, since = job.request()
    assert since is None and request.group_id == "g1" and "Practitioner" not in request.types
