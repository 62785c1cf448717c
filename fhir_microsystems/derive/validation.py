"""Pure checks of what the microsystem profiles require (no FHIRPath engine needed).

Each function returns a list of problems (empty = conforms), one sentence each, naming
the element; it mirrors ``profiles/StructureDefinition-microsystem-*.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .cohorts import ALL_COHORTS
from .fhir_resources import (
    DEFAULT_CANONICAL_BASE,
    MICROSYSTEM_ID_SYSTEM,
    PATIENT_GROUP_ID_SYSTEM,
    codesystem_url,
)

_MEMBERSHIP = frozenset({"core-member", "occasional-member"})


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, Mapping):
        return []
    return [
        str(c.get("code"))
        for c in concept.get("coding") or ()
        if isinstance(c, Mapping) and c.get("system") == system
    ]


def _reference(element: Any) -> str:
    if isinstance(element, Mapping) and isinstance(element.get("reference"), str):
        return str(element["reference"])
    return ""


def _has_identifier(resource: Mapping[str, Any], system: str) -> int:
    return sum(
        1
        for ident in resource.get("identifier") or ()
        if isinstance(ident, Mapping) and ident.get("system") == system and ident.get("value")
    )


def validate_microsystem_careteam(
    resource: Mapping[str, Any], *, canonical_base: str = DEFAULT_CANONICAL_BASE
) -> list[str]:
    """Problems of a CareTeam against profile microsystem-careteam."""
    cs = codesystem_url(canonical_base)
    problems: list[str] = []
    if resource.get("resourceType") != "CareTeam":
        return ["resourceType: must be CareTeam"]
    if _has_identifier(resource, MICROSYSTEM_ID_SYSTEM) != 1:
        problems.append(f"CareTeam.identifier: exactly one with system {MICROSYSTEM_ID_SYSTEM}")
    if resource.get("status") != "active":
        problems.append("CareTeam.status: must be active")
    marked = sum("clinical-microsystem" in _codes(c, cs) for c in resource.get("category") or ())
    if marked != 1:
        problems.append("CareTeam.category: exactly one clinical-microsystem coding")
    if not resource.get("name"):
        problems.append("CareTeam.name: required")
    subject = resource.get("subject")
    if subject is not None and not _reference(subject).startswith("Group/"):
        problems.append("CareTeam.subject: must reference a Group")
    period = resource.get("period")
    if not isinstance(period, Mapping) or not period.get("start") or not period.get("end"):
        problems.append("CareTeam.period: start and end required")
    participants = resource.get("participant") or []
    if not participants:
        problems.append("CareTeam.participant: at least one required")
    for n, participant in enumerate(participants):
        where = f"CareTeam.participant[{n}]"
        if not _reference(participant.get("member")).startswith("Practitioner/"):
            problems.append(f"{where}.member: must reference a Practitioner")
        kinds = [
            code
            for role in participant.get("role") or ()
            for code in _codes(role, cs)
            if code in _MEMBERSHIP
        ]
        if len(kinds) != 1:
            problems.append(f"{where}.role: exactly one core-member/occasional-member coding")
        if not isinstance(participant.get("period"), Mapping):
            problems.append(f"{where}.period: required")
    organizations = resource.get("managingOrganization") or []
    if len(organizations) > 1:
        problems.append("CareTeam.managingOrganization: at most one")
    for org in organizations:
        if not _reference(org).startswith("Organization/"):
            problems.append("CareTeam.managingOrganization: must reference an Organization")
    return problems


def validate_patient_group(
    resource: Mapping[str, Any], *, canonical_base: str = DEFAULT_CANONICAL_BASE
) -> list[str]:
    """Problems of a Group against profile microsystem-patient-group."""
    cs = codesystem_url(canonical_base)
    problems: list[str] = []
    if resource.get("resourceType") != "Group":
        return ["resourceType: must be Group"]
    if _has_identifier(resource, PATIENT_GROUP_ID_SYSTEM) != 1:
        problems.append(f"Group.identifier: exactly one with system {PATIENT_GROUP_ID_SYSTEM}")
    if resource.get("type") != "person":
        problems.append("Group.type: must be person")
    if resource.get("actual") is not True:
        problems.append("Group.actual: must be true")
    if "microsystem-patient-group" not in _codes(resource.get("code"), cs):
        problems.append("Group.code: must carry microsystem-patient-group")
    cohorts, microsystems = 0, 0
    for n, item in enumerate(resource.get("characteristic") or ()):
        codes = _codes(item.get("code"), cs)
        if item.get("exclude") is not False:
            problems.append(f"Group.characteristic[{n}].exclude: must be false")
        if "cohort" in codes:
            values = _codes(item.get("valueCodeableConcept"), cs)
            if len(values) == 1 and values[0] in ALL_COHORTS:
                cohorts += 1
            else:
                problems.append(f"Group.characteristic[{n}].valueCodeableConcept: unknown cohort")
        if "microsystem" in codes:
            if _reference(item.get("valueReference")).startswith("CareTeam/"):
                microsystems += 1
            else:
                problems.append(
                    f"Group.characteristic[{n}].valueReference: must reference a CareTeam"
                )
    if cohorts != 1:
        problems.append("Group.characteristic: exactly one cohort characteristic")
    if microsystems != 1:
        problems.append("Group.characteristic: exactly one microsystem characteristic")
    members = resource.get("member") or []
    for n, member in enumerate(members):
        if not _reference(member.get("entity")).startswith("Patient/"):
            problems.append(f"Group.member[{n}].entity: must reference a Patient")
        if not isinstance(member.get("period"), Mapping):
            problems.append(f"Group.member[{n}].period: required")
    quantity = resource.get("quantity")
    if quantity is not None and quantity != len(members):
        problems.append("Group.quantity: must equal the number of members")
    return problems


__all__ = ["validate_microsystem_careteam", "validate_patient_group"]
