"""Writes to a results server touch only what the tool wrote; reruns retire what they no longer
produce; a dry run writes nothing (against the Node FHIR test server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhir_microsystems.connect import make_client
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.sinks._ownership import (
    OWNER_CODE,
    SCOPE_TAG_SYSTEM,
    owner_tag,
    scope_code,
)
from fhir_microsystems.synth.generator import generate
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration

BASE = "https://fhir-microsystems.org/fhir"


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=7, patients=60, months=2)
    return out


@pytest.fixture(scope="module")
def live() -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        yield server


@pytest.fixture
def server(live: FhirTestServer) -> FhirTestServer:
    live.reset()
    return live


@pytest.fixture(scope="module")
def produced(hospital: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a run produces (from files only): ids by type and the periods."""
    out = tmp_path_factory.mktemp("files")
    summary = run_in_process(RunSpec(source=str(hospital), out_dir=str(out)))
    ids = {
        t: [orjson.loads(x)["id"] for x in (out / f"{t}.ndjson").read_bytes().splitlines() if x]
        for t in ("CareTeam", "Group", "MeasureReport")
    }
    return {"ids": ids, "periods": sorted({r["period"] for r in summary["results"]})}


def _read(server: FhirTestServer, rtype: str, rid: str) -> dict[str, Any]:
    with make_client(server.base_url) as client:
        return client.read(rtype, rid)


def _put(server: FhirTestServer, resource: dict[str, Any]) -> None:
    response = requests.put(
        f"{server.base_url}/{resource['resourceType']}/{resource['id']}",
        json=resource,
        headers={"Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


def _tags(resource: dict[str, Any]) -> list[str]:
    return [t.get("code", "") for t in resource.get("meta", {}).get("tag", [])]


def test_a_foreign_resource_at_a_generated_id_is_left_untouched(
    server: FhirTestServer, hospital: Path, tmp_path: Path, produced: dict[str, Any]
) -> None:
    target = produced["ids"]["CareTeam"][0]
    foreign = {"resourceType": "CareTeam", "id": target, "status": "active", "name": "Not ours"}
    _put(server, foreign)
    spec = RunSpec(source=str(hospital), out_dir=str(tmp_path), sink_url=server.base_url)
    summary = run_in_process(spec)
    kept = _read(server, "CareTeam", target)
    assert kept["name"] == "Not ours" and OWNER_CODE not in _tags(kept)
    assert summary["findings"]["by_kind"].get("foreign-resource") == 1
    assert summary["sink"]["refused"] == [f"CareTeam/{target}"]
    other = _read(server, "CareTeam", produced["ids"]["CareTeam"][1])
    assert OWNER_CODE in _tags(other)
    assert server.count("CareTeam") == len(produced["ids"]["CareTeam"])


def test_a_rerun_updates_its_own_resources_by_version(
    server: FhirTestServer, hospital: Path, tmp_path: Path, produced: dict[str, Any]
) -> None:
    spec = RunSpec(source=str(hospital), out_dir=str(tmp_path), sink_url=server.base_url)
    first = run_in_process(spec)
    second = run_in_process(spec)
    total = sum(len(v) for v in produced["ids"].values())
    assert first["sink"]["counts"] == {"created": total, "updated": 0, "retired": 0, "refused": 0}
    assert second["sink"]["counts"] == {"created": 0, "updated": total, "retired": 0, "refused": 0}
    assert server.count("MeasureReport") == len(produced["ids"]["MeasureReport"])


def test_a_microsystem_period_no_longer_produced_is_retired(
    server: FhirTestServer, hospital: Path, tmp_path: Path, produced: dict[str, Any]
) -> None:
    """Ours, same scope and period, not produced again: entered-in-error. Same scope tag but
    without the owner mark: untouched."""
    period = produced["periods"][0]
    scope = {"system": SCOPE_TAG_SYSTEM, "code": scope_code(str(hospital), BASE, period)}
    ghost: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": f"ms-gone-{period}",
        "meta": {"tag": [owner_tag(BASE), scope]},
        "status": "active",
        "name": "A microsystem of an earlier run",
    }
    lookalike = {**ghost, "id": f"ms-other-{period}", "meta": {"tag": [scope]}}
    _put(server, ghost)
    _put(server, lookalike)
    spec = RunSpec(source=str(hospital), out_dir=str(tmp_path), sink_url=server.base_url)
    summary = run_in_process(spec)
    assert _read(server, "CareTeam", ghost["id"])["status"] == "entered-in-error"
    assert _read(server, "CareTeam", lookalike["id"])["status"] == "active"
    assert summary["sink"]["retired"] == [f"CareTeam/ms-gone-{period}"]


def test_a_dry_run_lists_the_plan_and_writes_nothing(
    server: FhirTestServer, hospital: Path, tmp_path: Path, produced: dict[str, Any]
) -> None:
    target = produced["ids"]["Group"][0]
    _put(server, {"resourceType": "Group", "id": target, "type": "person", "actual": True})
    spec = RunSpec(
        source=str(hospital), out_dir=str(tmp_path), sink_url=server.base_url, dry_run=True
    )
    summary = run_in_process(spec)
    assert server.count("CareTeam") == 0 and server.count("MeasureReport") == 0
    plan = summary["sink"]
    assert plan["dry_run"] is True
    assert plan["refused"] == [f"Group/{target}"]
    assert len(plan["created"]) == sum(len(v) for v in produced["ids"].values()) - 1
    assert server.count("Group") == 1


def test_the_cli_dry_run_prints_the_plan(
    server: FhirTestServer, hospital: Path, tmp_path: Path, produced: dict[str, Any]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    args = ["run", "--source", str(hospital), "--sink", server.base_url, "--dry-run"]
    result = subprocess.run(
        [sys.executable, "-m", "fhir_microsystems.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    total = sum(len(v) for v in produced["ids"].values())
    assert f"sink (dry run, nothing written): {total} created" in result.stdout
    assert f"would be created: CareTeam/{produced['ids']['CareTeam'][0]}" in result.stdout
    assert server.count("CareTeam") == 0 and server.count("Group") == 0
