"""The fact tables the measures' SQL reads: built as Arrow tables, loaded into an in-process
DuckDB database (one per thread, its tables replaced by each batch).

One set of tables serves every context of a batch (a partition's microsystems): each row
carries ``ctx``, the context's number in the batch. Times are microseconds since the epoch
(UTC). ``enc``, ``timeline`` and the patients of ``pat`` are made by one SQL
(``facts.sql``, :func:`joined_fact_tables`) from what was attributed: the derive stage
joins it from its encounter months as it derives a period and hands the tables to the
measure stage as Parquet; a library caller builds them from contexts (:func:`fact_tables`,
:class:`FactsBuilder`).

- ``ctxs``: ctx, start_us, end_us, data_end_us, start_year/start_month/start_day;
- ``enc``: the attributed encounters, each key once per context (the first occurrence):
  ctx, ord, key, patient, cls, status, void, start_us, end_us, discharge,
  primary_practitioner (the first listed practitioner who is a member of the microsystem),
  clinicians (distinct practitioners);
- ``grp``: ctx, patient (the microsystem's patient Group);
- ``pat``: key, gender, birth_date, deceased_us (the patients of ``enc`` and ``grp``);
- ``timeline``: patient, key, cls, void, start_us (every encounter of those patients);
- ``obs``: patient, kind, status, effective_us, systolic, diastolic, value, unit (the
  observations of the group patients).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from fhir_microsystems._duckdb import (
    close_thread_connections,
    epoch_micros,
    sql_steps,
    thread_connection,
)

from ._inputs import (
    VOID_ENCOUNTER_STATUSES,
    EncounterCounts,
    EncounterFact,
    MicrosystemContext,
    PatientFact,
    PatientTimelines,
    Timelines,
)
from ._sql import MEDIAN

#: The void statuses as an SQL list, and the ``void`` column computed from them.
_VOID_STATUSES = ", ".join(f"'{s}'" for s in sorted(VOID_ENCOUNTER_STATUSES))
_VOID = f", status IN ({_VOID_STATUSES}) AS void"

#: ``age_band(birth_date, year, month, day)``: the band at that day (see ``docs/measures.md``).
AGE_BAND = """
CREATE MACRO age_years(b, y, m, d) AS greatest(
    y - year(b) - CASE WHEN m < month(b) OR (m = month(b) AND d < day(b)) THEN 1 ELSE 0 END, 0);
CREATE MACRO age_band(b, y, m, d) AS CASE
    WHEN b IS NULL THEN 'unknown'
    WHEN age_years(b, y, m, d) <= 17 THEN '0-17'
    WHEN age_years(b, y, m, d) <= 44 THEN '18-44'
    WHEN age_years(b, y, m, d) <= 64 THEN '45-64'
    ELSE '65+' END;
