"""What every stage shares: the run's partitions, window margin and source."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from fhir_microsystems._settings import Settings
from fhir_microsystems.connect import open_source
from fhir_microsystems.sources import FhirServerSource, Source

from ._spec import RunSpec

#: Findings kept in full per stage partition (the rest are counted).
FINDINGS_KEPT = 2_000
ALL_OBSERVATIONS = "observations:all"
ALL_ENCOUNTERS = "encounters:all"
ALL_CONDITIONS = "conditions:all"
#: Encounters are read this far around the assessed window (network look-back, follow-ups).
READ_MARGIN = timedelta(days=31)
#: Resource types a run reads from a server.
SOURCE_TYPES = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "CareTeam",
    "Condition",
    "Encounter",
    "Observation",
)


def utc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)


def run_source(spec: RunSpec, settings: Settings | None = None) -> Source:
    """The run's source. A server is read in full for the window (never only the changes
    since ``spec.since``: a microsystem is derived from all of its period's encounters)."""
    start, end = utc_date(spec.start), utc_date(spec.end)
    window = None
    if start is not None or end is not None:
        window = (
            start - READ_MARGIN if start is not None else None,
            end + READ_MARGIN if end is not None else None,
        )
    return open_source(spec.source, settings, window=window)


@contextmanager
def opened(spec: RunSpec) -> Iterator[Source]:
    """The run's source, its FHIR client (if any) closed when the stage is done with it."""
    source = run_source(spec)
    try:
        yield source
    finally:
        if isinstance(source, FhirServerSource):
            source.client.close()


def source_retries(source: Source) -> int:
    client = getattr(source, "client", None)
    return int(getattr(getattr(client, "stats", None), "retries", 0))
