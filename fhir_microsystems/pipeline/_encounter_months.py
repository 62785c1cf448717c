"""Encounter records bucketed by the UTC month they start in, between extract and derive.

Extract partitions write the records as Arrow tables (:data:`ENCOUNTER_SCHEMA`: the
record's fields and its patient's facts, no resource bodies) in Parquet chunks per month;
the derive stage reads the months in order and keeps only those the current period's
window needs, so its memory follows the window, not the input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._findings import Findings
from fhir_microsystems.derive import DerivationConfig
from fhir_microsystems.derive.pipeline import classified
from fhir_microsystems.derive.records import RECORD_FIELDS, EncounterRows, column_values
from fhir_microsystems.extract.encounters import (
    ENCOUNTER_SCHEMA,
    NO_START,
    PATIENT_FIELDS,
    PatientRow,
)
from fhir_microsystems.measures import qualifying_counts
from fhir_microsystems.periods import Period

from ._codec import instant
from ._columns import MonthChunks, from_parquet
from ._store import Store

#: Records per Parquet chunk of a month.
ENCOUNTER_CHUNK = 20_000


def _month_bounds(label: str) -> tuple[datetime, datetime]:
    month = Period.parse(label)
    return month.start, month.end


def _overlaps(month: str, lo: datetime, hi: datetime) -> bool:
    start, end = _month_bounds(month)
    return start < hi and end > lo


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _patient_rows(facts: pa.Table, keys: pa.Array | None = None) -> dict[str, PatientRow]:
    """Patient key -> facts row, of the rows of ``facts`` whose patient was read (and is
    one of ``keys``, if given); of a patient's rows, the last."""
    found = pc.and_(facts["patient_found"], pc.is_valid(facts["patient"]))
    if keys is not None:
        found = pc.and_(found, pc.is_in(facts["patient"], value_set=keys))
    known = facts.filter(found)
    keys = known["patient"].to_pylist()
    rows = zip(*(column_values(known, name) for name in PATIENT_FIELDS), strict=True)
    return dict(zip(keys, rows, strict=True))


