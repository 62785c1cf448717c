"""CareTeams as real systems keep them: per unit (complete, stale or partial) and per patient."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from .clock import day_before
from .hospital import Microsystem
from .references import RefStyle
from .staffing import Role, Staff, StaffPlan
from .vocab import DISCIPLINES, LOINC, SNOMED, TEAM_ENCOUNTER, TEAM_LEAD, TEAM_LONGITUDINAL, concept

#: CareTeam states, in the order quotas are handed out.
STATES = ("stale", "partial", "complete")


def team_states(
    rng: random.Random, micros: list[Microsystem], stale_rate: float, partial_rate: float
) -> dict[str, str]:
    """Each unit CareTeam's state, by quota (so every state occurs when rates allow)."""
    keys = [micro.key for micro in micros]
    rng.shuffle(keys)
    stale = round(stale_rate * len(keys))
    partial = round(partial_rate * len(keys))
    states: dict[str, str] = {}
    for position, key in enumerate(keys):
        states[key] = (
            "stale" if position < stale else "partial" if position < stale + partial else "complete"
        )
    return states


def role_concept(discipline: str, lead: bool, lead_system: str) -> dict[str, Any]:
    """participant.role: SNOMED occupation, plus the local ``lead`` coding for a team lead."""
    occupation = DISCIPLINES[discipline]["occupation"]
    assert occupation is not None
    codings = [{"system": SNOMED, "code": occupation[0], "display": occupation[1]}]
    if lead:
        codings.append({"system": lead_system, "code": TEAM_LEAD[0], "display": TEAM_LEAD[1]})
    text = f"{occupation[1]} ({TEAM_LEAD[1].lower()})" if lead else occupation[1]
    return {"coding": codings, "text": text}


def _member_ref(member: Staff, role: Role, use_role: bool) -> str:
    return f"PractitionerRole/{role.id}" if use_role else member.key


def unit_careteams(
    rng: random.Random,
    plan: StaffPlan,
    micros: list[Microsystem],
    states: dict[str, str],
    months: int,
    month_dates: list[str],
    lead_system: str,
) -> Iterator[dict[str, Any]]:
    """One CareTeam per microsystem in its state:

    - complete: every assignment with its period (leavers' periods ended);
    - stale: the members at the window start, no end dates, joiners missing;
    - partial: about half the members at the window end.
    """
    for micro in micros:
        state = states[micro.key]
        initial = [m for m in plan.staff if m.home[0] == micro.key]
        physicians = [m for m in initial if m.discipline == "physician"]
        lead = physicians[0] if physicians else (initial[0] if initial else None)
        entries: list[tuple[Staff, Role, bool]] = []
        for member in plan.staff:
            for role in member.roles:
                if role.micro != micro.key:
                    continue
                if state == "stale" and role.first_month != 0:
                    continue
                ended = role.end_month is not None
                if state == "partial" and (ended or (member is not lead and rng.random() < 0.5)):
                    continue
                entries.append((member, role, ended and state == "complete"))
        participants = []
        for member, role, show_end in entries:
            period = {"start": role.start_date}
            if show_end and role.end_month is not None:
                period["end"] = day_before(month_dates[role.end_month])
            participants.append(
                {
                    "role": [role_concept(member.discipline, member is lead, lead_system)],
                    "member": {"reference": _member_ref(member, role, rng.random() < 0.5)},
                    "period": period,
                }
            )
        category = (
            TEAM_ENCOUNTER if micro.kind in {"emergency", "inpatient-ward"} else (TEAM_LONGITUDINAL)
        )
        resource: dict[str, Any] = {
            "resourceType": "CareTeam",
            "id": micro.careteam_id,
            "status": "active",
            "category": [concept(LOINC, *category)],
            "name": micro.name,
            "period": {"start": min((r.start_date for _, r, _ in entries), default=month_dates[0])},
        }
        if participants:
            resource["participant"] = participants
        resource["managingOrganization"] = [{"reference": micro.organization}]
        yield resource


def patient_careteam(
    team_id: str,
    patient: str,
    name: str,
    start: str,
    members: list[tuple[Staff, int, bool]],
    organization: str,
    style: RefStyle,
    lead_system: str,
) -> dict[str, Any]:
    """A patient's longitudinal CareTeam; ``members`` are (staff, month, is lead)."""
    participants = [
        {
            "role": [role_concept(member.discipline, lead, lead_system)],
            "member": {"reference": style.staff(member, month)},
            "period": {"start": start},
        }
        for member, month, lead in members
    ]
    resource: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": team_id,
        "status": "active",
        "category": [concept(LOINC, *TEAM_LONGITUDINAL)],
        "name": name,
        "subject": {"reference": patient},
        "period": {"start": start},
    }
    if participants:
        resource["participant"] = participants
    resource["managingOrganization"] = [{"reference": organization}]
    return resource
