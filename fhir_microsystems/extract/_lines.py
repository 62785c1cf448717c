"""What the extract projections share: their connection with the JSON macros, the loading
of a block of lines into their ``values`` step, and the memo of distinct values. A line the
SQL does not read is checked by the source's own ``read_line`` (``sources/_ndjson.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import duckdb
import pyarrow as pa

from fhir_microsystems._duckdb import sql_steps
from fhir_microsystems.sources._ndjson import LineBlock

K = TypeVar("K")
V = TypeVar("V")

#: The macros every extract connection starts with (``json.sql``).
JSON_MACROS = sql_steps(__package__, "json.sql")["macros"]


def connect(*setup: str) -> duckdb.DuckDBPyConnection:
    """An extract's own in-memory database (one thread: extract tasks run one per core),
    with the JSON macros and then ``setup`` run."""
    con = duckdb.connect(":memory:", config={"threads": 1})
    for sql in (JSON_MACROS, *setup):
        con.execute(sql)
    return con


def line_table(block: LineBlock) -> tuple[pa.Table, str]:
    """The block as a table ``(lineno, line)`` for the SQL, and the SQL expression of a
    line's text (NULL when it is not UTF-8): lines that are all valid UTF-8 are handed over
    as text, checked by Arrow at once, instead of decoded one by one in the SQL."""
    text = block.lines.view(pa.large_string())
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return pa.table({"lineno": block.numbers, "line": block.lines}), "try(decode(line))"
    return pa.table({"lineno": block.numbers, "line": text}), "line"


def project(sql: str, lines: str, text: str, *, trusted: bool) -> str:
    """A projection's ``values`` step over the table ``lines`` (``text``: :func:`line_table`;
    ``trusted``: its lines are resources already checked)."""
    sql = sql.strip().rstrip(";")
    return (
        sql.replace("{lines}", lines)
        .replace("{text}", text)
        .replace("{trusted}", str(trusted).lower())
    )


def load_values(
    con: duckdb.DuckDBPyConnection,
    block: LineBlock,
    values: str,
    table: str,
    *,
    trusted: bool,
    append: bool = False,
) -> None:
    """Run a projection's ``values`` step over ``block`` into the temporary ``table``
    (made anew, or added to when ``append``)."""
    lines, text = line_table(block)
    con.register("extract_lines", lines)
    try:
        query = project(values, "extract_lines", text, trusted=trusted)
        into = f"INSERT INTO {table}" if append else f"CREATE OR REPLACE TEMP TABLE {table} AS"
        con.execute(f"{into} {query}")
    finally:
        con.unregister("extract_lines")


def remembered(
    memo: dict[K, V], wanted: Sequence[K], find: Callable[[K], V], *, most: int
) -> list[V]:
    """``find`` of each of a batch's distinct values, remembered in ``memo`` across batches
    (emptied at once when it would pass ``most`` entries, so memory stays bounded)."""
    if len(memo) + len(wanted) > most:
        memo.clear()
    found = []
    for value in wanted:
        if value in memo:
            found.append(memo[value])
        else:
            found.append(memo.setdefault(value, find(value)))
    return found


__all__ = [
    "JSON_MACROS",
    "connect",
    "line_table",
    "load_values",
    "project",
    "remembered",
]
