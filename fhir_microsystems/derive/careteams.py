"""Explicit team evidence: CareTeams that list several clinicians.

A CareTeam with at least ``careteam_min_practitioners`` practitioners is kept as a compact
:class:`ExplicitTeam`; per-patient CareTeams with a single clinician (what Synthea writes,
one per CarePlan) are counted but not kept, they say nothing about who works together.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import Period, parse_fhir_datetime
from fhir_microsystems.sources import ReferenceIndex, Source

from .config import DerivationConfig
from .records import resolve_clinician

#: CareTeam statuses that never make a team (wrong or not yet in force).
_NEVER_IN_FORCE = frozenset({"entered-in-error", "proposed"})
#: Statuses that mean "not in force now": only the recorded period counts.
_ENDED = frozenset({"inactive", "suspended"})


@dataclass(frozen=True, slots=True)
class ExplicitMember:
    """One clinician on a CareTeam, with the participant period (None = open)."""

    practitioner: str
    start: datetime | None
    end: datetime | None
    role: tuple[str, str, str] | None  # (system, code, display)
    lead: bool = False  # a role coding designates the team lead


@dataclass(frozen=True, slots=True)
class ExplicitTeam:
    """A CareTeam that names a team of clinicians."""

    key: str
    status: str
    start: datetime | None
    end: datetime | None
    organization: str | None
    name: str
    members: tuple[ExplicitMember, ...]

    def in_force(self, period: Period) -> bool:
        """Whether the team applies to ``period`` (stale teams do not).

        ``inactive``/``suspended`` teams apply only within a recorded ``period.end``; without
        one there is no telling when they stopped, so they are stale throughout.
        """
        if self.status in _NEVER_IN_FORCE:
            return False
        if self.status in _ENDED and self.end is None:
            return False
        return period.overlaps(self.start, self.end)

    def members_in(self, period: Period) -> list[ExplicitMember]:
        """Members whose participant period overlaps ``period``."""
        return [m for m in self.members if period.overlaps(m.start, m.end)]

    @property
    def practitioners(self) -> frozenset[str]:
        return frozenset(m.practitioner for m in self.members)

    def lead_in(self, period: Period) -> str | None:
        """The designated lead whose participant period overlaps ``period``, if any."""
        return next((m.practitioner for m in self.members_in(period) if m.lead), None)


def _time(value: Any, key: str, field: str, findings: Findings, upper: bool) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_fhir_datetime(value, upper=upper)
    except (ValueError, TypeError):
        findings.add("invalid-datetime", key, field, "not a FHIR dateTime")
        return None


def _period(
    element: Any, key: str, field: str, findings: Findings
) -> tuple[datetime | None, datetime | None]:
    if not isinstance(element, dict):
        return None, None
    return (
        _time(element.get("start"), key, f"{field}.start", findings, upper=False),
        _time(element.get("end"), key, f"{field}.end", findings, upper=True),
    )


def _first_coding(concepts: Any) -> tuple[str, str, str] | None:
    for concept in concepts if isinstance(concepts, list) else ():
        for coding in concept.get("coding") or () if isinstance(concept, dict) else ():
            if isinstance(coding, dict) and coding.get("code"):
                return (
                    str(coding.get("system") or ""),
                    str(coding["code"]),
                    str(coding.get("display") or ""),
                )
    return None


def _has_code(concepts: Any, codes: frozenset[str]) -> bool:
    """Whether any coding of a list of CodeableConcepts has one of ``codes``."""
    for concept in concepts if isinstance(concepts, list) else ():
        for coding in concept.get("coding") or () if isinstance(concept, dict) else ():
            if isinstance(coding, dict) and coding.get("code") in codes:
                return True
    return False


def _is_patient_team(subject: Any) -> bool:
    if not isinstance(subject, dict):
        return False
    literal = str(subject.get("reference") or "")
    return not (
        literal.startswith("Group") or "/Group/" in literal or subject.get("type") == "Group"
    )


def explicit_team(
    resource: dict[str, Any],
    index: ReferenceIndex,
    findings: Findings,
    config: DerivationConfig,
) -> ExplicitTeam | None:
    """The team behind a CareTeam dict, or None when it is a patient's own care team or
    lists too few clinicians."""
    key = f"CareTeam/{resource['id']}"
    if _is_patient_team(resource.get("subject")):
        return None
    members: dict[str, ExplicitMember] = {}
    for n, participant in enumerate(resource.get("participant") or ()):
        if not isinstance(participant, dict) or participant.get("member") is None:
            continue
        field = f"CareTeam.participant[{n}]"
        member = participant["member"]
        literal = member.get("reference") if isinstance(member, dict) else None
        if isinstance(literal, str) and literal.startswith(("Organization", "CareTeam")):
            continue  # an organisation or nested team is context, not a clinician
        practitioner, _ = resolve_clinician(
            member, index, findings, where=key, field=f"{field}.member"
        )
        if practitioner is None or practitioner in members:
            continue
        start, end = _period(participant.get("period"), key, f"{field}.period", findings)
        members[practitioner] = ExplicitMember(
            practitioner,
            start,
            end,
            _first_coding(participant.get("role")),
            _has_code(participant.get("role"), config.lead_role_codes),
        )
    if len(members) < config.careteam_min_practitioners:
        return None
    organization = None
    for n, org in enumerate(resource.get("managingOrganization") or ()):
        organization = index.resolve(
            org, where=key, field=f"CareTeam.managingOrganization[{n}]", expected="Organization"
        )
        if organization:
            break
    start, end = _period(resource.get("period"), key, "CareTeam.period", findings)
    return ExplicitTeam(
        key=key,
        status=str(resource.get("status") or "unknown"),
        start=start,
        end=end,
        organization=sys.intern(organization) if organization else None,
        name=str(resource.get("name") or ""),
        members=tuple(members.values()),
    )


def read_explicit_teams(
    source: Source,
    index: ReferenceIndex,
    findings: Findings,
    config: DerivationConfig,
    stats: Counter[str] | None = None,
) -> list[ExplicitTeam]:
    """Stream CareTeams; keep the team ones, count the per-patient ones in ``stats``."""
    teams: list[ExplicitTeam] = []
    for resource in source.iter_resources("CareTeam"):
        team = explicit_team(resource, index, findings, config)
        if team is None:
            if stats is not None:
                stats["careteam-not-a-team"] += 1
            continue
        teams.append(team)
    teams.sort(key=lambda t: t.key)
    return teams


def teams_in_force(teams: Iterable[ExplicitTeam], period: Period) -> list[ExplicitTeam]:
    """The teams that apply to ``period``."""
    return [t for t in teams if t.in_force(period)]


__all__ = [
    "ExplicitMember",
    "ExplicitTeam",
    "explicit_team",
    "read_explicit_teams",
    "teams_in_force",
]
