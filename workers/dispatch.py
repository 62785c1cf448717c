"""Starting, resuming and watching runs (used by the CLI and by the incremental beat task).

A run is registered in Redis, then takes the lock of its scope (``RunSpec.scope_key()``): if
another live run holds it, the new run is dropped and the caller is given the live run's id
(overlapping runs of one scope coalesce). Only then is ``fhirms.start`` sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from fhir_microsystems._errors import ConfigurationError, FatalError
from workers.locks import RedisLock, scope_lock_key
from workers.progress import registry_for
from workers.runs import RunInfo, RunProgress, RunStatus, new_run_id, utc_now
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


class SpecLike(Protocol):
    """What dispatch needs of a ``RunSpec``."""

    def to_json(self) -> str: ...

    def scope_key(self) -> str: ...


class Sender(Protocol):
    """What dispatch needs of a Celery app."""

    def send_task(self, name: str, args: Any = ..., **options: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Dispatched:
    """The run that will produce the outputs; ``coalesced`` if it was already running."""

    run_id: str
    coalesced: bool


def start_run(
    app: Sender,
    client: redis.Redis,
    cfg: WorkerSettings,
    spec: SpecLike,
    *,
    run_id: str | None = None,
    extra_fields: dict[str, str] | None = None,
) -> Dispatched:
    """Register and start a run, or return the live run of the same scope."""
    registry = registry_for(client, cfg)
    run_id = run_id or new_run_id()
    scope = spec.scope_key()
    info = RunInfo(
        run_id=run_id,
        status=RunStatus.QUEUED,
        scope_key=scope,
        spec_json=spec.to_json(),
        created_at=utc_now(),
        progress=RunProgress(stage="queued"),
    )
    registry.create(info)  # before the lock: a lock holder always has a record
    if extra_fields:
        registry.set_fields(run_id, **extra_fields)
    lock = RedisLock(client, scope_lock_key(scope), cfg.scope_lock_ttl_seconds, token=run_id)
    while True:
        holder = lock.acquire_or_holder()
        if holder == run_id:
            break
        other = registry.get(holder)
        if other is not None and other.status in ACTIVE:
            registry.delete(run_id)
            log.info("run for scope %s coalesced into live run %s", scope, holder)
            return Dispatched(holder, coalesced=True)
        # the holder finished or expired without releasing: free its lock, try again
        RedisLock(client, lock.key, 1, token=holder).release()
    try:
        app.send_task("fhirms.start", args=[run_id, 1])
    except Exception as exc:
        registry.transition(
            run_id, RunStatus.FAILED, ACTIVE, error=f"could not send: {type(exc).__name__}"
        )
        lock.release()
        raise
    log.info("run %s queued (scope %s)", run_id, scope)
    return Dispatched(run_id, coalesced=False)


def resume_run(
    app: Sender, client: redis.Redis, cfg: WorkerSettings, run_id: str, *, force: bool = False
) -> RunInfo:
    """Start a failed run again: finished partitions are skipped (completion markers).

    ``force`` also restarts a run that looks active (e.g. stuck after its fan-out was lost).
    """
    registry = registry_for(client, cfg)
    info = registry.get(run_id)
    if info is None:
        raise ConfigurationError(f"unknown run {run_id} (never started, or expired)")
    if info.status is RunStatus.SUCCEEDED:
        return info
    if info.status in ACTIVE and not force:
        raise ConfigurationError(f"run {run_id} is {info.status.value}; use force to restart it")
    lock = RedisLock(client, scope_lock_key(info.scope_key), cfg.scope_lock_ttl_seconds, run_id)
    holder = lock.acquire_or_holder()
    if holder != run_id:
        other = registry.get(holder)
        if other is not None and other.status in ACTIVE:
            raise FatalError(f"scope of run {run_id} is busy with run {holder}", holder=holder)
        RedisLock(client, lock.key, 1, token=holder).release()
        if not lock.acquire():
            raise FatalError(f"scope of run {run_id} is busy", run_id=run_id)
    attempt = info.attempt + 1
    allowed = (RunStatus.FAILED, *ACTIVE) if force else (RunStatus.FAILED,)
    if not registry.transition(
        run_id, RunStatus.QUEUED, allowed, attempt=attempt, error="", finished_at="", stage="queued"
    ):
        lock.release()
        raise FatalError(f"run {run_id} changed state while resuming; try again")
    app.send_task("fhirms.start", args=[run_id, attempt])
    log.info("run %s resumed (attempt %d)", run_id, attempt)
    return registry.get(run_id) or info


def wait_for_run(
    client: redis.Redis,
    cfg: WorkerSettings,
    run_id: str,
    *,
    on_progress: Callable[[RunInfo], None] | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> RunInfo:
    """Poll the run record until it is terminal; call ``on_progress`` with each snapshot."""
    registry = registry_for(client, cfg)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        info = registry.get(run_id)
        if info is None:
            raise FatalError(f"run {run_id} disappeared (expired?)", run_id=run_id)
        if on_progress is not None:
            on_progress(info)
        if info.status.terminal:
            return info
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {info.status.value} after {timeout} s")
        time.sleep(poll_seconds)


__all__ = ["ACTIVE", "Dispatched", "resume_run", "start_run", "wait_for_run"]