"""


Columns = dict[str, tuple[str, list[Any]]]


def _columns(spec: str) -> Columns:
    """Empty columns (SQL type, values) named by ``spec``, ``"name TYPE, ..."``."""
    return {name: (kind, []) for name, kind in (c.split() for c in spec.split(","))}


#: The columns of ``enc`` and ``timeline`` (name and SQL type).
_ENC = (
    "ctx INTEGER, ord INTEGER, key VARCHAR, patient VARCHAR, cls VARCHAR,"
    " status VARCHAR, start_us TIMESTAMPTZ, end_us TIMESTAMPTZ, discharge VARCHAR,"
    " primary_practitioner VARCHAR, clinicians INTEGER"
)
_TIMELINE = "patient VARCHAR, key VARCHAR, cls VARCHAR, status VARCHAR, start_us TIMESTAMPTZ"


#: The Arrow type a column of each SQL type is built as (times as microseconds, BIGINT).
_ARROW = {
    "INTEGER": pa.int32(),
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.int64(),
}


def _arrow(columns: Columns) -> pa.Table:
    """Python column lists (type, values) as one Arrow table."""
    return pa.table(
        {
            col: pa.array(_micros(values) if kind == "TIMESTAMPTZ" else values, _ARROW[kind])
            for col, (kind, values) in columns.items()
        }
    )


def _schema(spec: str) -> pa.Schema:
    return pa.schema([(name, _ARROW[kind]) for name, (kind, _) in _columns(spec).items()])


#: The Arrow schemas of ``enc`` and ``timeline`` (their SQL's results are cast to them).
_ENC_SCHEMA = _schema(_ENC)
_TIMELINE_SCHEMA = _schema(_TIMELINE)


def _micros(values: list[datetime | None]) -> list[int | None]:
    """Microseconds since the epoch (exact)."""
    return [None if v is None else epoch_micros(v) for v in values]


@dataclass(frozen=True)
class FactTables:
    """A batch's fact tables (see the module's docstring), as Arrow tables."""

    ctxs: pa.Table
    enc: pa.Table
    grp: pa.Table
    pat: pa.Table
    timeline: pa.Table

    #: The tables' names, in the order of the fields.
    NAMES: ClassVar[tuple[str, ...]] = ("ctxs", "enc", "grp", "pat", "timeline")

    def named(self) -> list[tuple[str, pa.Table]]:
        """``(name, table)`` of each table."""
        return [(name, getattr(self, name)) for name in self.NAMES]


class FactsBuilder:
    """Builds a batch's :class:`FactTables` one context at a time (a caller need not hold
    every context of the batch at once); ``enc`` and ``timeline`` are made by the same SQL
    as the derive stage's (``facts.sql``)."""

    def __init__(self) -> None:
        self._ctxs = _columns(
            "ctx INTEGER, start_us TIMESTAMPTZ, end_us TIMESTAMPTZ, data_end_us TIMESTAMPTZ,"
            " start_year INTEGER, start_month INTEGER, start_day INTEGER"
        )
        self._grp = _columns("ctx INTEGER, patient VARCHAR")
        self._mem: dict[str, list[Any]] = {"ctx": [], "member": []}
        self._encounters: list[tuple[int, EncounterFact]] = []
        self.contexts = 0

    def add(self, ctx: MicrosystemContext) -> None:
        """Add one context (the next ``ctx`` number), its members, encounters and group."""
        number = self.contexts
        self.contexts += 1
        start = ctx.start
        values = (number, start, ctx.end, ctx.data_end, start.year, start.month, start.day)
        for (_, column), value in zip(self._ctxs.values(), values, strict=True):
            column.append(value)
        firsts: dict[str, EncounterFact] = {}
        for e in ctx.encounters:
            firsts.setdefault(e.key, e)
        self._encounters += [(number, e) for e in firsts.values()]
        self._mem["ctx"] += [number] * len(ctx.members)
        self._mem["member"] += list(ctx.members)
        for patient in ctx.patients:
            self._grp["ctx"][1].append(number)
            self._grp["patient"][1].append(patient)

    def context_tables(self) -> tuple[pa.Table, pa.Table]:
        """``ctxs`` and ``grp`` of the contexts added (for a caller that joins the other
        tables itself, see :func:`joined_fact_tables`)."""
        return _arrow(self._ctxs), _arrow(self._grp)

    def tables(
        self, timelines: PatientTimelines, patients: Mapping[str, PatientFact]
    ) -> FactTables:
        """The tables of the contexts added, with the facts of their patients (those in
        ``patients``) and the encounter timelines of their encounters' patients."""
        encounters = self._encounters
        attributed = pa.table(
            {
                "ctx": pa.array([n for n, _ in encounters], pa.int32()),
                "pos": pa.array(range(len(encounters)), pa.int64()),
                "ending": pa.array([False] * len(encounters), pa.bool_()),
                "key": pa.array([e.key for _, e in encounters], pa.string()),
                "patient": pa.array([e.patient for _, e in encounters], pa.string()),
                "class_code": pa.array([e.cls for _, e in encounters], pa.string()),
                "status": pa.array([e.status for _, e in encounters], pa.string()),
                "start": pa.array([e.start for _, e in encounters], _TIME),
                "end": pa.array([e.end for _, e in encounters], _TIME),
                "participants": pa.array(
                    [list(e.practitioners) for _, e in encounters], pa.list_(pa.string())
                ),
                "discharge_disposition": pa.array(
                    [e.discharge_disposition for _, e in encounters], pa.string()
                ),
            }
        )
        people = sorted({e.patient for _, e in encounters if e.patient is not None})
        timeline = [(p, e) for p in people for e in timelines.encounters_of(p)]
        fu = pa.table(
            {
                "seq": pa.array(range(len(timeline)), pa.int64()),
                "patient": pa.array([p for p, _ in timeline], pa.string()),
                "key": pa.array([e.key for _, e in timeline], pa.string()),
                "class_code": pa.array([e.cls for _, e in timeline], pa.string()),
                "status": pa.array([e.status for _, e in timeline], pa.string()),
                "start": pa.array([e.start for _, e in timeline], _TIME),
            }
        )
        ctxs, grp = self.context_tables()
        inputs = {
            "attributed": attributed,
            "mem": pa.table(self._mem, schema=_MEM),
            "grp": grp,
            "listed": pa.table({"patient": pa.array(sorted(patients), pa.string())}),
            "fu": fu,
        }
        return joined_fact_tables(inputs, lambda keys: [patients[k] for k in keys], ctxs)


