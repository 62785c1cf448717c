"""NDJSON directory loader: order, chunking, bad lines, refused bundles, progress."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import responses

from fhir_microsystems._errors import TemporaryFhirError
from fhir_microsystems.client import FhirClient, RetryPolicy
from fhir_microsystems.loading import LoadProgress, load_directory, ndjson_files

BASE = "https://fhir.example.test/fhir"
Handler = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def write(path: Path, *lines: object) -> None:
    text = b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text))
    else:
        path.write_bytes(text)


def res(rtype: str, rid: str, **fields: object) -> dict[str, object]:
    return {"resourceType": rtype, "id": rid, **fields}


class FakeServer:
    """Records posted bundles; answers through ``handler`` (default: all entries accepted)."""

    def __init__(self) -> None:
        self.bundles: list[dict[str, Any]] = []
        self.prefer: list[str | None] = []
        self.handler: Handler = self.accept

    @staticmethod
    def accept(bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        entries = [{"response": {"status": "201 Created"}} for _ in bundle["entry"]]
        return 200, {
            "resourceType": "Bundle",
            "type": f"{bundle['type']}-response",
            "entry": entries,
        }

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        assert isinstance(request.body, bytes)
        bundle = orjson.loads(request.body)
        self.bundles.append(bundle)
        self.prefer.append(request.headers.get("Prefer"))
        status, body = self.handler(bundle)
        return status, {"Content-Type": "application/fhir+json"}, orjson.dumps(body)

    def ids(self) -> list[list[str]]:
        return [[e["request"]["url"] for e in b["entry"]] for b in self.bundles]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, BASE, callback=fake)
        yield fake


@pytest.fixture
def client() -> FhirClient:
    return FhirClient(BASE, retry=RetryPolicy(max_attempts=2, sleep=lambda _: None))


def test_files_are_found_in_dependency_order(tmp_path: Path) -> None:
    for name in [
        "Observation.ndjson",
        "Encounter.001.ndjson.gz",
        "Encounter.000.ndjson",
        "Patient.ndjson",
        "CareTeam.ndjson",
        "Organization.ndjson",
        "Zeta.ndjson",
        "SOURCE.md",
        "notes.ndjson",
    ]:
        write(tmp_path / name)
    found = ndjson_files(tmp_path)
    assert list(found) == [
        "Organization",
        "Patient",
        "Encounter",
        "CareTeam",
        "Observation",
        "Zeta",
    ]
    assert [p.name for p in found["Encounter"]] == [
        "Encounter.000.ndjson",
        "Encounter.001.ndjson.gz",
    ]


def test_loads_in_order_with_put_entries_and_unchanged_resources(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    enc = res(
        "Encounter",
        "e1",
        serviceProvider={"reference": "Organization?identifier=https://x|org-a"},
    )
    write(tmp_path / "Observation.ndjson", res("Observation", "o1"), res("Observation", "o2"))
    write(tmp_path / "Encounter.ndjson.gz", enc)
    write(tmp_path / "Organization.ndjson", res("Organization", "org-a"))

    report = load_directory(tmp_path, client, batch_size=10)

    assert server.ids() == [
        ["Organization/org-a"],
        ["Encounter/e1"],
        ["Observation/o1", "Observation/o2"],
    ]
    entry = server.bundles[1]["entry"][0]
    assert server.bundles[1]["type"] == "transaction"
    assert entry == {
        "fullUrl": f"{BASE}/Encounter/e1",
        "resource": enc,
        "request": {"method": "PUT", "url": "Encounter/e1"},
    }
    assert dict(report.loaded) == {"Organization": 1, "Encounter": 1, "Observation": 2}
    assert report.total == 4 and report.bundles == 3 and report.ok
    assert server.prefer == ["return=minimal"] * 3


def test_chunks_by_batch_size_and_reports_progress(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    write(tmp_path / "Observation.000.ndjson", *(res("Observation", f"o{i}") for i in range(3)))
    write(tmp_path / "Observation.001.ndjson", *(res("Observation", f"o{i}") for i in range(3, 5)))
    progress: list[LoadProgress] = []
    report = load_directory(tmp_path, client, batch_size=2, on_progress=progress.append)
    assert [len(b) for b in server.ids()] == [2, 2, 1]
    assert [(p.loaded, p.total_loaded, p.failed) for p in progress] == [
        (2, 2, 0),
        (4, 4, 0),
        (5, 5, 0),
    ]
    assert report.loaded["Observation"] == 5


def test_bad_lines_are_findings_and_skipped(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    write(
        tmp_path / "Patient.ndjson",
        res("Patient", "ok-1"),
        b'{"resourceType": "Patient", "id": ',
        b"",
        {"id": "no-type"},
        {"resourceType": "Patient"},
        {"resourceType": "Patient", "id": "bad id/with slash"},
        b"[1, 2]",
        res("Patient", "ok-2"),
    )
    report = load_directory(tmp_path, client)
    assert server.ids() == [["Patient/ok-1", "Patient/ok-2"]]
    assert [(f.kind, f.where) for f in report.findings] == [
        ("invalid-json", "Patient.ndjson:2"),
        ("missing-field", "Patient.ndjson:4"),
        ("missing-field", "Patient.ndjson:5"),
        ("missing-field", "Patient.ndjson:6"),
        ("invalid-json", "Patient.ndjson:7"),
    ]
    assert report.loaded["Patient"] == 2 and not report.ok


@pytest.mark.parametrize("name", ["Patient.ndjson", "Patient.ndjson.gz"])
def test_a_byte_order_mark_is_removed_with_one_finding(
    tmp_path: Path, server: FakeServer, client: FhirClient, name: str
) -> None:
    write(
        tmp_path / name,
        b"\xef\xbb\xbf" + orjson.dumps(res("Patient", "ok-1")),
        res("Patient", "ok-2"),
    )
    report = load_directory(tmp_path, client)
    assert server.ids() == [["Patient/ok-1", "Patient/ok-2"]]
    assert [(f.kind, f.where) for f in report.findings] == [("byte-order-mark", name)]


def test_refused_transaction_is_isolated_by_a_batch(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "Invalid status"}],
    }

    def handler(bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if bundle["type"] == "transaction":
            return 400, outcome
        status, answer = FakeServer.accept(bundle)
        answer["entry"][1] = {"response": {"status": "400 Bad Request", "outcome": outcome}}
        return status, answer

    server.handler = handler
    write(tmp_path / "Condition.ndjson", *(res("Condition", f"c{i}") for i in range(3)))
    report = load_directory(tmp_path, client)
    assert [b["type"] for b in server.bundles] == ["transaction", "batch"]
    assert report.loaded["Condition"] == 2
    assert [(f.resource_type, f.where, f.count, f.status, f.outcome) for f in report.failures] == [
        ("Condition", "Condition.ndjson:2", 1, 400, "error: Invalid status")
    ]


def test_refused_transaction_without_isolation(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "nope"}],
    }
    server.handler = lambda bundle: (422, outcome)
    write(tmp_path / "Condition.ndjson", *(res("Condition", f"c{i}") for i in range(3)))
    progress: list[LoadProgress] = []
    report = load_directory(tmp_path, client, isolate_failures=False, on_progress=progress.append)
    assert [(f.where, f.count, f.status, f.outcome) for f in report.failures] == [
        ("Condition.ndjson:1..Condition.ndjson:3", 3, 422, "error: nope")
    ]
    assert report.total == 0 and report.failed == 3
    assert progress[-1].failed == 3


def test_temporary_failure_propagates(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    server.handler = lambda bundle: (503, {})
    write(tmp_path / "Patient.ndjson", res("Patient", "p"))
    with pytest.raises(TemporaryFhirError):
        load_directory(tmp_path, client)
    assert len(server.bundles) == 2  # the client retried once (max_attempts=2)


def test_duplicate_id_starts_a_new_bundle_and_types_filter(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    write(
        tmp_path / "Patient.ndjson", res("Patient", "a"), res("Patient", "b"), res("Patient", "a")
    )
    write(tmp_path / "Observation.ndjson", res("Observation", "o"))
    report = load_directory(tmp_path, client, types={"Patient"})
    assert server.ids() == [["Patient/a", "Patient/b"], ["Patient/a"]]
    assert dict(report.loaded) == {"Patient": 3}


def test_unexpected_type_is_loaded_but_noted(
    tmp_path: Path, server: FakeServer, client: FhirClient
) -> None:
    write(tmp_path / "Patient.ndjson", res("Organization", "x"))
    report = load_directory(tmp_path, client)
    assert server.ids() == [["Organization/x"]]
    assert [(f.kind, f.where) for f in report.findings] == [("unexpected-type", "Patient.ndjson:1")]
    assert report.to_dict()["loaded"] == {"Organization": 1}
