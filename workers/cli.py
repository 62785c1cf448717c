"""CLI commands of the workers, registered by ``fhir_microsystems.cli`` (and ``python -m workers``).

``worker`` and ``beat`` exec Celery's own programs with this project's defaults (extra
arguments pass through); ``status`` and ``resume`` read and restart runs; ``dispatch_run`` is
what ``fhir-microsystems run --celery`` calls.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from fhir_microsystems._errors import FatalError, TemporaryError
from fhir_microsystems._progress import ProgressDisplay
from fhir_microsystems.client import redact_url
from workers.runs import RunInfo, RunStatus, utc_now
from workers.settings import WorkerSettings

ProgressCallback = Callable[[RunInfo], None]


# -- worker / beat ---------------------------------------------------------------------------


def worker_argv(
    cfg: WorkerSettings,
    extra: Sequence[str] = (),
    *,
    concurrency: int | None = None,
    loglevel: str | None = None,
    pid: int | None = None,
) -> list[str]:
    """``celery -A workers.app worker`` with defaults; ``extra`` comes last (and wins)."""
    from workers.config import QUEUE

    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--loglevel",
        loglevel or cfg.log_level,
        "--concurrency",
        str(concurrency or cfg.worker_concurrency),
        "--queues",
        QUEUE,
        "--hostname",
        f"fhirms-{pid or os.getpid()}@%h",
        "--without-gossip",
        "--task-events",
        *extra,
    ]


def beat_argv(
    cfg: WorkerSettings, extra: Sequence[str] = (), *, loglevel: str | None = None
) -> list[str]:
    """``celery -A workers.app beat`` with the leader-locked scheduler."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "beat",
        "--loglevel",
        loglevel or cfg.log_level,
        "--scheduler",
        "workers.beat:LeaderScheduler",
        *extra,
    ]


def worker(
    args: Sequence[str] = (), *, concurrency: int | None = None, loglevel: str | None = None
) -> NoReturn:
    """Replace this process by a Celery worker (``args`` go to ``celery worker``); refuse to
    start when encryption is required but no claim-check key is configured."""
    from workers.claim_check import cipher_for

    cfg = WorkerSettings()
    try:
        cipher_for(cfg)
    except FatalError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(78) from None
    argv = worker_argv(cfg, args, concurrency=concurrency, loglevel=loglevel)
    os.execv(argv[0], argv)


def beat(args: Sequence[str] = (), *, loglevel: str | None = None) -> NoReturn:
    """Replace this process by Celery beat (run exactly one; ``args`` go to ``celery beat``)."""
    argv = beat_argv(WorkerSettings(), args, loglevel=loglevel)
    os.execv(argv[0], argv)


# -- status / resume -------------------------------------------------------------------------


