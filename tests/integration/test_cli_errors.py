"""Every user mistake on the command line: one line naming the value, a documented exit code,
never a traceback (README "Command line")."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from fhir_microsystems.synth import generate
from tests.support.redis_server import RedisTestServer, free_port

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fhir_microsystems.cli"]
USAGE, TEMPORARY = 2, 75

#: (arguments, extra environment, exit code, what the one line of stderr must say)
CASES: list[tuple[list[str], dict[str, str], int, str]] = [
    (
        ["run", "--start", "2025-13-01"],
        {},
        USAGE,
        "'--start': '2025-13-01' is not a date: expected YYYY-MM-DD",
    ),
    (
        ["run", "--start", "01/02/2025"],
        {},
        USAGE,
        "'01/02/2025' is not a date: expected YYYY-MM-DD",
    ),
    (["run", "--end", "2025-02-30"], {}, USAGE, "'2025-02-30' is not a date"),
    (
        ["run", "--since", "yesterday"],
        {},
        USAGE,
        "'--since': 'yesterday' is not an instant: expected ISO 8601",
    ),
    (
        ["run", "--start", "2025-03-01", "--end", "2025-02-01"],
        {},
        USAGE,
        "'--end': '2025-02-01' is not after --start '2025-03-01'",
    ),
    (["run", "--period", "week"], {}, USAGE, "'week' is not one of 'month', 'quarter', 'year'"),
    (["run", "--source", "nope"], {}, USAGE, "source 'nope' is neither a directory nor"),
    (["synth", "--out", "s", "--start", "2025-1-1"], {}, USAGE, "'2025-1-1' is not a date"),
    (["synth", "--out", "s", "--patients", "0"], {}, USAGE, "'--patients': 0 is too small"),
    (["synth", "--out", "s", "--months", "-1"], {}, USAGE, "'--months': -1 is too small"),
    (
        ["synth", "--out", "s", "--noise", "5"],
        {},
        USAGE,
        "'--noise': 5 is out of range: expected a number from 0 to 1",
    ),
    (["load", "--source", "nope", "--sink", "http://x"], {}, USAGE, "'nope' does not exist"),
    (["frobnicate"], {}, USAGE, "No such command 'frobnicate'"),
    (
        ["run"],
        {"FHIRMS_LOG_LEVEL": "verbose"},
        USAGE,
        "setting FHIRMS_LOG_LEVEL='verbose': expected one of DEBUG, INFO, WARNING, ERROR",
    ),
    (
        ["run"],
        {"FHIRMS_PAGE_SIZE": "many"},
        USAGE,
        "setting FHIRMS_PAGE_SIZE='many': Input should be a valid integer",
    ),
]


def _env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env | extra


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and 'File "' not in shown, shown
    assert result.returncode == code, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), shown
    assert message in lines[-1], shown
    assert "derive:" not in shown and "extract:" not in shown


@pytest.mark.parametrize(("args", "extra", "code", "message"), CASES, ids=str)
def test_a_bad_invocation_is_one_line(
    tmp_path: Path, args: list[str], extra: dict[str, str], code: int, message: str
) -> None:
    result = _cli(args, _env(tmp_path, extra), tmp_path)
    _assert_one_line(result, code, message)
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_load_to_a_closed_port_says_connection_refused_once(tmp_path: Path) -> None:
    source = tmp_path / "hospital"
    generate(source, seed=4, patients=20, months=1)
    env = _env(tmp_path, {"FHIRMS_MAX_RETRIES": "2"})
    sink = f"http://127.0.0.1:{free_port()}"
    result = _cli(["load", "--source", str(source), "--sink", sink], env, tmp_path)
    _assert_one_line(result, TEMPORARY, "connection refused")
    assert (result.stdout + result.stderr).count("connection refused") == 1


def test_unknown_runs_and_an_unreachable_redis(tmp_path: Path, redis_url: str) -> None:
    env = _env(tmp_path, {"FHIRMS_REDIS_URL": redis_url})
    closed = _env(tmp_path, {"FHIRMS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    runs = [(["resume", "abc"], env), (["status", "abc"], env)]
    runs += [(["resume", "abc"], closed), (["status"], closed)]
    # At once: each command against the closed port rides out ~30 s of outage before it fails.
    with ThreadPoolExecutor(len(runs)) as pool:
        unknown_resume, unknown_status, *unreachable = pool.map(
            lambda run: _cli(run[0], run[1], tmp_path), runs
        )
    for result in (unknown_resume, unknown_status):
        _assert_one_line(result, USAGE, "unknown run abc")
    for result in unreachable:
        _assert_one_line(result, TEMPORARY, "cannot reach Redis at redis://127.0.0.1:")
        assert "(FHIRMS_REDIS_URL): connection refused" in result.stderr


def test_celery_run_without_a_worker_gives_up_and_frees_its_lock(
    tmp_path: Path, redis_server: RedisTestServer, redis_url: str
) -> None:
    source = tmp_path / "hospital"
    generate(source, seed=4, patients=20, months=1)
    env = _env(tmp_path, {"FHIRMS_REDIS_URL": redis_url, "FHIRMS_WORKER_WAIT_SECONDS": "1"})
    args = ["run", "--celery", "--source", str(source), "--out", str(tmp_path / "out")]
    result = _cli(args, env, tmp_path)
    _assert_one_line(result, TEMPORARY, "no Celery worker took the run within 1 s")
    first = result.stderr.splitlines()[0]
    assert first.startswith("run ") and " queued; status: fhir-microsystems status " in first
    run_id = first.split()[1]
    assert f"fhir-microsystems resume {run_id}" in result.stderr
    client: redis.Redis = redis_server.client()
    try:
        assert list(client.scan_iter("fhirms:lock:*")) == []
    finally:
        client.close()
    status = _cli(["status", run_id], env, tmp_path)
    assert status.returncode == 1 and "failed" in status.stdout
    assert "no Celery worker took the run" in status.stdout
