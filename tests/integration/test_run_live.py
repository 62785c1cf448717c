"""``run`` against the FHIR test server: read from it, write back idempotently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhir_microsystems.connect import make_client
from fhir_microsystems.loading import load_directory
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=11, patients=120, months=3)
    return out


@pytest.fixture(scope="module")
def server(hospital: Path) -> Any:
    with FhirTestServer() as srv:
        with make_client(srv.base_url) as client:
            srv.load_report = load_directory(hospital, client)  # type: ignore[attr-defined]
        yield srv


def test_every_generated_resource_validates_on_the_server(server: Any, hospital: Path) -> None:
    """The server validates every write: all of a generated hospital must be accepted."""
    report = server.load_report
    assert report.failures == []
    assert report.findings.total == 0
    manifest = orjson.loads((hospital / "manifest.json").read_bytes())
    expected = {item["type"]: item["count"] for item in manifest["output"]}
    assert dict(report.loaded) == expected
    for rtype, count in expected.items():
        assert server.count(rtype) == count


def _ids(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in (orjson.loads(x) for x in path.read_bytes().splitlines() if x)}


def _all(server: FhirTestServer, rtype: str) -> list[dict[str, Any]]:
    with make_client(server.base_url) as client:
        return list(client.search(rtype, count=500))


def test_server_source_equals_ndjson_source(
    server: FhirTestServer, hospital: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hospital's absolute references name its original server: declare it an alias.
    base = orjson.loads((hospital / "manifest.json").read_bytes())["request"].rsplit("/$", 1)[0]
    monkeypatch.setenv("FHIRMS_SOURCE_BASE_ALIASES", base)
    run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "files")))
    run_in_process(RunSpec(source=server.base_url, out_dir=str(tmp_path / "rest")))
    for rtype in ("CareTeam", "Group", "MeasureReport"):
        from_files = _ids(tmp_path / "files" / f"{rtype}.ndjson")
        from_rest = _ids(tmp_path / "rest" / f"{rtype}.ndjson")
        assert from_files.keys() == from_rest.keys(), rtype
        assert from_files == from_rest, rtype


def test_sink_writes_are_validated_and_idempotent(
    server: FhirTestServer, hospital: Path, tmp_path: Path
) -> None:
    before = {t: server.count(t) for t in ("CareTeam", "Group", "MeasureReport")}
    spec = RunSpec(
        source=str(hospital), out_dir=str(tmp_path), sink_url=server.base_url, evidence=True
    )
    run_in_process(spec)
    after_first = {t: server.count(t) for t in before}
    files = {t: _ids(tmp_path / f"{t}.ndjson") for t in before}
    # Every output resource is on the server (the server validated each write) ...
    for rtype, resources in files.items():
        assert after_first[rtype] - before[rtype] == len(resources), rtype
    # ... and a second run leaves exactly the same number: no duplicates.
    run_in_process(spec)
    assert {t: server.count(t) for t in before} == after_first
    on_server = {r["id"]: r for r in _all(server, "MeasureReport")}
    for rid, report in files["MeasureReport"].items():
        assert on_server[rid]["group"] == report["group"]


def test_invalid_resource_is_refused_with_server_message(server: FhirTestServer) -> None:
    response = requests.put(
        f"{server.base_url}/MeasureReport/bogus",
        json={"resourceType": "MeasureReport", "id": "bogus", "status": "bogus"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_incremental_run_against_the_server(server: FhirTestServer, tmp_path: Path) -> None:
    """Nothing updated since ``since``: no run; one Encounter updated: a full re-assessment."""
    from datetime import UTC, datetime

    full = run_in_process(RunSpec(source=server.base_url, out_dir=str(tmp_path / "full")))
    mark = datetime.now(UTC).isoformat()
    quiet = run_in_process(RunSpec(source=server.base_url, out_dir=str(tmp_path / "q"), since=mark))
    assert quiet["derivation"] == {"unchanged_since": mark}
    with make_client(server.base_url) as client:
        encounter = next(client.search("Encounter", count=1))
        client.put(encounter)  # a new version: meta.lastUpdated moves past the mark
    changed = run_in_process(
        RunSpec(source=server.base_url, out_dir=str(tmp_path / "c"), since=mark)
    )
    assert changed["derivation"]["encounters_read"] == full["derivation"]["encounters_read"]
    assert _ids(tmp_path / "c" / "MeasureReport.ndjson") == _ids(
        tmp_path / "full" / "MeasureReport.ndjson"
    )
