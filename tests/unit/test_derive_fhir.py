"""FHIR output: CareTeams and Groups that conform to the shipped profiles."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.group import Group
from fhir.resources.R4B.structuredefinition import StructureDefinition
from fhir.resources.R4B.valueset import ValueSet

from fhir_microsystems.derive import ALL_COHORTS, MicrosystemPeriod
from fhir_microsystems.derive.fhir_resources import (
    MICROSYSTEM_ID_SYSTEM,
    careteam_resource,
    conformance_resources,
    microsystem_resources,
    patient_group_resource,
)
from fhir_microsystems.derive.validation import (
    validate_microsystem_careteam,
    validate_patient_group,
)

from .test_derive_world import World, at, team_visits

MODELS: dict[str, Any] = {
    "CodeSystem": CodeSystem,
    "ValueSet": ValueSet,
    "StructureDefinition": StructureDefinition,
}


def _microsystem() -> MicrosystemPeriod:
    world = World()
    org = world.org("o", "Oncology")
    staff = [world.practitioner(f"s{i}", org=org) for i in range(3)]
    patients = [world.patient(f"p{i}") for i in range(3)]
    team_visits(world, staff, patients, days=range(1, 12), provider=org)
    world.encounter(patients[0], at(20), [world.practitioner("f"), staff[0]], provider=org)
    result, _ = world.derive()
    (item,) = result.microsystems["2025-03"]
    return item


def test_careteam_conforms_and_parses() -> None:
    item = _microsystem()
    resource = careteam_resource(item)
    assert validate_microsystem_careteam(resource) == []
    CareTeam.model_validate(resource)
    assert resource["id"] == f"{item.id}-2025-03"
    assert {"system": MICROSYSTEM_ID_SYSTEM, "value": item.id} in resource["identifier"]
    assert resource["managingOrganization"] == [{"reference": "Organization/o"}]
    assert resource["period"] == {"start": "2025-03-01", "end": "2025-03-31"}
    kinds = {
        p["member"]["reference"]: p["role"][-1]["coding"][0]["code"]
        for p in resource["participant"]
    }
    assert kinds["Practitioner/s0"] == "core-member"
    assert kinds["Practitioner/f"] == "occasional-member"
    assert resource == careteam_resource(item)  # deterministic


def test_careteam_names_its_organization_for_readers() -> None:
    """The managing Organization carries its name, so a dashboard groups by department."""
    item = _microsystem()
    named = careteam_resource(item, organization_names={"Organization/o": "Oncology"})
    assert named["managingOrganization"] == [{"reference": "Organization/o", "display": "Oncology"}]
    assert validate_microsystem_careteam(named) == []
    CareTeam.model_validate(named)


@pytest.mark.parametrize("cohort", ALL_COHORTS)
def test_every_cohort_group_conforms_and_parses(cohort: str) -> None:
    item = _microsystem()
    resource = patient_group_resource(item, cohort)
    assert validate_patient_group(resource) == []
    Group.model_validate(resource)
    assert resource["quantity"] == len(resource.get("member", []))


def test_attributed_group_lists_the_patients_and_points_at_the_careteam() -> None:
    item = _microsystem()
    resources = list(microsystem_resources([item]))
    assert [r["resourceType"] for r in resources] == ["Group"] * len(ALL_COHORTS) + ["CareTeam"]
    group = resources[0]
    careteam = resources[-1]
    assert {m["entity"]["reference"] for m in group["member"]} == set(item.patients)
    assert careteam["subject"]["reference"] == f"Group/{group['id']}"
    assert group["characteristic"][1]["valueReference"]["reference"] == f"CareTeam/{careteam['id']}"


def test_validators_report_broken_resources() -> None:
    item = _microsystem()
    team = careteam_resource(item)
    broken = copy.deepcopy(team)
    broken["status"] = "inactive"
    broken["category"] = []
    broken["participant"][0]["member"] = {"reference": "Patient/x"}
    broken["participant"][1]["role"] = []
    problems = validate_microsystem_careteam(broken)
    assert len(problems) == 4
    group = patient_group_resource(item)
    broken_group = copy.deepcopy(group)
    broken_group["actual"] = False
    broken_group["characteristic"] = broken_group["characteristic"][:1]
    broken_group["quantity"] = 99
    assert len(validate_patient_group(broken_group)) == 3
    assert validate_patient_group(team) == ["resourceType: must be Group"]


def test_conformance_resources_parse_and_rebase() -> None:
    resources = conformance_resources("https://example.org/fhir")
    for resource in resources:
        MODELS[resource["resourceType"]].model_validate(resource)
        assert resource["url"].startswith("https://example.org/fhir/")
    raw = orjson.dumps(resources).decode()
    assert "https://fhir-microsystems.org/fhir" not in raw
    team = careteam_resource(_microsystem(), canonical_base="https://example.org/fhir")
    assert validate_microsystem_careteam(team, canonical_base="https://example.org/fhir") == []
    assert validate_microsystem_careteam(team) != []


def test_profiles_constrain_the_right_base_resources() -> None:
    by_id = {r["id"]: r for r in conformance_resources()}
    careteam = by_id["microsystem-careteam"]
    group = by_id["microsystem-patient-group"]
    assert (careteam["type"], careteam["derivation"]) == ("CareTeam", "constraint")
    assert (group["type"], group["derivation"]) == ("Group", "constraint")
    assert careteam["fhirVersion"] == "4.0.1"
    codes = {c["code"] for c in by_id["microsystem"]["concept"]}
    assert {"clinical-microsystem", "core-member", "occasional-member", *ALL_COHORTS} <= codes
