"""One period's measure fact tables, joined by SQL from the period's encounter rows and
what the derivation attributed (``period_facts.sql``, then the measures' ``facts.sql``),
not built a record at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import pyarrow as pa

from fhir_microsystems._duckdb import sql_steps
from fhir_microsystems.derive import MicrosystemPeriod
from fhir_microsystems.measures import FactTables, PatientFact, joined_fact_tables

_SQL = sql_steps(__package__, "period_facts.sql")
#: The columns of encounter month rows the SQL reads: of the period's encounters, and of the
#: follow-ups (each with ``key``).
ROW_COLUMNS = (
    "key",
    "patient",
    "class_code",
    "status",
    "start",
    "end",
    "participants",
    "discharge_disposition",
)
FOLLOW_UP_COLUMNS = ("key", "patient", "class_code", "status", "start")


def _numbered(table: pa.Table) -> pa.Table:
    """``table`` with ``seq``, each row's place in it (the order read)."""
    return table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))


def _attributed(items: Sequence[MicrosystemPeriod]) -> tuple[pa.Table, pa.Table]:
    """``att`` (ctx, key, ending) and ``mem`` (ctx, member) of the microsystems, numbered
    in order."""
    ctx: list[int] = []
    keys: list[str] = []
    ending: list[bool] = []
    for number, item in enumerate(items):
        later = item.ending_ids - item.encounter_ids  # (the SQL orders by key)
        ctx += [number] * (len(item.encounter_ids) + len(later))
        keys += [*item.encounter_ids, *later]
        ending += [False] * len(item.encounter_ids) + [True] * len(later)
    att = pa.table(
        {"ctx": pa.array(ctx, pa.int32()), "key": keys, "ending": pa.array(ending, pa.bool_())}
    )
    mem = pa.table(
        {
            "ctx": pa.array([n for n, item in enumerate(items) for _ in item.members], pa.int32()),
            "member": [member for item in items for member in item.members],
        }
    )
    return att, mem


def period_fact_tables(
    items: Sequence[MicrosystemPeriod],
    contexts: tuple[pa.Table, pa.Table],
    period_rows: pa.Table,
    ending_rows: pa.Table,
    follow_ups: pa.Table,
    patient_facts: Callable[[list[str]], Iterable[PatientFact]],
) -> FactTables:
    """The fact tables of one period's microsystems (``items``, numbered in order).

    ``contexts`` are their ``ctxs`` and ``grp`` tables; ``period_rows`` the encounter rows
    starting in the period, ``ending_rows`` those of the encounters started earlier that
    count here by their end (each later row of a key replaces an earlier one);
    ``follow_ups`` the inpatient and emergency rows after the period's start, within the
    follow-up horizon; ``patient_facts(keys)`` the facts of the patients ``keys`` (the
    period's patients the fact tables hold), in order.
    """
    ctxs, grp = contexts
    att, mem = _attributed(items)
    inputs = {
        "recs": _numbered(
            pa.concat_tables([period_rows.select(ROW_COLUMNS), ending_rows.select(ROW_COLUMNS)])
        ),
        "att": att,
        "mem": mem,
        "grp": grp,
        "follow_ups": _numbered(follow_ups.select(FOLLOW_UP_COLUMNS)),
    }
    return joined_fact_tables(inputs, patient_facts, ctxs, (_SQL["attributed"], _SQL["listed"]))


__all__ = ["FOLLOW_UP_COLUMNS", "ROW_COLUMNS", "period_fact_tables"]
