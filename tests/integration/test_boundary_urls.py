"""Passwords in URLs: refused for FHIR servers, masked for Redis wherever shown or stored."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems.pipeline import RunSpec
from fhir_microsystems.synth import generate
from tests.support.celery_worker import settings_for
from tests.support.recording_server import RecordingServer
from workers import config, connections
from workers.connections import make_client
from workers.progress import registry_for
from workers.runs import RunInfo, RunStatus

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fhir_microsystems.cli"]
SECRET = "pa55-w0rd-xyz"


@pytest.fixture
def sink() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def test_the_cli_refuses_a_sink_url_with_a_password(sink: RecordingServer, tmp_path: Path) -> None:
    generate(tmp_path / "h", seed=3, patients=40, months=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    url = sink.origin.replace("http://", f"http://user:{SECRET}@") + "/fhir"
    result = subprocess.run(
        [*CLI, "run", "--source", "h", "--sink", url],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    shown = result.stdout + result.stderr
    assert SECRET not in shown
    assert "FHIRMS_SINK_AUTH" in shown
    assert "Traceback" not in shown
    assert sink.requests == []  # nothing was sent, let alone the password
    assert SECRET not in "".join(p.read_text() for p in (tmp_path / "out").rglob("*.json"))


@pytest.mark.parametrize("field", ["source", "sink_url"])
def test_a_run_spec_with_user_info_is_refused_before_it_is_stored(field: str) -> None:
    url = f"https://user:{SECRET}@ehr.example/fhir"
    kwargs = {"source": "dir", field: url}
    with pytest.raises(ConfigurationError) as caught:
        RunSpec(**kwargs)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigurationError):
        RunSpec.from_json(f'{{"source": "dir", "{field}": "{url}"}}')


def test_a_failed_run_record_never_holds_a_redis_password(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task failing with a broker URL in its message: the run record shows it masked."""
    from workers import tasks

    monkeypatch.setenv("FHIRMS_REDIS_URL", redis_url)
    config.settings.cache_clear()
    connections.client.cache_clear()
    try:
        client = make_client(redis_url)
        registry = registry_for(client, settings_for(redis_url))
        registry.create(
            RunInfo(
                run_id="r1",
                status=RunStatus.RUNNING,
                scope_key="s",
                spec_json="{}",
                created_at="2025-01-01T00:00:00Z",
            )
        )
        tasks.fail_run("r1", f"cannot reach redis://:{SECRET}@redis:6379/0")
        info = registry.get("r1")
        assert info is not None and info.status is RunStatus.FAILED
        assert SECRET not in info.error and "redis://:***@redis" in info.error
        stored = b"".join(
            v for k in client.keys("fhirms:run:r1*") if isinstance(v := client.dump(k), bytes)
        )
        assert SECRET.encode() not in stored
        client.close()
    finally:
        config.settings.cache_clear()
        connections.client.cache_clear()


def test_redis_client_errors_do_not_name_the_password(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    bad = make_client(f"redis://:{SECRET}@127.0.0.1:{port}/0")
    try:
        bad.ping()
    except redis.RedisError as exc:
        assert SECRET not in str(exc)
    finally:
        bad.close()
