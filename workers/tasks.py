"""Celery tasks: thin adapters over the library pipeline (plan/extract/derive/measure/finalize).

Tasks take a run id and small strings, re-read the run (spec, partitions) from Redis, and
pass bulk data through the claim-check store. The fan-out is
``start -> chord(extract per partition) -> derive``; derive sends each period's ``measure`` as
soon as that period is derived, and the last of derive and the measures to finish sends
``finalize``. No task ever waits on another's result.

Every step goes through :func:`run_step`: a step already completed is a no-op returning its
recorded result; deliveries of one attempt are counted (a task whose worker is lost each time
is failed after ``max_deliveries``); completion and its progress increments are recorded in
one atomic script, so a redelivered step never counts twice.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from celery import Task, chord
from celery.utils.log import get_task_logger

from fhir_microsystems._errors import FatalError, TemporaryError
from fhir_microsystems.bulk_runs import plan_bulk
from fhir_microsystems.periods import Granularity, period_containing
from fhir_microsystems.pipeline import RunSpec
from workers.app import app
from workers.claim_check import ClaimCheckCipher, RedisStore, cipher_for
from workers.config import mask_url, settings
from workers.connections import REDIS_TRANSIENT, client
from workers.dispatch import ACTIVE, start_run
from workers.locks import RedisLock, scope_lock_key
from workers.progress import RunRegistry, registry_for
from workers.runs import RunInfo, RunStatus, utc_now
from workers.stages import pipeline
from workers.watermarks import Watermarks, format_instant, with_overlap

log = get_task_logger(__name__)

Result = dict[str, Any]


class DeliveryLimitError(FatalError):
    """A task was delivered ``max_deliveries`` times without finishing (worker lost each time)."""


class RunNotActiveError(Exception):
    """The run finished, failed or was superseded: the step is skipped."""


def registry() -> RunRegistry:
    return registry_for(client(), settings())


def store(run_id: str) -> RedisStore:
    cfg = settings()
    return RedisStore(client(), run_id, cfg.claim_check_ttl_seconds, _cipher())


@functools.cache
def _cipher() -> ClaimCheckCipher | None:
    return cipher_for(settings())


def _partition_of(args: tuple[Any, ...] | list[Any]) -> str:
    return str(args[1]) if len(args) > 1 and isinstance(args[1], str) else "-"


class RunTask(Task):  # type: ignore[misc]
    """Base of every run task: late acks, bounded retries with back-off and jitter."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (TemporaryError, *REDIS_TRANSIENT)
    retry_backoff = 2
    retry_backoff_max = settings().retry_backoff_max_seconds
    retry_jitter = True
    max_retries = settings().task_max_retries

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if args:
            registry().incr(str(args[0]), "retries")
        log.warning("%s[%s] retrying after %s", self.name, _partition_of(args), type(exc).__name__)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if args:
            detail = mask_url(str(exc))[:300]
            fail_run(
                str(args[0]),
                f"{self.name}[{_partition_of(args)}] failed: {type(exc).__name__}: {detail}",
            )


def fail_run(run_id: str, error: str) -> None:
    """Mark an active run failed (sticky until resumed) and free its scope."""
    reg = registry()
    info = reg.get(run_id)
    if info is None:
        return
    error = mask_url(error)
    if reg.transition(run_id, RunStatus.FAILED, ACTIVE, error=error, finished_at=utc_now()):
        log.error("run %s failed: %s", run_id, error)
        _scope_lock(info).release()


def _scope_lock(info: RunInfo) -> RedisLock:
    cfg = settings()
    return RedisLock(
        client(), scope_lock_key(info.scope_key), cfg.scope_lock_ttl_seconds, token=info.run_id
    )


def active_run(run_id: str, attempt: int | None = None) -> RunInfo:
    """The run if it may still progress (and ``attempt`` is current); else RunNotActiveError."""
    info = registry().get(run_id)
    if info is None:
        raise FatalError(f"unknown run {run_id} (never registered, or expired)", run_id=run_id)
    if info.status.terminal:
        raise RunNotActiveError(f"run {run_id} is {info.status.value}")
    if attempt is not None and attempt < info.attempt:
        raise RunNotActiveError(f"attempt {attempt} of run {run_id} superseded by {info.attempt}")
    return info


