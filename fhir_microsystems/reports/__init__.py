"""MeasureReports of microsystem measures and assessments: building, validation, evidence."""

from ._assessment import (
    DATA_INDICATORS,
    DIMENSIONS,
    OVERALL_RULE,
    Assessment,
    DimensionScore,
    Indicator,
    assess_microsystem,
    overall_score,
)
from ._assessment_report import assessment_measure_resource, build_assessment_report
from ._build import build_measure_report
from ._common import InvalidReportError, instant, report_identity, rounded
from ._evidence import evidence_list, listed_keys
from ._profiles import measurereport_profile, shipped_profiles
from ._questionnaire import (
    CHARACTERISTICS,
    Characteristic,
    StaffScore,
    fold_questionnaire_responses,
    questionnaire_resource,
)
from ._staff import StaffResponse, responses_by_period, staff_scores
from ._validate import validate_measure_report

__all__ = [
    "CHARACTERISTICS",
    "DATA_INDICATORS",
    "DIMENSIONS",
    "OVERALL_RULE",
    "Assessment",
    "Characteristic",
    "DimensionScore",
    "Indicator",
    "InvalidReportError",
    "StaffResponse",
    "StaffScore",
    "assess_microsystem",
    "assessment_measure_resource",
    "build_assessment_report",
    "build_measure_report",
    "evidence_list",
    "fold_questionnaire_responses",
    "instant",
    "listed_keys",
    "measurereport_profile",
    "overall_score",
    "questionnaire_resource",
    "report_identity",
    "responses_by_period",
    "rounded",
    "shipped_profiles",
    "staff_scores",
    "validate_measure_report",
]
