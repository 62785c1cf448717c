"""The real-data excerpt shipped with the tests (``tests/data/synthea-excerpt``).

``FHIR_MICROSYSTEMS_SYNTHEA_DIR`` points the tests at another Synthea NDJSON directory (the
full development set, for instance); the expected figures are always counted from the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

SYNTHEA_EXCERPT = Path(__file__).resolve().parents[1] / "data" / "synthea-excerpt"
SYNTHEA_DIR = Path(os.environ.get("FHIR_MICROSYSTEMS_SYNTHEA_DIR") or SYNTHEA_EXCERPT)


def line_count(directory: Path, rtype: str) -> int:
    """Resources of ``rtype`` in ``directory`` (non-empty lines of ``rtype.ndjson``)."""
    return sum(1 for line in (directory / f"{rtype}.ndjson").read_bytes().splitlines() if line)


def encounter_clinicians(directory: Path) -> set[str]:
    """Distinct ``Encounter.participant.individual`` references, read from the raw lines."""
    return {
        part["individual"]["reference"]
        for line in (directory / "Encounter.ndjson").read_bytes().splitlines()
        if line
        for part in orjson.loads(line).get("participant", ())
        if "individual" in part
    }
