"""The worker infrastructure with real Redis and real ``celery worker`` processes.

The stages are the tiny fake pipeline of ``tests/support/fake_pipeline.py`` (so failures can
be injected at an exact step); assertions are on what the run left behind: its output files,
how many times each step really executed, and its record in Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from fhir_microsystems._errors import FatalError
from fhir_microsystems.synth import generate
from tests.support.celery_worker import REPO, CeleryWorker, settings_for, wait_for, worker_env
from tests.support.fake_pipeline import Control, RunSpec
from tests.support.redis_server import RedisTestServer
from workers.app import create_app
from workers.cli import dispatch_run
from workers.connections import make_client
from workers.dispatch import resume_run, wait_for_run
from workers.locks import scope_lock_key
from workers.progress import registry_for
from workers.runs import RunInfo, RunStatus
from workers.settings import WorkerSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGES = ("plan", "extract", "derive", "measure", "finalize")


@pytest.fixture
def cfg(redis_url: str) -> WorkerSettings:
    return settings_for(redis_url)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = make_client(redis_url)
    yield c
    c.close()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def worker(redis_url: str, logs: Path, concurrency: int = 1) -> CeleryWorker:
    return CeleryWorker(redis_url, logs, concurrency=concurrency, fake_pipeline=True)


def fake_spec(out: Path, extracts: int = 3, measures: int = 4) -> RunSpec:
    return RunSpec(source=f"fake://{extracts}/{measures}", out_dir=str(out))


def run(cfg: WorkerSettings, spec: RunSpec, wait: bool = True) -> dict[str, Any]:
    return dispatch_run(spec, wait=wait, settings=cfg, show_progress=False, timeout=180)


def wait_done(client: redis.Redis, cfg: WorkerSettings, run_id: str) -> RunInfo:
    return wait_for_run(client, cfg, run_id, timeout=180, poll_seconds=0.2)


def parts(out: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((out / "result.json").read_text())["parts"]
    return data


def executions(out: Path) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for step in Control(out).executions():
        counts[step] = counts.get(step, 0) + 1
    return counts


def every_step_once(extracts: int = 3, measures: int = 4) -> dict[tuple[str, str], int]:
    steps = [("plan", "-"), ("derive", "-"), ("finalize", "-")]
    steps += [("extract", f"p{i}") for i in range(extracts)]
    steps += [("measure", f"m{j}") for j in range(measures)]
    return dict.fromkeys(steps, 1)


def cli_status(redis_url: str, run_id: str) -> dict[str, Any]:
    """``python -m workers status RUN --json`` as a user would run it."""
    proc = subprocess.run(
        [sys.executable, "-m", "workers", "status", run_id, "--json"],
        cwd=REPO,
        env=worker_env(redis_url, {"COLUMNS": "200"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_run_completes_and_status_is_readable_while_running_and_after(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("gate", "measure", "m0")
    with worker(redis_url, logs, concurrency=2):
        run_id = run(cfg, fake_spec(out), wait=False)["run"]["run_id"]
        wait_for(lambda: control.has("started", "measure", "m0"), 120, "measure m0 to start")
        during = cli_status(redis_url, run_id)
        control.clear("gate", "measure", "m0")
        info = wait_done(client, cfg, run_id)
    assert during["status"] == "running"
    assert during["progress"]["extract_done"] == 3
    assert during["progress"]["partitions_done"] < during["progress"]["partitions_total"]
    assert info.status is RunStatus.SUCCEEDED
    after = cli_status(redis_url, run_id)
    assert after["status"] == "succeeded"
    assert after["progress"] | {"stage": "done"} == {
        "stage": "done",
        "extract_total": 3,
        "extract_done": 3,
        "measure_total": 4,
        "measure_done": 4,
        "resources_read": 30,
        "reports_written": 4,
        "findings": 3,
        "retries": 0,
        "partitions_total": 7,
        "partitions_done": 7,
        "export": "",  # no Bulk export in this run
    }
    assert after["summary"]["ids"] == [f"MeasureReport/m{j}" for j in range(4)]
    assert [p["total"] for p in parts(out)] == [30] * 4
    assert executions(out) == every_step_once()
    assert client.get(scope_lock_key(fake_spec(out).scope_key())) is None
    assert client.keys(f"fhirms:{run_id}:*") == []  # claim checks deleted on success


def test_kill_9_of_a_pool_process_requeues_its_task(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("gate", "measure", "m1")
    with worker(redis_url, logs, concurrency=2) as w:
        run_id = run(cfg, fake_spec(out), wait=False)["run"]["run_id"]
        started = control.path("started", "measure", "m1")
        wait_for(started.exists, 120, "measure m1 to start")
        w.kill_child(int(started.read_text()))
        wait_for(lambda: control.count("measure", "m1") == 2, 120, "m1 to be redelivered")
        control.clear("gate", "measure", "m1")
        info = wait_done(client, cfg, run_id)
        assert w.running
    assert info.status is RunStatus.SUCCEEDED, info.error
    assert len(parts(out)) == 4
    assert info.progress.reports_written == 4 and info.progress.measure_done == 4
    assert executions(out) == every_step_once() | {("measure", "m1"): 2}


def test_kill_9_of_the_whole_worker_redelivers_to_a_new_worker(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    calm, out = tmp_path / "calm", tmp_path / "out"
    with worker(redis_url, logs):
        run(cfg, fake_spec(calm))
    control = Control(out)
    control.set("gate", "measure", "m1")
    first = worker(redis_url, logs)
    first.start()
    try:
        run_id = run(cfg, fake_spec(out), wait=False)["run"]["run_id"]
        wait_for(lambda: control.has("started", "measure", "m1"), 120, "measure m1 to start")
        first.kill()  # main process and pool: nothing acknowledged, nothing requeued by it
    finally:
        first.stop()
    control.clear("gate", "measure", "m1")
    with worker(redis_url, logs):
        info = wait_done(client, cfg, run_id)
    assert info.status is RunStatus.SUCCEEDED, info.error
    assert parts(out) == parts(calm)
    assert info.progress.reports_written == 4
    assert executions(out) == every_step_once() | {("measure", "m1"): 2}


def test_a_task_that_kills_its_worker_each_time_fails_after_max_deliveries(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    Control(out).set("killalways", "measure", "m0")
    with worker(redis_url, logs) as w:
        with pytest.raises(FatalError, match="failed") as raised:
            run(cfg, fake_spec(out))
        assert w.running
    run_id = raised.value.details["run_id"]
    info = registry_for(client, cfg).get(run_id)
    assert info is not None and info.status is RunStatus.FAILED
    assert "fhirms.measure[m0]" in info.error and "DeliveryLimitError" in info.error
    assert Control(out).count("measure", "m0") == cfg.max_deliveries
    assert not (out / "result.json").exists()
    assert client.get(scope_lock_key(fake_spec(out).scope_key())) is None


def test_completed_tasks_delivered_again_are_no_ops(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    app = create_app(cfg, include_tasks=False)
    try:
        with worker(redis_url, logs, concurrency=2):
            summary = run(cfg, fake_spec(out))
            run_id = summary["run"]["run_id"]
            before = registry_for(client, cfg).get(run_id)
            result_bytes = (out / "result.json").read_bytes()
            again = [
                app.send_task("fhirms.extract", args=[run_id, "p0"]),
                app.send_task("fhirms.measure", args=[run_id, "m1"]),
                app.send_task("fhirms.derive", args=[run_id, 1]),
                app.send_task("fhirms.finalize", args=[run_id, 1]),
                app.send_task("fhirms.start", args=[run_id, 1]),
            ]
            results = [r.get(timeout=120) for r in again]
    finally:
        app.close()
    assert results[0] == {"resources": 10, "findings": 1, "retries": 0}
    assert results[1] == {"reports": 1, "findings": 0}
    assert all("skipped" in r for r in results[2:])
    assert executions(out) == every_step_once()
    assert (out / "result.json").read_bytes() == result_bytes
    assert registry_for(client, cfg).get(run_id) == before


def test_temporary_faults_are_retried_and_counted(
    redis_url: str, cfg: WorkerSettings, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("fail", "extract", "p1", "2")
    control.set("fail", "measure", "m2", "1")
    with worker(redis_url, logs, concurrency=2):
        summary = run(cfg, fake_spec(out))
    assert summary["run"]["status"] == "succeeded"
    assert summary["run"]["progress"]["retries"] >= 3
    assert len(parts(out)) == 4
    assert executions(out) == every_step_once() | {("extract", "p1"): 3, ("measure", "m2"): 2}


def test_fatal_fault_fails_the_run_clearly_and_resume_finishes_it(
    redis_url: str, cfg: WorkerSettings, client: redis.Redis, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("fatal", "measure", "m2")
    app = create_app(cfg, include_tasks=False)
    try:
        with worker(redis_url, logs, concurrency=2):
            with pytest.raises(FatalError, match="injected fatal fault") as raised:
                run(cfg, fake_spec(out))
            run_id = raised.value.details["run_id"]
            failed = registry_for(client, cfg).get(run_id)
            assert failed is not None and failed.status is RunStatus.FAILED
            assert "fhirms.measure[m2]" in failed.error
            assert client.get(scope_lock_key(fake_spec(out).scope_key())) is None
            assert client.exists(f"fhirms:{run_id}:cc:derived")  # kept for the resume
            control.clear("fatal", "measure", "m2")
            resume_run(app, client, cfg, run_id)
            info = wait_done(client, cfg, run_id)
    finally:
        app.close()
    assert info.status is RunStatus.SUCCEEDED and info.attempt == 2
    assert info.progress.measure_done == 4 and info.progress.reports_written == 4
    assert len(parts(out)) == 4
    # finished partitions were not redone; only the failed one ran again
    assert executions(out) == every_step_once() | {("measure", "m2"): 2}


def test_runs_of_one_scope_started_together_coalesce(
    redis_url: str, cfg: WorkerSettings, logs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("gate", "plan", "-")
    summaries: list[dict[str, Any]] = []

    def start() -> None:
        summaries.append(run(cfg, fake_spec(out)))

    with worker(redis_url, logs, concurrency=2):
        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: control.has("started", "plan", "-"), 120, "the plan to start")
        control.clear("gate", "plan", "-")
        for t in threads:
            t.join(timeout=180)
    assert len(summaries) == 3
    assert len({s["run"]["run_id"] for s in summaries}) == 1
    assert sorted(s["run"]["coalesced"] for s in summaries) == [False, True, True]
    assert executions(out) == every_step_once()


def test_redis_restart_mid_run_loses_and_duplicates_nothing(
    redis_server: RedisTestServer,
    redis_url: str,
    cfg: WorkerSettings,
    client: redis.Redis,
    logs: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    control = Control(out)
    control.set("gate", "measure", "m1")
    with worker(redis_url, logs, concurrency=2) as w:
        run_id = run(cfg, fake_spec(out), wait=False)["run"]["run_id"]
        wait_for(lambda: control.has("started", "measure", "m1"), 120, "measure m1 to start")
        redis_server.restart()
        control.clear("gate", "measure", "m1")
        info = wait_done(client, cfg, run_id)
        assert w.running
    assert info.status is RunStatus.SUCCEEDED, info.error
    assert len(parts(out)) == 4
    assert info.progress.measure_done == 4 and info.progress.reports_written == 4
    counts = executions(out)
    assert all(counts[step] == 1 for step in every_step_once() if step != ("measure", "m1"))


def test_queued_tasks_survive_a_redis_restart(
    redis_server: RedisTestServer,
    redis_url: str,
    cfg: WorkerSettings,
    client: redis.Redis,
    logs: Path,
    tmp_path: Path,
) -> None:
    runs = {}
    for i in range(20):
        out = tmp_path / f"out{i}"
        runs[out] = run(cfg, fake_spec(out, 1, 1), wait=False)["run"]["run_id"]
    queued = int(client.llen("fhirms"))
    redis_server.restart()  # appendonly yes: the queue is on disk
    assert int(client.llen("fhirms")) == queued == 20
    with worker(redis_url, logs, concurrency=2):
        infos = [wait_done(client, cfg, run_id) for run_id in runs.values()]
    assert all(i.status is RunStatus.SUCCEEDED for i in infos)
    for out in runs:
        assert [p["partition"] for p in parts(out)] == ["m0"]


def test_worker_cli_execs_celery(redis_url: str, tmp_path: Path) -> None:
    """``python -m workers worker`` replaces itself by a Celery worker that serves runs (the
    library's stages: a production worker has no fake installed)."""
    source = tmp_path / "hospital"
    generate(source, seed=5, patients=40, months=1)
    env = worker_env(redis_url, {"FHIRMS_WORKER_CONCURRENCY": "1"})
    log_path = tmp_path / "cli-worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers", "worker", "--without-mingle"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: b" ready." in log_path.read_bytes(), 90, "the CLI worker")
        out = tmp_path / "out"
        summary = run(settings_for(redis_url), RunSpec(source=str(source), out_dir=str(out)))
        assert summary["run"]["status"] == "succeeded"
        assert (out / "MeasureReport.ndjson").stat().st_size > 0
        assert not Control(out).executions()  # no fake stage ran
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
