"""One Observation reduced to what the measures need: :func:`extract_observation`.

The rules, and the findings they record, are the extract stage's SQL
(:mod:`fhir_microsystems.extract.observations`); this runs them on one resource.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa

from fhir_microsystems._findings import Findings
from fhir_microsystems.extract import ObservationExtract, Resolver, literal_key
from fhir_microsystems.measures._inputs import ObservationFact, observation_facts_of
from fhir_microsystems.sources import LineBlock


def extract_observation(
    resource: dict[str, Any], findings: Findings, *, resolve: Resolver | None = None
) -> ObservationFact | None:
    """The compact record of one Observation, or None when it cannot be used at all.

    ``resolve`` maps the ``subject`` reference element to a ``Type/id`` key; by default
    literal relative and absolute references are read.
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return None
    extract = ObservationExtract(findings, resolve=resolve or literal_key)
    try:
        line = pa.array([orjson.dumps(resource)], pa.large_binary())
        table = extract.batch(LineBlock(pa.array([1], pa.int64()), line), checked=True)
    finally:
        extract.close()
    facts = observation_facts_of(table)
    return facts[0] if facts else None


__all__ = [
    "Resolver",
    "extract_observation",
    "literal_key",
]
