"""The plan stage: the run's extract partitions (one per NDJSON file, or a whole search)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems.exporting import local_error_files, record_export_errors
from fhir_microsystems.periods import to_utc
from fhir_microsystems.sources import FhirServerSource, NdjsonSource, Source

from . import _codec
from ._common import (
    ALL_CONDITIONS,
    ALL_ENCOUNTERS,
    ALL_OBSERVATIONS,
    SOURCE_TYPES,
    opened,
)
from ._keys import store_key
from ._spec import RunSpec
from ._store import Store


def _unchanged(spec: RunSpec, source: Source) -> bool:
    """With ``spec.since``: True when nothing in the source changed after that instant."""
    if not spec.since:
        return False
    since = to_utc(datetime.fromisoformat(spec.since))
    if isinstance(source, FhirServerSource):
        return not any(source.changed_since(t, since) for t in SOURCE_TYPES)
    assert isinstance(source, NdjsonSource)
    return not any(
        datetime.fromtimestamp(path.stat().st_mtime, UTC) > since
        for t in source.resource_types()
        for path in source.files(t)
    )


def plan(spec: RunSpec, store: Store, run_id: str) -> list[str]:
    """Extract partitions: Encounters, Conditions and Observations, one per NDJSON file (or
    the whole search of each type on a server).

    An incremental run (``spec.since``) over a source where nothing changed since then plans
    nothing: the later stages then do nothing and the outputs stay as they are.
    """
    with opened(spec) as source:
        return _plan(spec, source, store, run_id)


def _plan(spec: RunSpec, source: Source, store: Store, run_id: str) -> list[str]:
    if isinstance(source, FhirServerSource):
        source.check_capabilities(SOURCE_TYPES)  # fails early: not R4, or a search missing
        partitions = [ALL_ENCOUNTERS, ALL_CONDITIONS, ALL_OBSERVATIONS]
    else:
        assert isinstance(source, NdjsonSource)
        partitions = []
        for rtype, kind in (
            ("Encounter", "encounters"),
            ("Condition", "conditions"),
            ("Observation", "observations"),
        ):
            partitions += [f"{kind}:{p.name}" for p in source.files(rtype)] or [f"{kind}:all"]
        errors = Findings()  # a Bulk export's own error files, listed by its manifest
        for path in local_error_files(source.directory):
            try:
                record_export_errors(path, errors)
            except InputError as exc:
                errors.add("export-error", path.name, "", str(exc))
        store.put(store_key(run_id, "findings", "plan"), _codec.findings_to(errors))
    unchanged = _unchanged(spec, source)
    store.put(store_key(run_id, "unchanged"), orjson.dumps(unchanged))
    if unchanged:
        partitions = []
    store.put(store_key(run_id, "plan"), orjson.dumps(partitions))
    return partitions
