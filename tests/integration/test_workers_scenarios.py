"""Reliability scenarios of the real pipeline on real workers, Redis and FHIR test servers.

A small synthetic hospital is assessed on ``celery worker`` processes while workers are
killed, Redis restarts, the FHIR server misbehaves or the input is poisoned. Every test
checks what the sink FHIR server holds at the end against an undisturbed in-process run of
the same input: the same CareTeams, Groups and MeasureReports, and not one more.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fhir_microsystems.connect import make_client as fhir_client
from fhir_microsystems.loading import load_directory
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.reports import validate_measure_report
from fhir_microsystems.synth.generator import generate
from tests.support.celery_worker import CeleryWorker, settings_for, wait_for
from tests.support.fhir_server import FhirTestServer
from tests.support.poison import poison_dates_and_bom
from tests.support.redis_server import RedisTestServer
from workers.app import create_app
from workers.cli import dispatch_run
from workers.connections import make_client
from workers.dispatch import wait_for_run
from workers.progress import registry_for
from workers.runs import RunInfo, RunStatus
from workers.settings import WorkerSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TYPES = ("CareTeam", "Group", "MeasureReport")


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=7, patients=60, months=3)
    return out


def _ndjson(path: Path) -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {r["id"]: r for r in rows}


def _reference(source: Path, out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    return _reference_of(str(source), out)


def _reference_of(source: str, out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    run_in_process(RunSpec(source=source, out_dir=str(out)))
    return {t: _ndjson(out / f"{t}.ndjson") for t in TYPES}


@pytest.fixture(scope="module")
def reference(hospital: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What an undisturbed in-process run writes, by type and id."""
    return _reference(hospital, tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def sink_server() -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        yield server


@pytest.fixture
def sink(sink_server: FhirTestServer) -> FhirTestServer:
    sink_server.reset()
    return sink_server


@pytest.fixture(scope="module")
def source_server(hospital: Path) -> Iterator[FhirTestServer]:
    with FhirTestServer() as server:
        with fhir_client(server.base_url) as client:
            report = load_directory(hospital, client)
        assert report.ok, report.failures
        yield server


@pytest.fixture
def cfg(redis_url: str) -> WorkerSettings:
    return settings_for(redis_url)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = make_client(redis_url)
    yield c
    c.close()


# -- helpers ---------------------------------------------------------------------------------


def on_server(server: FhirTestServer, rtype: str) -> dict[str, dict[str, Any]]:
    with fhir_client(server.base_url) as client:
        return {r["id"]: r for r in client.search(rtype, count=500)}


def content(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource without what the server adds (meta.versionId, meta.lastUpdated)."""
    out = {k: v for k, v in resource.items() if k != "meta"}
    out["profiles"] = resource.get("meta", {}).get("profile", [])
    return out


def assert_server_matches(server: FhirTestServer, expected: dict[str, Any]) -> None:
    """The server holds exactly the expected resources: none missing, none extra, same content."""
    for rtype in TYPES:
        held = on_server(server, rtype)
        assert server.count(rtype) == len(expected[rtype]), f"{rtype}: duplicates or missing"
        assert held.keys() == expected[rtype].keys(), rtype
        for rid, resource in expected[rtype].items():
            assert content(held[rid]) == content(resource), f"{rtype}/{rid}"


def dispatch(cfg: WorkerSettings, spec: RunSpec, wait: bool = True) -> dict[str, Any]:
    return dispatch_run(spec, wait=wait, settings=cfg, show_progress=False, timeout=240)


def wait_done(client: redis.Redis, cfg: WorkerSettings, run_id: str) -> RunInfo:
    return wait_for_run(client, cfg, run_id, timeout=240, poll_seconds=0.2)


def progress(client: redis.Redis, cfg: WorkerSettings, run_id: str) -> RunInfo:
    info = registry_for(client, cfg).get(run_id)
    assert info is not None
    return info


def measured_at_least(client: redis.Redis, cfg: WorkerSettings, run_id: str, n: int) -> bool:
    info = progress(client, cfg, run_id)
    assert not info.status.terminal, f"run ended before the fault: {info}"
    return info.progress.measure_done >= n


# -- scenarios -------------------------------------------------------------------------------


def test_kill_9_of_a_worker_mid_run(
    redis_url: str,
    cfg: WorkerSettings,
    client: redis.Redis,
    hospital: Path,
    reference: dict[str, Any],
    sink: FhirTestServer,
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    sink.inject("delay", 1000, delay_ms=1500)  # every write is slow: the run is mid-way long
    spec = RunSpec(source=str(hospital), sink_url=sink.base_url)
    first = CeleryWorker(redis_url, logs, concurrency=1)
    first.start()
    try:
        run_id = dispatch(cfg, spec, wait=False)["run"]["run_id"]
        wait_for(lambda: measured_at_least(client, cfg, run_id, 2), 180, "two measured")
        first.kill()
    finally:
        first.stop()
    sink.clear_faults()
    with CeleryWorker(redis_url, logs, concurrency=2):
        info = wait_done(client, cfg, run_id)
    assert info.status is RunStatus.SUCCEEDED, info.error
    assert info.progress.measure_done == info.progress.measure_total
    assert_server_matches(sink, reference)


def test_redis_restart_mid_run(
    redis_server: RedisTestServer,
    redis_url: str,
    cfg: WorkerSettings,
    client: redis.Redis,
    hospital: Path,
    reference: dict[str, Any],
    sink: FhirTestServer,
    tmp_path: Path,
) -> None:
    sink.inject("delay", 1000, delay_ms=1500)
    spec = RunSpec(source=str(hospital), sink_url=sink.base_url)
    with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2) as worker:
        run_id = dispatch(cfg, spec, wait=False)["run"]["run_id"]
        wait_for(lambda: measured_at_least(client, cfg, run_id, 2), 180, "two measured")
        redis_server.restart()
        sink.clear_faults()
        info = wait_done(client, cfg, run_id)
        assert worker.running
    assert info.status is RunStatus.SUCCEEDED, info.error
    assert info.progress.measure_done == info.progress.measure_total
    assert_server_matches(sink, reference)


def test_fhir_servers_throttling_failing_slow_and_dropping(
    redis_url: str,
    cfg: WorkerSettings,
    source_server: FhirTestServer,
    sink: FhirTestServer,
    tmp_path: Path,
) -> None:
    # the undisturbed run reads the same server (a FHIR source is compared with itself)
    expected = _reference_of(source_server.base_url, tmp_path / "reference")
    source_server.reset_stats()
    injected = [
        source_server.inject("429", 2, retry_after=1),
        source_server.inject("503", 2),
        source_server.inject("drop", 2),
        source_server.inject("delay", 3, delay_ms=800),
        sink.inject("429", 1, retry_after=1),
        sink.inject("503", 1),
        sink.inject("drop", 1),
    ]
    assert all(injected)
    spec = RunSpec(source=source_server.base_url, sink_url=sink.base_url)
    # the faults add ~15 s to reading the source: the time limits of the tests are too tight
    limits = {
        "FHIRMS_TASK_SOFT_TIME_LIMIT_SECONDS": "60",
        "FHIRMS_TASK_TIME_LIMIT_SECONDS": "75",
        "FHIRMS_VISIBILITY_TIMEOUT_SECONDS": "90",
    }
    with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2, env=limits):
        summary = dispatch(cfg, spec)
    assert summary["run"]["status"] == "succeeded"
    # six faults in a row exhaust one request's attempts: the extract task itself is retried
    assert summary["run"]["progress"]["retries"] >= 1
    assert source_server.stats()["faultsServed"] == 9
    assert sink.stats()["faultsServed"] == 3
    assert_server_matches(sink, expected)


ELSEWHERE = "https://elsewhere.example/fhir"


def _poison(hospital: Path, poisoned: Path) -> None:
    shutil.copytree(hospital, poisoned)
    encounter = json.loads((poisoned / "Encounter.ndjson").read_text().splitlines()[0])
    encounter |= {"id": "poison-dangling", "subject": {"reference": "Patient/does-not-exist"}}
    observation = json.loads((poisoned / "Observation.ndjson").read_text().splitlines()[0])
    observation |= {"id": "poison-obs-dangling", "subject": {"reference": "Patient/nobody"}}
    elsewhere = encounter | {
        "id": "poison-elsewhere",
        "participant": [{"individual": {"reference": f"{ELSEWHERE}/Practitioner/x1"}}],
    }
    with (poisoned / "Encounter.ndjson").open("a") as fh:
        fh.write('{"resourceType": "Encounter", "id": "poison-missing"}\n')
        fh.write(json.dumps(encounter) + "\n")
        fh.write(json.dumps(elsewhere) + "\n")
        fh.write('{"resourceType": "Encounter", "id": "torn", \n')
    with (poisoned / "Observation.ndjson").open("a") as fh:
        fh.write("this is not JSON\n")
        fh.write(json.dumps(observation) + "\n")
    poison_dates_and_bom(poisoned)  # extreme dates, a BOM before Patient.ndjson


def test_poison_input_completes_with_findings_and_valid_reports(
    redis_url: str, cfg: WorkerSettings, hospital: Path, sink: FhirTestServer, tmp_path: Path
) -> None:
    poisoned = tmp_path / "poisoned"
    _poison(hospital, poisoned)
    expected = _reference(poisoned, tmp_path / "reference")
    out = tmp_path / "out"
    spec = RunSpec(source=str(poisoned), out_dir=str(out), sink_url=sink.base_url)
    with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2):
        summary = dispatch(cfg, spec)
    assert summary["run"]["status"] == "succeeded"
    kinds = summary["findings"]["by_kind"]
    assert kinds["invalid-json"] >= 2 and kinds["missing-field"] >= 1
    assert kinds["unresolved-reference"] >= 2
    assert summary["run"]["progress"]["findings"] == summary["findings"]["total"]
    where = {
        json.loads(line)["where"] for line in (out / "findings.ndjson").read_text().splitlines()
    }
    assert {
        "Encounter/poison-missing",
        "Encounter/poison-dangling",
        "Observation/poison-obs-dangling",
    } <= where
    assert any(w.startswith("Encounter.ndjson:") for w in where)
    assert any(w.startswith("Observation.ndjson:") for w in where)
    assert kinds["byte-order-mark"] == 1 and "Patient.ndjson" in where
    assert kinds["unknown-source-base"] == 1 and ELSEWHERE in where
    reports = on_server(sink, "MeasureReport")
    assert reports
    for report in reports.values():
        validate_measure_report(report)  # raises on an invalid report
    assert_server_matches(sink, expected)


def test_two_runs_of_one_scope_started_together(
    redis_url: str,
    cfg: WorkerSettings,
    hospital: Path,
    reference: dict[str, Any],
    sink: FhirTestServer,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    spec = RunSpec(source=str(hospital), out_dir=str(out), sink_url=sink.base_url)
    summaries: list[dict[str, Any]] = []
    with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2):
        threads = [threading.Thread(target=lambda: summaries.append(dispatch(cfg, spec)))]
        threads.append(threading.Thread(target=lambda: summaries.append(dispatch(cfg, spec))))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert len(summaries) == 2
        assert summaries[0]["run"]["run_id"] == summaries[1]["run"]["run_id"]
        assert_server_matches(sink, reference)
        # a later run of the same scope rewrites the same resources: still no duplicates
        later = dispatch(cfg, spec)
    assert later["run"]["run_id"] != summaries[0]["run"]["run_id"]
    assert_server_matches(sink, reference)
    # the workers wrote the same files as the in-process run
    for rtype in TYPES:
        assert _ndjson(out / f"{rtype}.ndjson") == reference[rtype], rtype


def test_tasks_delivered_again_after_completion_are_no_ops(
    redis_url: str,
    cfg: WorkerSettings,
    client: redis.Redis,
    hospital: Path,
    reference: dict[str, Any],
    sink: FhirTestServer,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    spec = RunSpec(source=str(hospital), out_dir=str(out), sink_url=sink.base_url)
    app = create_app(cfg, include_tasks=False)
    try:
        with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2):
            run_id = dispatch(cfg, spec)["run"]["run_id"]
            versions = {
                r: x["meta"]["versionId"] for r, x in on_server(sink, "MeasureReport").items()
            }
            files = {t: (out / f"{t}.ndjson").read_bytes() for t in TYPES}
            before = progress(client, cfg, run_id)
            plan = json.loads(registry_for(client, cfg).marker(run_id, "plan", "-") or "{}")
            derived = json.loads(registry_for(client, cfg).marker(run_id, "derive", "-") or "{}")
            again = [app.send_task("fhirms.extract", args=[run_id, p]) for p in plan["partitions"]]
            again += [
                app.send_task("fhirms.measure", args=[run_id, m]) for m in derived["partitions"]
            ]
            again += [app.send_task("fhirms.finalize", args=[run_id, 1])]
            for result in again:
                result.get(timeout=120)
    finally:
        app.close()
    after = {r: x["meta"]["versionId"] for r, x in on_server(sink, "MeasureReport").items()}
    assert after == versions  # not even rewritten
    assert {t: (out / f"{t}.ndjson").read_bytes() for t in TYPES} == files
    assert progress(client, cfg, run_id) == before
    assert_server_matches(sink, reference)
