"""FhirClient and load_directory against the real (Medplum-based) FHIR test server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_microsystems._errors import (
    CapabilityError,
    MultipleMatchesError,
    ResourceGoneError,
    TemporaryFhirError,
    ValidationRejectedError,
)
from fhir_microsystems.client import FhirClient, RetryPolicy
from fhir_microsystems.loading import LoadProgress, load_directory
from tests.support.datasets import line_count
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration

OBSERVATIONS = 120


class Sleeps:
    """Records the delays the client asks for instead of sleeping (the server does not care)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(scope="module")
def live() -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        yield server


@pytest.fixture
def server(live: FhirTestServer) -> FhirTestServer:
    live.reset()
    return live


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(server: FhirTestServer, sleeps: Sleeps) -> Iterator[FhirClient]:
    policy = RetryPolicy(max_attempts=5, sleep=sleeps, random=lambda: 0.5)
    with FhirClient(server.base_url, retry=policy, timeout=(5, 30)) as fhir:
        yield fhir


def observation(index: int, encounter: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{index:03d}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "valueQuantity": {"value": 60 + index % 40, "unit": "/min"},
    }


def write_dir(path: Path, bad_lines: bool = False) -> Path:
    """3 patients, 6 encounters, 120 observations (and two bad lines when asked)."""
    path.mkdir(parents=True, exist_ok=True)
    patients = [{"resourceType": "Patient", "id": f"pat-{i}", "gender": "female"} for i in range(3)]
    encounters = [
        {
            "resourceType": "Encounter",
            "id": f"enc-{i}",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/pat-{i % 3}"},
            "serviceProvider": {"reference": "Organization?identifier=urn:test|org-1"},
        }
        for i in range(6)
    ]
    observations = [observation(i, f"enc-{i % 6}", f"pat-{i % 3}") for i in range(OBSERVATIONS)]
    lines = {
        "Patient.ndjson": [orjson.dumps(r) for r in patients],
        "Encounter.ndjson": [orjson.dumps(r) for r in encounters],
        "Observation.000.ndjson": [orjson.dumps(r) for r in observations[:70]],
        "Observation.001.ndjson": [orjson.dumps(r) for r in observations[70:]],
    }
    if bad_lines:
        lines["Patient.ndjson"].insert(1, b'{"resourceType": "Patient", "id"')
        invalid = {"resourceType": "Observation", "id": "obs-bad", "code": {"text": "no status"}}
        lines["Observation.001.ndjson"].insert(5, orjson.dumps(invalid))
    for name, content in lines.items():
        (path / name).write_bytes(b"\n".join(content) + b"\n")
    return path


