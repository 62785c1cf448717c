"""``run --celery --read bulk`` with the export in the workers: polls as rescheduled tasks,
one download task per file, resume after a killed worker, beat's incremental runs by bulk."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis

from fhir_microsystems.bulk_runs import plan_bulk, resolve_source
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.integration.test_bulk_export import BULK_DEFAULTS, resource_files
from tests.integration.test_bulk_runs import _same_outputs
from tests.support.celery_worker import (
    CeleryBeat,
    CeleryWorker,
    settings_for,
    wait_for,
    worker_env,
)
from tests.support.fhir_server import FhirTestServer
from workers.cli import dispatch_run
from workers.connections import make_client
from workers.dispatch import wait_for_run
from workers.progress import registry_for
from workers.runs import RunStatus

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=3, patients=150, months=2)
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    alias = {"FHIRMS_SOURCE_BASE_ALIASES": manifest["request"].rsplit("/$", 1)[0]}
    return resource_files(out, tmp_path_factory.mktemp("load")), alias


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = make_client(redis_url)
    yield c
    c.close()


def _kickoffs(server: FhirTestServer) -> int:
    return int(server.stats().get("bulkKickoffs", 0))


def test_celery_bulk_run_exports_in_workers_and_resumes_the_same_export(
    hospital: tuple[Path, dict[str, str]],
    redis_url: str,
    client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load, alias = hospital
    for key, value in alias.items():
        monkeypatch.setenv(key, value)
    cfg = settings_for(redis_url, alias)
    registry = registry_for(client, cfg)
    logs = tmp_path / "logs"
    with FhirTestServer(load_dir=load) as server:
        server.configure_bulk(**BULK_DEFAULTS)
        local = resolve_source(server.base_url, tmp_path / "local", cfg, read="bulk")
        run_in_process(RunSpec(source=local.location, out_dir=str(tmp_path / "local")))

        # Polled for a while (Retry-After 1 s, a 429 on the way): the worker is killed while
        # the export runs, and the next worker polls the same export (one kick-off).
        server.configure_bulk(pollsBeforeDone=12, retryAfter="1")
        server.inject("429", 1, retry_after="1", paths="__bulk-status")
        before = _kickoffs(server)
        job = plan_bulk(server.base_url, tmp_path / "celery", cfg, read="bulk")
        assert job is not None
        spec = RunSpec(source=job.directory, out_dir=str(tmp_path / "celery"))
        first = CeleryWorker(redis_url, logs, env=alias)
        first.start()
        try:
            sent = dispatch_run(spec, wait=False, settings=cfg, bulk_job=job)  # CLI not waiting
            run_id = sent["run"]["run_id"]

            def progress() -> str:
                info = registry.get(run_id)
                return info.progress.export if info is not None else ""

            wait_for(lambda: "% done" in progress(), 120, "X-Progress in the run")
            status = subprocess.run(
                [sys.executable, "-m", "fhir_microsystems.cli", "status", run_id],
                env=worker_env(redis_url, alias),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert status.returncode == 0, status.stderr
            assert "export" in status.stdout and "% done" in status.stdout
            first.kill()  # mid-export: its next poll is unacknowledged
        finally:
            first.stop()
        assert registry.get(run_id).status is not RunStatus.SUCCEEDED  # type: ignore[union-attr]
        with CeleryWorker(redis_url, logs, env=alias):
            info = wait_for_run(client, cfg, run_id, timeout=300)
            assert info.status is RunStatus.SUCCEEDED, info.error
            assert _kickoffs(server) == before + 1
            _same_outputs(tmp_path / "local", tmp_path / "celery")

            # An expired file link: a fresh kick-off, then the same reports.
            server.configure_bulk(pollsBeforeDone=1, retryAfter="1")
            server.inject("410", 1, paths="__bulk-file")
            job = plan_bulk(server.base_url, tmp_path / "expired", cfg, read="bulk")
            assert job is not None
            spec = RunSpec(source=job.directory, out_dir=str(tmp_path / "expired"))
            sent = dispatch_run(spec, wait=False, settings=cfg, bulk_job=job)
            info = wait_for_run(client, cfg, sent["run"]["run_id"], timeout=300)
            assert info.status is RunStatus.SUCCEEDED, info.error
            assert _kickoffs(server) == before + 3
            restarts = client.hget(f"fhirms:run:{info.run_id}", "export_restarts")
            assert restarts == b"1"
    _same_outputs(tmp_path / "local", tmp_path / "expired")


def test_beat_reads_a_server_with_export_by_bulk_since_the_last_manifest(
    hospital: tuple[Path, dict[str, str]], redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    load, alias = hospital
    out = tmp_path / "out"
    logs = tmp_path / "logs"
    cfg = settings_for(redis_url, alias)
    registry = registry_for(client, cfg)
    with FhirTestServer(load_dir=load) as server:
        server.configure_bulk(**BULK_DEFAULTS)
        env = {
            **alias,
            "FHIRMS_SOURCE": server.base_url,
            "FHIRMS_OUT_DIR": str(out),
            "FHIRMS_INCREMENTAL_INTERVAL_SECONDS": "2",
        }

        def succeeded() -> list[str]:
            runs = registry.recent(50)
            done = [r for r in runs if r.status is RunStatus.SUCCEEDED]
            return [r.run_id for r in sorted(done, key=lambda r: r.created_at)]

        with CeleryWorker(redis_url, logs, env=env), CeleryBeat(redis_url, logs, env=env):
            wait_for(lambda: len(succeeded()) >= 2, 240, "two incremental runs")
        kickoffs = _kickoffs(server)
    first, second = succeeded()[:2]
    jobs = [client.hget(f"fhirms:run:{r}", "bulk_job") for r in (first, second)]
    assert all(jobs), "incremental runs of a server with $export read by bulk"
    directory = Path(json.loads(jobs[1])["directory"])  # type: ignore[arg-type]
    second_spec = json.loads(registry.get(second).spec_json)  # type: ignore[union-attr]
    assert second_spec["source"] == str(directory)
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    assert "_since=" in manifest["request"]  # the later export asked only for the changes
    assert kickoffs >= 2