class MonthWriter:
    """Buckets one extract partition's record tables (:data:`ENCOUNTER_SCHEMA`) by start
    month, as Parquet chunks; notes the time range of what it was given."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.chunks = MonthChunks(store, prefix, ENCOUNTER_CHUNK)
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.latest: datetime | None = None
        self.count = 0

    def add(self, table: pa.Table) -> None:
        """Add records (of any months), with their patients' facts (carried on the rows for
        the derive stage, which holds no patient index)."""
        self.count += table.num_rows
        starts = pc.min_max(table["start"]).as_py()
        ends = pc.min_max(table["end"]).as_py()
        if starts["min"] is not None:
            self.first = min(self.first or starts["min"], starts["min"])
            self.last = max(self.last or starts["max"], starts["max"])
        for moment in (starts["max"], ends["max"]):
            if moment is not None:
                self.latest = max(self.latest or moment, moment)
        self.chunks.add(table)

    def close(self) -> dict[str, Any]:
        """Store what is left; the partition's metadata (chunks per month, time range)."""
        return {
            "chunks": self.chunks.close(),
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


#: What a loaded month keeps of its rows' patients (facts, and whether a stay outlasts it).
_FACT_COLUMNS = ["patient", "end", "patient_found", *PATIENT_FIELDS]


@dataclass
class _Month:
    rows: int  # rows of the month (duplicates dropped)
    usable: EncounterRows  # those that may feed the networks, in record order
    start: datetime
    end: datetime
    facts: pa.Table  # the month's rows' patients (:data:`_FACT_COLUMNS`)


class MonthWindows:
    """Months of records loaded in order, counted once, and dropped once no window needs them.

    Every record is classified (:func:`~fhir_microsystems.derive.pipeline.classified`) when
    its month is loaded; :meth:`finish` loads the months no window reached, so the counts
    cover every record read. A record read twice within its month is a duplicate (finding);
    duplicates are looked for within a start month only, and :meth:`rows` drops them the
    same way. ``qualifying`` counts, per encounter measure, the records that qualify for it
    by its rule over the assessed window (see
    :func:`~fhir_microsystems.measures.qualifying_counts`).
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
        self.kept_patients: dict[str, PatientRow] = {}

    def _table(
        self, month: str, columns: Sequence[str] | None = None
    ) -> tuple[pa.Table, list[str]]:
        """The month's rows (their ``columns``, with ``key``, if given) in the order read,
        each encounter once (the first time it was read), and the keys of the rows dropped
        as read again."""
        schema = ENCOUNTER_SCHEMA
        if columns is not None:
            names = list(dict.fromkeys(["key", *columns]))
            schema = pa.schema([schema.field(name) for name in names])
        tables = []
        for prefix, count in self.index.chunks.get(month, ()):
            for number in range(count):
                blob = self.store.get(f"{prefix}:{month}:{number}")
                if blob is None:
                    raise LookupError(f"claim check of encounters {prefix} {month} is gone")
                tables.append(from_parquet(blob, schema.names))
        if not tables:
            return schema.empty_table(), []
        table = pa.concat_tables(tables)
        if pc.count_distinct(table["key"]).as_py() == table.num_rows:
            return table, []  # (nearly always: no key read twice)
        seen: set[str] = set()
        first, again = [], []
        for number, key in enumerate(table["key"].to_pylist()):
            if key in seen:
                again.append(key)
            else:
                seen.add(key)
                first.append(number)
        return table.take(first), again

    def _load(self, month: str) -> tuple[EncounterRows, pa.Table, int]:
        """Read and count a month: its usable rows, its patients' facts and its row count."""
        table, again = self._table(month)
        self.read += table.num_rows + len(again)
        for key in again:
            self.findings.add("duplicate-resource", key, "Encounter.id", "read twice")
            self.unattributed["duplicate"] += 1
        if self.periods:
            self.qualifying.update(
                qualifying_counts(table, self.periods[0].start, self.periods[-1].end)
            )
        usable, reasons = classified(
            EncounterRows(table.select(RECORD_FIELDS)), self.periods, self.config
        )
        self.unattributed.update(reasons)
        return usable, table.select(_FACT_COLUMNS), table.num_rows

    def _ensure(self, hi: datetime) -> None:
        """Load every month starting before ``hi``."""
        while self.pending and _month_bounds(self.pending[0])[0] < hi:
            month = self.pending.pop(0)
            usable, facts, count = self._load(month)
            start, end = _month_bounds(month)
            self.loaded[month] = _Month(count, usable, start, end, facts)
        held = sum(m.rows for m in self.loaded.values())
        self.peak_records = max(self.peak_records, held)

    def window(self, lo: datetime, hi: datetime) -> EncounterRows:
        """Usable rows starting in ``[lo, hi)`` in record order; months ending by ``lo``
        are dropped (windows only move forward) before the next months are loaded."""
        for month in [m for m, data in self.loaded.items() if data.end <= lo]:
            data = self.loaded.pop(month)
            facts = data.facts  # counted in a later period: keep its patient's facts
            self.kept_patients.update(
                _patient_rows(facts.filter(pc.greater_equal(facts["end"], data.end)))
            )
        self._ensure(hi)
        tables = [data.usable.table for data in self.loaded.values() if data.start < hi]
        if not tables:
            return EncounterRows.empty()
        return EncounterRows(pa.concat_tables(tables)).starting(lo, hi)

    def rows(
        self,
        lo: datetime,
        hi: datetime,
        classes: frozenset[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Every row (any status) starting in ``[lo, hi)``, of ``classes`` if given, each
        encounter once within its month, in the order read (months in order), read again
        from the store (only ``columns``, with ``key``, if given): looking ahead for
        follow-ups neither loads nor counts a month."""
        wanted = pc.field("start") >= lo
        wanted &= pc.field("start") < hi
        if classes is not None:
            wanted &= pc.field("class_code").isin(sorted(classes))
        needed = None if columns is None else [*columns, "start", "class_code"]  # to filter
        tables = [
            self._table(month, needed)[0].filter(wanted)
            for month in sorted(m for m in self.index.chunks if m != NO_START)
            if _overlaps(month, lo, hi)
        ]
        if not tables:
            return ENCOUNTER_SCHEMA.empty_table()
        rows = pa.concat_tables(tables)
        return rows if columns is None else rows.select(list(dict.fromkeys(["key", *columns])))

    def patients(self, keys: Sequence[str]) -> dict[str, PatientRow]:
        """The facts rows of the patients ``keys`` seen in the loaded months (the earliest
        month's row of each), or whose encounter outlasted its dropped start month."""
        wanted = pa.array(keys, pa.string())
        listed = set(keys)
        known = {key: row for key, row in self.kept_patients.items() if key in listed}
        for data in reversed(self.loaded.values()):
            known.update(_patient_rows(data.facts, wanted))
        return known

    def finish(self) -> Counter[str]:
        """Count the months no window reached and the records without a start."""
        self.loaded.clear()
        for month in [*self.pending, NO_START]:
            self._load(month)
        self.pending = []
        return self.unattributed


__all__ = [
    "ENCOUNTER_CHUNK",
    "MonthIndex",
    "MonthWindows",
    "MonthWriter",
]
