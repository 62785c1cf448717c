"""The status URL of a running bulk export, kept in Redis for ``run --celery``.

The same role as :class:`fhir_microsystems.exporting.FileState` (a file in the export
directory) for runs dispatched to workers: an interrupted run of the same scope, started from
any host, resumes polling the same export instead of starting a new one.
"""

from __future__ import annotations

import orjson
import redis


def export_state_key(scope: str) -> str:
    return f"fhirms:bulk-export:{scope}"


class RedisExportState:
    """``ExportState`` in Redis under :func:`export_state_key` (``scope``: the directory name)."""

    def __init__(self, client: redis.Redis, scope: str, ttl_seconds: int) -> None:
        self.client = client
        self.key = export_state_key(scope)
        self.ttl_seconds = ttl_seconds

    def load(self, request_url: str) -> str | None:
        raw = self.client.get(self.key)
        if not isinstance(raw, bytes):
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("request") != request_url:
            return None
        url = data.get("status_url")
        return url if isinstance(url, str) else None

    def save(self, request_url: str, status_url: str) -> None:
        value = orjson.dumps({"request": request_url, "status_url": status_url})
        self.client.set(self.key, value, ex=self.ttl_seconds)

    def clear(self) -> None:
        self.client.delete(self.key)


__all__ = ["RedisExportState", "export_state_key"]
