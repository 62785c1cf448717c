"""FHIR R4 output: each microsystem-period as a CareTeam, each of its cohorts as a Group.

Pure functions; ids and identifiers are derived from the microsystem id, the period label
and the cohort, so writing the same derivation twice updates the same resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from fhir_microsystems.periods import Period

from .cohorts import ALL_COHORTS, ATTRIBUTED, profiles_directory
from .model import Member, MicrosystemPeriod

DEFAULT_CANONICAL_BASE = "https://fhir-microsystems.org/fhir"
#: Identifier system of a microsystem (the same on every period's CareTeam).
MICROSYSTEM_ID_SYSTEM = "https://fhir-microsystems.org/id/microsystem"
#: Identifier system of one microsystem-period (one CareTeam).
MICROSYSTEM_PERIOD_ID_SYSTEM = "https://fhir-microsystems.org/id/microsystem-period"
#: Identifier system of one patient group (microsystem, period, cohort).
PATIENT_GROUP_ID_SYSTEM = "https://fhir-microsystems.org/id/microsystem-patient-group"

CARETEAM_PROFILE = "StructureDefinition/microsystem-careteam"
GROUP_PROFILE = "StructureDefinition/microsystem-patient-group"
CODESYSTEM = "CodeSystem/microsystem"

_COHORT_DISPLAY = {
    "attributed": "Attributed patients",
    "ed-attenders": "ED attenders",
    "inpatients": "Inpatients",
    "ambulatory": "Ambulatory patients",
    "cancer": "Cancer",
    "diabetes": "Diabetes",
    "hypertension": "Hypertension",
}
_MEMBERSHIP_DISPLAY = {"core-member": "Core member", "occasional-member": "Occasional member"}


def codesystem_url(canonical_base: str = DEFAULT_CANONICAL_BASE) -> str:
    return f"{canonical_base.rstrip('/')}/{CODESYSTEM}"


def _coding(canonical_base: str, code: str, display: str) -> dict[str, Any]:
    return {"system": codesystem_url(canonical_base), "code": code, "display": display}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fhir_period(period: Period) -> dict[str, str]:
    """A FHIR Period for ``[start, end)``: first and last day, as dates (end inclusive)."""
    last_day = (period.end - timedelta(days=1)).date()
    return {"start": period.start.date().isoformat(), "end": last_day.isoformat()}


def careteam_id(item: MicrosystemPeriod) -> str:
    """Resource id of a microsystem-period's CareTeam."""
    return f"{item.id}-{item.period.label}"


def group_id(item: MicrosystemPeriod, cohort: str = ATTRIBUTED) -> str:
    """Resource id of a microsystem-period's patient Group for ``cohort``."""
    return f"{item.id}-{item.period.label}-{cohort}"


def _participant(
    member: Member, period: Period, canonical_base: str, lead: bool = False
) -> dict[str, Any]:
    membership = "core-member" if member.core else "occasional-member"
    roles: list[dict[str, Any]] = []
    if member.discipline is not None:
        coding = {"code": member.discipline.code}
        if member.discipline.system:
            coding = {"system": member.discipline.system, **coding}
        if member.discipline.display:
            coding["display"] = member.discipline.display
        roles.append({"coding": [coding]})
    roles.append({"coding": [_coding(canonical_base, membership, _MEMBERSHIP_DISPLAY[membership])]})
    if lead:
        roles.append({"coding": [_coding(canonical_base, "team-lead", "Team lead")]})
    span = fhir_period(period)
    if member.first_seen is not None:
        span["start"] = _instant(member.first_seen)
    if member.last_seen is not None:
        span["end"] = _instant(member.last_seen)
    return {"role": roles, "member": {"reference": member.practitioner}, "period": span}


