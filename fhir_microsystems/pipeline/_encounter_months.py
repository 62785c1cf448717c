"""Encounter records bucketed by the UTC month they start in, between extract and derive.

Extract partitions write compact rows (positional JSON arrays, no resource bodies) in
chunks per month; the derive stage reads the months in order and keeps only those the
current period's window needs, so its memory follows the window, not the input.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_microsystems._findings import Findings
from fhir_microsystems.derive import DerivationConfig, EncounterRecord
from fhir_microsystems.derive.pipeline import usable_records
from fhir_microsystems.measures import EncounterFact, qualifying_measures
from fhir_microsystems.periods import Period

from ._codec import instant, interned
from ._store import Store

#: The bucket of records without a start (never in a window; counted as ``no-start``).
NO_START = "none"
#: Records per claim-check chunk.
ENCOUNTER_CHUNK = 1_000


#: ``year * 12 + month`` -> ``YYYY-MM`` (formatting is slow and every record needs one).
_MONTH_LABELS: dict[int, str] = {}


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of an aware UTC datetime."""
    year, month = moment.year, moment.month
    label = _MONTH_LABELS.get(year * 12 + month)
    if label is None:
        label = _MONTH_LABELS[year * 12 + month] = f"{year:04d}-{month:02d}"
    return label


def _month_bounds(label: str) -> tuple[datetime, datetime]:
    month = Period.parse(label)
    return month.start, month.end


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _row_instant(moment: datetime | None) -> datetime | str | None:
    """``_iso(moment)``, or ``moment`` itself when UTC: orjson writes a UTC datetime exactly
    as ``isoformat()`` does (``2025-01-27T14:15:00+00:00``, microseconds when not 0), and
    several times faster, so the stored row is the same."""
    if moment is None or moment.tzinfo is UTC:
        return moment
    return moment.isoformat()


def record_row(rec: EncounterRecord, instant: Callable[[datetime | None], Any] = _iso) -> list[Any]:
    """One record as a positional row (the order of :class:`EncounterRecord`'s fields),
    its times as ``instant`` gives them (ISO strings by default)."""
    return [
        rec.key,
        rec.patient,
        rec.class_code,
        rec.status,
        instant(rec.start),
        instant(rec.end),
        rec.participants,
        rec.unresolved_participants,
        rec.service_provider,
        rec.location,
        rec.context,
        rec.discharge_disposition,
    ]


def record_from(row: list[Any]) -> EncounterRecord:
    """Inverse of :func:`record_row` (interning the repeated keys again)."""
    return EncounterRecord(
        key=row[0],
        patient=interned(row[1]),
        class_code=interned(row[2]),
        status=interned(row[3]) or "unknown",
        start=instant(row[4]),
        end=instant(row[5]),
        participants=tuple(_interned(row[6])),
        unresolved_participants=row[7],
        service_provider=interned(row[8]),
        location=interned(row[9]),
        context=interned(row[10]),
        discharge_disposition=interned(row[11]),
    )


def _interned(values: Iterable[str]) -> Iterable[str]:
    return (sys.intern(v) for v in values)


@dataclass
class MonthWriter:
    """Buckets one extract partition's records by start month and flushes them in chunks."""

    store: Store
    prefix: str
    buckets: dict[str, list[list[Any]]] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    latest: datetime | None = None
    count: int = 0

    def add(self, rec: EncounterRecord, patient: list[Any] | None = None) -> None:
        """Add one record, with its patient's facts (carried on the row for the derive
        stage, which holds no patient index)."""
        self.count += 1
        month = NO_START
        if rec.start is not None:
            month = month_of(rec.start)
            if self.first is None or rec.start < self.first:
                self.first = rec.start
            if self.last is None or rec.start > self.last:
                self.last = rec.start
        for moment in (rec.start, rec.end):
            if moment is not None and (self.latest is None or moment > self.latest):
                self.latest = moment
        bucket = self.buckets.get(month)
        if bucket is None:
            bucket = self.buckets[month] = []
        row = record_row(rec, _row_instant)  # the same bytes once orjson writes them
        row.append(patient)
        bucket.append(row)
        if len(bucket) >= ENCOUNTER_CHUNK:
            self._flush(month)

    def _flush(self, month: str) -> None:
        number = self.chunks.get(month, 0)
        self.store.put(f"{self.prefix}:{month}:{number}", orjson.dumps(self.buckets.pop(month)))
        self.chunks[month] = number + 1

    def close(self) -> dict[str, Any]:
        """Flush what is left; the partition's metadata (chunks per month, time range)."""
        for month in list(self.buckets):
            self._flush(month)
        return {
            "chunks": self.chunks,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "latest": _iso(self.latest),
            "records": self.count,
        }