def run_step(
    task: Task,
    run_id: str,
    step: str,
    partition: str,
    work: Callable[[RunSpec, RedisStore], Result],
    counters: Callable[[Result], Mapping[str, int]],
) -> Result:
    """Run ``work(spec, store)`` once per (run, step, partition); see the module docstring."""
    reg = registry()
    done = reg.marker(run_id, step, partition)
    if done is not None:
        log.info("run %s %s[%s] already done: no-op", run_id, step, partition)
        return dict(json.loads(done))
    info = active_run(run_id)
    deliveries = reg.count_delivery(task.request.id, int(task.request.retries or 0))
    limit = settings().max_deliveries
    if deliveries > limit:
        raise DeliveryLimitError(
            f"delivered {deliveries} times without finishing (its worker was lost each time: "
            f"killed, out of memory, or past the hard time limit); limit {limit}",
            step=step,
        )
    if not _scope_lock(info).refresh():
        log.warning("run %s does not hold its scope lock any more (expired?)", run_id)
    spec = RunSpec.from_json(info.spec_json)
    began = time.monotonic()
    result = work(spec, store(run_id))
    first = reg.complete(run_id, step, partition, json.dumps(result), counters(result))
    log.info(
        "run %s %s[%s] done in %.1fs%s",
        run_id,
        step,
        partition,
        time.monotonic() - began,
        "" if first else " (again: already recorded)",
    )
    return result


def _skippable(fn: Callable[..., Result]) -> Callable[..., Result]:
    """Turn RunNotActiveError into a logged no-op result."""

    def wrapper(self: Task, run_id: str, *args: Any) -> Result:
        try:
            return fn(self, run_id, *args)
        except RunNotActiveError as exc:
            log.info("skipped %s: %s", self.name, exc)
            return {"skipped": str(exc)}

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _counts(result: Result, done: str, *pairs: tuple[str, str]) -> dict[str, int]:
    out = {done: 1}
    for counter, key in pairs:
        value = result.get(key, 0)
        out[counter] = int(value) if isinstance(value, int) else 0
    return out


def _partitions(run_id: str, step: str) -> list[str]:
    raw = registry().marker(run_id, step, "-")
    if raw is None:
        raise FatalError(f"run {run_id}: {step} has not completed", run_id=run_id)
    return [str(p) for p in json.loads(raw)["partitions"]]


def _require_done(run_id: str, step: str, partitions: list[str]) -> None:
    missing = sum(m is None for m in registry().markers(run_id, step, partitions))
    if missing:
        raise TemporaryError(f"{missing} {step} partitions of run {run_id} not complete yet")


@app.task(bind=True, base=RunTask, name="fhirms.start")  # type: ignore[untyped-decorator]
@_skippable
def start(self: Task, run_id: str, attempt: int) -> Result:
    """Plan the extract partitions and fan out ``chord(extract...) -> derive``."""
    from workers import export_tasks

    info = active_run(run_id, attempt)
    reg = registry()
    if export_tasks.export_pending(run_id):  # read by bulk: export first, then start again
        reg.transition(run_id, RunStatus.RUNNING, ACTIVE, started_at=utc_now(), stage="export")
        export_tasks.send_first_poll(run_id, info.attempt)
        return {"export": "started"}
    reg.transition(run_id, RunStatus.RUNNING, ACTIVE, started_at=utc_now(), stage="extract")
    plan = run_step(
        self,
        run_id,
        "plan",
        "-",
        lambda spec, st: {"partitions": list(pipeline().plan(spec, st, run_id))},
        lambda r: {"extract_total": len(r["partitions"])},
    )
    _fan_out(
        run_id,
        "plan",
        info.attempt,
        [extract.si(run_id, p) for p in plan["partitions"]],
        derive.si(run_id, info.attempt),
    )
    return {"partitions": len(plan["partitions"])}


def _fan_out(run_id: str, step: str, attempt: int, header: list[Any], callback: Any) -> None:
    """Send ``chord(header) -> callback`` once per run attempt (a redelivered step skips it)."""
    reg = registry()
    if reg.dispatched(run_id, step, attempt):
        return
    if header:
        chord(header)(callback)
    else:
        callback.apply_async()
    reg.mark_dispatched(run_id, step, attempt)


