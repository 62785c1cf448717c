"""The claim-check store in Redis: bulk intermediate data between stages, never via the broker.

Messages carry a run id and a partition id; the data they refer to is here, under
``fhirms:{run_id}:cc:{key}``, written with ``SET key value EX ttl``. Why Redis: it is already
the broker and result backend (one service to run), a value is written in one atomic command
(a redelivered task overwrites rather than duplicates), and the TTL bounds what an abandoned
run leaves behind. Redis must run with ``maxmemory-policy noeviction`` so data is never
dropped silently: a full Redis refuses the write, which is retried as a temporary fault.
"""

from __future__ import annotations

import redis

from fhir_microsystems._errors import TemporaryError


def run_prefix(run_id: str) -> str:
    """Every key of one run starts with this."""
    return f"fhirms:{run_id}:"


class RedisStore:
    """:class:`fhir_microsystems.pipeline.Store` over Redis with a TTL per value."""

    def __init__(self, client: redis.Redis, run_id: str, ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.client = client
        self.prefix = f"{run_prefix(run_id)}cc:"
        self.ttl_seconds = ttl_seconds

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.set(self.prefix + key, data, ex=self.ttl_seconds)
        except redis.ResponseError as exc:
            if "OOM" in str(exc):
                raise TemporaryError(
                    "claim-check store full (Redis maxmemory reached)", key=key
                ) from exc
            raise

    def get(self, key: str) -> bytes | None:
        value = self.client.get(self.prefix + key)
        return None if value is None else bytes(value)  # type: ignore[arg-type]


__all__ = ["RedisStore", "run_prefix"]
