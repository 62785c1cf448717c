"""Limits against hostile or broken input: long NDJSON lines, crowded Encounters, ids that
are path segments. Real files (plain and gzipped), the real reference index and network, and
a real HTTP server for the client."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from fhir_microsystems._errors import FatalFhirError, InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient
from fhir_microsystems.derive import DerivationConfig
from fhir_microsystems.derive.network import count_pairs
from fhir_microsystems.derive.records import EncounterRows, encounter_record
from fhir_microsystems.sources import ListSource, NdjsonSource
from fhir_microsystems.sources._references import ReferenceIndex
from tests.support.recording_server import RecordingServer

MiB = 1024 * 1024


def _encounter(rid: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2025-01-02T10:00:00Z"},
        **extra,
    }


@pytest.mark.parametrize("gzipped", [False, True])
def test_an_overlong_ndjson_line_is_a_finding_and_never_held_whole(
    tmp_path: Path, gzipped: bool
) -> None:
    huge = json.dumps(_encounter("big", note=[{"text": "x" * (40 * MiB)}])).encode()
    lines = [json.dumps(_encounter("e1")).encode(), huge, json.dumps(_encounter("e2")).encode()]
    data = b"\n".join(lines) + b"\n"
    name = "Encounter.ndjson.gz" if gzipped else "Encounter.ndjson"
    (tmp_path / name).write_bytes(gzip.compress(data) if gzipped else data)
    del huge, lines, data
    source = NdjsonSource(tmp_path, max_line_bytes=1 * MiB)
    tracemalloc.start()
    try:
        ids = [r["id"] for r in source.iter_resources("Encounter")]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ids == ["e1", "e2"]
    assert source.findings.counts["line-too-long"] == 1
    assert [f.where for f in source.findings] == [f"{name}:2"]
    assert peak < 8 * MiB  # the 40 MiB line was read past, not held


def test_a_line_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    line = json.dumps(_encounter("e1")).encode()
    (tmp_path / "Encounter.ndjson").write_bytes(line + b"\n" + line.replace(b"e1", b"e2"))
    source = NdjsonSource(tmp_path, max_line_bytes=len(line))
    assert [r["id"] for r in source.iter_resources("Encounter")] == ["e1", "e2"]
    assert source.findings.total == 0


def test_a_crowded_encounter_is_capped_and_named() -> None:
    people = [{"resourceType": "Practitioner", "id": f"pr{i}"} for i in range(6000)]
    source = ListSource({"Practitioner": people})
    index = ReferenceIndex.build(source)
    participant = [{"individual": {"reference": f"Practitioner/pr{i}"}} for i in range(6000)]
    findings = Findings()
    rec = encounter_record(_encounter("crowd", participant=participant), index, findings)
    assert len(rec.participants) == 200
    assert [(f.kind, f.where) for f in findings] == [("too-many-participants", "Encounter/crowd")]
    pairs = count_pairs(EncounterRows.of([rec]), DerivationConfig())
    assert pairs.table.num_rows <= 200 * 199 // 2


def test_ids_that_are_not_fhir_ids_are_findings(tmp_path: Path) -> None:
    rows = [
        _encounter("ok"),
        _encounter("../../etc"),
        _encounter(".."),
        _encounter("x" * 65),
        _encounter("dot.dash-1"),
    ]
    (tmp_path / "Encounter.ndjson").write_text("\n".join(json.dumps(r) for r in rows))
    source = NdjsonSource(tmp_path)
    assert [r["id"] for r in source.iter_resources("Encounter")] == ["ok", "dot.dash-1"]
    assert source.findings.counts["invalid-id"] == 3


def test_a_reference_to_a_dot_id_is_malformed() -> None:
    index = ReferenceIndex.build(ListSource({}))
    key = index.resolve({"reference": "Patient/.."}, where="Encounter/e", field="subject")
    assert key is None
    assert [f.message for f in index.findings] == ["malformed reference"]


@pytest.mark.parametrize("rid", ["..", ".", "../x", "a/b", "", "x" * 65])
def test_the_client_refuses_ids_that_are_not_fhir_ids(rid: str) -> None:
    with RecordingServer() as server, FhirClient(server.origin + "/fhir") as client:
        server.answer("GET", "/", 200, {"resourceType": "Patient", "id": "p"})
        with pytest.raises(InputError, match="not a valid FHIR id"):
            client.read("Patient", rid)
        assert server.requests == []


def test_a_response_over_the_limit_is_refused_not_held() -> None:
    patient = {"resourceType": "Patient", "id": "p", "text": {"div": "x" * (3 * MiB)}}
    with RecordingServer() as server:
        server.answer("GET", "/fhir/Patient/p", 200, patient)
        small = FhirClient(server.origin + "/fhir", max_response_bytes=1 * MiB)
        with small, pytest.raises(FatalFhirError, match="more than 1048576 bytes"):
            small.read("Patient", "p")
        with FhirClient(server.origin + "/fhir", max_response_bytes=4 * MiB) as client:
            assert client.read("Patient", "p")["id"] == "p"
