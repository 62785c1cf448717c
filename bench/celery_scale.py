"""Comparison 5: ``run --celery`` on one vs two worker processes (partitioned job).

The bench starts a real ``redis-server`` (loopback, free port, AOF ``everysec`` as a
production broker would run) and real ``celery worker`` processes (``--concurrency 1``
each, via ``tests/support/celery_worker.py``) with production time limits. This process is
the timing driver: it calls ``workers.cli.dispatch_run`` (what ``fhir-microsystems run
--celery`` calls) and times it to the run's end. Worker A stays up; worker B is started
before each two-worker run and stopped after it, so one- and two-worker runs alternate.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import redis

from ._common import Row, Samples, log, ratios, stopwatch
from .data import partitioned, resource_count

#: Production-like settings for the workers and the dispatcher (the test suite's are short).
WORKER_ENV: dict[str, str] = {
    "FHIRMS_VISIBILITY_TIMEOUT_SECONDS": "3600",
    "FHIRMS_TASK_SOFT_TIME_LIMIT_SECONDS": "1500",
    "FHIRMS_TASK_TIME_LIMIT_SECONDS": "1800",
    "FHIRMS_WORKER_MAX_TASKS_PER_CHILD": "100",
    "FHIRMS_LOG_LEVEL": "INFO",
}
RUN_TIMEOUT = 1800.0


#: Comparison 5's goal: two worker processes at least this many times faster than one
#: (issue "A columnar core"; it was 1.6x before).
TWO_WORKER_GOAL = 1.7


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on loopback; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (scripts/bench installs it on Debian/Ubuntu)")
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _dispatch(source: Path, out: Path, cfg: Any) -> tuple[float, dict[str, Any]]:
    from fhir_microsystems.pipeline import RunSpec
    from workers.cli import dispatch_run

    spec = RunSpec(source=str(source), out_dir=str(out))
    with stopwatch() as took:
        summary = dispatch_run(
            spec, wait=True, settings=cfg, show_progress=False, timeout=RUN_TIMEOUT
        )
    status = summary.get("run", {}).get("status")
    if status != "succeeded":
        raise RuntimeError(f"celery run ended {status}: {summary.get('run')}")
    return took[0], summary


def compare_celery(directory: Path, parts: int, repeats: int) -> Row:
    """Row 5 on ``directory`` with its Encounters and Observations split into ``parts``
    partitions each."""
    from fhir_microsystems.pipeline import RunSpec, run_in_process
    from tests.support.celery_worker import CeleryWorker, settings_for

    source = partitioned(directory, parts)
    one: list[float] = []
    two: list[float] = []
    measures = extracts = 0
    steps: list[dict[str, tuple[int, float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-celery-") as tmp:
        work = Path(tmp)
        log("5: reference in-process run on the partitioned input")
        with stopwatch() as took:
            expected = run_in_process(RunSpec(source=str(source), out_dir=str(work / "inproc")))
        inprocess = took[0]
        reports = expected["counts"]["reports"]
        with redis_server(work / "redis") as url:
            cfg = settings_for(url, WORKER_ENV)
            logs = work / "logs"
            with CeleryWorker(url, logs, concurrency=1, env=WORKER_ENV) as first:
                for n in range(repeats):
                    log(f"5: one worker, run {n + 1}/{repeats}")
                    seconds, summary = _dispatch(source, work / f"one-{n}", cfg)
                    _same_reports(summary, reports)
                    measures = summary["run"]["progress"].get("measure_total", 0)
                    extracts = summary["run"]["progress"].get("extract_total", 0)
                    steps.append(task_seconds(first.log(), summary["run"]["run_id"]))
                    one.append(seconds)
                    with CeleryWorker(url, logs, concurrency=1, env=WORKER_ENV):
                        log(f"5: two workers, run {n + 1}/{repeats}")
                        seconds, summary = _dispatch(source, work / f"two-{n}", cfg)
                        _same_reports(summary, reports)
                        two.append(seconds)
    row = Row(
        "5",
        f"`run --celery`, {resource_count(directory):,} resources, {parts} partitions",
        "1 worker",
        Samples.of(one),
        "2 workers",
        Samples.of(two),
        "1 worker / 2 workers",
        ratios(one, two),
        f">= {TWO_WORKER_GOAL:g}x",
    )
    assert row.ratio is not None
    row.met = row.ratio.median >= TWO_WORKER_GOAL
    row.notes.append(
        f"Real redis-server and celery workers (concurrency 1 each); {extracts} extract"
        f" (Encounters and Observations in {parts} files each, Conditions) and {measures}"
        f" measure partitions; {reports:,} MeasureReports per run, as many as an"
        f" in-process run of the same input writes ({inprocess:.1f} s in-process). Times run"
        " from dispatch to the run's end as seen by dispatch_run (status polled every 0.5 s)."
    )
    row.notes.append(_amdahl(steps))
    return row


def task_seconds(log_text: str, run_id: str) -> dict[str, tuple[int, float]]:
    """Tasks and busy seconds per step of one run, from a worker's INFO log."""
    found: dict[str, tuple[int, float]] = {}
    for step, seconds in re.findall(
        rf"run {re.escape(run_id)} (\w+)\[.*?\] done in ([\d.]+)s", log_text
    ):
        count, total = found.get(step, (0, 0.0))
        found[step] = (count + 1, total + float(seconds))
    return found


def _amdahl(steps: list[dict[str, tuple[int, float]]]) -> str:
    """The one-worker runs' busy time per step and the two-worker bound it implies."""
    if not steps or not steps[0]:
        return "No per-step task times found in the worker log."
    names = ("plan", "extract", "derive", "measure", "finalize")
    busy = {name: median(s.get(name, (0, 0.0))[1] for s in steps) for name in names}
    tasks = {name: steps[0].get(name, (0, 0.0))[0] for name in names}
    total = sum(busy.values())
    # Derive waits for every extract, but measures of periods already derived run beside it.
    path = busy["plan"] + busy["extract"] / 2 + busy["derive"] + busy["finalize"]
    floor = max(total / 2, path)
    bound = total / floor if floor else 0.0
    shown = ", ".join(f"{name} {busy[name]:.1f} s ({tasks[name]})" for name in names)
    return (
        f"One-worker busy time per step (tasks; worker log, 0.1 s per task): {shown}."
        " Derive is serial but the measures of periods already derived run beside it, so two"
        f" workers need at least max(half the busy time, plan + extract/2 + derive + finalize)"
        f" = {floor:.1f} s: a bound of about {bound:.2f}x (per-task dispatch overheads are not"
        " in these figures)."
    )


def _same_reports(summary: dict[str, Any], reports: int) -> None:
    got = summary.get("counts", {}).get("reports")
    if got != reports:
        raise RuntimeError(f"celery run wrote {got} MeasureReports, in-process {reports}")


__all__ = ["compare_celery", "redis_server"]