@app.task(bind=True, base=RunTask, name="fhirms.extract")  # type: ignore[untyped-decorator]
@_skippable
def extract(self: Task, run_id: str, partition: str) -> Result:
    """Read one source partition into the claim-check store."""
    return run_step(
        self,
        run_id,
        "extract",
        partition,
        lambda spec, st: dict(pipeline().extract(spec, partition, st, run_id)),
        lambda r: _counts(
            r,
            "extract_done",
            ("resources_read", "resources"),
            ("findings", "findings"),
            ("retries", "retries"),
        ),
    )


@app.task(bind=True, base=RunTask, name="fhirms.derive")  # type: ignore[untyped-decorator]
@_skippable
def derive(self: Task, run_id: str, attempt: int) -> Result:
    """Join the extract partitions and derive; each period's ``measure`` is sent as soon as
    its bundle is stored, and ``finalize`` once every measure partition is done."""
    info = active_run(run_id, attempt)
    partitions = _partitions(run_id, "plan")
    _require_done(run_id, "extract", partitions)  # guard: never derive from partial input
    reg = registry()
    reg.set_fields(run_id, stage="derive")

    sent: list[str] = []

    def send_measure(partition: str) -> None:
        # A redelivered derive sends them again: measure steps already done are no-ops.
        measure.si(run_id, partition).apply_async()
        sent.append(partition)
        # Set, not added: the total so far (a redelivered derive never counts twice).
        reg.set_fields(run_id, measure_total=len(sent))

    def work(spec: RunSpec, st: RedisStore) -> Result:
        return {"partitions": list(pipeline().derive(spec, partitions, st, run_id, send_measure))}

    derived = run_step(self, run_id, "derive", "-", work, lambda r: {})
    reg.set_fields(run_id, measure_total=len(derived["partitions"]))
    if not reg.dispatched(run_id, "derive", info.attempt):
        # Derived by an earlier attempt (a resumed run): send this attempt's measures now.
        for partition in derived["partitions"]:
            if partition not in sent:
                measure.si(run_id, partition).apply_async()
        reg.set_fields(run_id, stage="measure")
        reg.mark_dispatched(run_id, "derive", info.attempt)
    _finalize_when_measured(run_id, info.attempt, str(self.request.id))
    return {"partitions": len(derived["partitions"])}


def _finalize_when_measured(run_id: str, attempt: int, owner: str) -> None:
    """Send ``finalize`` once derive and every measure partition it listed are done.

    Derive and every measure call this when they finish, so the last of them sees
    everything done. Of several finishing at once, only the one that claims the send (a
    ``SET NX`` owned by its task id) sends it; the same task redelivered after a crash
    between claim and send claims again and sends it then.
    """
    reg = registry()
    if reg.marker(run_id, "derive", "-") is None:
        return
    measured = _partitions(run_id, "derive")
    if any(m is None for m in reg.markers(run_id, "measure", measured)):
        return
    if reg.claim_dispatch(run_id, "measured", attempt, owner):
        finalize.si(run_id, attempt).apply_async()


@app.task(bind=True, base=RunTask, name="fhirms.measure")  # type: ignore[untyped-decorator]
@_skippable
def measure(self: Task, run_id: str, partition: str) -> Result:
    """Compute and write the outputs of one period's microsystems."""
    result = run_step(
        self,
        run_id,
        "measure",
        partition,
        lambda spec, st: dict(pipeline().measure(spec, partition, st, run_id, settings=settings())),
        lambda r: _counts(
            r,
            "measure_done",
            ("reports_written", "reports"),
            ("findings", "findings"),
            ("retries", "retries"),
        ),
    )
    info = registry().get(run_id)
    if info is not None and not info.status.terminal:  # a late redelivery changes nothing
        _finalize_when_measured(run_id, info.attempt, str(self.request.id))
    return result


