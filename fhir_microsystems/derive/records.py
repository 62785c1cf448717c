"""Compact per-encounter records: what the derivation (and the measures) keep of an Encounter.

Encounters are streamed once; each becomes an :class:`EncounterRecord` of interned keys and
UTC datetimes, never a resource dict, so memory stays proportional to the encounter count.
The derivation reads them as :class:`EncounterRows`, their Arrow table (one column a field).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import parse_fhir_datetime
from fhir_microsystems.sources import ReferenceIndex, Source

#: Reference targets that are people but not clinicians: not members, not unresolved.
_NON_CLINICIAN_TYPES = ("RelatedPerson/", "Patient/", "Device/")


@dataclass(slots=True)
class EncounterRecord:
    """What is kept of one Encounter (keys are canonical ``Type/id``, times aware UTC).

    ``participants`` are distinct Practitioner keys (PractitionerRoles resolved to their
    Practitioner), in document order; ``unresolved_participants`` counts clinician
    references that could not be resolved. ``context`` is the most specific organisation
    known for the encounter (the Location's managing organisation when it sits under the
    serviceProvider, else the serviceProvider, else the Location's organisation).
    """

    key: str
    patient: str | None
    class_code: str | None
    status: str
    start: datetime | None
    end: datetime | None
    participants: tuple[str, ...]
    unresolved_participants: int
    service_provider: str | None
    location: str | None
    context: str | None
    discharge_disposition: str | None


#: The element paths findings name, ready-made for the first entries of the lists (an
#: f-string per entry per encounter would be built only for the rare finding).
_LISTED = 16
_INDIVIDUAL_FIELDS = tuple(f"Encounter.participant[{n}].individual" for n in range(_LISTED))
_LOCATION_FIELDS = tuple(f"Encounter.location[{n}].location" for n in range(_LISTED))


def _individual_field(n: int) -> str:
    return _INDIVIDUAL_FIELDS[n] if n < _LISTED else f"Encounter.participant[{n}].individual"


def _location_field(n: int) -> str:
    return _LOCATION_FIELDS[n] if n < _LISTED else f"Encounter.location[{n}].location"


def _intern(value: str | None) -> str | None:
    return sys.intern(value) if value is not None else None


def _parse_time(
    value: Any, *, where: str, field: str, findings: Findings, upper: bool = False
) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_fhir_datetime(value, upper=upper)
    except (ValueError, TypeError):
        findings.add("invalid-datetime", where, field, "not a FHIR dateTime")
        return None


def _listed(value: Any) -> list[Any]:
    """A repeating element's entries (a value that is not a list has none)."""
    return value if isinstance(value, list) else []


def _entries(resource: dict[str, Any], name: str, *, where: str, findings: Findings) -> list[Any]:
    """The entries of a repeating element ``name``; a value that is not a list is an
    ``invalid-element`` finding and read as none."""
    value = resource.get(name)
    if value is None or isinstance(value, list):
        return value or []
    findings.add("invalid-element", where, f"Encounter.{name}", "not a list")
    return []


def _first_code(element: Any) -> str | None:
    codings = element.get("coding") if isinstance(element, dict) else None
    for coding in _listed(codings):
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def most_specific_org(
    service_provider: str | None, location_org: str | None, index: ReferenceIndex
) -> str | None:
    """The narrower of the serviceProvider and the Location's managing organisation."""
    if service_provider and location_org and location_org != service_provider:
        if service_provider in index.organization_ancestors(location_org):
            return location_org
        return service_provider
    return service_provider or location_org


def resolve_clinician(
    reference: Any, index: ReferenceIndex, findings: Findings, *, where: str, field: str
) -> tuple[str | None, bool]:
    """``(practitioner_key, unresolved)`` for a participant reference.

    Non-clinician targets (RelatedPerson, Patient, Device) give ``(None, False)``; a
    reference that cannot be resolved to a Practitioner gives ``(None, True)`` and a finding.
    """
    expected = None
    if isinstance(reference, dict) and not reference.get("reference") and not reference.get("type"):
        expected = "Practitioner"
    key = index.resolve(reference, where=where, field=field, expected=expected)
    if key is None:
        return None, True
    if key.startswith(_NON_CLINICIAN_TYPES):
        return None, False
    practitioner = index.practitioner(key)
    if practitioner is None:
        if key.startswith("PractitionerRole/"):
            findings.add(
                "unresolved-reference", where, field, "PractitionerRole has no practitioner"
            )
            return None, True
        return None, False
    return sys.intern(practitioner), False


#: Most participants of one Encounter that are read (a mass event or a hostile file with
#: thousands would make tie counting quadratic); the rest are a ``too-many-participants``
#: finding naming the encounter.
MAX_ENCOUNTER_PARTICIPANTS = 200


def encounter_record(
    resource: dict[str, Any],
    index: ReferenceIndex,
    findings: Findings,
    *,
    max_participants: int = MAX_ENCOUNTER_PARTICIPANTS,
) -> EncounterRecord:
    """Build the compact record of one (already checked) Encounter dict; at most
    ``max_participants`` participant entries are read."""
    key = f"Encounter/{resource['id']}"
    raw_period = resource.get("period")
    period: dict[str, Any] = raw_period if isinstance(raw_period, dict) else {}
    start = _parse_time(
        period.get("start"), where=key, field="Encounter.period.start", findings=findings
    )
    end = _parse_time(
        period.get("end"), where=key, field="Encounter.period.end", findings=findings, upper=True
    )
    participants: list[str] = []
    unresolved = 0
    entries = _entries(resource, "participant", where=key, findings=findings)
    if len(entries) > max_participants:
        findings.add(
            "too-many-participants",
            key,
            "Encounter.participant",
            f"{len(entries)} participants; only the first {max_participants} are used",
        )
        entries = entries[:max_participants]
    for n, participant in enumerate(entries):
        if not isinstance(participant, dict) or participant.get("individual") is None:
            continue
        practitioner, failed = resolve_clinician(
            participant["individual"],
            index,
            findings,
            where=key,
            field=_individual_field(n),
        )
        unresolved += failed
        if practitioner and practitioner not in participants:
            participants.append(practitioner)
        if start is None and isinstance(participant.get("period"), dict):
            start = _parse_time(
                participant["period"].get("start"),
                where=key,
                field=f"Encounter.participant[{n}].period.start",
                findings=findings,
            )
    service_provider = index.resolve(
        resource.get("serviceProvider"),
        where=key,
        field="Encounter.serviceProvider",
        expected="Organization",
    )
    location = None
    for n, entry in enumerate(_entries(resource, "location", where=key, findings=findings)):
        if isinstance(entry, dict) and entry.get("location") is not None:
            location = index.resolve(
                entry["location"],
                where=key,
                field=_location_field(n),
                expected="Location",
            )
            if location:
                break
    location_org = index.location_org(location) if location else None
    subject = index.resolve(
        resource.get("subject"), where=key, field="Encounter.subject", expected="Patient"
    )
    if resource.get("subject") is None:
        findings.add("missing-field", key, "Encounter.subject", "encounter has no patient")
    hospitalization = resource.get("hospitalization")
    disposition = (
        _first_code(hospitalization.get("dischargeDisposition"))
        if isinstance(hospitalization, dict)
        else None
    )
    class_element = resource.get("class")
    class_code = class_element.get("code") if isinstance(class_element, dict) else None
    if start is None and "start" not in period:
        findings.add("missing-field", key, "Encounter.period.start", "encounter has no start")
    return EncounterRecord(
        key=key,
        patient=_intern(subject),
        class_code=_intern(class_code) if isinstance(class_code, str) else None,
        status=sys.intern(str(resource.get("status") or "unknown")),
        start=start,
        end=end,
        participants=tuple(participants),
        unresolved_participants=unresolved,
        service_provider=_intern(service_provider),
        location=_intern(location),
        context=_intern(most_specific_org(service_provider, location_org, index)),
        discharge_disposition=_intern(disposition),
    )


def iter_encounter_records(
    source: Source,
    index: ReferenceIndex,
    findings: Findings,
    *,
    max_participants: int = MAX_ENCOUNTER_PARTICIPANTS,
) -> Iterator[EncounterRecord]:
    """Stream the source's Encounters as compact records."""
    for resource in source.iter_resources("Encounter"):
        yield encounter_record(resource, index, findings, max_participants=max_participants)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_MICROS = pa.timestamp("us", tz="UTC")
#: The Arrow columns of :class:`EncounterRecord` (one a field, same names and order).
RECORD_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("patient", pa.string()),
        ("class_code", pa.string()),
        ("status", pa.string()),
        ("start", _UTC_MICROS),
        ("end", _UTC_MICROS),
        ("participants", pa.list_(pa.string())),
        ("unresolved_participants", pa.int32()),
        ("service_provider", pa.string()),
        ("location", pa.string()),
        ("context", pa.string()),
        ("discharge_disposition", pa.string()),
    ]
)
RECORD_FIELDS = tuple(f.name for f in fields(EncounterRecord))
assert tuple(RECORD_SCHEMA.names) == RECORD_FIELDS


