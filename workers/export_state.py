"""The status URL of a running bulk export, kept in Redis for ``run --celery``.

The same role as :class:`fhir_microsystems.exporting.FileState` (a file in the export
directory) for runs dispatched to workers: an interrupted run of the same scope, started from
any host, resumes polling the same export instead of starting a new one.
"""

from __future__ import annotations

import redis

from fhir_microsystems.exporting import export_state, status_url_of


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
        return status_url_of(raw, request_url) if isinstance(raw, bytes) else None

    def save(self, request_url: str, status_url: str) -> None:
        self.client.set(self.key, export_state(request_url, status_url), ex=self.ttl_seconds)

    def clear(self) -> None:
        self.client.delete(self.key)


__all__ = ["RedisExportState", "export_state_key"]