#: Encounter times as the extract stage's month tables hold them.
_TIME = pa.timestamp("us", tz="UTC")
_MEM = pa.schema([("ctx", pa.int32()), ("member", pa.string())])
_FACTS = sql_steps(__package__, "facts.sql")
#: The tables :func:`joined_fact_tables` and its callers' steps make (dropped after).
_JOINED = ("attributed", "listed", "fu", "enc_rows", "people")


def joined_fact_tables(
    inputs: Mapping[str, pa.Table],
    patient_facts: Callable[[list[str]], Iterable[PatientFact]],
    ctxs: pa.Table,
    steps: Sequence[str] = (),
) -> FactTables:
    """The fact tables made by ``facts.sql`` from ``inputs`` (Arrow tables by name), after
    running ``steps`` (SQL that makes from them the inputs ``facts.sql`` names and they do
    not hold); ``patient_facts(keys)`` gives the facts of the patients of ``pat``, in the
    order of ``keys`` (asked for once, so a caller looks up only those)."""
    con = _connection()
    for name, table in inputs.items():
        con.register(name, table)
    try:
        for sql in steps:
            con.execute(sql)
        con.execute(_FACTS["enc"])
        enc = con.sql(_FACTS["enc_table"]).to_arrow_table().cast(_ENC_SCHEMA)
        keys = [row[0] for row in con.sql(_FACTS["pat_keys"]).fetchall()]
        timeline = con.sql(_FACTS["timeline"]).to_arrow_table().cast(_TIMELINE_SCHEMA)
    finally:
        for name in inputs:
            con.unregister(name)
        for name in _JOINED:
            con.execute(f"DROP TABLE IF EXISTS {name}")
        close_thread_connections("measures")  # its memory back before the patients' facts
    pat = _patient_table(patient_facts(keys))
    return FactTables(ctxs=ctxs, enc=enc, grp=inputs["grp"], pat=pat, timeline=timeline)


def fact_tables(
    contexts: Iterable[MicrosystemContext],
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
) -> FactTables:
    """The :class:`FactTables` of ``contexts`` (numbered in order)."""
    builder = FactsBuilder()
    for ctx in contexts:
        builder.add(ctx)
    return builder.tables(timelines, patients)


def _patient_table(facts: Iterable[PatientFact]) -> pa.Table:
    """The ``pat`` table of ``facts`` (in the order given)."""
    facts = list(facts)
    return _arrow(
        {
            "key": ("VARCHAR", [p.key for p in facts]),
            "gender": ("VARCHAR", [p.gender for p in facts]),
            "birth_date": ("DATE", [p.birth_date for p in facts]),
            "deceased_us": ("TIMESTAMPTZ", [p.deceased_at for p in facts]),
        }
    )


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's measures database (its macros made once; memory its queries free
    beyond 8 MB goes back to the system, as a 10M-resource month's tables are large)."""
    return thread_connection(
        "measures", AGE_BAND + MEDIAN + "SET allocator_flush_threshold = '8MB';"
    )


