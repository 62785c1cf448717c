"""Coded values validated once by content: every report is still validated in full."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.measurereport import (
    MeasureReport,
    MeasureReportGroupPopulation,
    MeasureReportGroupStratifierStratum,
)

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import compute_measure, measure_definition
from fhir_microsystems.reports import InvalidReportError, _validate, validate_measure_report
from tests.unit.test_measures_support import context, enc, timelines

CASES = [
    enc("c1", "2025-03-01T00:00:00Z", "2025-03-03T00:00:00Z", cls="IMP", patient="Patient/p1"),
    enc("c2", "2025-03-10T00:00:00Z", "2025-03-12T00:00:00Z", cls="IMP", patient="Patient/p2"),
]


@pytest.fixture
def report() -> dict[str, Any]:
    from fhir_microsystems.reports import build_measure_report

    ctx = context(CASES, ["Patient/p1", "Patient/p2"])
    result = compute_measure(
        measure_definition("readmission-30d"), ctx, timelines(CASES), {}, findings=Findings()
    )
    return build_measure_report(result, ctx, generated_at=datetime(2025, 4, 2, tzinfo=UTC))


def _stratum(report: dict[str, Any]) -> dict[str, Any]:
    stratum: dict[str, Any] = report["group"][0]["stratifier"][0]["stratum"][0]
    return stratum


def test_the_concepts_are_the_models_own_class() -> None:
    for field in (
        MeasureReportGroupPopulation.model_fields["code"],
        MeasureReportGroupStratifierStratum.model_fields["value"],
    ):
        klass = field.annotation.__args__[0].get_model_klass()  # type: ignore[union-attr]
        assert klass is CodeableConcept


def test_the_report_is_not_changed_and_validates_the_same(report: dict[str, Any]) -> None:
    before = copy.deepcopy(report)
    converted = _validate._with_known_concepts(report)
    assert report == before
    code = converted["group"][0]["population"][0]["code"]
    assert isinstance(code, CodeableConcept)
    assert isinstance(converted["group"][0]["stratifier"][0]["code"][0], CodeableConcept)
    assert isinstance(_stratum(converted)["value"], CodeableConcept)
    assert isinstance(_stratum(converted)["population"][0]["code"], CodeableConcept)
    assert isinstance(converted["improvementNotation"], CodeableConcept)
    again = _validate._with_known_concepts(report)
    assert again["group"][0]["population"][0]["code"] is code  # one model per content
    assert (
        MeasureReport.model_validate(converted).model_dump()
        == MeasureReport.model_validate(copy.deepcopy(report)).model_dump()
    )


def test_content_keys_tell_types_apart() -> None:
    keys = {_validate._content_key(v) for v in ("1", 1, 1.0, True, None, [1], {"a": 1})}
    assert len(keys) == 7
    assert _validate._content_key({"a": "x", "b": [1]}) == _validate._content_key(
        {"b": [1], "a": "x"}
    )
    with pytest.raises(TypeError):
        _validate._content_key({"a": datetime(2025, 1, 1, tzinfo=UTC)})


def test_a_known_code_of_another_type_is_still_rejected(report: dict[str, Any]) -> None:
    validate_measure_report(report)  # "denominator" etc. are now known as strings
    broken = copy.deepcopy(report)
    broken["group"][0]["population"][0]["code"]["coding"][0]["code"] = ["initial-population"]
    with pytest.raises(InvalidReportError) as caught:
        validate_measure_report(broken)
    assert caught.value.field.startswith("MeasureReport.group.0.population.0.code.coding.0.code")


def test_invalid_concepts_are_not_kept(report: dict[str, Any]) -> None:
    broken = copy.deepcopy(report)
    _stratum(broken)["value"]["coding"][0]["system"] = 7
    for _ in range(2):
        with pytest.raises(InvalidReportError) as caught:
            validate_measure_report(broken)
        field = caught.value.field
        assert field.startswith("MeasureReport.group.0.stratifier.0.stratum.0.value.coding.0")


def test_the_varying_parts_are_validated_every_time(report: dict[str, Any]) -> None:
    validate_measure_report(report)
    broken = copy.deepcopy(report)
    _stratum(broken)["population"][0]["count"] = "many"
    with pytest.raises(InvalidReportError) as caught:
        validate_measure_report(broken)
    assert caught.value.field == "MeasureReport.group.0.stratifier.0.stratum.0.population.0.count"
    broken = copy.deepcopy(report)
    _stratum(broken)["population"][0]["unknown"] = 1
    with pytest.raises(InvalidReportError):
        validate_measure_report(broken)
