"""Bulk Data ``$export`` against the FHIR test server: the server side, the client, faults."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from fhir_microsystems._errors import FatalFhirError
from fhir_microsystems.client import BearerToken, FhirClient
from fhir_microsystems.client._bulk import (
    BulkClient,
    BulkPolicy,
    ExportExpiredError,
    ExportRequest,
)
from fhir_microsystems.exporting import FileState, export_directory
from fhir_microsystems.synth.generator import generate
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration

BULK_DEFAULTS: dict[str, Any] = {
    "pollsBeforeDone": 1,
    "retryAfter": "1",
    "linkTtlMs": 3600 * 1000,
    "requiresAccessToken": None,
    "fileLines": 5000,
    "errors": [],
    "typeFilter": True,
    "fileBase": None,
    "getKickoff": True,
}


def resource_files(source: Path, target: Path) -> Path:
    """Copy the resource NDJSON files of a generated hospital (not its ground truth)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.ndjson"):
        if path.name[0].isupper():
            shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=11, patients=120, months=3)
    return out


@pytest.fixture(scope="module")
def loaded(hospital: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resource_files(hospital, tmp_path_factory.mktemp("load"))


@pytest.fixture(scope="module")
def module_server(loaded: Path) -> Iterator[FhirTestServer]:
    with FhirTestServer(load_dir=loaded) as srv:
        yield srv


@pytest.fixture
def server(module_server: FhirTestServer) -> Iterator[FhirTestServer]:
    module_server.clear_faults()
    module_server.configure_bulk(**BULK_DEFAULTS)
    module_server.set_auth_tokens(None)
    module_server.reset_stats()
    yield module_server
    module_server.clear_faults()
    module_server.configure_bulk(**BULK_DEFAULTS)
    module_server.set_auth_tokens(None)


class Sleeps:
    """Records the delays a policy asks for instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def policy(sleeps: Sleeps, **kw: Any) -> BulkPolicy:
    return BulkPolicy(sleep=sleeps, random=lambda: 0.5, **kw)


def kickoff(server: FhirTestServer, path: str = "$export", **params: str) -> str:
    response = requests.get(
        f"{server.base_url}/{path}",
        params=params,
        headers={"Prefer": "respond-async", "Accept": "application/fhir+json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return response.headers["Content-Location"]


def complete(status_url: str) -> dict[str, Any]:
    for _ in range(20):
        response = requests.get(status_url, timeout=30)
        if response.status_code == 200:
            manifest: dict[str, Any] = response.json()
            return manifest
        assert response.status_code == 202
    raise AssertionError("export never completed")


def lines(url: str) -> list[dict[str, Any]]:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+ndjson")
    return [orjson.loads(x) for x in response.content.splitlines() if x]


def manifest_types(manifest: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in manifest["output"]:
        counts[item["type"]] = counts.get(item["type"], 0) + item["count"]
    return counts


def local_resources(directory: Path, rtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob(f"{rtype}.*ndjson")):
        for line in path.read_bytes().splitlines():
            if line:
                resource = orjson.loads(line)
                assert resource["id"] not in out, f"{rtype}/{resource['id']} twice"
                out[resource["id"]] = resource
    return out


# -- the server ----------------------------------------------------------------------------


def test_kickoff_needs_prefer_respond_async(server: FhirTestServer) -> None:
    response = requests.get(f"{server.base_url}/$export", timeout=30)
    assert response.status_code == 400
    assert "respond-async" in response.json()["issue"][0]["diagnostics"]


def test_status_reports_progress_then_the_manifest(server: FhirTestServer) -> None:
    server.configure_bulk(pollsBeforeDone=2, retryAfter="7")
    status_url = kickoff(server, _type="Patient,Encounter")
    first = requests.get(status_url, timeout=30)
    assert first.status_code == 202
    assert first.headers["Retry-After"] == "7"
    assert first.headers["X-Progress"] == "33% done"
    assert requests.get(status_url, timeout=30).headers["X-Progress"] == "66% done"
    manifest = complete(status_url)
    assert manifest["requiresAccessToken"] is False
    assert manifest["request"].endswith("$export?_type=Patient%2CEncounter")
    assert manifest_types(manifest) == {
        "Patient": server.count("Patient"),
        "Encounter": server.count("Encounter"),
    }
    assert manifest["error"] == [] and manifest["deleted"] == []


def test_cancel_deletes_the_export(server: FhirTestServer) -> None:
    status_url = kickoff(server)
    assert requests.delete(status_url, timeout=30).status_code == 202
    assert requests.get(status_url, timeout=30).status_code == 404


def test_patient_level_leaves_out_non_compartment_types(server: FhirTestServer) -> None:
    manifest = complete(kickoff(server, "Patient/$export"))
    types = manifest_types(manifest)
    assert types["Patient"] == server.count("Patient")
    assert types["Encounter"] == server.count("Encounter")
    assert "Practitioner" not in types and "Organization" not in types
    # CareTeams that name no patient (team CareTeams) are not in any patient's compartment.
    careteams = [
        r for item in manifest["output"] if item["type"] == "CareTeam" for r in lines(item["url"])
    ]
    assert all("subject" in r for r in careteams)
    assert len(careteams) < server.count("CareTeam")


def test_group_level_exports_only_the_members(server: FhirTestServer) -> None:
    with FhirClient(server.base_url) as client:
        patients = [p["id"] for p in client.search("Patient", count=3)][:3]
        group = {
            "resourceType": "Group",
            "id": "bulk-members",
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patients],
        }
        client.put(group)
    try:
        manifest = complete(kickoff(server, "Group/bulk-members/$export", _type="Patient"))
        exported = [r["id"] for item in manifest["output"] for r in lines(item["url"])]
        assert sorted(exported) == sorted(patients)
        missing = requests.get(
            f"{server.base_url}/Group/nope/$export",
            headers={"Prefer": "respond-async"},
            timeout=30,
        )
        assert missing.status_code == 404
    finally:
        requests.delete(f"{server.base_url}/Group/bulk-members", timeout=30)


def test_type_filter_bounds_the_export(server: FhirTestServer) -> None:
    manifest = complete(
        kickoff(server, _type="Encounter", _typeFilter="Encounter?date=ge2025-02-01")
    )
    exported = [r for item in manifest["output"] for r in lines(item["url"])]
    assert 0 < len(exported) < server.count("Encounter")
    assert all(r["period"].get("end", "9999") >= "2025-02-01" for r in exported)
    server.configure_bulk(typeFilter=False)
    refused = requests.get(
        f"{server.base_url}/$export",
        params={"_typeFilter": "Encounter?date=ge2025-02-01"},
        headers={"Prefer": "respond-async"},
        timeout=30,
    )
    assert refused.status_code == 400
    assert "_typeFilter" in refused.json()["issue"][0]["diagnostics"]


def test_file_links_expire(server: FhirTestServer) -> None:
    manifest = complete(kickoff(server, _type="Patient"))
    url = manifest["output"][0]["url"]
    assert requests.get(url, timeout=30).status_code == 200
    assert server.expire_links() >= 1
    assert requests.get(url, timeout=30).status_code == 410


def test_range_request_returns_the_rest(server: FhirTestServer) -> None:
    manifest = complete(kickoff(server, _type="Patient"))
    url = manifest["output"][0]["url"]
    whole = requests.get(url, timeout=30).content
    rest = requests.get(url, headers={"Range": "bytes=100-"}, timeout=30)
    assert rest.status_code == 206
    assert rest.content == whole[100:]
    assert rest.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"


# -- the client ----------------------------------------------------------------------------


def test_export_directory_downloads_every_resource(
    server: FhirTestServer, loaded: Path, tmp_path: Path
) -> None:
    server.configure_bulk(fileLines=50)  # several files per type, downloaded in parallel
    sleeps = Sleeps()
    with FhirClient(server.base_url) as client:
        report = export_directory(client, tmp_path, ExportRequest(), policy=policy(sleeps))
    assert sleeps.delays == [1.0]  # one in-progress answer with Retry-After: 1
    for source in loaded.glob("*.ndjson"):
        rtype = source.name.split(".")[0]
        expected = {r["id"] for r in map(orjson.loads, source.read_bytes().splitlines())}
        assert set(local_resources(tmp_path, rtype)) == expected, rtype
        assert report.resources[rtype] == len(expected)
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["request"].startswith(server.base_url + "/$export")
    assert all("/" not in item["url"] for item in manifest["output"])
    assert not (tmp_path / ".export-status.json").exists()


def test_x_progress_goes_to_the_callback(server: FhirTestServer, tmp_path: Path) -> None:
    server.configure_bulk(pollsBeforeDone=3, retryAfter=None)
    seen: list[str] = []
    sleeps = Sleeps()
    with FhirClient(server.base_url) as client:
        export_directory(
            client,
            tmp_path,
            ExportRequest(types=("Patient",)),
            policy=policy(sleeps, poll_base=2.0),
            on_poll=lambda status: seen.append(status.progress),
        )
    assert seen == ["25% done", "50% done", "75% done"]
    # No Retry-After: jittered exponential back-off (random fixed at 0.5 here).
    assert sleeps.delays == [2.0 + 0.5 * 4.0, 2.0 + 0.5 * 8.0, 2.0 + 0.5 * 16.0]


def test_429_on_status_honours_retry_after(server: FhirTestServer, tmp_path: Path) -> None:
    server.inject("429", 2, retry_after="30", paths="__bulk-status")
    sleeps = Sleeps()
    with FhirClient(server.base_url) as client:
        report = export_directory(
            client, tmp_path, ExportRequest(types=("Patient",)), policy=policy(sleeps)
        )
    assert server.stats()["byStatus"]["429"] == 2
    assert sleeps.delays == [30.0, 30.0, 1.0]
    assert report.resources["Patient"] == server.count("Patient")


def test_http_date_retry_after_is_honoured(server: FhirTestServer, tmp_path: Path) -> None:
    server.inject("429", 1, retry_after="Thu, 01 Jan 2026 00:01:40 GMT", paths="__bulk-status")
    sleeps = Sleeps()
    with FhirClient(server.base_url) as client:
        bulk = BulkClient(client, policy(sleeps, clock=lambda: 1767225600.0))  # 2026-01-01
        bulk.wait(bulk.kick_off(ExportRequest(types=("Patient",))))
    assert sleeps.delays[0] == 100.0


def test_maximum_wait_gives_up_and_keeps_the_export(server: FhirTestServer) -> None:
    server.configure_bulk(pollsBeforeDone=100, retryAfter="600")
    sleeps = Sleeps()
    with FhirClient(server.base_url) as client:
        bulk = BulkClient(client, policy(sleeps, max_wait=1000.0))
        status_url = bulk.kick_off(ExportRequest(types=("Patient",)))
        with pytest.raises(Exception, match="not complete after") as info:
            bulk.wait(status_url)
    assert getattr(info.value, "temporary", False)
    assert requests.get(status_url, timeout=30).status_code == 202  # still there to resume


def test_dropped_connection_mid_file_is_resumed_with_range(
    server: FhirTestServer, tmp_path: Path
) -> None:
    server.inject("truncate", 1, paths="__bulk-file")
    plain = policy(Sleeps(), gzip=False)
    with FhirClient(server.base_url) as client:
        export_directory(client, tmp_path / "cut", ExportRequest(types=("Patient",)), policy=plain)
        export_directory(
            client, tmp_path / "whole", ExportRequest(types=("Patient",)), policy=plain
        )
    stats = server.stats()
    assert stats["byStatus"]["truncated"] == 1
    assert stats["bulkRanges"] == 1
    assert local_resources(tmp_path / "cut", "Patient") == local_resources(
        tmp_path / "whole", "Patient"
    )


def test_dropped_connection_mid_gzip_file_restarts_it(
    server: FhirTestServer, tmp_path: Path
) -> None:
    server.inject("truncate", 1, paths="__bulk-file")
    with FhirClient(server.base_url) as client:
        export_directory(
            client, tmp_path / "cut", ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
        export_directory(
            client, tmp_path / "whole", ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    assert server.stats()["byStatus"]["truncated"] == 1
    assert local_resources(tmp_path / "cut", "Patient") == local_resources(
        tmp_path / "whole", "Patient"
    )


def test_connection_dropped_before_answer_is_retried(
    server: FhirTestServer, tmp_path: Path
) -> None:
    server.inject("drop", 2, paths="__bulk-file")
    with FhirClient(server.base_url) as client:
        report = export_directory(
            client, tmp_path, ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    assert server.stats()["byStatus"]["dropped"] == 2
    assert report.resources["Patient"] == server.count("Patient")


def test_expired_link_starts_a_fresh_export(server: FhirTestServer, tmp_path: Path) -> None:
    server.inject("410", 1, paths="__bulk-file")
    with FhirClient(server.base_url) as client:
        report = export_directory(
            client, tmp_path, ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    assert report.restarts == 1
    assert report.resources["Patient"] == server.count("Patient")


def test_links_that_always_expire_give_up(server: FhirTestServer, tmp_path: Path) -> None:
    server.configure_bulk(linkTtlMs=-1)
    with FhirClient(server.base_url) as client, pytest.raises(ExportExpiredError):
        export_directory(
            client,
            tmp_path,
            ExportRequest(types=("Patient",)),
            policy=policy(Sleeps()),
            max_restarts=2,
        )
    assert not (tmp_path / "manifest.json").exists()


def test_interrupted_run_resumes_polling_the_same_export(
    server: FhirTestServer, tmp_path: Path
) -> None:
    server.configure_bulk(pollsBeforeDone=5)
    request = ExportRequest(types=("Patient",))
    with FhirClient(server.base_url) as client:
        status_url = BulkClient(client).kick_off(request)
        FileState(tmp_path).save(request.url(client.base_url), status_url)  # then "killed"
        jobs_before = requests.get(f"{server.admin_url}/bulk", timeout=30).json()["jobs"]
        report = export_directory(client, tmp_path, request, policy=policy(Sleeps()))
    assert report.resumed  # the same export: done, then deleted; no other was started
    assert requests.get(f"{server.admin_url}/bulk", timeout=30).json()["jobs"] == jobs_before - 1
    assert report.resources["Patient"] == server.count("Patient")


def test_cancelled_run_sends_delete(server: FhirTestServer, tmp_path: Path) -> None:
    server.configure_bulk(pollsBeforeDone=5)
    jobs = requests.get(f"{server.admin_url}/bulk", timeout=30).json()["jobs"]

    def interrupt(_: Any) -> None:
        raise KeyboardInterrupt

    with FhirClient(server.base_url) as client, pytest.raises(KeyboardInterrupt):
        export_directory(
            client, tmp_path, ExportRequest(), policy=policy(Sleeps()), on_poll=interrupt
        )
    assert requests.get(f"{server.admin_url}/bulk", timeout=30).json()["jobs"] == jobs
    assert not (tmp_path / ".export-status.json").exists()


def test_post_kickoff_when_get_is_refused(server: FhirTestServer, tmp_path: Path) -> None:
    server.configure_bulk(getKickoff=False)
    request = ExportRequest(types=("Patient", "Encounter"))
    with FhirClient(server.base_url) as client:
        report = export_directory(client, tmp_path, request, policy=policy(Sleeps()))
    assert server.stats()["byStatus"]["405"] == 1
    assert dict(report.resources) == {
        "Patient": server.count("Patient"),
        "Encounter": server.count("Encounter"),
    }


def test_error_files_become_findings(server: FhirTestServer, tmp_path: Path) -> None:
    server.configure_bulk(errors=["Observation/o-1 could not be exported", "timeout on Condition"])
    with FhirClient(server.base_url) as client:
        report = export_directory(
            client, tmp_path, ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    assert report.findings.summary()["by_kind"] == {"export-error": 2}
    assert [f.message for f in report.findings] == [
        "error: Observation/o-1 could not be exported",
        "error: timeout on Condition",
    ]
    kept = orjson.loads((tmp_path / "manifest.json").read_bytes())["error"]
    assert kept == [{"type": "OperationOutcome", "url": "error.000.ndjson", "count": 2}]
    assert len((tmp_path / "error.000.ndjson").read_bytes().splitlines()) == 2
    server.configure_bulk(errors=[])  # a later export without errors drops the old file
    with FhirClient(server.base_url) as client:
        export_directory(
            client, tmp_path, ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    assert not (tmp_path / "error.000.ndjson").exists()


def test_token_sent_only_when_required(server: FhirTestServer, tmp_path: Path) -> None:
    server.set_auth_tokens(["secret"])
    server.configure_bulk(requiresAccessToken=False)
    with FhirClient(server.base_url, auth=BearerToken("secret")) as client:
        export_directory(
            client, tmp_path / "a", ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
        assert server.stats().get("bulkFilesWithAuth", 0) == 0
        server.configure_bulk(requiresAccessToken=True)
        export_directory(
            client, tmp_path / "b", ExportRequest(types=("Patient",)), policy=policy(Sleeps())
        )
    stats = server.stats()
    assert stats["bulkFilesWithAuth"] == stats["bulkFiles"] - 1 >= 1


def test_token_goes_to_another_origin_only_when_listed(
    server: FhirTestServer, tmp_path: Path
) -> None:
    port = server.base_url.split(":")[2].split("/")[0]
    other = f"http://localhost:{port}"
    server.set_auth_tokens(["secret"])
    server.configure_bulk(requiresAccessToken=True, fileBase=other)
    request = ExportRequest(types=("Patient",))
    with FhirClient(server.base_url, auth=BearerToken("secret")) as client:
        with pytest.raises(FatalFhirError, match="FHIRMS_BULK_TOKEN_ORIGINS"):
            export_directory(client, tmp_path / "a", request, policy=policy(Sleeps()))
        assert server.stats().get("bulkFilesWithAuth", 0) == 0
        export_directory(
            client, tmp_path / "b", request, policy=policy(Sleeps(), token_origins=(other,))
        )
    assert server.stats()["bulkFilesWithAuth"] >= 1


def test_incremental_export_merges_changes_and_deletions(loaded: Path, tmp_path: Path) -> None:
    with FhirTestServer(load_dir=loaded) as server, FhirClient(server.base_url) as client:
        request = ExportRequest(types=("Patient", "Encounter"))
        first = export_directory(client, tmp_path, request, policy=policy(Sleeps()))
        assert first.since is None
        patients = list(client.search("Patient", count=2))[:2]
        changed, removed = patients
        changed["gender"] = "other" if changed.get("gender") != "other" else "unknown"
        client.put(changed)
        assert requests.delete(f"{server.base_url}/Patient/{removed['id']}", timeout=30).ok
        second = export_directory(
            client, tmp_path, request, policy=policy(Sleeps()), incremental=True
        )
        assert second.since == first.transaction_time
        assert second.deleted == 1
        assert "_since=" in orjson.loads((tmp_path / "manifest.json").read_bytes())["request"]
        now = local_resources(tmp_path, "Patient")
        assert removed["id"] not in now
        assert now[changed["id"]]["gender"] == changed["gender"]
        assert len(now) == server.count("Patient")
        assert len(local_resources(tmp_path, "Encounter")) == server.count("Encounter")


def test_celery_runs_keep_the_status_url_in_redis(
    server: FhirTestServer, tmp_path: Path, redis_url: str
) -> None:
    from workers.connections import make_client
    from workers.export_state import RedisExportState, export_state_key

    redis_client = make_client(redis_url)
    state = RedisExportState(redis_client, tmp_path.name, ttl_seconds=600)
    server.configure_bulk(pollsBeforeDone=3)
    request = ExportRequest(types=("Patient",))
    with FhirClient(server.base_url) as client:
        status_url = BulkClient(client).kick_off(request)
        state.save(request.url(client.base_url), status_url)  # a worker host then stopped
        assert 0 < int(redis_client.ttl(export_state_key(tmp_path.name))) <= 600
        assert state.load("some other request") is None
        report = export_directory(client, tmp_path, request, policy=policy(Sleeps()), state=state)
    assert report.resumed
    assert state.load(request.url(server.base_url)) is None
    assert not (tmp_path / ".export-status.json").exists()
    redis_client.close()
