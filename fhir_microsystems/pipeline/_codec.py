"""Compact facts to and from JSON bytes, for the claim-check store (no pickle)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import orjson

from fhir_microsystems._findings import Finding, Findings
from fhir_microsystems.measures import (
    EncounterFact,
    MicrosystemContext,
    PatientFact,
)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_DATACLASS)


_intern = sys.intern
_parse_instant = datetime.fromisoformat


def instant(value: str | None) -> datetime | None:
    """An ISO datetime from a stored row (None stays None)."""
    return datetime.fromisoformat(value) if value is not None else None


def interned(value: str | None) -> str | None:
    """A repeated key from a stored row, interned (None stays None)."""
    return sys.intern(value) if value is not None else None


def encounter_row(fact: EncounterFact) -> list[Any]:
    """One fact as a positional row (the field order of :class:`EncounterFact`)."""
    return [
        fact.key,
        fact.patient,
        fact.cls,
        fact.status,
        fact.start,
        fact.end,
        fact.practitioners,
        fact.discharge_disposition,
    ]


def encounter_from_row(row: list[Any]) -> EncounterFact:
    """Inverse of :func:`encounter_row` (repeated keys interned).

    What :func:`interned` and :func:`instant` do is written out: a measure partition
    decodes hundreds of thousands of rows, and the calls cost more than the work.
    """
    patient, cls, start, end, disposition = row[1], row[2], row[4], row[5], row[7]
    return EncounterFact(
        row[0],
        None if patient is None else _intern(patient),
        None if cls is None else _intern(cls),
        _intern(row[3]),
        None if start is None else _parse_instant(start),
        None if end is None else _parse_instant(end),
        tuple(map(_intern, row[6])),
        None if disposition is None else _intern(disposition),
    )


def patient_row(fact: PatientFact) -> list[Any]:
    """One fact as a positional row (the field order of :class:`PatientFact`)."""
    return [fact.key, fact.gender, fact.birth_date, fact.deceased_at, fact.deceased]


def patient_from_row(row: list[Any]) -> PatientFact:
    """Inverse of :func:`patient_row`."""
    birth = row[2]
    return PatientFact(
        sys.intern(row[0]),
        interned(row[1]),
        date.fromisoformat(birth) if birth else None,
        instant(row[3]),
        row[4],
    )


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
        encounters=tuple(map(encounter_from_row, data["encounters"])),
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
        "encounters": [encounter_row(e) for e in ctx.encounters],
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
