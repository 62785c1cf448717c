"""``run --read bulk`` against the FHIR test server gives the MeasureReports of ``run DIR``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhir_microsystems._settings import Settings
from fhir_microsystems.bulk_runs import resolve_source
from fhir_microsystems.client import FhirClient
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.integration.test_bulk_export import BULK_DEFAULTS, resource_files
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration

OUTPUTS = ("CareTeam", "Group", "MeasureReport")
_SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "synthea-r4-small"
SYNTHEA = Path(os.environ.get("FHIR_MICROSYSTEMS_SYNTHEA_DIR", _SHARED))
#: The shared Synthea set where this checkout has it; the generated hospital always.
DATASETS = ["generated", *(["synthea"] if (SYNTHEA / "Encounter.ndjson").is_file() else [])]


def _outputs(directory: Path, rtype: str) -> dict[str, dict[str, Any]]:
    path = directory / f"{rtype}.ndjson"
    return {r["id"]: r for r in map(orjson.loads, path.read_bytes().splitlines()) if r}


def _cli(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line in a child process (never checked: the caller asserts)."""
    return subprocess.run(
        [sys.executable, "-m", "fhir_microsystems.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _same_outputs(a: Path, b: Path) -> None:
    for rtype in OUTPUTS:
        left, right = _outputs(a, rtype), _outputs(b, rtype)
        assert left, rtype
        assert left.keys() == right.keys(), rtype
        assert left == right, rtype


@pytest.fixture(scope="module", params=DATASETS)
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "synthea":
        return SYNTHEA
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=5, patients=200, months=4)
    return resource_files(out, tmp_path_factory.mktemp("resources"))


@pytest.fixture(scope="module")
def server(dataset: Path) -> Iterator[FhirTestServer]:
    with FhirTestServer(load_dir=dataset) as srv:
        yield srv


@pytest.fixture
def env(dataset: Path, server: FhirTestServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    server.configure_bulk(**BULK_DEFAULTS)
    manifest = dataset / "manifest.json"
    if manifest.is_file():  # a generated hospital's references name its original server
        base = orjson.loads(manifest.read_bytes())["request"].rsplit("/$", 1)[0]
        monkeypatch.setenv("FHIRMS_SOURCE_BASE_ALIASES", base)
    return Settings()


def test_run_read_bulk_equals_run_on_the_folder(
    dataset: Path, server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    resolved = resolve_source(server.base_url, tmp_path / "bulk", env, read="bulk")
    assert resolved.read == "bulk" and resolved.export is not None
    run_in_process(RunSpec(source=resolved.location, out_dir=str(tmp_path / "bulk")))
    run_in_process(RunSpec(source=str(dataset), out_dir=str(tmp_path / "folder")))
    _same_outputs(tmp_path / "bulk", tmp_path / "folder")


def test_auto_reads_by_bulk_when_the_server_declares_export(
    server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    with FhirClient(server.base_url) as client:
        assert client.capabilities().supports_export("Patient")
    assert resolve_source(server.base_url, tmp_path, env).read == "bulk"
    assert resolve_source(server.base_url, tmp_path, env, read="search").read == "search"


def test_patient_level_reads_the_omitted_types_by_search(
    dataset: Path, server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    settings = env.model_copy(update={"bulk_level": "patient"})
    resolved = resolve_source(server.base_url, tmp_path / "patient", settings, read="bulk")
    folder = Path(resolved.location)
    for rtype in ("Practitioner", "PractitionerRole", "Organization", "Location"):
        assert (folder / f"{rtype}.search.ndjson").is_file(), rtype
    run_in_process(RunSpec(source=resolved.location, out_dir=str(tmp_path / "patient")))
    run_in_process(RunSpec(source=str(dataset), out_dir=str(tmp_path / "folder")))
    _same_outputs(tmp_path / "patient", tmp_path / "folder")


def test_group_level_run_reads_the_members_and_searches_the_rest(
    server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    with FhirClient(server.base_url) as client:
        members = [p["id"] for p in client.search("Patient", count=10)][:10]
        client.put(
            {
                "resourceType": "Group",
                "id": "bulk-run-members",
                "type": "person",
                "actual": True,
                "member": [{"entity": {"reference": f"Patient/{p}"}} for p in members],
            }
        )
    try:
        resolved = resolve_source(server.base_url, tmp_path, env, group="bulk-run-members")
        assert resolved.read == "bulk" and resolved.export is not None
        assert resolved.export.resources["Patient"] == len(members)
        folder = Path(resolved.location)
        patients = {
            r["subject"]["reference"].rsplit("/", 1)[-1]
            for r in map(
                orjson.loads,
                b"".join(p.read_bytes() for p in folder.glob("Encounter.*ndjson")).splitlines(),
            )
        }
        assert patients <= set(members)
        searched = (folder / "Practitioner.search.ndjson").read_bytes().splitlines()
        assert len(searched) == server.count("Practitioner")
        summary = run_in_process(RunSpec(source=resolved.location, out_dir=str(tmp_path)))
        assert summary["derivation"]["encounters_read"] == resolved.export.resources["Encounter"]
    finally:
        requests.delete(f"{server.base_url}/Group/bulk-run-members", timeout=30)


def test_type_filter_refused_falls_back_to_client_side_filtering(
    dataset: Path, server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    # Both datasets have encounters before the read window (the window less 31 days).
    window: dict[str, Any]
    if dataset == SYNTHEA:
        window = {"start": "2021-01-01", "end": "2021-04-01"}
    else:
        window = {"start": "2025-04-01", "end": "2025-05-01"}
    bounded = resolve_source(server.base_url, tmp_path / "f", env, read="bulk", **window)
    server.configure_bulk(typeFilter=False)
    unbounded = resolve_source(server.base_url, tmp_path / "u", env, read="bulk", **window)
    assert bounded.export is not None and unbounded.export is not None
    for rtype in ("Encounter", "Observation"):  # the client kept what the server would
        assert bounded.export.resources[rtype] == unbounded.export.resources[rtype], rtype
        assert bounded.export.resources[rtype] < server.count(rtype), rtype
    run_in_process(RunSpec(source=bounded.location, out_dir=str(tmp_path / "f"), **window))
    run_in_process(RunSpec(source=unbounded.location, out_dir=str(tmp_path / "u"), **window))
    _same_outputs(tmp_path / "f", tmp_path / "u")


def test_a_second_run_exports_only_the_changes(
    server: FhirTestServer, env: Settings, tmp_path: Path
) -> None:
    first = resolve_source(server.base_url, tmp_path, env, read="bulk")
    exported = sorted(Path(first.location).glob("*.000.ndjson"))
    times = [p.stat().st_mtime_ns for p in exported]
    second = resolve_source(server.base_url, tmp_path, env, read="bulk")
    assert [p.stat().st_mtime_ns for p in exported] == times  # untouched: nothing changed
    assert first.location == second.location
    assert second.export is not None and first.export is not None
    assert second.export.since == first.export.transaction_time
    assert second.export.resources == first.export.resources  # nothing changed: same folder
    mark = datetime.now(UTC).isoformat()
    third = resolve_source(server.base_url, tmp_path, env, read="bulk")
    quiet = run_in_process(RunSpec(source=third.location, out_dir=str(tmp_path), since=mark))
    assert quiet["derivation"] == {"unchanged_since": mark}


def test_cli_export_then_run_and_run_read_bulk(
    server: FhirTestServer, dataset: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    manifest = dataset / "manifest.json"
    if manifest.is_file():
        base = orjson.loads(manifest.read_bytes())["request"].rsplit("/$", 1)[0]
        env["FHIRMS_SOURCE_BASE_ALIASES"] = base

    def call(*args: str) -> str:
        result = _cli(args, env, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    text = call("export", "--source", server.base_url, "--out", str(tmp_path / "export"))
    assert "bulk export (full)" in text
    call("run", "--source", str(tmp_path / "export"), "--out", str(tmp_path / "from-dir"))
    call("run", "--source", server.base_url, "--read", "bulk", "--out", str(tmp_path / "bulk"))
    _same_outputs(tmp_path / "from-dir", tmp_path / "bulk")
    bad = _cli(("run", "--source", str(tmp_path / "export"), "--read", "bulk"), env, tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_cli_celery_run_read_bulk(tmp_path: Path, redis_url: str) -> None:
    """``run --celery --read bulk`` gives the same outputs as the in-process bulk run."""
    from tests.support.celery_worker import CeleryWorker, worker_env

    hospital = tmp_path / "hospital"
    generate(hospital, seed=3, patients=150, months=2)
    manifest = orjson.loads((hospital / "manifest.json").read_bytes())
    alias = {"FHIRMS_SOURCE_BASE_ALIASES": manifest["request"].rsplit("/$", 1)[0]}
    env = worker_env(redis_url, alias)

    def call(*args: str) -> None:
        result = _cli(args, env, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

    load = resource_files(hospital, tmp_path / "load")
    with FhirTestServer(load_dir=load) as server:
        args = ("run", "--source", server.base_url, "--read", "bulk")
        call(*args, "--out", str(tmp_path / "local"))
        with CeleryWorker(redis_url, tmp_path / "logs", concurrency=1, env=alias):
            call(*args, "--celery", "--out", str(tmp_path / "celery"))
    _same_outputs(tmp_path / "local", tmp_path / "celery")
