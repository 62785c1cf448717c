"""What a run is while it runs and after: id, status, progress (pure data, no I/O).

Workers keep these in Redis as flat string maps (:meth:`RunInfo.to_fields` /
:meth:`RunInfo.from_fields`); the CLI reads them back to show status and progress.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """Life cycle: queued -> running -> succeeded | failed (a failed run may be resumed)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED)


#: Counters a run accumulates; each is an integer field of :class:`RunProgress`.
COUNTERS: tuple[str, ...] = (
    "extract_total",
    "extract_done",
    "measure_total",
    "measure_done",
    "resources_read",
    "reports_written",
    "findings",
    "retries",
)


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Partitions done/total per stage and totals of what the stages reported;
    ``export``: the bulk export's last ``X-Progress`` while it is polled."""

    stage: str = "queued"
    export: str = ""
    extract_total: int = 0
    extract_done: int = 0
    measure_total: int = 0
    measure_done: int = 0
    resources_read: int = 0
    reports_written: int = 0
    findings: int = 0
    retries: int = 0

    @property
    def partitions_total(self) -> int:
        return self.extract_total + self.measure_total

    @property
    def partitions_done(self) -> int:
        return self.extract_done + self.measure_done


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run as stored: identity, scope, status, timestamps (ISO, UTC), progress."""

    run_id: str
    status: RunStatus
    scope_key: str
    spec_json: str
    created_at: str
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    attempt: int = 1
    progress: RunProgress = field(default_factory=RunProgress)

    def to_fields(self) -> dict[str, str]:
        """A flat ``str -> str`` map (a Redis hash)."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name != "progress"}
        out["status"] = self.status.value
        for f in fields(self.progress):
            out[f.name] = str(getattr(self.progress, f.name))
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, str] | Mapping[bytes, bytes]) -> RunInfo:
        """Inverse of :meth:`to_fields`; tolerates bytes and missing counters."""
        data = {_text(k): _text(v) for k, v in raw.items()}
        progress = RunProgress(
            stage=data.get("stage", "queued"),
            export=data.get("export", ""),
            **{name: int(data.get(name) or 0) for name in COUNTERS},
        )
        return cls(
            run_id=data["run_id"],
            status=RunStatus(data.get("status", "queued")),
            scope_key=data.get("scope_key", ""),
            spec_json=data.get("spec_json", "{}"),
            created_at=data.get("created_at", ""),
            started_at=data.get("started_at", ""),
            finished_at=data.get("finished_at", ""),
            error=data.get("error", ""),
            attempt=int(data.get("attempt") or 1),
            progress=progress,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view, with the derived partition totals."""
        out = asdict(self)
        out["status"] = self.status.value
        out["progress"]["partitions_total"] = self.progress.partitions_total
        out["progress"]["partitions_done"] = self.progress.partitions_done
        return out


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def utc_now() -> str:
    """The current time as an ISO-8601 UTC instant (seconds precision, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id() -> str:
    """A sortable, unique run id: ``20250131T235959-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


__all__ = ["COUNTERS", "RunInfo", "RunProgress", "RunStatus", "new_run_id", "utc_now"]
