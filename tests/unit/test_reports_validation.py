"""The report validator catches what the R4B models let through, naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.measurereport import MeasureReport

from fhir_microsystems._errors import FatalError
from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import compute_measure, measure_definition
from fhir_microsystems.reports import InvalidReportError, validate_measure_report
from fhir_microsystems.reports._common import rounded
from tests.unit.test_measures_support import context, enc, timelines

CASES = [
    enc("r1", "2025-03-01T00:00:00Z", "2025-03-03T00:00:00Z", cls="IMP"),
    enc("r2", "2025-03-10T00:00:00Z", "2025-03-12T00:00:00Z", cls="IMP"),
]


@pytest.fixture
def report() -> dict[str, Any]:
    from fhir_microsystems.reports import build_measure_report

    ctx = context(CASES, ["Patient/p1"])
    result = compute_measure(
        measure_definition("readmission-30d"), ctx, timelines(CASES), {}, findings=Findings()
    )
    return build_measure_report(
        result, ctx, generated_at=datetime(2025, 4, 2, tzinfo=UTC), evidence=True
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(report: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = report
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


BREAKAGES = [
    ("status", _set("status", "bogus"), "MeasureReport.status"),
    ("type", _set("type", "summery"), "MeasureReport.type"),
    (
        "population code",
        _set("group/0/population/0/code/coding/0/code", "initial-populace"),
        "MeasureReport.group[0].population[0].code",
    ),
    (
        "population system",
        _set("group/0/population/0/code/coding/0/system", "http://example.org/cs"),
        "MeasureReport.group[0].population[0].code",
    ),
    (
        "improvement notation",
        _set("improvementNotation/coding/0/code", "better"),
        "MeasureReport.improvementNotation",
    ),
    (
        "xhtml",
        _set("text/div", '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>'),
        "MeasureReport.text.div",
    ),
    (
        "not a div",
        _set("text/div", '<p xmlns="http://www.w3.org/1999/xhtml">x</p>'),
        "MeasureReport.text.div",
    ),
    (
        "negative count",
        _set("group/0/population/0/count", -1),
        "MeasureReport.group[0].population[0].count",
    ),
    ("numerator > denominator", _set("group/0/population/3/count", 3), "MeasureReport.group[0]"),
    (
        "score above 1",
        _set("group/0/measureScore", {"value": 1.5}),
        "MeasureReport.group[0].measureScore",
    ),
    (
        "dangling evidence",
        _set("group/0/population/1/subjectResults/reference", "#nothing"),
        "MeasureReport.group[0].population[1].subjectResults",
    ),
    ("id", _set("id", "mr_" + "x" * 70), "MeasureReport.id"),
    ("period", _set("period/end", "2025-02-01T00:00:00Z"), "MeasureReport.period"),
    ("structure", _set("group/0/population/0/count", "many"), "MeasureReport.group"),
]


def test_unbroken_report_validates(report: dict[str, Any]) -> None:
    validate_measure_report(report, proportion=True)


def test_r4b_models_accept_a_bogus_status(report: dict[str, Any]) -> None:
    broken = copy.deepcopy(report)
    broken["status"] = "bogus"
    assert MeasureReport.model_validate(broken).status == "bogus"  # why our checks exist


@pytest.mark.parametrize(("name", "change", "field"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_validator_names_the_broken_field(
    report: dict[str, Any], name: str, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    broken = copy.deepcopy(report)
    change(broken)
    with pytest.raises(InvalidReportError) as caught:
        validate_measure_report(broken, proportion=True)
    assert caught.value.field.startswith(field), (name, caught.value.field)
    assert isinstance(caught.value, FatalError)


def test_rounding_is_half_up_on_the_decimal_form() -> None:
    assert rounded(2.675, 2) == 2.68
    assert rounded(0.33335, 4) == 0.3334
    assert rounded(105.04999, 1) == 105.0
