"""Redis locks with a TTL and token-safe refresh/release (only the holder can extend or free).

Used for the per-scope run lock (overlapping runs of the same scope coalesce) and the beat
leader lock (a second beat's ticks are no-ops).
"""

from __future__ import annotations

import secrets

import redis

_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    """``SET key token NX PX ttl``; refresh and release compare the token first."""

    def __init__(
        self, client: redis.Redis, key: str, ttl_seconds: float, token: str | None = None
    ) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.token = token or secrets.token_hex(16)

    def acquire(self) -> bool:
        """Take the lock if free; True if this token holds it now (re-entrant)."""
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return self.refresh()

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return None if value is None else value.decode()  # type: ignore[union-attr]

    def refresh(self) -> bool:
        """Extend the TTL if this token holds the lock."""
        return bool(self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> bool:
        """Free the lock if this token holds it (never another holder's)."""
        return bool(self.client.eval(_RELEASE, 1, self.key, self.token))

    def acquire_or_holder(self) -> str:
        """Take the lock or return who holds it (this token if taken), free of races."""
        while True:
            if self.acquire():
                return self.token
            current = self.holder()
            if current is not None:
                return current


def scope_lock_key(scope_key: str) -> str:
    return f"fhirms:lock:scope:{scope_key}"


__all__ = ["RedisLock", "scope_lock_key"]