def _shared(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A string column as Python values, one string object per distinct value (a month
    repeats its patients', classes' and organisations' keys on every row)."""
    encoded = column.dictionary_encode()
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


def moments(column: pa.Array | pa.ChunkedArray) -> list[datetime | None]:
    """A UTC timestamp column as aware datetimes (``timezone.utc``): from the microseconds,
    five times faster than Arrow's own conversion (which makes a ``ZoneInfo`` each)."""
    micros = column.cast(pa.int64()).to_pylist()
    return [None if us is None else _EPOCH + timedelta(microseconds=us) for us in micros]


def column_values(table: pa.Table, name: str) -> list[Any]:
    """One column as Python values: strings shared (:func:`_shared`), lists as tuples,
    times as :func:`moments`."""
    column = table[name]
    if column.type == _UTC_MICROS:
        return moments(column)
    if pa.types.is_string(column.type):
        return _shared(column)
    if pa.types.is_list(column.type):
        lists = column.combine_chunks()
        items, offsets = _shared(lists.values), lists.offsets.to_pylist()
        return [tuple(items[offsets[n] : offsets[n + 1]]) for n in range(len(lists))]
    values: list[Any] = column.to_pylist()
    return values


@dataclass(frozen=True)
class EncounterRows:
    """Encounter records as an Arrow table of :data:`RECORD_SCHEMA`: what the derivation's
    SQL reads (a window of them is read a column at a time, never a record at a time).
    A window's rows are in record order (by start, then key)."""

    table: pa.Table

    @classmethod
    def of(cls, records: Iterable[EncounterRecord]) -> EncounterRows:
        """The rows of ``records``, in their order."""
        listed = list(records)
        return cls(
            pa.Table.from_pydict(
                {name: [getattr(rec, name) for rec in listed] for name in RECORD_FIELDS},
                schema=RECORD_SCHEMA,
            )
        )

    @classmethod
    def empty(cls) -> EncounterRows:
        """No rows."""
        return cls(RECORD_SCHEMA.empty_table())

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def records(self) -> list[EncounterRecord]:
        """The rows as records (for the few a step reads one at a time)."""
        if not len(self):
            return []
        columns = [column_values(self.table, name) for name in RECORD_FIELDS]
        return list(map(EncounterRecord, *columns))

    def starting(self, lo: datetime | None = None, hi: datetime | None = None) -> EncounterRows:
        """The rows starting in ``[lo, hi)`` (either bound left out: unbounded) of rows in
        record order (every one with a start): a slice, sharing their memory."""
        starts = self.table["start"]
        first = 0 if lo is None else int(pc.sum(pc.less(starts, lo)).as_py() or 0)
        last = len(self) if hi is None else int(pc.sum(pc.less(starts, hi)).as_py() or 0)
        return EncounterRows(self.table.slice(first, max(0, last - first)))

    def concat(self, other: EncounterRows) -> EncounterRows:
        """These rows, then ``other``'s."""
        return EncounterRows(pa.concat_tables([self.table, other.table]))


__all__ = [
    "MAX_ENCOUNTER_PARTICIPANTS",
    "RECORD_FIELDS",
    "RECORD_SCHEMA",
    "EncounterRecord",
    "EncounterRows",
    "column_values",
    "encounter_record",
    "iter_encounter_records",
    "moments",
    "most_specific_org",
    "resolve_clinician",
]
