"""Arrow tables handed between stages as Parquet chunks in the claim-check store."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def to_parquet(tables: Iterable[pa.Table]) -> bytes:
    """One Parquet file (zstd) of ``tables`` (one schema)."""
    sink = io.BytesIO()
    pq.write_table(pa.concat_tables(list(tables)), sink, compression="zstd")
    return sink.getvalue()


def from_parquet(blob: bytes) -> pa.Table:
    """The table of a :func:`to_parquet` chunk."""
    return pq.read_table(io.BytesIO(blob))


def split_by_month(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """``(month, rows)`` for each distinct ``month`` of ``table`` (row order kept)."""
    if table.num_rows == 0:
        return
    for month in sorted(pc.unique(table["month"]).to_pylist()):
        yield month, table.filter(pc.equal(table["month"], month))


__all__ = ["from_parquet", "split_by_month", "to_parquet"]
