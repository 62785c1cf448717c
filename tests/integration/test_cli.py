"""The command line as a user runs it: ``run`` in-process and ``run --celery`` agree."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from fhir_microsystems.synth import generate
from tests.support.celery_worker import CeleryWorker, worker_env
from tests.support.redis_server import RedisTestServer

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fhir_microsystems.cli"]
OUTPUTS = ("CareTeam", "Group", "MeasureReport")


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_embedded_default_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    result = _cli(["run"], env, tmp_path)
    out = tmp_path / "out"
    for name in OUTPUTS:
        assert (out / f"{name}.ndjson").stat().st_size > 0
    demo = tmp_path / "cache" / "fhir-microsystems"
    assert [p.name for p in demo.glob("demo-*/ground-truth.json")] == ["ground-truth.json"]
    assert sorted(p.name for p in out.iterdir()) == [
        "CareTeam.ndjson",
        "Group.ndjson",
        "MeasureReport.ndjson",
        "dashboard",
        "findings.ndjson",
        "spc.csv",
        "summary.json",
    ]
    assert (out / "dashboard" / "index.html").is_file()
    assert "Clinical microsystems" in result.stdout
    assert "Emergency Department" in result.stdout


def test_celery_mode_writes_the_same_resources(
    tmp_path: Path, redis_server: RedisTestServer, redis_url: str
) -> None:
    source = tmp_path / "hospital"
    generate(source, seed=3, patients=150, months=2)
    env = worker_env(redis_url)
    _cli(["run", "--source", str(source), "--out", str(tmp_path / "local")], env, tmp_path)
    with CeleryWorker(redis_url, tmp_path / "logs", concurrency=2):
        result = _cli(
            ["run", "--celery", "--source", str(source), "--out", str(tmp_path / "celery")],
            env,
            tmp_path,
        )
        status = _cli(["status"], env, tmp_path)
    for name in OUTPUTS:
        local = (tmp_path / "local" / f"{name}.ndjson").read_bytes()
        assert local
        assert (tmp_path / "celery" / f"{name}.ndjson").read_bytes() == local, name
    assert "Clinical microsystems" in result.stdout
    assert "succeeded" in status.stdout


def test_synth_base_url_names_the_target_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    base = "https://fhir.example.org/R4"
    _cli(
        ["synth", "--out", "h", "--patients", "60", "--months", "1", "--base-url", base + "/"],
        env,
        tmp_path,
    )
    encounters = (tmp_path / "h" / "Encounter.ndjson").read_text()
    assert f'"{base}/Practitioner/' in encounters
    assert "synthetic-hospital.example" not in encounters
    assert f'"{base}/$export"' in (tmp_path / "h" / "manifest.json").read_text()


def test_demo_then_another_source_into_the_same_out(tmp_path: Path) -> None:
    """The demo and then ``--source`` into the default ``./out``: only the second run's files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    source = tmp_path / "mine"
    generate(source, seed=5, patients=80, start=date(2024, 3, 1), months=2)
    used, fresh = tmp_path / "used", tmp_path / "fresh"
    used.mkdir()
    fresh.mkdir()
    _cli(["run"], env, used)
    _cli(["run", "--source", str(source)], env, used)
    _cli(["run", "--source", str(source)], env, fresh)
    names = sorted(p.name for p in (used / "out").iterdir())
    assert names == sorted(p.name for p in (fresh / "out").iterdir())
    for name in names:
        if name.endswith(".ndjson"):
            assert (used / "out" / name).read_bytes() == (fresh / "out" / name).read_bytes(), name
    careteams = (used / "out" / "CareTeam.ndjson").read_text()
    assert "2025-" not in careteams  # nothing of the demo's 2025 hospital is left
