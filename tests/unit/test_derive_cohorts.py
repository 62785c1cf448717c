"""Cohorts: code lists from the shipped ValueSets, settings and conditions per period."""

from __future__ import annotations

import pytest

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems._findings import Findings
from fhir_microsystems.derive import cohorts
from fhir_microsystems.derive.cohorts import (
    ICD10CM,
    code_list_from_valueset,
    cohorts_of_codings,
    condition_code_lists,
    condition_spells,
)
from fhir_microsystems.sources import ReferenceIndex

from .test_derive_world import SCT, World, at, team_visits


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        (SCT, "44054006", {"diabetes"}),
        (SCT, "38341003", {"hypertension"}),
        (SCT, "59621000", {"hypertension"}),
        (SCT, "254637007", {"cancer"}),
        (SCT, "126906006", {"cancer"}),
        (SCT, "15777000", set()),  # prediabetes
        (SCT, "162573006", set()),  # suspected lung cancer
        (ICD10CM, "E11.9", {"diabetes"}),
        (ICD10CM, "E119", {"diabetes"}),
        (ICD10CM, "I10", {"hypertension"}),
        (ICD10CM, "C50.911", {"cancer"}),
        (ICD10CM, "R73.03", set()),
        (ICD10CM, "D50.9", set()),
        ("http://example.org/other", "44054006", set()),
    ],
)
def test_codes_are_read_from_the_valuesets(system: str, code: str, expected: set[str]) -> None:
    assert cohorts_of_codings([(system, code)]) == expected


def test_condition_cohorts_are_remembered_without_changing_outcomes() -> None:
    cohorts._cohorts_of.cache_clear()
    index = ReferenceIndex()
    index.add({"resourceType": "Patient", "id": "p1"})
    codes = [(SCT, "44054006"), (ICD10CM, "I10"), (SCT, "15777000"), (ICD10CM, "C50.911")]
    for _ in range(2):
        for system, code in codes:
            condition = {
                "resourceType": "Condition",
                "id": "c1",
                "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": "Patient/p1"},
                "onsetDateTime": "2024-05-01",
            }
            found = condition_spells(condition, index, Findings())
            names = cohorts_of_codings([(system, code)])
            assert (found[0] is not None) == bool(names)
            assert [s.cohort for s in found[1]] == sorted(names)
    info = cohorts._cohorts_of.cache_info()
    assert info.hits == len(codes) and info.currsize == len(codes)  # the second round


def test_every_condition_cohort_has_snomed_and_icd10cm_codes() -> None:
    for name, codes in condition_code_lists().items():
        assert any(system == SCT for system, _ in codes.exact), name
        assert codes.prefixes.get(ICD10CM), name


def test_unsupported_filters_are_refused() -> None:
    valueset = {
        "compose": {
            "include": [
                {"system": SCT, "filter": [{"property": "concept", "op": "is-a", "value": "1"}]}
            ]
        }
    }
    with pytest.raises(ConfigurationError):
        code_list_from_valueset(valueset)


def test_setting_and_condition_cohorts_of_a_microsystem() -> None:
    world = World()
    org = world.org("o", "Medicine")
    staff = [world.practitioner(f"s{i}") for i in range(3)]
    diabetic, resolved, future, ed_only = (world.patient(p) for p in ("d", "r", "f", "e"))
    team_visits(world, staff, [diabetic, resolved, future], days=range(1, 10), provider=org)
    world.encounter(ed_only, at(12), staff, klass="EMER", provider=org)
    world.condition(diabetic, "44054006", onset="2019-05-01")
    world.condition(resolved, "I10", system=ICD10CM, onset="2020-01-01", abatement="2025-02-27")
    world.condition(future, "254637007", onset="2025-04-02")
    result, _ = world.derive()
    (item,) = result.microsystems["2025-03"]
    assert item.cohorts["attributed"] == {diabetic, resolved, future, ed_only}
    assert item.cohorts["inpatients"] == {diabetic, resolved, future}
    assert item.cohorts["ed-attenders"] == {ed_only}
    assert item.cohorts["ambulatory"] == set()
    assert item.cohorts["diabetes"] == {diabetic}
    assert "hypertension" not in item.cohorts
    assert "cancer" not in item.cohorts
    assert result.cohorts("2025-03") == {item.id: item.cohorts}
