"""Celery tasks of a run read by Bulk Data ``$export``: kick-off, polls, one task per file.

A run whose record holds a ``bulk_job`` (:class:`fhir_microsystems.bulk_runs.BulkJob`) starts
with ``export_poll``: it kicks off the export, or polls the one whose status URL is kept in
Redis (:mod:`workers.export_state`), and while the export runs it sends itself again with
``countdown`` = ``Retry-After`` (a worker never sleeps), recording ``X-Progress`` in the run
(``status`` shows it) until ``bulk_max_wait_seconds`` have been waited. When the manifest is
complete, ``chord(export_file per file) -> export_install``: install writes the run's
directory and sends ``fhirms.start`` again, which now plans and extracts that directory. An
expired link (410/404) makes install start a fresh export (at most ``MAX_RESTARTS`` times).

Polls of one attempt carry a sequence number (the run's ``export_seq``): a poll redelivered
after its successor was sent is a no-op, and of two copies of one poll (an ETA message handed
out again) only the one that claims it runs, so one export is polled by one chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from celery import Task
from celery.utils.log import get_task_logger

from fhir_microsystems._errors import FatalError, TemporaryFhirError
from fhir_microsystems.bulk_runs import BulkJob, bulk_policy, finish_export, start_export
from fhir_microsystems.client._bulk import BulkClient, ExportExpiredError, check_wait
from fhir_microsystems.connect import make_client
from fhir_microsystems.exporting import (
    discard_export,
    download_file,
    file_jobs,
    keep_manifest,
    kept_manifest,
    staging_directory,
)
from workers.app import app
from workers.config import settings
from workers.connections import client
from workers.export_state import RedisExportState
from workers.tasks import (
    RunTask,
    _fan_out,
    _scope_lock,
    _skippable,
    active_run,
    fail_run,
    registry,
)

log = get_task_logger(__name__)

Result = dict[str, Any]
#: Fresh kick-offs after expired links, per run attempt.
MAX_RESTARTS = 2


def bulk_job(run_id: str) -> BulkJob | None:
    """The run's bulk read, if it has one."""
    raw = registry().get_field(run_id, "bulk_job")
    return BulkJob.from_json(raw) if raw else None


def export_pending(run_id: str) -> bool:
    """Whether the run reads by bulk and its export is not installed yet."""
    return bulk_job(run_id) is not None and registry().marker(run_id, "export", "-") is None


def send_first_poll(run_id: str, attempt: int) -> None:
    """Start (or resume) the export of a run's attempt: a new poll chain (the next sequence
    number: every earlier poll is superseded)."""
    reg = registry()
    seq = int(reg.get_field(run_id, "export_seq") or -1) + 1
    reg.set_fields(run_id, stage="export", export_seq=seq, export_waited=0, export_polls=0)
    export_poll.si(run_id, attempt, seq).apply_async()


def _state(job: BulkJob) -> RedisExportState:
    cfg = settings()
    return RedisExportState(client(), Path(job.directory).name, cfg.run_record_ttl_seconds)


def _require(run_id: str) -> BulkJob:
    job = bulk_job(run_id)
    if job is None:
        raise FatalError(f"run {run_id} has no bulk export", run_id=run_id)
    return job


@app.task(bind=True, base=RunTask, name="fhirms.export_poll")  # type: ignore[untyped-decorator]
@_skippable
def export_poll(self: Task, run_id: str, attempt: int, seq: int) -> Result:
    """Kick off or poll the run's export once; reschedule, or fan out the downloads."""
    info = active_run(run_id, attempt)
    reg = registry()
    if reg.get_field(run_id, "export_seq") != str(seq):
        return {"skipped": f"poll {seq} superseded"}
    claim = f"fhirms:run:{run_id}:poll:{attempt}:{seq}"  # two copies of one poll: one runs
    if not client().set(
        claim, self.request.id or "-", nx=True, ex=settings().task_time_limit_seconds
    ):
        return {"skipped": f"poll {seq} already running"}
    _scope_lock(info).refresh()  # an export may take hours
    job = _require(run_id)
    cfg = settings()
    state = _state(job)
    with make_client(job.location, cfg) as fhir:
        status_url, now = start_export(fhir, job, cfg, state)
        if now != job:
            reg.set_fields(run_id, bulk_job=now.to_json())
        bulk = BulkClient(fhir, bulk_policy(cfg))
        polls = int(reg.get_field(run_id, "export_polls") or 0) + 1
        try:
            step = bulk.poll(status_url, polls)
        except ExportExpiredError:
            state.clear()  # the export vanished: the next poll kicks off a new one
            return _restart(run_id, attempt, job, status_url, "the export is gone")
    if step.manifest is None:
        waited = float(reg.get_field(run_id, "export_waited") or 0)
        try:
            check_wait(bulk.policy, waited, step, status_url)
        except TemporaryFhirError as exc:
            fail_run(run_id, f"bulk export: {exc} (resume the run)")
            return {"failed": "max wait"}
        reg.set_fields(
            run_id,
            export=step.progress or f"HTTP {step.status}",
            export_waited=f"{waited + step.delay:.1f}",
            export_polls=polls,
            export_seq=seq + 1,
        )
        export_poll.si(run_id, attempt, seq + 1).apply_async(countdown=step.delay)
        return {"poll": seq, "next_in": step.delay}
    keep_manifest(Path(job.directory), status_url, step.manifest)
    reg.set_fields(run_id, export="complete: downloading", export_seq=seq + 1)
    restarts = int(reg.get_field(run_id, "export_restarts") or 0)
    files = len(file_jobs(step.manifest))
    _fan_out(
        run_id,
        f"export-{restarts}",
        attempt,
        [export_file.si(run_id, attempt, n) for n in range(files)],
        export_install.si(run_id, attempt),
    )
    return {"files": files}


