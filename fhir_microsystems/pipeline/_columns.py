"""Arrow tables handed between stages as Parquet chunks in the claim-check store."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._store import Store


def to_parquet(tables: Iterable[pa.Table]) -> bytes:
    """One Parquet file (zstd) of ``tables`` (one schema)."""
    sink = io.BytesIO()
    pq.write_table(pa.concat_tables(list(tables)), sink, compression="zstd")
    return sink.getvalue()


def from_parquet(blob: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """The table of a :func:`to_parquet` chunk, or only its ``columns`` (one file read
    directly: ``read_table``'s dataset machinery costs several times more on the small
    chunks of a sparse history)."""
    return pq.ParquetFile(pa.BufferReader(blob)).read(columns=columns)


def split_by_month(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """``(month, rows)`` for each distinct ``month`` of ``table`` (row order kept)."""
    if table.num_rows == 0:
        return
    for month in sorted(pc.unique(table["month"]).to_pylist()):
        yield month, table.filter(pc.equal(table["month"], month))


class MonthChunks:
    """Tables split by their ``month`` column into Parquet chunks of at most ``size`` rows
    per month, stored under ``<prefix>:<month>:<n>`` (rows keep their order within a
    month); memory is bounded by ``size`` times the months open at once."""

    def __init__(self, store: Store, prefix: str, size: int) -> None:
        self.store, self.prefix, self.size = store, prefix, size
        self.pending: dict[str, list[pa.Table]] = {}
        #: Chunks stored per month.
        self.chunks: dict[str, int] = {}

    def add(self, table: pa.Table) -> None:
        """Add rows (any months); full chunks are stored at once."""
        for month, rows in split_by_month(table):
            tables = self.pending.setdefault(month, [])
            tables.append(rows)
            while sum(t.num_rows for t in tables) >= self.size:
                whole = pa.concat_tables(tables)
                self._store(month, [whole.slice(0, self.size)])
                tables[:] = [whole.slice(self.size)] if whole.num_rows > self.size else []

    def close(self) -> dict[str, int]:
        """Store what is left; the chunks stored per month."""
        for month in sorted(self.pending):
            if self.pending[month]:
                self._store(month, self.pending[month])
        self.pending = {}
        return self.chunks

    def _store(self, month: str, tables: list[pa.Table]) -> None:
        number = self.chunks.get(month, 0)
        self.store.put(f"{self.prefix}:{month}:{number}", to_parquet(tables))
        self.chunks[month] = number + 1


__all__ = ["MonthChunks", "from_parquet", "split_by_month", "to_parquet"]
