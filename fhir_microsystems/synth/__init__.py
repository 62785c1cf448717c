"""A deterministic synthetic hospital whose clinical microsystems are known.

:func:`generate` writes Bulk-Data NDJSON (``Organization``, ``Location``, ``Practitioner``,
``PractitionerRole``, ``Patient``, ``Condition``, ``CareTeam``, ``Encounter``,
``Observation``), a Bulk Data ``manifest.json`` and the ground truth, streaming patient by
patient (memory stays flat). The same arguments give the same bytes.

``ground-truth.json`` (schema ``fhir-microsystems/ground-truth/1``)::

    {"schema": "fhir-microsystems/ground-truth/1", "seed": 1, "start": "2025-01-01",
     "months": 12, "patients": 2000, "base_url": "https://synthetic-hospital.example/fhir",
     "config": {<every SynthConfig knob, derived sizes filled in>},
     "macrosystem": "Organization/<id>",
     "mesosystems": [{"organization": "Organization/<id>", "name": "..."}],
     "microsystems": [{"key": "ed", "name": "...",
                       "kind": "emergency|oncology|inpatient-ward|primary-care",
                       "organization": "Organization/<id>",   # own, or the department's
                       "mesosystem": "Organization/<id>",
                       "locations": ["Location/<id>", ...],
                       "careteam": "CareTeam/<id>"}],
     "periods": [{"month": "YYYY-MM", "microsystems": {"<key>": {
                     "core": ["Practitioner/<id>", ...],        # works there that month
                     "occasional": ["Practitioner/<id>", ...],  # floated in / covered
                     "identifiers": {"Practitioner/<id>": "http://hl7.org/fhir/sid/us-npi|<npi>"},
                     "encounters": <count>}}}],
     "events": [{"month": "YYYY-MM", "practitioner": "Practitioner/<id>",
                 "type": "join|leave|move", "from": "<key>"|null, "to": "<key>"|null}],
     "performance": {"<key>": {"systolic_shift", "hba1c_shift", "los_factor",
                               "readmission_factor"}},
     "encounters_file": "ground-truth-encounters.ndjson"}

``ground-truth-encounters.ndjson`` has one line per Encounter:
``{"encounter": "Encounter/<id>", "month": "YYYY-MM", "microsystem": "<key>"}``.
Months are UTC calendar months of ``Encounter.period.start``; an event's month is the first
month of the new roster. Consultants (participant type ``CON``) come from another
microsystem and are listed in neither ``core`` nor ``occasional`` of the one they consult for.
"""

from __future__ import annotations

from .config import DEFAULT_BASE_URL, SynthConfig
from .generator import SynthSummary, generate
from .truth import ENCOUNTERS_FILE, SCHEMA, TRUTH_FILE
from .writer import RESOURCE_TYPES

__all__ = [
    "DEFAULT_BASE_URL",
    "ENCOUNTERS_FILE",
    "RESOURCE_TYPES",
    "SCHEMA",
    "TRUTH_FILE",
    "SynthConfig",
    "SynthSummary",
    "generate",
]