def careteam_resource(
    item: MicrosystemPeriod,
    *,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    organization_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CareTeam (profile microsystem-careteam) of one microsystem-period; its
    ``managingOrganization`` carries the Organization's name (``organization_names`` by
    reference) as ``display`` where one is known, so readers can group by department."""
    base = canonical_base.rstrip("/")
    members = sorted(item.members.values(), key=lambda m: (not m.core, m.practitioner))
    resource: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": careteam_id(item),
        "meta": {"profile": [f"{base}/{CARETEAM_PROFILE}"]},
        "identifier": [
            {"system": MICROSYSTEM_ID_SYSTEM, "value": item.id},
            {
                "system": MICROSYSTEM_PERIOD_ID_SYSTEM,
                "value": f"{item.id}|{item.period.label}",
            },
        ],
        "status": "active",
        "category": [{"coding": [_coding(base, "clinical-microsystem", "Clinical microsystem")]}],
        "name": item.name,
        "subject": {"reference": f"Group/{group_id(item)}"},
        "period": fhir_period(item.period),
        "participant": [
            _participant(m, item.period, base, lead=m.practitioner == item.lead) for m in members
        ],
    }
    if item.organization:
        managing = {"reference": item.organization}
        if name := (organization_names or {}).get(item.organization):
            managing["display"] = name
        resource["managingOrganization"] = [managing]
    return resource


def patient_group_resource(
    item: MicrosystemPeriod,
    cohort: str = ATTRIBUTED,
    *,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
) -> dict[str, Any]:
    """The Group (profile microsystem-patient-group) of one cohort of a microsystem-period."""
    if cohort not in ALL_COHORTS:
        raise ValueError(f"unknown cohort {cohort!r}; one of {ALL_COHORTS}")
    base = canonical_base.rstrip("/")
    patients = sorted(item.cohorts.get(cohort, item.patients if cohort == ATTRIBUTED else ()))
    span = fhir_period(item.period)
    resource: dict[str, Any] = {
        "resourceType": "Group",
        "id": group_id(item, cohort),
        "meta": {"profile": [f"{base}/{GROUP_PROFILE}"]},
        "identifier": [
            {
                "system": PATIENT_GROUP_ID_SYSTEM,
                "value": f"{item.id}|{item.period.label}|{cohort}",
            }
        ],
        "active": True,
        "type": "person",
        "actual": True,
        "code": {
            "coding": [_coding(base, "microsystem-patient-group", "Microsystem patient group")]
        },
        "name": f"{item.name} - {_COHORT_DISPLAY[cohort]} - {item.period.label}",
        "quantity": len(patients),
        "characteristic": [
            {
                "code": {"coding": [_coding(base, "cohort", "Cohort")]},
                "valueCodeableConcept": {
                    "coding": [_coding(base, cohort, _COHORT_DISPLAY[cohort])]
                },
                "exclude": False,
                "period": span,
            },
            {
                "code": {"coding": [_coding(base, "microsystem", "Microsystem")]},
                "valueReference": {"reference": f"CareTeam/{careteam_id(item)}"},
                "exclude": False,
                "period": span,
            },
        ],
    }
    if item.organization:
        resource["managingEntity"] = {"reference": item.organization}
    if patients:
        resource["member"] = [
            {"entity": {"reference": patient}, "period": span} for patient in patients
        ]
    return resource


def microsystem_resources(
    items: Iterable[MicrosystemPeriod],
    *,
    cohorts: Iterable[str] = ALL_COHORTS,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    organization_names: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """CareTeams and patient Groups of several microsystem-periods (Groups first, since the
    CareTeams refer to them), built one at a time (a Group lists every patient)."""
    chosen, items = tuple(cohorts), tuple(items)
    for item in items:
        for cohort in chosen:
            yield patient_group_resource(item, cohort, canonical_base=canonical_base)
    for item in items:
        yield careteam_resource(
            item, canonical_base=canonical_base, organization_names=organization_names
        )


CONFORMANCE_FILES = (
    "CodeSystem-microsystem.json",
    "ValueSet-cohort-cancer.json",
    "ValueSet-cohort-diabetes.json",
    "ValueSet-cohort-hypertension.json",
    "StructureDefinition-microsystem-careteam.json",
    "StructureDefinition-microsystem-patient-group.json",
)


def conformance_resources(canonical_base: str = DEFAULT_CANONICAL_BASE) -> list[dict[str, Any]]:
    """The shipped CodeSystem, ValueSets and profiles, rebased onto ``canonical_base``."""
    directory = profiles_directory()
    base = canonical_base.rstrip("/").encode()
    out = []
    for name in CONFORMANCE_FILES:
        raw = (directory / name).read_bytes()
        out.append(orjson.loads(raw.replace(DEFAULT_CANONICAL_BASE.encode(), base)))
    return out


__all__ = [
    "CARETEAM_PROFILE",
    "CONFORMANCE_FILES",
    "DEFAULT_CANONICAL_BASE",
    "GROUP_PROFILE",
    "MICROSYSTEM_ID_SYSTEM",
    "MICROSYSTEM_PERIOD_ID_SYSTEM",
    "PATIENT_GROUP_ID_SYSTEM",
    "careteam_id",
    "careteam_resource",
    "codesystem_url",
    "conformance_resources",
    "fhir_period",
    "group_id",
    "microsystem_resources",
    "patient_group_resource",
]
