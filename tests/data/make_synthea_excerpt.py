"""Rebuild ``synthea-excerpt/`` from the full ``synthea-r4-small`` set (see README.md).

Usage: ``python tests/data/make_synthea_excerpt.py FULL_DATASET_DIR``. The selection is
mechanical: whole lines of the chosen patients' resources and of the providers they reference
(by identifier); no value is edited.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Eight patients: few Observations, every encounter class (AMB, EMER, IMP), recent encounters.
PATIENTS = (
    "8a4c9c04-1524-9f1c-d65b-9b17e4520fef",
    "085e81c0-7a95-ef02-16ef-aa1b4344deed",
    "d1193889-ebd9-4e35-bf1b-8a73ecbfc00b",
    "e1dbcb04-9c64-e94c-2bd0-d7b199d369e5",
    "e0d320aa-cba1-6d50-ef4a-56191eb00c41",
    "dd4d5564-3cdd-19ce-8efc-f30e5395f5c6",
    "f500d29f-be62-9008-43c5-e2c173dde9bd",
    "a97a7383-b712-e276-4cc1-51e4b4e84c13",
)
CLINICAL = ("Encounter", "Condition", "CareTeam", "Observation")
PROVIDERS = ("Organization", "Practitioner", "Location")


def _references(value: object) -> set[str]:
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def _identifiers(resource: dict[str, object]) -> set[str]:
    rtype = resource["resourceType"]
    items = resource.get("identifier") or []
    assert isinstance(items, list)
    return {f"{rtype}?identifier={i.get('system')}|{i.get('value')}" for i in items}


def main(full: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    keep = {f"Patient/{p}" for p in PATIENTS}
    referenced: set[str] = set()
    for rtype in ("Patient", *CLINICAL):
        lines = []
        for line in (full / f"{rtype}.ndjson").read_bytes().splitlines():
            resource = json.loads(line)
            own = f"Patient/{resource['id']}" if rtype == "Patient" else None
            subject = (resource.get("subject") or {}).get("reference")
            if own in keep or subject in keep:
                lines.append(line)
                referenced |= _references(resource)
        (target / f"{rtype}.ndjson").write_bytes(b"".join(x + b"\n" for x in lines))
    practitioners: set[str] = set()
    for rtype in PROVIDERS:
        lines = []
        for line in (full / f"{rtype}.ndjson").read_bytes().splitlines():
            resource = json.loads(line)
            if _identifiers(resource) & referenced:
                lines.append(line)
                if rtype == "Practitioner":
                    practitioners |= {i.split("=", 1)[1] for i in _identifiers(resource)}
        (target / f"{rtype}.ndjson").write_bytes(b"".join(x + b"\n" for x in lines))
    roles = []
    for line in (full / "PractitionerRole.ndjson").read_bytes().splitlines():
        identifier = json.loads(line).get("practitioner", {}).get("identifier", {})
        if f"{identifier.get('system')}|{identifier.get('value')}" in practitioners:
            roles.append(line)
    (target / "PractitionerRole.ndjson").write_bytes(b"".join(x + b"\n" for x in roles))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent / "synthea-excerpt")
