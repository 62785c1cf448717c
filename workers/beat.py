"""The beat scheduler: only the beat holding a Redis leader lock sends scheduled tasks.

Deploy one beat (docker-compose has exactly one ``beat`` service). If a second one is started
anyway (a scaled service, a stray process), it is a standby: it keeps its schedule but its
ticks send nothing until the leader's lock (refreshed every loop, TTL
``beat_leader_ttl_seconds``) expires. The incremental task is also idempotent per interval
slot and runs coalesce per scope, so even two leaders would not duplicate work.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from typing import Any

import redis
from celery.beat import Scheduler
from celery.utils.log import get_logger

from workers.config import settings
from workers.connections import client
from workers.locks import RedisLock

log = get_logger(__name__)

LEADER_KEY = "fhirms:beat:leader"


class LeaderScheduler(Scheduler):  # type: ignore[misc]
    """An in-memory scheduler whose ticks are no-ops unless it holds the leader lock."""

    _lock: RedisLock | None = None
    _was_leader: bool | None = None

    def _leader_lock(self) -> RedisLock:
        if self._lock is None:
            token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
            self._lock = RedisLock(
                client(), LEADER_KEY, settings().beat_leader_ttl_seconds, token=token
            )
        return self._lock

    def is_leader(self) -> bool:
        """Take or extend the leader lock; False if another beat holds it or Redis is away."""
        try:
            leader = self._leader_lock().acquire()
        except redis.RedisError as exc:
            log.warning("beat: cannot reach Redis to check leadership (%s)", type(exc).__name__)
            leader = False
        if leader != self._was_leader:
            log.info("beat: %s", "leader, sending scheduled tasks" if leader else "standby")
            self._was_leader = leader
        return leader

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self.is_leader()  # refresh the lock at least every beat_max_loop_interval
        return float(super().tick(*args, **kwargs))

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        if not self.is_leader():
            log.info("beat: standby, %s not sent", entry.name)
            return
        super().apply_entry(entry, producer=producer)

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(redis.RedisError):
                self._lock.release()
        super().close()


__all__ = ["LEADER_KEY", "LeaderScheduler"]
