"""``_lastUpdated`` watermarks of incremental runs, kept in Redis per source scope.

A watermark is the instant (ISO-8601 UTC, ``...Z``) after which a change makes the next
incremental run re-assess its recent periods (``RunSpec.since``). It only moves forward, and
only when a run succeeds; it is set to the run's start minus an overlap, so changes made
while the run read the source (or stamped by a server clock behind ours) are seen again next
time rather than missed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

_ADVANCE = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or ARGV[1] > cur then
    redis.call('SET', KEYS[1], ARGV[1])
    return 1
end
return 0
"""

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def watermark_key(source_scope: str) -> str:
    return f"fhirms:watermark:{source_scope}"


def format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FORMAT)


def with_overlap(started_at: str, overlap_seconds: int) -> str:
    """``started_at`` moved back by ``overlap_seconds`` (same format)."""
    moment = datetime.strptime(started_at, _FORMAT).replace(tzinfo=UTC)
    return format_instant(moment - timedelta(seconds=overlap_seconds))


class Watermarks:
    """Get and advance (never move back) the watermark of a source scope."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, source_scope: str) -> str | None:
        value = self.client.get(watermark_key(source_scope))
        return None if value is None else value.decode()  # type: ignore[union-attr]

    def advance(self, source_scope: str, instant: str) -> bool:
        """Set the watermark to ``instant`` if later than the current one (atomic)."""
        return bool(self.client.eval(_ADVANCE, 1, watermark_key(source_scope), instant))


__all__ = ["Watermarks", "format_instant", "watermark_key", "with_overlap"]
