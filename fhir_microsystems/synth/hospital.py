"""The fixed structure: macrosystem, mesosystems (departments), microsystems, Locations."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .ids import uuid_from
from .vocab import LOCATION_TYPE, ORG_TYPE, ROLE_CODE, concept

_PHYSICAL = {
    "bu": "Building",
    "wi": "Wing",
    "lvl": "Level",
    "wa": "Ward",
    "ro": "Room",
}
_ORG_TYPES = {
    "prov": "Healthcare Provider",
    "dept": "Hospital Department",
    "team": "Organizational team",
}
_LOCATION_ROLES = {
    "ER": "Emergency room",
    "ONCL": "Oncology clinic",
    "HU": "Hospital unit",
    "FMC": "Family medicine clinic",
}


@dataclass(slots=True)
class Microsystem:
    """One microsystem and where its encounters happen."""

    key: str
    name: str
    kind: str
    organization: str
    mesosystem: str
    #: Locations its encounters name (ground truth); the first is the usual one.
    locations: list[str]
    careteam_id: str
    #: A second, coarser Location some feeds write instead (a shared floor), if any.
    coarse_location: str | None = None
    #: Extra rooms used for some encounters (resuscitation bay, infusion suite).
    room: str | None = None


@dataclass(slots=True)
class Hospital:
    """Everything structural, plus the Organization and Location resources to write."""

    macrosystem: str
    mesosystems: list[tuple[str, str]]
    microsystems: list[Microsystem]
    organizations: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)

    def by_key(self) -> dict[str, Microsystem]:
        return {micro.key: micro for micro in self.microsystems}

    def of_kind(self, kind: str) -> list[Microsystem]:
        return [micro for micro in self.microsystems if micro.kind == kind]


class _Builder:
    def __init__(self, rng: random.Random, base_url: str) -> None:
        self.rng = rng
        self.base_url = base_url
        self.organizations: list[dict[str, Any]] = []
        self.locations: list[dict[str, Any]] = []

    def organization(self, name: str, kind: str, code: str, part_of: str | None) -> str:
        oid = uuid_from(self.rng)
        resource: dict[str, Any] = {
            "resourceType": "Organization",
            "id": oid,
            "identifier": [{"system": f"{self.base_url}/sid/organization", "value": code}],
            "active": True,
            "type": [concept(ORG_TYPE, kind, _ORG_TYPES[kind])],
            "name": name,
        }
        if part_of:
            resource["partOf"] = {"reference": part_of}
        self.organizations.append(resource)
        return f"Organization/{oid}"

    def location(
        self,
        name: str,
        physical: str,
        managing: str,
        part_of: str | None = None,
        role: str | None = None,
    ) -> str:
        lid = uuid_from(self.rng)
        resource: dict[str, Any] = {
            "resourceType": "Location",
            "id": lid,
            "status": "active",
            "name": name,
            "mode": "instance",
        }
        if role:
            resource["type"] = [concept(ROLE_CODE, role, _LOCATION_ROLES[role])]
        resource["physicalType"] = concept(LOCATION_TYPE, physical, _PHYSICAL[physical])
        resource["managingOrganization"] = {"reference": managing}
        if part_of:
            resource["partOf"] = {"reference": part_of}
        self.locations.append(resource)
        return f"Location/{lid}"


def build_hospital(rng: random.Random, base_url: str, wards: int, teams: int) -> Hospital:
    """The hospital: ED and oncology clinic with own team Organizations, ``wards`` wards
    under the Medicine department (no own Organization; two per shared floor Location) and
    ``teams`` primary-care teams sharing one practice Organization and clinic building."""
    b = _Builder(rng, base_url)
    hospital = b.organization("Synthetic General Hospital", "prov", "SGH", None)
    emergency = b.organization("Department of Emergency Medicine", "dept", "SGH-EM", hospital)
    oncology = b.organization("Department of Oncology", "dept", "SGH-ONC", hospital)
    medicine = b.organization("Department of Medicine", "dept", "SGH-MED", hospital)
    primary = b.organization("Department of Primary Care", "dept", "SGH-PC", hospital)
    ed_org = b.organization("Emergency Department", "team", "SGH-EM-ED", emergency)
    onc_org = b.organization(
        "Thoracic, Breast and Colorectal Oncology Clinic", "team", "SGH-ONC-CLIN", oncology
    )
    practice = b.organization("Riverside Family Practice", "prov", "SGH-PC-RFP", primary)

    main = b.location("Main Hospital", "bu", hospital)
    ed_wing = b.location("Emergency Department", "wi", ed_org, main, "ER")
    resus = b.location("ED Resuscitation Bay", "ro", ed_org, ed_wing)
    onc_wing = b.location("Oncology Clinic, Wing C", "wi", onc_org, main, "ONCL")
    infusion = b.location("Infusion Suite", "ro", onc_org, onc_wing)
    clinic = b.location("Riverside Clinic Building", "bu", practice, None, "FMC")

    micros = [
        Microsystem(
            "ed",
            "Emergency Department",
            "emergency",
            ed_org,
            emergency,
            [ed_wing, resus],
            uuid_from(rng),
            room=resus,
        ),
        Microsystem(
            "oncology",
            "Oncology Clinic",
            "oncology",
            onc_org,
            oncology,
            [onc_wing, infusion],
            uuid_from(rng),
            room=infusion,
        ),
    ]
    floor = ""
    for index in range(wards):
        level = 5 + index // 2
        if index % 2 == 0:
            floor = b.location(f"Main Hospital Level {level}", "lvl", medicine, main)
        letter = "AB"[index % 2]
        ward = b.location(f"Ward {level}{letter}", "wa", medicine, floor, "HU")
        micros.append(
            Microsystem(
                f"ward-{level}{letter.lower()}",
                f"Ward {level}{letter}",
                "inpatient-ward",
                medicine,
                medicine,
                [ward, floor],
                uuid_from(rng),
                coarse_location=floor,
            )
        )
    colours = ("red", "blue", "green", "gold", "teal", "violet", "orange", "silver")
    for index in range(teams):
        colour = colours[index % len(colours)] + (
            "" if index < len(colours) else f"-{index // len(colours) + 1}"
        )
        micros.append(
            Microsystem(
                f"pc-{colour}",
                f"Primary Care Team {colour.title()}",
                "primary-care",
                practice,
                primary,
                [clinic],
                uuid_from(rng),
            )
        )
    return Hospital(
        macrosystem=hospital,
        mesosystems=[
            (emergency, "Department of Emergency Medicine"),
            (oncology, "Department of Oncology"),
            (medicine, "Department of Medicine"),
            (primary, "Department of Primary Care"),
        ],
        microsystems=micros,
        organizations=b.organizations,
        locations=b.locations,
    )
