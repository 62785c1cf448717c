"""A FHIR REST server as a source: streamed searches through the project's client."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from fhir_microsystems._errors import ResourceGoneError
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient

from ._base import Resource, check_resource

log = logging.getLogger(__name__)

#: The search parameter that bounds each type by clinical time, when a window is given.
DATE_PARAMS: Mapping[str, str] = {"Encounter": "date", "Observation": "date"}

#: Searches a run relies on; checked against the CapabilityStatement before reading.
REQUIRED_SEARCHES: Mapping[str, tuple[str, ...]] = {
    "Encounter": ("_lastUpdated", "date"),
    "Observation": ("_lastUpdated", "date"),
}


class FhirServerSource:
    """Reads resources of a type with ``GET [base]/Type?...``, page by page.

    ``since`` adds ``_lastUpdated=gt...`` (incremental runs); ``window`` bounds
    clinical-time types (Encounter, Observation) by their ``date`` parameter. An expired next
    link (410) restarts the search, skipping what was already yielded, at most
    ``max_restarts`` times.
    """

    def __init__(
        self,
        client: FhirClient,
        *,
        page_size: int = 200,
        since: datetime | None = None,
        window: tuple[datetime | None, datetime | None] | None = None,
        types: Iterable[str] = (),
        max_restarts: int = 3,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.since = since
        self.window = window
        self.findings = Findings()
        self.base_urls: tuple[str, ...] = (client.base_url,)
        self._types = sorted(types)
        self.max_restarts = max_restarts
        self.resources_read = 0

    def check_capabilities(self, types: Iterable[str]) -> None:
        """Fail early (CapabilityError) if the server is not R4 or lacks a needed search."""
        searches = {t: REQUIRED_SEARCHES.get(t, ()) for t in types}
        self.client.require(
            fhir_version="4.0",
            searches={t: s for t, s in searches.items() if s},
            interactions={t: ("search-type",) for t in types},
        )

    def changed_since(self, resource_type: str, since: datetime) -> bool:
        """Whether any ``resource_type`` resource was updated after ``since`` (one small page)."""
        for page in self.client.search_pages(resource_type, count=1, since=since):
            return bool(page.matches)
        return False

    def resource_types(self) -> list[str]:
        if self._types:
            return list(self._types)
        return sorted(self.client.capabilities().resources)

    def iter_resources(self, resource_type: str) -> Iterator[Resource]:
        date_param = DATE_PARAMS.get(resource_type)
        ranges = {date_param: self.window} if self.window and date_param else None
        yielded: set[str] = set()
        restarts = 0
        while True:
            try:
                for resource in self.client.search(
                    resource_type, count=self.page_size, since=self.since, date_ranges=ranges
                ):
                    rid = resource.get("id")
                    if restarts and isinstance(rid, str) and rid in yielded:
                        continue
                    self.resources_read += 1
                    where = f"{resource_type}/{rid}" if isinstance(rid, str) else resource_type
                    checked = check_resource(resource, resource_type, where, self.findings)
                    if checked is not None:
                        yielded.add(checked["id"])
                        yield checked
                return
            except ResourceGoneError:
                restarts += 1
                if restarts > self.max_restarts:
                    raise
                log.warning("%s search: next link expired (410); restarting", resource_type)