def _render(info: RunInfo, summary: str | None) -> Table:
    p = info.progress
    table = Table(title=f"run {info.run_id}", show_header=False)
    rows = [
        ("status", info.status.value),
        ("stage", p.stage),
        *([("export", p.export)] if p.export else []),
        ("attempt", str(info.attempt)),
        ("created", info.created_at),
        ("started", info.started_at or "-"),
        ("finished", info.finished_at or "-"),
        ("partitions", f"{p.partitions_done}/{p.partitions_total}"),
        ("  extract", f"{p.extract_done}/{p.extract_total}"),
        ("  measure", f"{p.measure_done}/{p.measure_total}"),
        ("resources read", str(p.resources_read)),
        ("reports written", str(p.reports_written)),
        ("findings", str(p.findings)),
        ("retries", str(p.retries)),
    ]
    if info.error:
        rows.append(("error", info.error))
    if summary:
        rows.append(("summary", "stored (JSON: python -m workers status RUN_ID --json)"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def status(run_id: str | None = None, as_json: bool = False) -> None:
    """Print a run's status and progress (or the recent runs); exit 1 if failed, 2 if unknown."""
    with reachable(WorkerSettings()):
        _status(run_id, as_json)


def _status(run_id: str | None, as_json: bool) -> None:
    from workers.config import redis_url
    from workers.connections import make_client
    from workers.progress import registry_for

    cfg = WorkerSettings()
    redis_client = make_client(redis_url(cfg), cfg.redis_ca_file)
    registry = registry_for(redis_client, cfg)
    console = Console(width=min(Console().width, 100) if sys.stdout.isatty() else 100)
    try:
        if run_id is None:
            runs = registry.recent(20)
            if as_json:
                console.print_json(json.dumps([r.to_dict() for r in runs]))
                return
            table = Table("run", "status", "stage", "partitions", "reports", "findings", "retries")
            for r in runs:
                p = r.progress
                table.add_row(
                    r.run_id,
                    r.status.value,
                    p.stage,
                    f"{p.partitions_done}/{p.partitions_total}",
                    str(p.reports_written),
                    str(p.findings),
                    str(p.retries),
                )
            console.print(table)
            return
        info = registry.get(run_id)
        if info is None:
            sys.stderr.write(f"error: unknown run {run_id} (never started, or expired)\n")
            raise typer.Exit(2)
        summary = registry.summary(run_id)
        if as_json:
            out = info.to_dict()
            out["summary"] = json.loads(summary) if summary else None
            console.print_json(json.dumps(out))
        else:
            console.print(_render(info, summary))
        if info.status is RunStatus.FAILED:
            raise typer.Exit(1)
    finally:
        redis_client.close()


def resume(run_id: str, force: bool = False, wait: bool = True) -> None:
    """Resume a failed run on the workers (completed partitions are not redone).

    ``force`` restarts a run that looks active (e.g. stuck); ``wait`` shows its progress.
    """
    from workers.app import create_app
    from workers.config import redis_url
    from workers.connections import make_client
    from workers.dispatch import resume_run

    cfg = WorkerSettings()
    app = create_app(cfg, include_tasks=False)
    redis_client = make_client(redis_url(cfg), cfg.redis_ca_file)
    try:
        with reachable(cfg):
            info = resume_run(app, redis_client, cfg, run_id, force=force)
            if wait and not info.status.terminal:
                watch = _queue_watch(app, redis_client, cfg, run_id, None)
                info = _wait(redis_client, cfg, run_id, watch, True, None)
                if info.status is RunStatus.FAILED:
                    sys.stderr.write(f"error: run {run_id} failed again: {info.error}\n")
                    raise typer.Exit(1)
    finally:
        redis_client.close()
        app.close()


# -- dispatch --------------------------------------------------------------------------------


def dispatch_run(
    spec: Any,
    wait: bool = True,
    progress: ProgressCallback | None = None,
    *,
    show_progress: bool = True,
    timeout: float | None = None,
    settings: WorkerSettings | None = None,
    bulk_job: Any = None,
) -> dict[str, Any]:
    """Send ``spec`` (a ``RunSpec``) to the workers; with ``wait``, follow it and return the
    summary of ``finalize`` plus ``"run"`` (run id, status, progress, coalesced).
    ``bulk_job`` (a ``BulkJob``, ``spec.source`` its directory): the workers export it first.

    A run of the same scope already active is joined instead of started (``coalesced``).
    ``progress`` is called with each :class:`RunInfo` snapshot; ``show_progress`` draws a
    rich progress bar on stderr. Raises :class:`FatalError` if the run fails.
    """
    from workers.app import create_app
    from workers.config import redis_url
    from workers.connections import make_client

    cfg = settings or WorkerSettings()
    app = create_app(cfg, include_tasks=False)
    redis_client = make_client(redis_url(cfg), cfg.redis_ca_file)
    try:
        with reachable(cfg):
            extra = {"bulk_job": bulk_job.to_json()} if bulk_job is not None else None
            return _dispatch(
                app, redis_client, cfg, spec, wait, progress, show_progress, timeout, extra
            )
    finally:
        redis_client.close()
        app.close()


def _dispatch(
    app: Any,
    redis_client: Any,
    cfg: WorkerSettings,
    spec: Any,
    wait: bool,
    progress: ProgressCallback | None,
    show_progress: bool,
    timeout: float | None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    from workers.dispatch import start_run
    from workers.progress import registry_for

    dispatched = start_run(app, redis_client, cfg, spec, extra_fields=extra)
    run = {"run_id": dispatched.run_id, "coalesced": dispatched.coalesced}
    if not wait:
        return {"run": {**run, "status": RunStatus.QUEUED.value}}
    if show_progress:
        joined = "joined (a run of this scope was live)" if dispatched.coalesced else "queued"
        sys.stderr.write(
            f"run {dispatched.run_id} {joined}; "
            f"status: fhir-microsystems status {dispatched.run_id}\n"
        )
        sys.stderr.flush()
    watch = _queue_watch(app, redis_client, cfg, dispatched.run_id, progress)
    info = _wait(redis_client, cfg, dispatched.run_id, watch, show_progress, timeout)
    run.update(status=info.status.value, progress=info.to_dict()["progress"])
    if info.status is RunStatus.FAILED:
        raise FatalError(
            f"run {info.run_id} failed: {info.error} (resume: fhir-microsystems resume "
            f"{info.run_id})",
            run_id=info.run_id,
        )
    raw = registry_for(redis_client, cfg).summary(info.run_id)
    summary: dict[str, Any] = json.loads(raw) if raw else {}
    summary["run"] = run
    summary.setdefault(
        "counts",
        {"resources": info.progress.resources_read, "reports": info.progress.reports_written},
    )
    return summary


@contextmanager
def reachable(cfg: WorkerSettings) -> Iterator[None]:
    """Turn "Redis (the broker) does not answer" into one TemporaryError naming the setting."""
    import kombu.exceptions
    import redis

    try:
        yield
    except (redis.exceptions.ConnectionError, kombu.exceptions.OperationalError) as exc:
        where = redact_url(cfg.redis_url)
        cause = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise TemporaryError(f"cannot reach Redis at {where} (FHIRMS_REDIS_URL): {cause}") from None


def _queue_watch(
    app: Any, redis_client: Any, cfg: WorkerSettings, run_id: str, progress: ProgressCallback | None
) -> ProgressCallback:
    """A progress callback that gives up on a run no worker takes.

    When the run is still queued after ``cfg.worker_wait_seconds`` and no worker answers a
    ping, the run is failed (a late worker then drops its start task), its scope lock freed,
    and a TemporaryError raised; ``resume`` restarts it once a worker runs.
    """
    from workers.locks import RedisLock, scope_lock_key
    from workers.progress import registry_for

    began = time.monotonic()

    def watch(info: RunInfo) -> None:
        if progress is not None:
            progress(info)
        waited = time.monotonic() - began
        if info.status is not RunStatus.QUEUED or waited < cfg.worker_wait_seconds:
            return
        if app.control.ping(timeout=1.0, limit=1):
            return  # workers are there (busy): keep waiting
        reason = f"no Celery worker took the run within {cfg.worker_wait_seconds:g} s"
        registry = registry_for(redis_client, cfg)
        if not registry.transition(
            run_id, RunStatus.FAILED, (RunStatus.QUEUED,), error=reason, finished_at=utc_now()
        ):
            return  # taken meanwhile
        RedisLock(redis_client, scope_lock_key(info.scope_key), 1, token=run_id).release()
        raise TemporaryError(
            f"{reason} (FHIRMS_WORKER_WAIT_SECONDS); run {run_id} is failed and its lock freed: "
            f"start a worker (fhir-microsystems worker), then: fhir-microsystems resume {run_id}",
            run_id=run_id,
        )

    return watch


def _wait(
    redis_client: Any,
    cfg: WorkerSettings,
    run_id: str,
    progress: ProgressCallback | None,
    show_progress: bool,
    timeout: float | None,
) -> RunInfo:
    from workers.dispatch import wait_for_run

    if not show_progress:
        return wait_for_run(redis_client, cfg, run_id, on_progress=progress, timeout=timeout)
    began = time.monotonic()
    with ProgressDisplay() as shown:

        def update(info: RunInfo) -> None:
            p = info.progress
            detail = f"{p.reports_written:,} reports, {p.findings:,} findings"
            if p.retries:
                detail += f", {p.retries:,} retries"
            if p.stage == "export":
                detail = f"bulk export: {p.export or 'kick-off'}"
            if info.status is RunStatus.QUEUED:
                waited = time.monotonic() - began
                detail = (
                    f"waiting for a worker ({waited:.0f} of {cfg.worker_wait_seconds:g} s, "
                    "FHIRMS_WORKER_WAIT_SECONDS)"
                )
            shown.update(
                f"run {run_id} {p.stage}",
                p.partitions_done,
                p.partitions_total,
                p.resources_read,
                detail,
            )
            if progress is not None:
                progress(info)

        return wait_for_run(redis_client, cfg, run_id, on_progress=update, timeout=timeout)


# -- health (container healthchecks) --------------------------------------------------------


def health(target: str = "worker") -> None:
    """Exit 0 if this host's worker answers a ping / a beat leads / Redis answers."""
    from workers.config import redis_url
    from workers.connections import make_client

    cfg = WorkerSettings()
    if target == "worker":
        from workers.app import create_app

        app = create_app(cfg, include_tasks=False)
        try:
            replies = app.control.ping(timeout=5.0) or []
        finally:
            app.close()
        host = socket.gethostname()
        ok = any(name.endswith(f"@{host}") for reply in replies for name in reply)
    elif target in ("beat", "redis"):
        redis_client = make_client(redis_url(cfg), cfg.redis_ca_file)
        try:
            ok = bool(redis_client.ping())
            if target == "beat":
                from workers.beat import LEADER_KEY

                ok = ok and bool(redis_client.exists(LEADER_KEY))
        finally:
            redis_client.close()
    else:
        raise typer.BadParameter("target must be worker, beat or redis")
    if not ok:
        raise typer.Exit(1)


__all__ = [
    "beat",
    "beat_argv",
    "dispatch_run",
    "health",
    "resume",
    "status",
    "worker",
    "worker_argv",
]