@dataclass(frozen=True)
class MonthIndex:
    """The extract partitions' metadata combined: where each month's chunks are."""

    chunks: dict[str, list[tuple[str, int]]]  # month -> [(key prefix, chunk count)]
    first: datetime | None
    last: datetime | None
    latest: datetime | None

    @classmethod
    def combine(cls, metas: Sequence[tuple[str, dict[str, Any]]]) -> MonthIndex:
        chunks: dict[str, list[tuple[str, int]]] = {}
        for prefix, meta in metas:
            for month, count in meta["chunks"].items():
                chunks.setdefault(month, []).append((prefix, int(count)))

        def moments(name: str) -> list[datetime]:
            return [m for _, meta in metas if (m := instant(meta[name])) is not None]

        return cls(
            chunks,
            min(moments("first"), default=None),
            max(moments("last"), default=None),
            max(moments("latest"), default=None),
        )


@dataclass
class _Month:
    records: list[EncounterRecord]  # every record of the month (duplicates dropped)
    usable: list[EncounterRecord]  # those that may feed the networks, in record order
    start: datetime
    end: datetime
    patients: dict[str, tuple[Any, ...]]  # facts of the month's patients (row tails)


class MonthWindows:
    """Months of records loaded in order, counted once, and dropped once no window needs them.

    Every record is classified (:func:`~fhir_microsystems.derive.pipeline.classify`) when
    its month is loaded; :meth:`finish` loads the months no window reached, so the counts
    cover every record read. A record read twice within its month is a duplicate (finding);
    duplicates are looked for within a start month only. ``qualifying`` counts, per
    encounter measure, the records that qualify for it by its rule over the assessed
    window (see :func:`~fhir_microsystems.measures.qualifying_measures`).
    """

    def __init__(
        self,
        store: Store,
        index: MonthIndex,
        periods: Sequence[Period],
        config: DerivationConfig,
        findings: Findings,
    ) -> None:
        self.store, self.index, self.periods = store, index, periods
        self.config, self.findings = config, findings
        self.pending = sorted(m for m in index.chunks if m != NO_START)
        self.loaded: dict[str, _Month] = {}
        self.unattributed: Counter[str] = Counter()
        self.qualifying: Counter[str] = Counter()
        self.read = 0
        self.peak_records = 0
        #: Facts of patients whose encounters outlast their dropped start month.
        self.kept_patients: dict[str, tuple[Any, ...]] = {}

    def _rows(self, month: str) -> Iterable[list[Any]]:
        for prefix, count in self.index.chunks.get(month, ()):
            for number in range(count):
                blob = self.store.get(f"{prefix}:{month}:{number}")
                if blob is None:
                    raise LookupError(f"claim check of encounters {prefix} {month} is gone")
                yield from orjson.loads(blob)

    def _load(
        self, month: str, patients: dict[str, tuple[Any, ...]] | None = None
    ) -> list[EncounterRecord]:
        seen: set[str] = set()
        records = []
        for row in self._rows(month):
            if patients is not None and row[1] is not None and len(row) > 12 and row[12]:
                gender, birth, deceased, deceased_at = row[12]
                patients[sys.intern(row[1])] = (interned(gender), birth, deceased, deceased_at)
            self.read += 1
            if row[0] in seen:
                self.findings.add("duplicate-resource", row[0], "Encounter.id", "read twice")
                self.unattributed["duplicate"] += 1
                continue
            seen.add(row[0])
            rec = record_from(row)
            records.append(rec)
            self._qualify(rec)
        return records

    def _qualify(self, rec: EncounterRecord) -> None:
        if not self.periods or rec.start is None:
            return
        fact = EncounterFact(rec.key, rec.patient, rec.class_code, rec.status, rec.start, rec.end)
        self.qualifying.update(
            qualifying_measures(fact, self.periods[0].start, self.periods[-1].end)
        )

    def _classify(self, records: list[EncounterRecord]) -> list[EncounterRecord]:
        return usable_records(records, self.periods, self.config, self.unattributed)

    def _ensure(self, hi: datetime) -> None:
        """Load every month starting before ``hi``."""
        while self.pending and _month_bounds(self.pending[0])[0] < hi:
            month = self.pending.pop(0)
            patients: dict[str, tuple[Any, ...]] = {}
            records = self._load(month, patients)
            start, end = _month_bounds(month)
            self.loaded[month] = _Month(records, self._classify(records), start, end, patients)
        held = sum(len(m.records) for m in self.loaded.values())
        self.peak_records = max(self.peak_records, held)

    def window(self, lo: datetime, hi: datetime) -> list[EncounterRecord]:
        """Usable records starting in ``[lo, hi)`` in record order; months ending by ``lo``
        are dropped (windows only move forward) before the next months are loaded."""
        for month in [m for m, data in self.loaded.items() if data.end <= lo]:
            data = self.loaded.pop(month)
            for rec in data.records:  # counted in a later period: keep its patient's facts
                if rec.patient and rec.end is not None and rec.end >= data.end:
                    facts = data.patients.get(rec.patient)
                    if facts is not None:
                        self.kept_patients[rec.patient] = facts
        self._ensure(hi)
        return [
            rec
            for data in self.loaded.values()
            if data.start < hi
            for rec in data.usable
            if rec.start is not None and lo <= rec.start < hi
        ]

    def records(
        self, lo: datetime, hi: datetime, classes: frozenset[str] | None = None
    ) -> list[EncounterRecord]:
        """Every record (any status) starting in ``[lo, hi)``, of ``classes`` if given.

        Months no window has reached yet are only peeked at (the matching records are
        built, nothing is kept or counted), so looking ahead for follow-ups does not load
        the next month whole.
        """
        found = [
            rec
            for data in self.loaded.values()
            if data.start < hi and data.end > lo
            for rec in data.records
            if rec.start is not None
            and lo <= rec.start < hi
            and (classes is None or rec.class_code in classes)
        ]
        for month in self.pending:
            if _month_bounds(month)[0] >= hi:
                break
            seen: set[str] = set()
            for row in self._rows(month):
                if row[0] in seen or (classes is not None and row[2] not in classes):
                    continue
                seen.add(row[0])
                rec = record_from(row)
                if rec.start is not None and lo <= rec.start < hi:
                    found.append(rec)
        return found

    def patient(self, key: str) -> tuple[Any, ...] | None:
        """The facts row of a patient seen in a loaded month, or of one whose encounter
        outlasted its dropped start month (None if not known)."""
        for data in self.loaded.values():
            found = data.patients.get(key)
            if found is not None:
                return found
        return self.kept_patients.get(key)

    def finish(self) -> Counter[str]:
        """Count the months no window reached and the records without a start."""
        self.loaded.clear()
        for month in [*self.pending, NO_START]:
            self._classify(self._load(month))
        self.pending = []
        return self.unattributed


__all__ = [
    "ENCOUNTER_CHUNK",
    "NO_START",
    "MonthIndex",
    "MonthWindows",
    "MonthWriter",
    "month_of",
    "record_from",
    "record_row",
]
