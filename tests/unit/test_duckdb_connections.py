"""This thread's DuckDB databases: one per purpose, made on first use, closed on request."""

from __future__ import annotations

import threading

import duckdb
import pytest

from fhir_microsystems._duckdb import close_thread_connections, thread_connection


def test_a_purpose_keeps_its_database_until_it_is_closed() -> None:
    first = thread_connection("test-a", "CREATE TABLE kept AS SELECT 1 AS x")
    other = thread_connection("test-b")
    assert thread_connection("test-a") is first
    assert first.execute("SELECT x FROM kept").fetchall() == [(1,)]

    close_thread_connections("test-a")
    with pytest.raises(duckdb.ConnectionException):
        first.execute("SELECT 1")
    again = thread_connection("test-a", "CREATE TABLE kept AS SELECT 2 AS x")
    assert again is not first
    assert again.execute("SELECT x FROM kept").fetchall() == [(2,)]  # a new database
    assert thread_connection("test-b") is other  # (only the purpose named was closed)

    close_thread_connections()
    with pytest.raises(duckdb.ConnectionException):
        other.execute("SELECT 1")
    close_thread_connections()  # (nothing open: nothing to do)


def test_each_thread_has_its_own_databases() -> None:
    mine = thread_connection("test-c")
    theirs: list[duckdb.DuckDBPyConnection] = []
    worker = threading.Thread(target=lambda: theirs.append(thread_connection("test-c")))
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not mine
    close_thread_connections("test-c")
