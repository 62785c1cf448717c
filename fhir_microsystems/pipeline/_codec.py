"""Compact facts to and from JSON bytes, for the claim-check store (no pickle)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.measures import (
    EncounterFact,
    MicrosystemContext,
    ObservationFact,
    PatientFact,
)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_DATACLASS)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def encounter_from(data: dict[str, Any]) -> EncounterFact:
    data["start"] = _dt(data["start"])
    data["end"] = _dt(data["end"])
    data["practitioners"] = tuple(data["practitioners"])
    return EncounterFact(**data)


def observation_from(data: dict[str, Any]) -> ObservationFact:
    data["effective"] = _dt(data["effective"])
    return ObservationFact(**data)


def patient_from(data: dict[str, Any]) -> PatientFact:
    birth = data.get("birth_date")
    data["birth_date"] = date.fromisoformat(birth) if birth else None
    data["deceased_at"] = _dt(data.get("deceased_at"))
    return PatientFact(**data)


def context_from(data: dict[str, Any]) -> MicrosystemContext:
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
        encounters=tuple(encounter_from(e) for e in data["encounters"]),
        patients=frozenset(data["patients"]),
        data_end=datetime.fromisoformat(data["data_end"]),
        stability=data["stability"],
        has_lead_role=data["has_lead_role"],
    )


def context_to(ctx: MicrosystemContext) -> dict[str, Any]:
    return {
        "id": ctx.id,
        "careteam_ref": ctx.careteam_ref,
        "group_ref": ctx.group_ref,
        "organization": ctx.organization,
        "name": ctx.name,
        "period": [ctx.start.isoformat(), ctx.end.isoformat()],
        "members": sorted(ctx.members),
        "core_members": sorted(ctx.core_members),
        "encounters": list(ctx.encounters),
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