def _restart(run_id: str, attempt: int, job: BulkJob, status_url: str, why: str) -> Result:
    reg = registry()
    restarts = int(reg.get_field(run_id, "export_restarts") or 0) + 1
    if restarts > MAX_RESTARTS:
        fail_run(run_id, f"bulk export: {why}, {restarts - 1} fresh exports tried")
        return {"failed": why}
    log.warning("run %s: %s; starting a new export", run_id, why)
    discard_export(Path(job.directory), status_url, _state(job))
    reg.set_fields(run_id, export_restarts=restarts, export_expired="")
    send_first_poll(run_id, attempt)
    return {"restarted": restarts}


def _status_and_manifest(job: BulkJob, fhir: Any) -> tuple[str, Any]:
    request, _ = job.request()
    status_url = _state(job).load(request.url(fhir.base_url))
    manifest = kept_manifest(Path(job.directory), status_url) if status_url else None
    if status_url is None or manifest is None:
        raise FatalError("the bulk export's status or manifest was lost; resume the run")
    return status_url, manifest


@app.task(bind=True, base=RunTask, name="fhirms.export_file")  # type: ignore[untyped-decorator]
@_skippable
def export_file(self: Task, run_id: str, attempt: int, index: int) -> Result:
    """Download one file of the complete export into the run's export directory."""
    active_run(run_id, attempt)
    job = _require(run_id)
    cfg = settings()
    with make_client(job.location, cfg) as fhir:
        status_url, manifest = _status_and_manifest(job, fhir)
        staging = staging_directory(Path(job.directory), status_url)
        try:
            size = download_file(BulkClient(fhir, bulk_policy(cfg)), manifest, staging, index)
        except ExportExpiredError:
            registry().set_fields(run_id, export_expired="1")
            return {"expired": index}
    return {"file": index, "bytes": size}


@app.task(bind=True, base=RunTask, name="fhirms.export_install")  # type: ignore[untyped-decorator]
@_skippable
def export_install(self: Task, run_id: str, attempt: int) -> Result:
    """Install the downloaded export (or start a fresh one if a link expired); then plan."""
    active_run(run_id, attempt)
    reg = registry()
    if reg.marker(run_id, "export", "-") is not None:  # redelivered after installing
        app.signature("fhirms.start", args=(run_id, attempt)).apply_async()
        return {"skipped": "installed"}
    job = bulk_job(run_id) or _require(run_id)
    cfg = settings()
    with make_client(job.location, cfg) as fhir:
        status_url, manifest = _status_and_manifest(job, fhir)
        if reg.get_field(run_id, "export_expired"):
            return _restart(run_id, attempt, job, status_url, "export links expired")
        report = finish_export(fhir, job, cfg, manifest, status_url, _state(job))
    summary = {
        "transaction_time": report.transaction_time,
        "since": report.since,
        "files": report.files,
        "resources": dict(report.resources),
        "deleted": report.deleted,
    }
    # the export's error files are findings of the NDJSON read (counted by extract)
    reg.complete(run_id, "export", "-", json.dumps(summary), {})
    reg.set_fields(run_id, export=f"installed: {report.files} files")
    app.signature("fhirms.start", args=(run_id, attempt)).apply_async()
    return summary


__all__ = ["bulk_job", "export_file", "export_install", "export_pending", "export_poll"]
