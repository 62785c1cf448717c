"""MeasureReports of microsystem measures and assessments: building, validation, evidence."""

from ._build import build_measure_report
from ._common import InvalidReportError, instant, report_identity, rounded
from ._evidence import evidence_list, listed_keys
from ._validate import validate_measure_report

__all__ = [
    "InvalidReportError",
    "build_measure_report",
    "evidence_list",
    "instant",
    "listed_keys",
    "report_identity",
    "rounded",
    "validate_measure_report",
]
