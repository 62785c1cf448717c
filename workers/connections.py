"""The Redis client for claim checks, locks, progress, markers and watermarks.

Commands are retried with back-off across a short Redis outage (a restart): every write the
workers make is idempotent or guarded (SET NX, compare-and-set scripts), so a command retried
after a lost reply does no harm.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from workers.config import redis_url, settings

#: Errors after which a command is retried (and, past the retries, a task retried).
REDIS_TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
)


def make_client(url: str, ca_file: Path | None = None) -> redis.Redis:
    """A client riding out ~30 s of outage: 20 attempts, back-off capped at 2 s; a rediss://
    URL verifies the server against ``ca_file`` (else the system CAs)."""
    tls: dict[str, Any] = {}
    if url.lower().startswith("rediss://"):
        tls["ssl_cert_reqs"] = "required"
        if ca_file is not None:
            tls["ssl_ca_certs"] = str(ca_file)
    return redis.Redis.from_url(
        url,
        **tls,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 20),
        retry_on_error=list(REDIS_TRANSIENT),
        socket_timeout=30,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=10,
    )


@functools.cache
def client() -> redis.Redis:
    """The process-wide client (its pool reconnects by itself after a fork)."""
    cfg = settings()
    return make_client(redis_url(cfg), cfg.redis_ca_file)


__all__ = ["REDIS_TRANSIENT", "client", "make_client"]
