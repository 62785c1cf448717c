"""Patient data at rest: sealed claim checks, a worker refusing to run without its key, Redis
over TLS with a password, private output files. Real redis-server, real Celery workers."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fhir_microsystems._errors import FatalError
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.support.celery_worker import CeleryWorker, settings_for, worker_env
from tests.support.recording_server import RecordingServer, bundle
from tests.support.redis_server import RedisTestServer, make_tls
from workers.claim_check import SEALED, ClaimCheckCipher, RedisStore
from workers.cli import dispatch_run, worker_argv

pytestmark = pytest.mark.integration

PATIENT_DATA = b'[["Patient/pat-4711","1950-01-01","2025-01-03T10:00:00Z",7.9]]'


def _key_file(path: Path) -> Path:
    path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hospital")
    generate(out, seed=9, patients=60, months=2)
    return out


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTestServer]:
    """redis-server serving only TLS (self-signed CA made here), with a password."""
    base = tmp_path_factory.mktemp("tls-redis")
    tls = make_tls(base / "tls")
    with RedisTestServer(base / "data", tls=tls, password="redis-pass-93") as server:
        yield server


def test_claim_checks_are_sealed_and_bound_to_their_key(redis_url: str, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    cipher = ClaimCheckCipher.from_file(_key_file(tmp_path / "key"))
    store = RedisStore(client, "run1", 60, cipher)
    store.put("obs:1", PATIENT_DATA)
    raw = client.get(store.key("obs:1"))
    assert isinstance(raw, bytes) and raw.startswith(SEALED)
    assert b"pat-4711" not in raw and b"1950-01-01" not in raw
    assert store.get("obs:1") == PATIENT_DATA
    client.set(store.key("obs:2"), raw)  # a value moved to another key does not open
    with pytest.raises(FatalError, match="cannot be decrypted"):
        store.get("obs:2")
    other = RedisStore(client, "run1", 60, ClaimCheckCipher.from_file(_key_file(tmp_path / "k2")))
    with pytest.raises(FatalError, match="cannot be decrypted"):
        other.get("obs:1")
    client.close()


def test_a_worker_without_its_key_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    env = worker_env(redis_url, {"FHIRMS_REQUIRE_ENCRYPTION": "true"})
    argv = worker_argv(settings_for(redis_url), ["--hostname", "nokey@%h"], concurrency=1)
    result = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path
    )
    assert result.returncode == 78, result.stdout[-2000:] + result.stderr[-2000:]
    assert "FHIRMS_CLAIM_CHECK_KEY_FILE" in result.stdout + result.stderr


def test_a_failed_run_over_tls_leaves_only_sealed_data(
    tls_redis: RedisTestServer, hospital: Path, tmp_path: Path
) -> None:
    """Workers on rediss:// with a password from a file and the key; the sink refuses the
    writes, so the run fails and keeps its claim checks: every one is sealed and expires
    within a day."""
    assert tls_redis.tls is not None
    key = _key_file(tmp_path / "claim-check.key")
    password = tmp_path / "redis-password"
    password.write_text("redis-pass-93\n")
    overrides = {
        "FHIRMS_REDIS_CA_FILE": str(tls_redis.tls.ca),
        "FHIRMS_REDIS_PASSWORD_FILE": str(password),
        "FHIRMS_CLAIM_CHECK_KEY_FILE": str(key),
        "FHIRMS_REQUIRE_ENCRYPTION": "true",
    }
    url = f"rediss://127.0.0.1:{tls_redis.port}/0"  # the password comes from its file
    admin = tls_redis.client()
    admin.flushall()
    cfg = settings_for(url, overrides)
    with RecordingServer() as sink:
        sink.answer("GET", "/fhir/", 200, bundle([]))
        sink.answer("POST", "/fhir", 422, {"resourceType": "OperationOutcome", "issue": []})
        spec = RunSpec(source=str(hospital), sink_url=sink.origin + "/fhir")
        with CeleryWorker(url, tmp_path / "logs", env=overrides, concurrency=1) as worker:
            with pytest.raises(FatalError, match="failed"):
                dispatch_run(spec, show_progress=False, timeout=600, settings=cfg)
            log = worker.log()
    assert "redis-pass-93" not in log
    run_id = next(k for k in admin.scan_iter(match="fhirms:run:*") if k.count(b":") == 2)
    prefix = b"fhirms:" + run_id.split(b":")[2] + b":"
    claim_checks = [k for k in admin.scan_iter(match=prefix + b"*")]
    assert len(claim_checks) > 5
    for name in claim_checks:
        value = admin.get(name)
        assert isinstance(value, bytes) and value.startswith(SEALED), name
        assert b"Patient/" not in value
        assert 0 < admin.ttl(name) <= 24 * 3600
    admin.close()


def test_output_files_listing_patients_are_private(
    hospital: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.umask(0o022)
    run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "a"), evidence=True))
    for name in ("Group.ndjson", "MeasureReport.ndjson", "findings.ndjson"):
        assert stat.S_IMODE((tmp_path / "a" / name).stat().st_mode) == 0o600, name
    monkeypatch.setenv("FHIRMS_OUTPUT_FILE_MODE", "640")
    run_in_process(RunSpec(source=str(hospital), out_dir=str(tmp_path / "b")))
    assert stat.S_IMODE((tmp_path / "b" / "Group.ndjson").stat().st_mode) == 0o640
