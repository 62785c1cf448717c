"""Input sources: a Bulk-Data NDJSON directory or a FHIR REST server, one interface."""

from ._base import REQUIRED_FIELDS, ListSource, Resource, Source, check_resource
from ._fhir_server import FhirServerSource
from ._ndjson import LineBlock, NdjsonSource
from ._references import INDEXED_TYPES, PatientInfo, PractitionerRoleInfo, ReferenceIndex

__all__ = [
    "INDEXED_TYPES",
    "REQUIRED_FIELDS",
    "FhirServerSource",
    "LineBlock",
    "ListSource",
    "NdjsonSource",
    "PatientInfo",
    "PractitionerRoleInfo",
    "ReferenceIndex",
    "Resource",
    "Source",
    "check_resource",
]
