"""Assessment: data indicators, staff questionnaire folding, the assessment MeasureReport."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.measurereport import MeasureReport

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import MicrosystemContext, compute_measures
from fhir_microsystems.reports import (
    InvalidReportError,
    StaffScore,
    assess_microsystem,
    build_assessment_report,
    fold_questionnaire_responses,
)
from fhir_microsystems.reports._assessment import Assessment
from fhir_microsystems.reports._questionnaire import ORDINAL
from tests.unit.test_measures_support import at, context, enc, obs, timelines

BASE = "https://fhir-microsystems.org/fhir"
A, B = "Practitioner/a", "Practitioner/b"
ENCOUNTERS = [
    enc("v1", "2025-03-02T10:00:00Z", "2025-03-02T11:00:00Z", cls="AMB", practitioners=(A, B)),
    enc("v2", "2025-03-03T10:00:00Z", None, cls="AMB", practitioners=(A,)),
    enc(
        "v3",
        "2025-03-04T10:00:00Z",
        None,
        cls="AMB",
        patient="Patient/p2",
        practitioners=(),
        status="in-progress",
    ),
    enc("v4", "2025-03-05T10:00:00Z", None, cls="AMB", status="cancelled"),
]
OBSERVATIONS = [
    obs("o1", "bp-panel", "2025-03-02T10:00:00Z", systolic=130, diastolic=80),
    obs("o2", "other", "2025-03-02T10:00:00Z", coded=False, complete=False),
    obs("o3", "experience", "2025-03-04T10:00:00Z", patient="Patient/p2", value=8),
    obs("o4", "other", "2025-02-02T10:00:00Z", coded=False, complete=False),
    obs("o5", "other", "2025-03-02T10:00:00Z", patient="Patient/p9", coded=False),
]


def make_context(**changes: Any) -> MicrosystemContext:
    options: dict[str, Any] = {
        "data_end": at("2025-03-16T12:00:00Z"),
        "stability": 0.8,
        "lead": True,
    }
    options.update(changes)
    return context(ENCOUNTERS, ["Patient/p1", "Patient/p2"], **options)


def assess(ctx: MicrosystemContext, staff: dict[str, StaffScore] | None = None) -> Assessment:
    tl = timelines(ENCOUNTERS, OBSERVATIONS)
    results = compute_measures(ctx, tl, {}, findings=Findings())
    return assess_microsystem(ctx, results, tl, staff=staff)


def scores(assessment: Assessment) -> dict[str, float | None]:
    return {d.code: d.score for d in assessment.dimensions}


def test_data_indicators_and_dimension_scores() -> None:
    assessment = assess(make_context())
    indicators = {i.code: i for d in assessment.dimensions for i in d.indicators}
    assert (
        indicators["multi-clinician-encounters"].numerator,
        indicators["multi-clinician-encounters"].denominator,
    ) == (1, 3)
    assert indicators["encounters-with-end"].score == pytest.approx(1 / 2)
    assert indicators["encounters-with-participants"].score == pytest.approx(2 / 3)
    assert indicators["standard-coded-observations"].score == pytest.approx(2 / 3)
    assert indicators["complete-observations"].score == pytest.approx(2 / 3)
    assert indicators["experience-measured"].score == pytest.approx(1 / 2)
    assert indicators["timeliness"].score == pytest.approx(0.5)
    assert indicators["continuity"].score == pytest.approx(1.0)
    assert indicators["targets-met"].numerator == 2 and indicators["targets-met"].denominator == 2
    assert all(i.source == "data" for i in indicators.values())
    assert scores(assessment) == pytest.approx(
        {
            "evidence-base": 2 / 3,
            "leadership": 1.0,
            "patient-focus": 0.75,
            "staff-focus": (0.8 + 1 / 3) / 2,
            "interdependence": 1 / 3,
            "information-systems": (1 / 2 + 2 / 3 + 2 / 3 + 1 / 2) / 4,
            "performance-results": 1.0,
        }
    )


def test_missing_inputs_leave_indicators_without_score() -> None:
    ctx = make_context(stability=None, lead=False)
    dims = {d.code: d for d in assess(ctx).dimensions}
    stability = next(i for i in dims["staff-focus"].indicators if i.code == "stability")
    assert stability.score is None
    assert dims["staff-focus"].score == pytest.approx(1 / 3)  # core share only
    assert dims["leadership"].score == 0.0


def response(ident: str, answers: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": ident,
        "status": "completed",
        "questionnaire": f"{BASE}/Questionnaire/microsystem-assessment|1.0.0",
        "item": [
            {
                "linkId": "group",
                "item": [{"linkId": code, "answer": [answer]} for code, answer in answers.items()],
            },
        ],
        **extra,
    }


STAFF_RESPONSES = [
    response(
        "r1",
        {
            "leadership": {"valueCoding": {"code": "3"}},
            "patient-focus": {"valueInteger": 1},
            "process-improvement": {
                "valueCoding": {"code": "b", "extension": [{"url": ORDINAL, "valueDecimal": 2}]}
            },
        },
    ),
    response("r2", {"leadership": {"valueInteger": 2}, "interdependence": {"valueInteger": 7}}),
    response("r3", {"leadership": {"valueInteger": 1}}, status="in-progress"),
    response("r4", {"leadership": {"valueInteger": 1}}, questionnaire="https://x.org/Q/other"),
]


def test_fold_questionnaire_responses() -> None:
    findings = Findings()
    staff = fold_questionnaire_responses(STAFF_RESPONSES, findings=findings, canonical_base=BASE)
    assert staff == {
        "leadership": StaffScore(0.75, 2),
        "patient-focus": StaffScore(0.0, 1),
        "process-improvement": StaffScore(0.5, 1),
    }
    assert [(f.kind, f.where) for f in findings] == [
        ("invalid-answer", "QuestionnaireResponse/r2"),
        ("ignored-status", "QuestionnaireResponse/r3"),
        ("unexpected-questionnaire", "QuestionnaireResponse/r4"),
    ]


def test_staff_ratings_fold_into_dimensions_marked_as_staff() -> None:
    staff = fold_questionnaire_responses(STAFF_RESPONSES, findings=Findings())
    assessment = assess(make_context(), staff)
    result = scores(assessment)
    assert result["leadership"] == pytest.approx((1.0 + 0.75) / 2)
    assert result["patient-focus"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert result["evidence-base"] == pytest.approx((2 / 3 + 0.5) / 2)
    sources = {i.code: i.source for d in assessment.dimensions for i in d.indicators}
    assert sources["staff-leadership"] == "staff" and sources["lead-role"] == "data"


def test_assessment_report_structure() -> None:
    ctx = make_context()
    staff = fold_questionnaire_responses(STAFF_RESPONSES, findings=Findings())
    report = build_assessment_report(
        assess(ctx, staff), ctx, generated_at=datetime(2025, 4, 2, tzinfo=UTC)
    )
    MeasureReport.model_validate(report)
    assert report["measure"] == f"{BASE}/Measure/microsystem-assessment|1.0.0"
    assert [g["id"] for g in report["group"]] == [
        "evidence-base",
        "leadership",
        "patient-focus",
        "staff-focus",
        "interdependence",
        "information-systems",
        "performance-results",
    ]
    leadership = report["group"][1]
    assert leadership["measureScore"] == {"value": 0.875}
    strata = leadership["stratifier"][0]["stratum"]
    assert [(s["value"]["text"], s["extension"][0]["valueCode"]) for s in strata] == [
        ("lead-role", "data"),
        ("staff-leadership", "staff"),
    ]
    assert strata[1]["population"][0]["count"] == 2
    assert strata[0]["population"] == [
        {
            "code": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/measure-population",
                        "code": "denominator",
                    }
                ]
            },
            "count": 1,
        },
        {
            "code": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/measure-population",
                        "code": "numerator",
                    }
                ]
            },
            "count": 1,
        },
    ]
    text = "".join(ET.fromstring(report["text"]["div"]).itertext())
    assert "Leadership 0.88" in text and "3 from staff ratings" in text  # 0.875 half-up


def test_out_of_range_indicator_is_rejected() -> None:
    ctx = make_context(stability=1.5)
    with pytest.raises(InvalidReportError) as caught:
        build_assessment_report(assess(ctx), ctx, generated_at=datetime(2025, 4, 2, tzinfo=UTC))
    assert caught.value.field.startswith("MeasureReport.group[3]")
