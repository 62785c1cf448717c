"""The shipped conformance resources load as R4B models and match the code that builds them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B.measure import Measure
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.structuredefinition import StructureDefinition

from fhir_microsystems.measures import MEASURES
from fhir_microsystems.reports import CHARACTERISTICS, shipped_profiles

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
SHIPPED = shipped_profiles()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_profile_file_matches_the_code(name: str) -> None:
    assert orjson.loads((PROFILES / name).read_bytes()) == SHIPPED[name]


@pytest.mark.parametrize("path", sorted(PROFILES.glob("Measure-*.json")), ids=lambda p: p.name)
def test_each_measure_loads_as_r4b_measure(path: Path) -> None:
    measure = Measure.model_validate(orjson.loads(path.read_bytes()))
    assert measure.status == "active"
    assert measure.url == f"https://fhir-microsystems.org/fhir/Measure/{measure.id}"
    assert measure.version == "1.0.0"
    notation = measure.improvementNotation
    codes = {c.code for c in (notation.coding or [])} if notation else {"increase"}
    assert codes <= {"increase", "decrease"}


def test_every_catalog_measure_is_shipped_with_worded_populations() -> None:
    for definition in MEASURES:
        resource = SHIPPED[f"Measure-{definition.id}.json"]
        assert resource["scoring"]["coding"][0]["code"] == definition.scoring
        for group in resource["group"]:
            for population in group["population"]:
                assert len(population["description"]) > 20
                assert population["code"]["coding"][0]["system"] == (
                    "http://terminology.hl7.org/CodeSystem/measure-population"
                )


def test_questionnaire_has_ten_three_point_items() -> None:
    resource = SHIPPED["Questionnaire-microsystem-assessment.json"]
    questionnaire = Questionnaire.model_validate(resource)
    items = questionnaire.item or []
    assert [i.linkId for i in items] == [c.code for c in CHARACTERISTICS]
    assert all(len(i.answerOption or []) == 3 for i in items)


def test_measurereport_profile_loads() -> None:
    profile = StructureDefinition.model_validate(
        SHIPPED["StructureDefinition-microsystem-measurereport.json"]
    )
    assert profile.type == "MeasureReport" and profile.derivation == "constraint"