def test_no_search_values_in_debug_logs(
    client: FhirClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.put({"resourceType": "Patient", "id": "p1", "identifier": [{"value": "SSN-987"}]})
    with caplog.at_level(logging.DEBUG):
        assert [r["id"] for r in client.search("Patient", {"identifier": "SSN-987"})] == ["p1"]
    assert "/fhir/Patient?identifier=*" in caplog.text  # urllib3's own request line
    assert "SSN-987" not in caplog.text


def test_capabilities_of_the_test_server(client: FhirClient) -> None:
    caps = client.require(
        searches={"Encounter": ["_lastUpdated", "date"], "Observation": ["encounter", "date"]},
        interactions={"system": ["transaction", "batch"]},
    )
    assert caps.fhir_version.startswith("4.0")
    with pytest.raises(CapabilityError, match=r"search Encounter\?no-such-param"):
        client.require(searches={"Encounter": ["no-such-param"]})


def test_load_generated_dir_then_page_through_it(
    server: FhirTestServer, client: FhirClient, tmp_path: Path
) -> None:
    progress: list[LoadProgress] = []
    report = load_directory(write_dir(tmp_path), client, batch_size=50, on_progress=progress.append)
    assert dict(report.loaded) == {"Patient": 3, "Encounter": 6, "Observation": OBSERVATIONS}
    assert report.ok and report.bundles == 5  # 3 + 6 + (50 + 50 + 20)
    assert [p.total_loaded for p in progress] == [3, 9, 59, 109, 129]
    assert server.count("Observation") == OBSERVATIONS

    pages = list(client.search_pages("Observation", count=10))
    assert len(pages) == OBSERVATIONS // 10
    assert all(len(p.matches) == 10 for p in pages)
    ids = [r["id"] for p in pages for r in p.matches]
    assert sorted(ids) == [f"obs-{i:03d}" for i in range(OBSERVATIONS)]
    assert client.stats.retries == 0

    # loading again is idempotent: PUT Type/id updates, nothing is duplicated
    load_directory(tmp_path, client, batch_size=50)
    assert server.count("Observation") == OBSERVATIONS
    assert server.count("Patient") == 3


def test_includes_are_separated_from_matches(client: FhirClient, tmp_path: Path) -> None:
    load_directory(write_dir(tmp_path), client, types={"Patient", "Encounter"})
    pages = list(client.search_pages("Encounter", include=["Encounter:subject"], count=100))
    assert sorted(r["id"] for p in pages for r in p.matches) == [f"enc-{i}" for i in range(6)]
    included = {r["id"] for p in pages for r in p.included}
    assert included == {"pat-0", "pat-1", "pat-2"}


def test_bad_lines_and_refused_resources_are_reported(
    server: FhirTestServer, client: FhirClient, tmp_path: Path
) -> None:
    report = load_directory(write_dir(tmp_path, bad_lines=True), client, batch_size=200)
    assert [(f.kind, f.where) for f in report.findings] == [("invalid-json", "Patient.ndjson:2")]
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert (failure.resource_type, failure.where, failure.count) == (
        "Observation",
        "Observation.001.ndjson:6",
        1,
    )
    assert failure.status == 400
    assert "Missing required property" in failure.outcome
    assert "Observation.status" in failure.outcome
    assert report.loaded["Observation"] == OBSERVATIONS
    assert server.count("Observation") == OBSERVATIONS


def test_incremental_search_with_last_updated(client: FhirClient) -> None:
    for i in range(5):
        client.put({"resourceType": "Patient", "id": f"p{i}", "active": True})
    newest = max(r["meta"]["lastUpdated"] for r in client.search("Patient"))
    since = datetime.fromisoformat(newest.replace("Z", "+00:00"))
    time.sleep(0.01)  # the next writes get a later lastUpdated (millisecond resolution)
    client.put({"resourceType": "Patient", "id": "p1", "active": False})
    client.put({"resourceType": "Patient", "id": "p9", "active": True})
    changed = sorted(r["id"] for r in client.search("Patient", since=since))
    assert changed == ["p1", "p9"]
    assert list(client.search("Patient", {"_id": "p3"}, since=since)) == []


def test_retry_after_seconds_on_429(
    server: FhirTestServer, client: FhirClient, sleeps: Sleeps
) -> None:
    for i in range(30):
        client.put({"resourceType": "Patient", "id": f"p{i}"})
    retried: list[tuple[int, int, float]] = []
    client.on_retry = lambda status, attempt, delay: retried.append((status, attempt, delay))
    server.inject("429", 2, retry_after=1)
    ids = {r["id"] for r in client.search("Patient", count=7)}
    assert ids == {f"p{i}" for i in range(30)}
    assert retried == [(429, 1, 1.0), (429, 2, 1.0)]
    assert sleeps.delays == [1.0, 1.0]
    assert client.stats.retries == 2
    assert server.stats()["byStatus"]["429"] == 2


def test_retry_after_http_date_on_503(
    server: FhirTestServer, client: FhirClient, sleeps: Sleeps
) -> None:
    client.put({"resourceType": "Patient", "id": "p"})
    server.inject("503", 1, retry_after=formatdate(time.time() + 30, usegmt=True))
    assert client.read("Patient", "p")["id"] == "p"
    assert len(sleeps.delays) == 1
    assert 25.0 < sleeps.delays[0] <= 30.0  # from the date, not the 0.25 s jitter


def test_503_and_dropped_connections_in_the_middle_of_paging(
    server: FhirTestServer, client: FhirClient
) -> None:
    for i in range(25):
        client.put({"resourceType": "Patient", "id": f"p{i:02d}"})
    pages = client.search_pages("Patient", count=5)
    seen = [r["id"] for r in next(pages).matches]
    server.inject("503", 2)
    seen += [r["id"] for r in next(pages).matches]
    server.inject("drop", 2)
    seen += [r["id"] for p in pages for r in p.matches]
    assert sorted(seen) == [f"p{i:02d}" for i in range(25)]
    assert client.stats.retries == 4
    stats = server.stats()
    assert stats["faultsServed"] == 4 and stats["byStatus"]["dropped"] == 2


def test_writes_are_retried_and_stay_single(server: FhirTestServer, client: FhirClient) -> None:
    server.inject("500", 1)
    server.inject("drop", 1)
    result = client.put({"resourceType": "Patient", "id": "w1"})
    assert result.status == 201
    assert client.stats.retries == 2
    assert server.count("Patient") == 1


def test_budget_exhausted_carries_the_servers_outcome(
    server: FhirTestServer, client: FhirClient, sleeps: Sleeps
) -> None:
    server.inject("503", 10)
    with pytest.raises(TemporaryFhirError) as info:
        client.read("Patient", "anything")
    assert info.value.status == 503
    assert "Injected fault: HTTP 503" in info.value.outcome
    assert len(sleeps.delays) == 4  # five attempts
    server.clear_faults()


def test_stale_next_link_is_gone(server: FhirTestServer, client: FhirClient) -> None:
    for i in range(12):
        client.put({"resourceType": "Patient", "id": f"p{i}"})
    pages = client.search_pages("Patient", count=5)
    next(pages)
    assert server.expire_links() >= 1
    with pytest.raises(ResourceGoneError) as info:
        next(pages)
    assert info.value.status == 410
    # restarting the search works
    assert len(list(client.search("Patient", count=5))) == 12


def test_put_twice_keeps_one_resource(server: FhirTestServer, client: FhirClient) -> None:
    org = {"resourceType": "Organization", "id": "org-1", "name": "Clinic"}
    first, second = client.put(org), client.put({**org, "name": "Clinic B"})
    assert (first.status, second.status) == (201, 200)
    assert server.count("Organization") == 1
    assert client.read("Organization", "org-1")["name"] == "Clinic B"


def test_conditional_upsert_twice_keeps_one_and_412_on_duplicates(
    server: FhirTestServer, client: FhirClient
) -> None:
    ident = ("urn:test:org", "A-1")
    org = {
        "resourceType": "Organization",
        "identifier": [{"system": ident[0], "value": ident[1]}],
        "name": "Team A",
    }
    first = client.upsert(org, identifier=ident)
    second = client.upsert({**org, "name": "Team A2"}, identifier=ident)
    assert (first.status, second.status) == (201, 200)
    assert first.resource is not None and second.resource is not None
    assert first.resource["id"] == second.resource["id"]
    assert server.count("Organization") == 1

    twin = {"resourceType": "Organization", "id": "twin", "identifier": org["identifier"]}
    client.put(twin)
    with pytest.raises(MultipleMatchesError) as info:
        client.upsert(org, identifier=ident)
    assert info.value.status == 412
    assert server.count("Organization") == 2


def test_validation_failure_surfaces_the_servers_message(client: FhirClient) -> None:
    with pytest.raises(ValidationRejectedError) as info:
        client.put({"resourceType": "Observation", "id": "o1", "code": {"text": "x"}})
    assert info.value.status == 400
    assert "Missing required property" in info.value.outcome
    assert "Observation.status" in str(info.value)


def test_batch_reports_failed_entries(client: FhirClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": "ok"},
                "request": {"method": "PUT", "url": "Patient/ok"},
            },
            {
                "resource": {"resourceType": "Patient", "id": "bad", "foo": 1},
                "request": {"method": "PUT", "url": "Patient/bad"},
            },
        ],
    }
    result = client.batch(bundle)
    assert [(f.index, f.request, f.status) for f in result.failures] == [
        (1, "PUT Patient/bad", 400)
    ]
    assert 'Invalid additional property "foo"' in result.failures[0].outcome


def test_load_synthea_provider_types(
    server: FhirTestServer, client: FhirClient, synthea_dir: Path
) -> None:
    report = load_directory(synthea_dir, client, types={"Organization", "Practitioner"})
    expected = {t: line_count(synthea_dir, t) for t in ("Organization", "Practitioner")}
    assert dict(report.loaded) == expected
    assert report.ok
    assert server.count("Organization") == expected["Organization"] > 0
    assert server.count("Practitioner") == expected["Practitioner"] > 0
    assert server.count("Encounter") == 0
