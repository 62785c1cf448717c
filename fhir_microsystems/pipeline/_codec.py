"""Contexts, summaries and findings to and from JSON bytes, for the claim-check store (no
pickle)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.measures import MicrosystemContext


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_DATACLASS)


def instant(value: str | None) -> datetime | None:
    """An ISO datetime from a stored row (None stays None)."""
    return datetime.fromisoformat(value) if value is not None else None


def context_from(data: dict[str, Any]) -> MicrosystemContext:
    """A context stored by :func:`context_to` (its encounters are in the period's fact
    tables, not here)."""
    start, end = data["period"]
    return MicrosystemContext(
        id=data["id"],
        careteam_ref=data["careteam_ref"],
        group_ref=data["group_ref"],
        organization=data["organization"],
        name=data["name"],
        period=(datetime.fromisoformat(start), datetime.fromisoformat(end)),
        members=frozenset(data["members"]),
        core_members=frozenset(data["core_members"]),
        encounters=(),
        patients=frozenset(data["patients"]),
        data_end=datetime.fromisoformat(data["data_end"]),
        stability=data["stability"],
        has_lead_role=data["has_lead_role"],
    )


def context_to(ctx: MicrosystemContext) -> dict[str, Any]:
    """What the measure stage reads of a context besides the fact tables."""
    return {
        "id": ctx.id,
        "careteam_ref": ctx.careteam_ref,
        "group_ref": ctx.group_ref,
        "organization": ctx.organization,
        "name": ctx.name,
        "period": [ctx.start.isoformat(), ctx.end.isoformat()],
        "members": sorted(ctx.members),
        "core_members": sorted(ctx.core_members),
        "patients": sorted(ctx.patients),
        "data_end": ctx.data_end.isoformat(),
        "stability": ctx.stability,
        "has_lead_role": ctx.has_lead_role,
    }


def findings_to(findings: Findings) -> bytes:
    return dumps({"counts": dict(findings.counts), "items": [f.to_dict() for f in findings]})


def findings_from(blobs: Iterable[bytes | None], keep: int) -> Findings:
    merged = Findings(keep=keep)
    for blob in blobs:
        if blob is None:
            continue
        data = orjson.loads(blob)
        part = Findings(keep=keep)
        part.counts.update(data["counts"])
        part.items.extend(Finding(**item) for item in data["items"])
        merged.extend(part)
    return merged
