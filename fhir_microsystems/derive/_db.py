"""The derivation's in-process database: its SQL reads windows of :class:`EncounterRows`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from fhir_microsystems._duckdb import sql_steps, thread_connection
from fhir_microsystems._memory import release_memory

#: A window's joins allocate and free much more than they keep: memory freed beyond this
#: goes back to the system at once (DuckDB keeps 128 MB by default). Times are read in UTC
#: (an hour of day is the UTC hour, as :class:`~datetime.datetime` gives it).
_SETUP = "SET allocator_flush_threshold = '8MB'; SET TimeZone = 'UTC'"
#: The steps of ``window.sql``, by name.
STEPS = sql_steps(__package__, "window.sql")


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's derivation database."""
    return thread_connection("derive", _SETUP)


def numbered(table: pa.Table) -> pa.Table:
    """``table`` with ``ord``, each row's place in it (a window's rows are in record order)."""
    return table.append_column("ord", pa.array(range(table.num_rows), pa.int64()))


@contextmanager
def registered(**tables: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """The derivation database with ``tables`` registered by name for the block."""
    release_memory()  # what the steps before freed: this one's peak is not on top of it
    con = _connection()
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield con
    finally:
        for name in tables:
            con.unregister(name)
        release_memory()


__all__ = ["STEPS", "numbered", "registered"]
