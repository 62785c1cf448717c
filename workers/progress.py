"""Runs in Redis: status, progress counters, completion markers, delivery counts, summaries.

Layout (every key expires; ``run_record_ttl_seconds`` or ``claim_check_ttl_seconds``):

- ``fhirms:run:{run_id}``: hash of :meth:`RunInfo.to_fields` (status, spec, counters);
- ``fhirms:runs``: sorted set of run ids by creation time;
- ``fhirms:run:{run_id}:done:{step}:{partition}``: completion marker holding the step's
  result; set with the progress increments in one script, so a redelivered step counts once;
- ``fhirms:run:{run_id}:dispatched:{step}:{attempt}``: a fan-out was sent for this attempt;
- ``fhirms:run:{run_id}:summary``: the finalize summary (JSON);
- ``fhirms:delivery:{task_id}:{retries}``: deliveries of one task attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import redis

from workers.runs import COUNTERS, RunInfo, RunStatus
from workers.settings import WorkerSettings

RUNS_INDEX = "fhirms:runs"

_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if string.find(',' .. ARGV[1] .. ',', ',' .. cur .. ',', 1, true) == nil then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

_COMPLETE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then
    for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
return 1
"""


def run_key(run_id: str) -> str:
    return f"fhirms:run:{run_id}"


def marker_key(run_id: str, step: str, partition: str) -> str:
    return f"fhirms:run:{run_id}:done:{step}:{partition}"


def _dispatch_key(run_id: str, step: str, attempt: int) -> str:
    return f"fhirms:run:{run_id}:dispatched:{step}:{attempt}"


class RunRegistry:
    """Reads and writes run records; every write is idempotent or compare-and-set."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, marker_ttl_seconds: int) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.marker_ttl = marker_ttl_seconds

    # -- records
    def create(self, info: RunInfo) -> None:
        key = run_key(info.run_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping=info.to_fields())  # type: ignore[arg-type]
        pipe.expire(key, self.ttl)
        pipe.zadd(RUNS_INDEX, {info.run_id: time.time()})
        pipe.execute()

    def get(self, run_id: str) -> RunInfo | None:
        raw = self.client.hgetall(run_key(run_id))
        if not raw:
            return None
        return RunInfo.from_fields(raw)  # type: ignore[arg-type]

    def recent(self, limit: int = 20) -> list[RunInfo]:
        ids = self.client.zrevrange(RUNS_INDEX, 0, max(0, limit - 1))
        found = (self.get(i.decode()) for i in ids)  # type: ignore[union-attr]
        return [info for info in found if info is not None]

    def transition(
        self,
        run_id: str,
        to: RunStatus,
        allowed_from: Iterable[RunStatus],
        **fields: str | int,
    ) -> bool:
        """Set ``status`` (and fields) only if the current status is in ``allowed_from``."""
        args: list[str | int] = [",".join(s.value for s in allowed_from), "status", to.value]
        for name, value in fields.items():
            args += [name, value]
        return int(self.client.eval(_TRANSITION, 1, run_key(run_id), *args)) == 1

    def set_fields(self, run_id: str, **fields: str | int) -> None:
        key = run_key(run_id)
        if self.client.exists(key):
            self.client.hset(key, mapping=fields)  # type: ignore[arg-type]

    def get_field(self, run_id: str, name: str) -> str | None:
        value = self.client.hget(run_key(run_id), name)
        return None if value is None else value.decode()  # type: ignore[union-attr]

    def delete(self, run_id: str) -> None:
        self.client.delete(run_key(run_id))
        self.client.zrem(RUNS_INDEX, run_id)

    def incr(self, run_id: str, counter: str, amount: int = 1) -> None:
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        key = run_key(run_id)
        if amount and self.client.exists(key):
            self.client.hincrby(key, counter, amount)

    # -- completion markers
    def marker(self, run_id: str, step: str, partition: str) -> str | None:
        value = self.client.get(marker_key(run_id, step, partition))
        return None if value is None else value.decode()  # type: ignore[union-attr]

    def markers(self, run_id: str, step: str, partitions: Iterable[str]) -> list[str | None]:
        keys = [marker_key(run_id, step, p) for p in partitions]
        if not keys:
            return []
        values = self.client.mget(keys)
        return [None if v is None else v.decode() for v in values]  # type: ignore[union-attr]

    def complete(
        self, run_id: str, step: str, partition: str, result: str, counters: Mapping[str, int]
    ) -> bool:
        """Record completion and add ``counters``, atomically, once; False if already done."""
        args: list[str | int] = [result, self.marker_ttl]
        for name, amount in counters.items():
            if name not in COUNTERS:
                raise ValueError(f"unknown counter {name!r}")
            if amount:
                args += [name, int(amount)]
        keys = [marker_key(run_id, step, partition), run_key(run_id)]
        return int(self.client.eval(_COMPLETE, 2, *keys, *args)) == 1

    def dispatched(self, run_id: str, step: str, attempt: int) -> bool:
        """Whether the fan-out after ``step`` was sent for this attempt of the run."""
        return bool(self.client.exists(_dispatch_key(run_id, step, attempt)))

    def mark_dispatched(self, run_id: str, step: str, attempt: int) -> None:
        """Called after sending: a crash in between sends twice (harmless), never zero times."""
        self.client.set(_dispatch_key(run_id, step, attempt), "1", ex=self.marker_ttl)

    def claim_dispatch(self, run_id: str, step: str, attempt: int, owner: str) -> bool:
        """Claim sending the fan-out after ``step`` for this attempt: True for the first
        caller, and again for that same ``owner`` (a redelivered task re-sends after a crash
        between claim and send); False for anyone else."""
        key = _dispatch_key(run_id, step, attempt)
        if self.client.set(key, owner, nx=True, ex=self.marker_ttl):
            return True
        held = self.client.get(key)
        return held is not None and held.decode() == owner  # type: ignore[union-attr]

    # -- summaries
    def put_summary(self, run_id: str, summary_json: str) -> None:
        self.client.set(f"fhirms:run:{run_id}:summary", summary_json, ex=self.ttl)

    def summary(self, run_id: str) -> str | None:
        value = self.client.get(f"fhirms:run:{run_id}:summary")
        return None if value is None else value.decode()  # type: ignore[union-attr]

    # -- deliveries
    def count_delivery(self, task_id: str, retries: int) -> int:
        """Count one more delivery of attempt ``retries`` of ``task_id``; return the total."""
        key = f"fhirms:delivery:{task_id}:{retries}"
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, self.marker_ttl)
        count, _ = pipe.execute()
        return int(count)


def registry_for(client: redis.Redis, cfg: WorkerSettings) -> RunRegistry:
    """A registry with the TTLs of ``cfg``: markers expire no later than the data they vouch for."""
    marker_ttl = max(60, cfg.claim_check_ttl_seconds - cfg.task_time_limit_seconds)
    return RunRegistry(client, cfg.run_record_ttl_seconds, marker_ttl)


__all__ = ["RUNS_INDEX", "RunRegistry", "marker_key", "registry_for", "run_key"]
