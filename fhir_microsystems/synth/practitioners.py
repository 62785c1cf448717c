"""Practitioner and PractitionerRole resources of the staff plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .clock import day_before
from .hospital import Microsystem
from .staffing import Staff
from .vocab import DEGREE, DISCIPLINES, NPI, PRACTITIONER_ROLE, SNOMED, SPECIALTIES, concept

_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS = _WEEK[:5]
_SHIFT_HOURS = {
    "day": ("07:00:00", "19:00:00"),
    "night": ("19:00:00", "07:00:00"),
}


def practitioner(member: Staff, months: int) -> dict[str, Any]:
    """The Practitioner: NPI identifier, name, gender, qualification where there is one."""
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": member.id,
        "identifier": [{"system": NPI, "value": member.npi}],
        "active": member.home[months - 1] is not None,
        "name": [member.name],
        "gender": member.gender,
    }
    degree = DISCIPLINES[member.discipline]["degree"]
    if degree:
        resource["qualification"] = [{"code": concept(DEGREE, *degree)}]
    return resource


def role_codes(discipline: str) -> list[dict[str, Any]]:
    """PractitionerRole.code: the practitioner-role code where one exists, else SNOMED."""
    spec = DISCIPLINES[discipline]
    role = spec["role"]
    if role:
        return [concept(PRACTITIONER_ROLE, *role)]
    occupation = spec["occupation"]
    assert occupation is not None
    return [concept(SNOMED, *occupation)]


def practitioner_roles(
    member: Staff, micros: dict[str, Microsystem], month_dates: list[str]
) -> Iterator[dict[str, Any]]:
    """One PractitionerRole per assignment, with period, organization, location, hours."""
    for role in member.roles:
        micro = micros[role.micro]
        period: dict[str, str] = {"start": role.start_date}
        if role.end_month is not None:
            period["end"] = day_before(month_dates[role.end_month])
        resource: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": role.id,
            "active": role.end_month is None,
            "period": period,
            "practitioner": {"reference": member.key},
            "organization": {"reference": micro.organization},
            "code": role_codes(member.discipline),
            "specialty": [concept(SNOMED, *SPECIALTIES[micro.kind])],
            "location": [{"reference": micro.locations[0]}],
        }
        if micro.kind == "emergency" and member.shift in _SHIFT_HOURS:
            start, end = _SHIFT_HOURS[member.shift]
            resource["availableTime"] = [
                {"daysOfWeek": _WEEK, "availableStartTime": start, "availableEndTime": end}
            ]
        elif micro.kind == "emergency":
            resource["availableTime"] = [{"daysOfWeek": _WEEK, "allDay": True}]
        elif micro.kind in {"primary-care", "oncology"}:
            resource["availableTime"] = [
                {
                    "daysOfWeek": _WEEKDAYS,
                    "availableStartTime": "08:00:00",
                    "availableEndTime": "17:00:00",
                }
            ]
        yield resource
