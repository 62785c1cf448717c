"""MeasureReport building: structure, R4B validity, narrative, identity, evidence Lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.measurereport import MeasureReport

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import (
    MEASURES,
    MicrosystemContext,
    compute_measure,
    compute_measures,
    measure_definition,
)
from fhir_microsystems.measures._resource import measure_resource
from fhir_microsystems.reports import build_measure_report, listed_keys
from tests.unit.test_measures_support import at, context, enc, obs, person, timelines

NOW = datetime(2025, 4, 2, 6, 0, tzinfo=UTC)
BASE = "https://example.org/fhir"

ENCOUNTERS = [
    enc("e1", "2025-03-02T10:00:00Z", "2025-03-02T12:30:00Z"),
    enc("e2", "2025-03-04T10:00:00Z", "2025-03-04T11:00:00Z"),  # return within 72 h of e1
    enc("i1", "2025-03-05T00:00:00Z", "2025-03-07T00:00:00Z", cls="IMP", patient="Patient/p2"),
    enc("i2", "2025-03-20T00:00:00Z", "2025-03-21T00:00:00Z", cls="IMP", patient="Patient/p2"),
    enc(
        "i3",
        "2025-03-25T00:00:00Z",
        "2025-03-27T00:00:00Z",
        cls="IMP",
        patient="Patient/p3",
        disposition="exp",
    ),
]
OBSERVATIONS = [
    obs("b1", "bp-panel", "2025-03-10T10:00:00Z", systolic=130, diastolic=80),
    obs("b2", "bp-panel", "2025-03-10T10:00:00Z", patient="Patient/p2", systolic=150, diastolic=80),
    obs("h1", "hba1c", "2025-03-10T10:00:00Z", value=9.4),
]
PEOPLE = {
    "Patient/p1": person("Patient/p1", gender="male", born="1950-06-01"),
    "Patient/p2": person("Patient/p2", gender="female", born="1990-01-01"),
}
GROUP = ["Patient/p1", "Patient/p2", "Patient/p3"]


def reports(ctx: MicrosystemContext, *, evidence: bool = True) -> dict[str, dict[str, Any]]:
    results = compute_measures(
        ctx, timelines(ENCOUNTERS, OBSERVATIONS), PEOPLE, findings=Findings()
    )
    return {
        r.measure: build_measure_report(
            r, ctx, generated_at=NOW, canonical_base=BASE, evidence=evidence
        )
        for r in results
    }


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, Any]]:
    return reports(context(ENCOUNTERS, GROUP))


def population_counts(report: dict[str, Any], group: int = 0) -> dict[str, int]:
    return {
        p["code"]["coding"][0]["code"]: p["count"] for p in report["group"][group]["population"]
    }


def test_every_report_validates_with_r4b_and_has_the_summary_shape(
    built: dict[str, dict[str, Any]],
) -> None:
    assert set(built) == {m.id for m in MEASURES}
    for measure_id, report in built.items():
        MeasureReport.model_validate(report)
        assert report["status"] == "complete"
        assert report["type"] == "summary"
        assert report["measure"] == f"{BASE}/Measure/{measure_id}|1.0.0"
        assert report["subject"] == {"reference": "Group/g1"}
        assert report["reporter"] == {"reference": "Organization/o1"}
        assert report["date"] == "2025-04-02T06:00:00Z"
        assert report["period"] == {"start": "2025-03-01T00:00:00Z", "end": "2025-04-01T00:00:00Z"}
        assert report["extension"] == [
            {
                "url": f"{BASE}/StructureDefinition/microsystem",
                "valueReference": {"reference": "CareTeam/ct1"},
            }
        ]


def test_population_ids_match_the_measure(built: dict[str, dict[str, Any]]) -> None:
    for definition in MEASURES:
        measure = measure_resource(definition, canonical_base=BASE, version="1.0.0")
        expected = [[p["id"] for p in g["population"]] for g in measure["group"]]
        got = [[p["id"] for p in g["population"]] for g in built[definition.id]["group"]]
        assert got == expected
        assert [g["id"] for g in built[definition.id]["group"]] == [
            g["id"] for g in measure["group"]
        ]
        notation = built[definition.id].get("improvementNotation", {}).get("coding", [{}])[0]
        assert notation.get("code") == definition.improvement


def test_scores_counts_and_units(built: dict[str, dict[str, Any]]) -> None:
    ed = built["ed-length-of-stay"]["group"][0]
    assert ed["measureScore"] == {
        "value": 105.0,  # median of 150 and 60 min
        "unit": "min",
        "system": "http://unitsofmeasure.org",
        "code": "min",
    }
    ip = built["inpatient-length-of-stay"]["group"][0]
    # i1 2 d, i2 1 d, i3 2 d (an expired patient still has a length of stay)
    assert ip["measureScore"]["value"] == 2.0 and ip["measureScore"]["code"] == "d"
    readmission = built["readmission-30d"]
    assert population_counts(readmission) == {
        "initial-population": 3,
        "denominator": 3,
        "denominator-exclusion": 1,
        "numerator": 1,
    }
    assert readmission["group"][0]["measureScore"] == {"value": 0.5}
    assert built["ed-return-72h"]["group"][0]["measureScore"] == {"value": 0.5}
    assert built["bp-control"]["group"][0]["measureScore"] == {"value": 0.5}
    assert built["hba1c-poor-control"]["group"][0]["measureScore"] == {"value": 1.0}
    volume = built["volume"]
    assert population_counts(volume, 0) == {"initial-population": 5}
    assert population_counts(volume, 1) == {"initial-population": 3}
    assert "measureScore" not in volume["group"][0]


def test_stratifiers_have_per_stratum_populations_and_scores(
    built: dict[str, dict[str, Any]],
) -> None:
    bp = built["bp-control"]["group"][0]
    gender = next(s for s in bp["stratifier"] if s["id"] == "gender")
    by_value = {s["value"]["text"]: s for s in gender["stratum"]}
    assert by_value["male"]["measureScore"] == {"value": 1.0}
    assert by_value["female"]["measureScore"] == {"value": 0.0}
    assert by_value["male"]["value"]["coding"][0]["system"] == (
        "http://hl7.org/fhir/administrative-gender"
    )
    assert "measureScore" not in by_value["unknown"]  # p3: no reading, empty denominator
    age = next(s for s in bp["stratifier"] if s["id"] == "age-band")
    assert sorted(s["value"]["text"] for s in age["stratum"]) == ["18-44", "65+", "unknown"]
    volume = built["volume"]["group"][0]
    classes = next(s for s in volume["stratifier"] if s["id"] == "encounters-encounter-class")
    assert {s["value"]["text"]: s["population"][0]["count"] for s in classes["stratum"]} == {
        "EMER": 2,
        "IMP": 3,
    }


def test_narrative_is_valid_escaped_xhtml_with_population_sizes(
    built: dict[str, dict[str, Any]],
) -> None:
    for report in built.values():
        assert report["text"]["status"] == "generated"
        root = ET.fromstring(report["text"]["div"])
        assert root.tag == "{http://www.w3.org/1999/xhtml}div"
        assert "Cardiology <Team> & Co" in "".join(root.itertext())
    text = "".join(ET.fromstring(built["readmission-30d"]["text"]["div"]).itertext())
    assert "1 of 2 eligible encounters" in text and "1 excluded" in text


def test_empty_denominator_gives_no_score_and_says_so() -> None:
    ctx = context([], ["Patient/p9"])
    result = compute_measure(
        measure_definition("bp-control"), ctx, timelines(), {}, findings=Findings()
    )
    report = build_measure_report(result, ctx, generated_at=NOW)
    assert "measureScore" not in report["group"][0]
    assert "no score: the denominator is empty" in report["text"]["div"]


def test_ids_are_deterministic_and_period_specific() -> None:
    first = reports(context(ENCOUNTERS, GROUP))
    again = reports(context(ENCOUNTERS, GROUP))
    assert first == again
    ids = {r["id"] for r in first.values()}
    assert len(ids) == len(MEASURES)
    april = reports(context(ENCOUNTERS, GROUP, period=(at("2025-04-01"), at("2025-05-01"))))
    assert ids.isdisjoint(r["id"] for r in april.values())
    report = first["bp-control"]
    assert report["identifier"] == [
        {
            "system": f"{BASE}/id/measurereport",
            "value": f"{BASE}/Measure/bp-control|1.0.0|ms-1|2025-03-01T00:00:00Z|"
            "2025-04-01T00:00:00Z",
        }
    ]


def test_evidence_lists_reference_what_each_population_counted(
    built: dict[str, dict[str, Any]],
) -> None:
    readmission = built["readmission-30d"]
    for population in readmission["group"][0]["population"]:
        assert population["subjectResults"] == {"reference": f"#{population['id']}"}
    assert listed_keys(readmission, "denominator-exclusion") == ["Encounter/i3"]
    assert listed_keys(readmission, "numerator") == ["Encounter/i1"]
    ed = built["ed-length-of-stay"]
    observation_list = next(c for c in ed["contained"] if c["id"] == "measure-observation")
    values = [e["extension"][0]["valueQuantity"]["value"] for e in observation_list["entry"]]
    assert values == [150.0, 60.0]
    empty = next(c for c in built["hba1c-poor-control"]["contained"] if c["id"] == "numerator")
    ip_excluded = next(
        c
        for c in built["inpatient-length-of-stay"]["contained"]
        if c["id"] == "measure-population-exclusion"
    )
    assert (
        "entry" not in ip_excluded and ip_excluded["emptyReason"]["coding"][0]["code"] == "nilknown"
    )
    assert empty["entry"] == [{"item": {"reference": "Patient/p1"}}]
    volume = built["volume"]
    assert listed_keys(volume, "patients-initial-population") == GROUP


def test_no_evidence_means_no_contained_lists() -> None:
    report = reports(context(ENCOUNTERS, GROUP), evidence=False)["bp-control"]
    assert "contained" not in report
    assert all("subjectResults" not in p for p in report["group"][0]["population"])


def test_pending_follow_up_is_flagged() -> None:
    ctx = context(ENCOUNTERS, GROUP, data_end=at("2025-04-10T00:00:00Z"))
    report = reports(ctx)["readmission-30d"]
    assert report["status"] == "pending"
    assert report["group"][0]["extension"] == [
        {"url": f"{BASE}/StructureDefinition/pending-follow-up", "valueInteger": 1}  # i2
    ]
    assert "Follow-up is incomplete for 1 encounter:" in report["text"]["div"]


def test_no_organization_means_no_reporter() -> None:
    report = reports(context(ENCOUNTERS, GROUP, organization=None))["volume"]
    assert "reporter" not in report