#: The tables a batch loads or makes (dropped by :func:`release`).
_BATCH_TABLES = ("cases", "obs", *FactTables.NAMES)


def release(con: duckdb.DuckDBPyConnection) -> None:
    """Drop a batch's tables: the measure stage builds its reports after the queries, and
    needs no copy of the facts then."""
    for name in _BATCH_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _load(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, extra: str = "") -> None:
    """``CREATE OR REPLACE TABLE name`` from an Arrow table; ``extra`` adds computed columns."""
    con.register("facts_load", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT *{extra} FROM facts_load")
    finally:
        con.unregister("facts_load")


def connect(tables: FactTables, observations: pa.Table) -> duckdb.DuckDBPyConnection:
    """This thread's in-memory database with ``tables`` and the observations of their group
    patients (replacing the previous batch's)."""
    con = _connection()
    _load(con, "ctxs", tables.ctxs)
    _load(con, "enc", tables.enc, _VOID)
    _load(con, "grp", tables.grp)
    _load(con, "pat", tables.pat)
    _load(con, "timeline", tables.timeline, _VOID)
    _observations(con, observations)
    return con


def _observations(con: duckdb.DuckDBPyConnection, observations: pa.Table) -> None:
    """``obs``: the observations of the patients of ``grp`` (loaded first), from the
    extract stage's Arrow table."""
    con.register("obs_facts", observations)
    try:
        con.execute(
            "CREATE OR REPLACE TABLE obs AS SELECT patient, kind, status,"
            " epoch_us(effective) AS effective_us, systolic, diastolic, value, unit"
            " FROM obs_facts WHERE patient IN (SELECT patient FROM grp)"
            " ORDER BY patient, effective_us, key"
        )
    finally:
        con.unregister("obs_facts")


#: Per context: its encounters that count for the data indicators (not void, starting in
#: the period), those with 2 or more clinicians and with any, the finished ones and those
#: of them with an end.
_ENCOUNTER_COUNTS = f"""
SELECT c.ctx, count(e.key), count(*) FILTER (WHERE e.clinicians >= 2),
    count(*) FILTER (WHERE e.clinicians >= 1), count(*) FILTER (WHERE e.status = 'finished'),
    count(*) FILTER (WHERE e.status = 'finished' AND e.end_us IS NOT NULL)
FROM counts_ctxs c LEFT JOIN counts_enc e ON e.ctx = c.ctx
    AND e.status NOT IN ({_VOID_STATUSES})
    AND e.start_us >= c.start_us AND e.start_us < c.end_us
GROUP BY c.ctx ORDER BY c.ctx
"""


def encounter_counts(tables: FactTables) -> list[EncounterCounts]:
    """:class:`EncounterCounts` of each context of ``tables``, in ``ctx`` order."""
    con = _connection()
    con.register("counts_ctxs", tables.ctxs)
    con.register("counts_enc", tables.enc)
    try:
        rows = con.execute(_ENCOUNTER_COUNTS).fetchall()
    finally:
        con.unregister("counts_ctxs")
        con.unregister("counts_enc")
    return [EncounterCounts(*row[1:]) for row in rows]


def own_encounter_counts(ctx: MicrosystemContext) -> EncounterCounts:
    """The :class:`EncounterCounts` of ``ctx``'s own encounters (each key once)."""
    builder = FactsBuilder()
    builder.add(ctx)
    (counts,) = encounter_counts(builder.tables(Timelines(), {}))
    return counts


__all__ = [
    "AGE_BAND",
    "FactTables",
    "FactsBuilder",
    "connect",
    "encounter_counts",
    "fact_tables",
    "joined_fact_tables",
    "own_encounter_counts",
    "release",
]
