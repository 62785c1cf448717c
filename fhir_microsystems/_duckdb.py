"""In-process DuckDB databases: one per purpose, thread and process, made on first use."""

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime, timedelta
from importlib import resources

import duckdb

_LOCAL = threading.local()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact), as the SQL holds times."""
    return (moment - _EPOCH) // _MICROSECOND


def thread_connection(purpose: str, setup: str = "") -> duckdb.DuckDBPyConnection:
    """This thread's in-memory database for ``purpose`` (``setup`` run once when it is made).

    A connection costs more than a small query, so it is kept for the thread; a forked
    worker process makes its own. Each runs on one thread: the stages already run one
    task per core.
    """
    made: tuple[int, dict[str, duckdb.DuckDBPyConnection]] | None = getattr(_LOCAL, "made", None)
    if made is None or made[0] != os.getpid():
        made = _LOCAL.made = (os.getpid(), {})
    con = made[1].get(purpose)
    if con is None:
        con = duckdb.connect(":memory:", config={"threads": 1})
        if setup:
            con.execute(setup)
        made[1][purpose] = con
    return con


def close_thread_connections(*purposes: str) -> None:
    """Close this thread's databases for ``purposes`` (all when none is named); the next
    use makes them anew (about 13 ms each).

    A database keeps the memory its queries freed for its own reuse until it is closed:
    ``duckdb_memory()`` does not count it and ``malloc_trim`` does not reach it (a 10M
    window's attribution query leaves about 270 MiB held). Closing one before other work
    stops the process from holding the high-water marks of several at once.
    """
    made: tuple[int, dict[str, duckdb.DuckDBPyConnection]] | None = getattr(_LOCAL, "made", None)
    if made is None or made[0] != os.getpid():
        return
    for purpose in purposes or list(made[1]):
        con = made[1].pop(purpose, None)
        if con is not None:
            con.close()


def sql_steps(package: str, name: str) -> dict[str, str]:
    """The steps of a packaged SQL file, each introduced by a ``-- @step <name>`` line."""
    text = resources.files(package).joinpath(name).read_text("utf-8")
    parts = re.split(r"^-- @step (\w+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


__all__ = ["close_thread_connections", "epoch_micros", "sql_steps", "thread_connection"]
