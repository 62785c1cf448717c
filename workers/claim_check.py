"""The claim-check store in Redis: bulk intermediate data between stages, never via the broker.

Messages carry a run id and a partition id; the data they refer to is here, under
``fhirms:{run_id}:...`` (the library namespaces its keys so; a key outside the run's
namespace is put inside it), written with ``SET key value EX ttl``.

Why Redis: it is already the broker and result backend (one service to run), a value is
written in one atomic command (a redelivered task overwrites rather than duplicates), and the
TTL bounds what an abandoned run leaves behind. A run that succeeds deletes its claim checks
at once (they are about as large as the facts read from the source); a failed run keeps them
until the TTL so it can be resumed. Redis must run with ``maxmemory-policy noeviction`` so
data is never dropped silently: a full Redis refuses the write, retried as a temporary fault.
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
        self.prefix = run_prefix(run_id)
        self.ttl_seconds = ttl_seconds

    def key(self, key: str) -> str:
        """The Redis key of ``key``: inside the run's namespace."""
        return key if key.startswith(self.prefix) else f"{self.prefix}cc:{key}"

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.set(self.key(key), data, ex=self.ttl_seconds)
        except redis.exceptions.OutOfMemoryError as exc:
            raise TemporaryError("claim-check store full (Redis maxmemory reached)") from exc

    def get(self, key: str) -> bytes | None:
        value = self.client.get(self.key(key))
        return None if value is None else bytes(value)  # type: ignore[arg-type]

    def purge(self, batch: int = 500) -> int:
        """Delete every claim check of the run (after it succeeded); return how many."""
        removed = 0
        keys: list[bytes] = []
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                removed += int(self.client.unlink(*keys))
                keys = []
        if keys:
            removed += int(self.client.unlink(*keys))
        return removed


__all__ = ["RedisStore", "run_prefix"]