@app.task(bind=True, base=RunTask, name="fhirms.finalize")  # type: ignore[untyped-decorator]
@_skippable
def finalize(self: Task, run_id: str, attempt: int) -> Result:
    """Merge outputs, store the summary, mark the run succeeded, advance its watermark."""
    active_run(run_id, attempt)
    extracted = _partitions(run_id, "plan")
    measured = _partitions(run_id, "derive")
    _require_done(run_id, "measure", measured)
    reg = registry()
    reg.set_fields(run_id, stage="finalize")

    def work(spec: RunSpec, st: RedisStore) -> Result:
        summary = dict(pipeline().finalize(spec, extracted, measured, st, run_id))
        reg.put_summary(run_id, mask_url(json.dumps(summary, default=str)))
        findings = summary.get("findings")
        if isinstance(findings, dict) and isinstance(findings.get("total"), int):
            reg.set_fields(run_id, findings=findings["total"])  # derive's findings included
        return {"summary": True}

    run_step(self, run_id, "finalize", "-", work, lambda _r: {})
    info = reg.get(run_id)
    if info is not None and reg.transition(
        run_id, RunStatus.SUCCEEDED, ACTIVE, finished_at=utc_now(), stage="done"
    ):
        scope = reg.get_field(run_id, "watermark_scope")
        started = reg.get_field(run_id, "watermark_at")
        if scope and started:
            mark = with_overlap(started, settings().watermark_overlap_seconds)
            Watermarks(client()).advance(scope, mark)
        _scope_lock(info).release()
        log.info("run %s succeeded; %d claim checks deleted", run_id, store(run_id).purge())
    return {"run_id": run_id, "status": "succeeded"}


@app.task(bind=True, base=RunTask, name="fhirms.incremental", acks_late=False)  # type: ignore[untyped-decorator]
def incremental(self: Task, scheduled_at: float | None = None) -> Result:
    """Beat tick: re-assess the recent periods of FHIRMS_SOURCE from its watermark.

    ``scheduled_at`` (epoch seconds, set by beat) names the interval slot of the tick: a
    second tick for the same slot (a second beat) is a no-op.
    """
    cfg = settings()
    interval = max(1, cfg.incremental_interval_seconds)
    now = datetime.now(UTC)
    slot = int((scheduled_at if scheduled_at is not None else now.timestamp()) // interval)
    ticks = client().hincrby("fhirms:beat:ticks", str(slot), 1)
    client().expire("fhirms:beat:ticks", max(3600, interval * 48))
    if ticks > 1:
        log.info("incremental tick for slot %s already handled: no-op", slot)
        return {"skipped": "duplicate tick"}
    if not cfg.source:
        log.info("FHIRMS_SOURCE not set: nothing to re-assess")
        return {"skipped": "no source"}
    base = RunSpec(
        source=cfg.source,
        out_dir=str(cfg.out_dir) if not cfg.sink_url else None,
        sink_url=cfg.sink_url or None,
        period=cfg.incremental_period,
        canonical_base=cfg.canonical_base,
    )
    start_date, end_date = recent_window(now, cfg.incremental_period, cfg.incremental_periods)
    source_scope = base.scope_key()
    since = Watermarks(client()).get(source_scope)
    extra = {"watermark_scope": source_scope, "watermark_at": format_instant(now)}
    # A server that advertises $export is read by bulk (``--read auto``): the export asks
    # ``_since`` = the transactionTime of the directory's previous manifest. Else by search.
    job = plan_bulk(cfg.source, cfg.out_dir, cfg, read="auto", start=start_date, end=end_date)
    fields = {"start": start_date, "end": end_date, "since": since}
    if job is not None:
        fields["source"] = job.directory
        extra["bulk_job"] = job.to_json()
    spec = RunSpec.from_json(json.dumps({**json.loads(base.to_json()), **fields}))
    dispatched = start_run(app, client(), cfg, spec, extra_fields=extra)
    return {
        "run_id": dispatched.run_id,
        "coalesced": dispatched.coalesced,
        "since": since,
        "read": "search" if job is None else "bulk",
    }


def recent_window(now: datetime, kind: Granularity, count: int) -> tuple[str, str]:
    """ISO dates ``[start, end)`` of the ``count`` periods up to and including ``now``'s."""
    current = period_containing(now, kind)
    first = current
    for _ in range(max(1, count) - 1):
        first = period_containing(first.start.replace(tzinfo=UTC) - _ONE_SECOND, kind)
    return first.start.date().isoformat(), current.end.date().isoformat()


_ONE_SECOND = datetime(2000, 1, 1, 0, 0, 1) - datetime(2000, 1, 1)


__all__ = [
    "DeliveryLimitError",
    "RunTask",
    "derive",
    "extract",
    "fail_run",
    "finalize",
    "incremental",
    "measure",
    "recent_window",
    "run_step",
    "start",
]
