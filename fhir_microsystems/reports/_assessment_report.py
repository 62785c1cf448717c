"""The assessment MeasureReport and the ``microsystem-assessment`` Measure it reports on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir_microsystems.measures import (
    DEFAULT_CANONICAL_BASE,
    MEASURE_VERSION,
    MicrosystemContext,
)
from fhir_microsystems.measures._resource import IMPROVEMENT, MEASURE_TYPE, POPULATION, coding

from ._assessment import DATA_INDICATORS, DIMENSIONS, Assessment, DimensionScore, Indicator
from ._common import extension_url, instant, report_identity, rounded
from ._narrative import period_words, xhtml_div
from ._questionnaire import CHARACTERISTICS, questionnaire_url
from ._validate import validate_measure_report

ASSESSMENT_ID = "microsystem-assessment"
COMPOSITE_SCORING = "http://terminology.hl7.org/CodeSystem/composite-measure-scoring"
PRECISION = 4


def _dimension_concept(base: str, code: str) -> dict[str, Any]:
    title, meaning = DIMENSIONS[code]
    concept = coding(f"{base}/CodeSystem/microsystem-assessment-dimension", code, title)
    concept["text"] = meaning
    return concept


def _indicator_concept(base: str, code: str) -> dict[str, Any]:
    concept = coding(f"{base}/CodeSystem/microsystem-assessment-indicator", code)
    concept["text"] = code
    return concept


def _stratifier_code(base: str) -> list[dict[str, Any]]:
    concept = coding(f"{base}/CodeSystem/microsystem-stratifier", "indicator")
    concept["text"] = "component indicator"
    return [concept]


def _stratum(base: str, indicator: Indicator) -> dict[str, Any]:
    stratum: dict[str, Any] = {
        "extension": [
            {"url": extension_url(base, "indicator-source"), "valueCode": indicator.source}
        ],
        "value": _indicator_concept(base, indicator.code),
    }
    populations = []
    if indicator.source == "staff" and indicator.denominator is not None:
        populations.append(("initial-population", indicator.denominator))
    elif indicator.denominator is not None:
        populations += [("denominator", indicator.denominator)]
        populations += [("numerator", indicator.numerator or 0)]
    if populations:
        stratum["population"] = [
            {"code": coding(POPULATION, code), "count": count} for code, count in populations
        ]
    if indicator.score is not None:
        stratum["measureScore"] = {"value": rounded(indicator.score, PRECISION)}
    return stratum


def _group(base: str, dimension: DimensionScore) -> dict[str, Any]:
    group: dict[str, Any] = {"id": dimension.code, "code": _dimension_concept(base, dimension.code)}
    if dimension.score is not None:
        group["measureScore"] = {"value": rounded(dimension.score, PRECISION)}
    group["stratifier"] = [
        {
            "id": f"{dimension.code}-indicator",
            "code": _stratifier_code(base),
            "stratum": [_stratum(base, i) for i in dimension.indicators],
        }
    ]
    return group


def _sentence(assessment: Assessment, ctx: MicrosystemContext) -> str:
    parts = [
        f"{DIMENSIONS[d.code][0]} "
        + ("no score" if d.score is None else f"{rounded(d.score, 2):.2f}")
        for d in assessment.dimensions
    ]
    indicators = [i for d in assessment.dimensions for i in d.indicators]
    staff = sum(i.source == "staff" for i in indicators)
    return (
        f"Microsystem assessment for {ctx.name}, {period_words(ctx.period)}: "
        f"{', '.join(parts)} (scores 0..1; {len(indicators) - staff} indicators from data, "
        f"{staff} from staff ratings)."
    )


def build_assessment_report(
    assessment: Assessment,
    ctx: MicrosystemContext,
    *,
    generated_at: datetime,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    version: str = MEASURE_VERSION,
) -> dict[str, Any]:
    """The validated assessment MeasureReport: one group per dimension, indicators as strata."""
    url = f"{canonical_base}/Measure/{ASSESSMENT_ID}"
    report_id, identifier = report_identity(canonical_base, url, version, ctx.id, ctx.period)
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "id": report_id,
        "text": {"status": "generated", "div": xhtml_div(_sentence(assessment, ctx))},
        "extension": [
            {
                "url": extension_url(canonical_base, "microsystem"),
                "valueReference": {"reference": ctx.careteam_ref},
            }
        ],
        "identifier": [identifier],
        "status": "complete",
        "type": "summary",
        "measure": f"{url}|{version}",
        "subject": {"reference": ctx.group_ref},
        "date": instant(generated_at),
    }
    if ctx.organization:
        report["reporter"] = {"reference": ctx.organization}
    report["period"] = {"start": instant(ctx.start), "end": instant(ctx.end)}
    report["improvementNotation"] = coding(IMPROVEMENT, "increase")
    report["group"] = [_group(canonical_base, d) for d in assessment.dimensions]
    validate_measure_report(report, unit_interval=True)
    return report


def _dimension_description(code: str) -> str:
    lines = [f"{DIMENSIONS[code][1]} Score: the mean of the available indicators, 0..1."]
    lines += [
        f"Data indicator {name}: {text}"
        for name, (dimension, text) in DATA_INDICATORS.items()
        if dimension == code
    ]
    lines += [
        f"Staff indicator staff-{c.code}: mean staff rating of '{c.title}', (rating - 1) / 2."
        for c in CHARACTERISTICS
        if c.dimension == code
    ]
    return " ".join(lines)


def assessment_measure_resource(*, canonical_base: str, version: str) -> dict[str, Any]:
    """The shipped ``profiles/Measure-microsystem-assessment.json``."""
    return {
        "resourceType": "Measure",
        "id": ASSESSMENT_ID,
        "url": f"{canonical_base}/Measure/{ASSESSMENT_ID}",
        "version": version,
        "name": "MicrosystemAssessment",
        "title": "Clinical microsystem assessment (Dartmouth framework)",
        "status": "active",
        "experimental": False,
        "publisher": "fhir-microsystems",
        "description": (
            "Scores a clinical microsystem on seven dimensions of the Dartmouth framework "
            "(evidence base, leadership, patient focus, staff focus, interdependence, "
            "information systems, performance results), each 0..1, from transparent component "
            "indicators computed from the data and, optionally, staff self-assessment ratings."
        ),
        "type": [coding(MEASURE_TYPE, "composite")],
        "compositeScoring": coding(COMPOSITE_SCORING, "linear"),
        "improvementNotation": coding(IMPROVEMENT, "increase"),
        "guidance": (
            "Each dimension is a MeasureReport group whose measureScore is the unweighted mean "
            "of its indicators that have a value; each indicator is a stratum of the group's "
            "'indicator' stratifier, with extension "
            f"{extension_url(canonical_base, 'indicator-source')} = data | staff, numerator and "
            "denominator counts for shares, and its own score. Indicators without a value "
            "(empty denominators, no ratings) are listed without a score and left out."
        ),
        "relatedArtifact": [{"type": "depends-on", "resource": questionnaire_url(canonical_base)}],
        "group": [
            {
                "id": code,
                "code": _dimension_concept(canonical_base, code),
                "description": _dimension_description(code),
                "stratifier": [
                    {
                        "id": f"{code}-indicator",
                        "code": _stratifier_code(canonical_base)[0],
                        "description": "One stratum per component indicator.",
                    }
                ],
            }
            for code in DIMENSIONS
        ],
    }


__all__ = ["ASSESSMENT_ID", "assessment_measure_resource", "build_assessment_report"]
