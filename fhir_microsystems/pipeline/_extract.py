"""The extract stage: one partition's Encounters, Conditions or Observations reduced to
compact rows in the store, by month."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any, Protocol, TypeVar

import orjson
import pyarrow as pa

from fhir_microsystems._findings import Findings
from fhir_microsystems._memory import release_memory, releasing
from fhir_microsystems._settings import Settings
from fhir_microsystems.derive.cohorts import Spells
from fhir_microsystems.extract import (
    ConditionExtract,
    EncounterExtract,
    ObservationExtract,
    PatientSpells,
)
from fhir_microsystems.sources import LineBlock, NdjsonSource, ReferenceIndex, Source
from fhir_microsystems.sources._references import INDEXED_TYPES

from . import _codec
from ._columns import MonthChunks, to_parquet
from ._common import (
    opened,
    source_retries,
)
from ._encounter_months import MonthWriter
from ._keys import store_key
from ._spec import RunSpec
from ._store import Store

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: Observation facts per Parquet chunk in the store (bounds extract and hand-off memory).
OBSERVATION_CHUNK = 50_000
#: Bytes of an NDJSON file the extract SQL reads at once (then the rest of the last line):
#: enough that its fixed costs per batch do not count, little enough for memory.
SQL_BATCH_BYTES = 32 * 1024 * 1024
#: Resources of a server search the extract SQL reads at once.
SEARCH_BATCH = 20_000


def _quiet_index(source: Source, types: Iterable[str] = INDEXED_TYPES) -> ReferenceIndex:
    """The reference index with its own findings dropped: the derive stage reads these
    types too and reports them once. Later resolutions record into ``source.findings``."""
    kept = source.findings
    source.findings = Findings()
    try:
        index = ReferenceIndex.build(source, types=types)
    finally:
        source.findings = kept
    index.findings = kept
    return index


@releasing
def extract(spec: RunSpec, partition: str, store: Store, run_id: str) -> dict[str, int]:
    """Reduce one partition's Encounters, Conditions or Observations to compact rows
    (Encounters and Observations by the UTC month they start in; Conditions to the cohort
    spells of each patient).

    Rows are flushed to the store in chunks per month, so memory is bounded by the chunk
    size (times the months), not by the partition.
    """
    with opened(spec) as source:
        if partition.startswith("encounters:"):
            return _extract_encounters(partition, source, store, run_id)
        if partition.startswith("conditions:"):
            return _extract_conditions(partition, source, store, run_id)
        return _extract_observations(partition, source, store, run_id)


def _extract_encounters(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    """Encounter records by start month (``MonthWriter``), read by the SQL projection."""
    index = _quiet_index(source)
    writer = MonthWriter(store, store_key(run_id, "enc", partition))
    extract = EncounterExtract(
        index, source.findings, max_participants=Settings().max_encounter_participants
    )
    read = _read_lines(extract, partition, source, "Encounter", writer.add)
    store.put(store_key(run_id, "enc-meta", partition), orjson.dumps(writer.close()))
    return _extracted(partition, source, store, run_id, read)


def _extract_conditions(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    """Cohort spells (:class:`~fhir_microsystems.derive.cohorts.Spells`), one Parquet
    chunk per batch of lines that has any."""
    chunks = 0

    def add(found: list[PatientSpells]) -> None:
        nonlocal chunks
        if found:
            table = Spells.of(found).table
            store.put(store_key(run_id, "spells", partition, str(chunks)), to_parquet([table]))
            chunks += 1

    extract = ConditionExtract(_quiet_index(source), source.findings)
    read = _read_lines(extract, partition, source, "Condition", add)
    store.put(store_key(run_id, "spell-chunks", partition), orjson.dumps(chunks))
    return _extracted(partition, source, store, run_id, read)


class _LineExtract(Protocol[T_co]):
    """An extract projection (``extract/``): batches of lines in, its output out."""

    where: Callable[[int], str]
    resources: int

    def batch(self, block: LineBlock, *, checked: bool = False) -> T_co: ...

    def close(self) -> None: ...


def _read_lines(
    extract: _LineExtract[T],
    partition: str,
    source: Source,
    resource_type: str,
    add: Callable[[T], object],
) -> int:
    """Feed the partition's lines to ``extract`` batch by batch, its output to ``add``; the
    resources read (``extract`` is closed)."""
    try:
        for block, where, checked in _line_batches(partition, source, resource_type):
            extract.where = where
            add(extract.batch(block, checked=checked))
            release_memory()
    finally:
        extract.close()
    return extract.resources


def _line_batches(
    partition: str, source: Source, resource_type: str
) -> Iterator[tuple[LineBlock, Callable[[int], str], bool]]:
    """The partition's resources of ``resource_type`` as blocks of lines:
    ``(block, where, checked)``.
    NDJSON files are read as blocks of lines (the SQL checks them); a server's search
    results are resources already, written as lines."""
    name = partition.split(":", 1)[1]
    if isinstance(source, NdjsonSource):
        for path in source.files(resource_type):
            if name not in ("all", path.name):
                continue
            in_file: Callable[[int], str] = partial("{}:{}".format, path.name)
            for block in source.iter_line_blocks(path, SQL_BATCH_BYTES):
                yield block, in_file, False
        return
    in_search: Callable[[int], str] = f"{resource_type} search result {{}}".format
    resources = iter(source.iter_resources(resource_type))
    count = 0
    while page := [orjson.dumps(r) for r in islice(resources, SEARCH_BATCH)]:
        numbers = pa.array(range(count + 1, count + 1 + len(page)), pa.int64())
        count += len(page)
        yield LineBlock(numbers, pa.array(page, pa.large_binary())), in_search, True


def _extract_observations(
    partition: str, source: Source, store: Store, run_id: str
) -> dict[str, int]:
    """Observation facts by month as Parquet chunks of at most ``OBSERVATION_CHUNK`` rows."""
    index = _quiet_index(source, types=("Patient",))
    findings = source.findings

    def resolve(reference: Any) -> str | None:
        return index.resolve(reference, where="Observation", field="subject", record=False)

    chunks = MonthChunks(store, store_key(run_id, "obs", partition), OBSERVATION_CHUNK)
    extract = ObservationExtract(findings, resolve=resolve)
    read = _read_lines(extract, partition, source, "Observation", chunks.add)
    store.put(store_key(run_id, "obs-chunks", partition), orjson.dumps(chunks.close()))
    return _extracted(partition, source, store, run_id, read)


def _extracted(
    partition: str, source: Source, store: Store, run_id: str, read: int
) -> dict[str, int]:
    """Store the partition's findings; what the extract task reports."""
    findings = source.findings
    store.put(store_key(run_id, "findings", "extract", partition), _codec.findings_to(findings))
    return {"resources": read, "findings": findings.total, "retries": source_retries(source)}
