"""A static dashboard for quality staff: scorecard, SPC charts, microsystem profiles.

Reads a run's MeasureReports, CareTeams and Groups (an output folder or a FHIR server), analyses
every series with :mod:`fhir_microsystems.spc` and writes plain HTML with inline SVG charts that
open from ``file://``, plus ``spc.csv``. See ``docs/dashboard.md``.
"""

from ._command import ANNOTATIONS_FILE, build_after_run, build_dashboard
from ._csv import COLUMNS, write_spc_csv
from ._model import Cohort, Dimension, Finding, Member, Report, RunData, Stratum, Team
from ._read import parse_report, read_directory, read_server
from ._series import Annotation, Series, build_series, read_annotations
from ._site import SiteSummary, build_site

__all__ = [
    "ANNOTATIONS_FILE",
    "COLUMNS",
    "Annotation",
    "Cohort",
    "Dimension",
    "Finding",
    "Member",
    "Report",
    "RunData",
    "Series",
    "SiteSummary",
    "Stratum",
    "Team",
    "build_after_run",
    "build_dashboard",
    "build_series",
    "build_site",
    "parse_report",
    "read_annotations",
    "read_directory",
    "read_server",
    "write_spc_csv",
]
