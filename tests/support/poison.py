"""Valid-but-hostile input shared by the in-process and Celery poison tests."""

from __future__ import annotations

import json
from pathlib import Path

#: FHIR-valid instants at the edges of what a datetime can hold (each once in the input).
EXTREME_DATES = {
    "CareTeam.period.end": "9999-12-31",
    "Condition.abatementDateTime": "9999-12-31",
    "Encounter.period.start": "0001-01-01T00:00:00+14:00",
    "Observation.effectiveDateTime": "9999-12-31T23:00:00-14:00",
}


def _rewrite(path: Path, change: dict[str, object], *, bom: bool = False) -> str:
    """Apply ``change`` to the first resource of ``path``; return its ``Type/id``."""
    lines = path.read_text().splitlines()
    resource = json.loads(lines[0]) | change
    lines[0] = json.dumps(resource)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\n".join(lines).encode() + b"\n")
    return f"{resource['resourceType']}/{resource['id']}"


def poison_dates_and_bom(hospital: Path) -> dict[str, str]:
    """Put :data:`EXTREME_DATES` into ``hospital`` and a UTF-8 BOM before ``Patient.ndjson``;
    return ``field -> Type/id`` of the changed resources."""
    careteam = json.loads((hospital / "CareTeam.ndjson").read_text().splitlines()[0])
    encounter = json.loads((hospital / "Encounter.ndjson").read_text().splitlines()[0])
    changed = {
        "CareTeam.period.end": _rewrite(
            hospital / "CareTeam.ndjson",
            {"period": {**careteam.get("period", {}), "end": EXTREME_DATES["CareTeam.period.end"]}},
        ),
        "Condition.abatementDateTime": _rewrite(
            hospital / "Condition.ndjson",
            {"abatementDateTime": EXTREME_DATES["Condition.abatementDateTime"]},
        ),
        "Encounter.period.start": _rewrite(
            hospital / "Encounter.ndjson",
            {"period": {**encounter["period"], "start": EXTREME_DATES["Encounter.period.start"]}},
        ),
        "Observation.effectiveDateTime": _rewrite(
            hospital / "Observation.ndjson",
            {"effectiveDateTime": EXTREME_DATES["Observation.effectiveDateTime"]},
        ),
    }
    _rewrite(hospital / "Patient.ndjson", {}, bom=True)
    return changed
