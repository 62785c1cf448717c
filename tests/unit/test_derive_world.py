"""A tiny hand-built FHIR world for the derivation tests (and tests of the builder itself)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_microsystems._findings import Findings
from fhir_microsystems.derive import Derivation, DerivationConfig, derive
from fhir_microsystems.sources import ListSource, ReferenceIndex

SCT = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"


def at(day: int, hour: int = 10, month: int = 3, year: int = 2025) -> datetime:
    """A UTC moment in (by default) March 2025."""
    return datetime(year, month, day, hour, tzinfo=UTC)


MARCH_START = at(1, 0)
APRIL_START = at(1, 0, month=4)


class World:
    """Builds FHIR resources as plain dicts; ``derive()`` runs the derivation over them."""

    def __init__(self) -> None:
        self.resources: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._n = 0

    def org(self, oid: str, name: str, part_of: str | None = None) -> str:
        org: dict[str, Any] = {"resourceType": "Organization", "id": oid, "name": name}
        if part_of:
            org["partOf"] = {"reference": part_of}
        self.resources["Organization"].append(org)
        return f"Organization/{oid}"

    def location(self, lid: str, name: str, org: str | None = None) -> str:
        loc: dict[str, Any] = {"resourceType": "Location", "id": lid, "name": name}
        if org:
            loc["managingOrganization"] = {"reference": org}
        self.resources["Location"].append(loc)
        return f"Location/{lid}"

    def practitioner(
        self, pid: str, *, org: str | None = None, code: str = "163W00000X", role: bool = False
    ) -> str:
        """A Practitioner (NPI identifier) with a PractitionerRole; returns the key to use
        in encounters: the PractitionerRole's when ``role``."""
        self.resources["Practitioner"].append(
            {
                "resourceType": "Practitioner",
                "id": pid,
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": f"n-{pid}"}],
            }
        )
        role_resource: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "id": f"role-{pid}",
            "practitioner": {"reference": f"Practitioner/{pid}"},
            "code": [{"coding": [{"system": NUCC, "code": code, "display": code}]}],
        }
        if org:
            role_resource["organization"] = {"reference": org}
        self.resources["PractitionerRole"].append(role_resource)
        return f"PractitionerRole/role-{pid}" if role else f"Practitioner/{pid}"

    def patient(self, pid: str) -> str:
        self.resources["Patient"].append({"resourceType": "Patient", "id": pid})
        return f"Patient/{pid}"

    def encounter(
        self,
        patient: str | None,
        start: datetime,
        participants: list[str],
        *,
        klass: str = "AMB",
        provider: str | None = None,
        location: str | None = None,
        status: str = "finished",
        hours: float = 1,
        eid: str | None = None,
        raw_participants: list[dict[str, Any]] | None = None,
    ) -> str:
        self._n += 1
        eid = eid or f"e{self._n}"
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": eid,
            "status": status,
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": klass,
            },
            "period": {
                "start": start.isoformat(),
                "end": (start + timedelta(hours=hours)).isoformat(),
            },
            "participant": [{"individual": {"reference": p}} for p in participants]
            + (raw_participants or []),
        }
        if patient:
            enc["subject"] = {"reference": patient}
        if provider:
            enc["serviceProvider"] = {"reference": provider}
        if location:
            enc["location"] = [{"location": {"reference": location}}]
        self.resources["Encounter"].append(enc)
        return f"Encounter/{eid}"

    def careteam(
        self,
        cid: str,
        members: list[str],
        *,
        org: str | None = None,
        status: str = "active",
        start: str | None = None,
        end: str | None = None,
        name: str = "",
        subject: str | None = None,
    ) -> str:
        team: dict[str, Any] = {
            "resourceType": "CareTeam",
            "id": cid,
            "status": status,
            "participant": [{"member": {"reference": m}} for m in members],
        }
        if name:
            team["name"] = name
        if org:
            team["managingOrganization"] = [{"reference": org}]
        if start or end:
            team["period"] = {k: v for k, v in (("start", start), ("end", end)) if v}
        if subject:
            team["subject"] = {"reference": subject}
        self.resources["CareTeam"].append(team)
        return f"CareTeam/{cid}"

    def condition(
        self,
        patient: str,
        code: str,
        *,
        system: str = SCT,
        onset: str = "2020-01-01",
        abatement: str | None = None,
    ) -> None:
        self._n += 1
        cond: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"c{self._n}",
            "subject": {"reference": patient},
            "code": {"coding": [{"system": system, "code": code}]},
            "onsetDateTime": onset,
        }
        if abatement:
            cond["abatementDateTime"] = abatement
        self.resources["Condition"].append(cond)

    def source(self) -> ListSource:
        return ListSource(self.resources)

    def derive(
        self,
        config: DerivationConfig | None = None,
        *,
        start: datetime | None = MARCH_START,
        end: datetime | None = APRIL_START,
        period: Any = "month",
    ) -> tuple[Derivation, Findings]:
        source = self.source()
        findings = source.findings
        index = ReferenceIndex.build(source, findings)
        result = derive(
            source,
            index,
            start=start,
            end=end,
            period=period,
            config=config or DerivationConfig(),
            findings=findings,
        )
        return result, findings


def team_visits(
    world: World,
    staff: list[str],
    patients: list[str],
    *,
    days: range,
    hour: int = 10,
    klass: str = "IMP",
    provider: str | None = None,
    location: str | None = None,
    month: int = 3,
    per_day: int = 1,
) -> list[str]:
    """Encounters in which rotating subsets of ``staff`` (three at a time) see ``patients``."""
    keys = []
    n = 0
    for day in days:
        for _ in range(per_day):
            crew = [staff[(n + k) % len(staff)] for k in range(min(3, len(staff)))]
            patient = patients[n % len(patients)]
            keys.append(
                world.encounter(
                    patient,
                    at(day, hour, month=month),
                    crew,
                    klass=klass,
                    provider=provider,
                    location=location,
                )
            )
            n += 1
    return keys


def memberships(result: Derivation, label: str = "2025-03") -> set[frozenset[str]]:
    """The member sets of one period's microsystems."""
    return {frozenset(m.members) for m in result.microsystems[label]}


def test_world_builds_resolvable_references() -> None:
    world = World()
    org = world.org("o1", "Org")
    doc = world.practitioner("p1", org=org, role=True)
    pat = world.patient("x")
    world.encounter(pat, at(3), [doc], provider=org)
    result, findings = world.derive()
    assert findings.total == 0
    (record,) = result.encounters.values()
    assert record.participants == ("Practitioner/p1",)
    assert record.context == org
