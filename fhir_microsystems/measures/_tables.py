"""The fact tables the measures' SQL reads, loaded into an in-process DuckDB database
(one per thread, its tables replaced by each batch).

One load serves every context of a batch (a partition's microsystems): each row carries
``ctx``, the context's number in the batch. Times are microseconds since the epoch (UTC).

- ``ctxs``: ctx, start_us, end_us, data_end_us, start_year/start_month/start_day;
- ``enc``: the attributed encounters, each key once per context (the first occurrence):
  ctx, ord, key, patient, cls, status, void, start_us, end_us, discharge,
  primary_practitioner (the first listed practitioner who is a member of the microsystem);
- ``grp``: ctx, patient (the microsystem's patient Group);
- ``pat``: key, gender, birth_date, deceased_us (the patients of ``enc`` and ``grp``);
- ``timeline``: patient, key, cls, void, start_us (every encounter of those patients);
- ``obs``: patient, kind, status, effective_us, systolic, diastolic, value, unit (the
  observations of the group patients).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from fhir_microsystems._duckdb import thread_connection

from ._inputs import (
    VOID_ENCOUNTER_STATUSES,
    MicrosystemContext,
    PatientFact,
    PatientTimelines,
)
from ._sql import MEDIAN

_VOID = ", status IN ({}) AS void".format(
    ", ".join(f"'{s}'" for s in sorted(VOID_ENCOUNTER_STATUSES))
)

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


#: The Arrow type a column of each SQL type is loaded as (times as microseconds, BIGINT).
_ARROW = {
    "INTEGER": pa.int32(),
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.int64(),
}


def _create(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Columns,
    extra: str = "",
) -> None:
    """``CREATE OR REPLACE TABLE name`` from Python column lists (type, values), loaded as
    one Arrow table (no DuckDB value per element); ``extra`` adds computed columns."""
    table = pa.table(
        {
            col: pa.array(_micros(values) if kind == "TIMESTAMPTZ" else values, _ARROW[kind])
            for col, (kind, values) in columns.items()
        }
    )
    con.register("facts_load", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT *{extra} FROM facts_load")
    finally:
        con.unregister("facts_load")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(values: list[datetime | None]) -> list[int | None]:
    """Microseconds since the epoch (exact; binding ints costs DuckDB less than datetimes)."""
    return [None if v is None else (v - _EPOCH) // _MICROSECOND for v in values]


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's measures database (its macros made once)."""
    return thread_connection("measures", AGE_BAND + MEDIAN)


def connect(
    contexts: Sequence[MicrosystemContext],
    timelines: PatientTimelines,
    patients: Mapping[str, PatientFact],
) -> duckdb.DuckDBPyConnection:
    """This thread's in-memory database with the fact tables of ``contexts`` (replacing
    the previous batch's)."""
    con = _connection()
    c_rows = _columns(
        "ctx INTEGER, start_us TIMESTAMPTZ, end_us TIMESTAMPTZ, data_end_us TIMESTAMPTZ,"
        " start_year INTEGER, start_month INTEGER, start_day INTEGER"
    )
    enc = _columns(
        "ctx INTEGER, ord INTEGER, key VARCHAR, patient VARCHAR, cls VARCHAR, status VARCHAR,"
        " start_us TIMESTAMPTZ, end_us TIMESTAMPTZ, discharge VARCHAR,"
        " primary_practitioner VARCHAR"
    )
    grp = _columns("ctx INTEGER, patient VARCHAR")
    people: set[str] = set()
    group_people: set[str] = set()
    for number, ctx in enumerate(contexts):
        for col, value in zip(
            c_rows,
            (
                number,
                ctx.start,
                ctx.end,
                ctx.data_end,
                ctx.start.year,
                ctx.start.month,
                ctx.start.day,
            ),
            strict=True,
        ):
            c_rows[col][1].append(value)
        seen: set[str] = set()
        members = ctx.members
        for e in ctx.encounters:
            if e.key in seen:
                continue
            seen.add(e.key)
            primary = next((p for p in e.practitioners if p in members), None)
            row = (number, len(seen), e.key, e.patient, e.cls, e.status, e.start, e.end)
            for col, value in zip(enc, (*row, e.discharge_disposition, primary), strict=True):
                enc[col][1].append(value)
            if e.patient is not None:
                people.add(e.patient)
        for patient in ctx.patients:
            grp["ctx"][1].append(number)
            grp["patient"][1].append(patient)
        group_people.update(ctx.patients)
    _create(con, "ctxs", c_rows)
    _create(con, "enc", enc, _VOID)
    _create(con, "grp", grp)
    _patients(con, patients, people | group_people)
    _timeline(con, timelines, people)
    _observations(con, timelines)
    return con


def _patients(
    con: duckdb.DuckDBPyConnection, patients: Mapping[str, PatientFact], keys: set[str]
) -> None:
    facts = [patients[k] for k in sorted(keys) if k in patients]
    _create(
        con,
        "pat",
        {
            "key": ("VARCHAR", [p.key for p in facts]),
            "gender": ("VARCHAR", [p.gender for p in facts]),
            "birth_date": ("DATE", [p.birth_date for p in facts]),
            "deceased_us": ("TIMESTAMPTZ", [p.deceased_at for p in facts]),
        },
    )


def _timeline(con: duckdb.DuckDBPyConnection, timelines: PatientTimelines, keys: set[str]) -> None:
    cols = _columns(
        "patient VARCHAR, key VARCHAR, cls VARCHAR, status VARCHAR, start_us TIMESTAMPTZ"
    )
    patient, key, cls, status, start = (v for _, v in cols.values())
    for person in sorted(keys):
        for e in timelines.encounters_of(person):
            patient.append(person)
            key.append(e.key)
            cls.append(e.cls)
            status.append(e.status)
            start.append(e.start)
    _create(con, "timeline", cols, _VOID)


def _observations(con: duckdb.DuckDBPyConnection, timelines: PatientTimelines) -> None:
    """``obs``: the observations of the patients of ``grp`` (loaded first), from the
    extract stage's Arrow table."""
    con.register("obs_facts", timelines.observations)
    try:
        con.execute(
            "CREATE OR REPLACE TABLE obs AS SELECT patient, kind, status,"
            " epoch_us(effective) AS effective_us, systolic, diastolic, value, unit"
            " FROM obs_facts WHERE patient IN (SELECT patient FROM grp)"
            " ORDER BY patient, effective_us, key"
        )
    finally:
        con.unregister("obs_facts")


__all__ = ["AGE_BAND", "connect"]
