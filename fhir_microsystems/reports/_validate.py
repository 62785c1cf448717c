"""Validation of built MeasureReports: R4B structure plus the codes and sums it cannot check.

The fhir.resources models check structure only (``status="bogus"`` passes them), so the
required bindings, the narrative XHTML, the counts and the scores are checked here too.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, NoReturn

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.measurereport import MeasureReport
from pydantic import ValidationError

from fhir_microsystems.measures._resource import IMPROVEMENT, POPULATION

from ._common import InvalidReportError

REPORT_STATUSES = frozenset({"complete", "pending", "error"})
REPORT_TYPES = frozenset({"individual", "subject-list", "summary", "data-collection"})
POPULATION_CODES = frozenset(
    {
        "initial-population",
        "numerator",
        "numerator-exclusion",
        "denominator",
        "denominator-exclusion",
        "denominator-exception",
        "measure-population",
        "measure-population-exclusion",
        "measure-observation",
    }
)
IMPROVEMENT_CODES = frozenset({"increase", "decrease"})
NARRATIVE_STATUSES = frozenset({"generated", "extensions", "additional", "empty"})
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DIV = "{http://www.w3.org/1999/xhtml}div"


def _fail(field: str, message: str) -> NoReturn:
    raise InvalidReportError(message, field=field)


def _codes(concept: Any, system: str, allowed: frozenset[str], field: str) -> str:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not codings:
        _fail(field, "no coding")
    for item in codings:
        if item.get("system") != system or item.get("code") not in allowed:
            _fail(field, f"code {item.get('code')!r} of {item.get('system')!r} is not allowed")
    return str(codings[0]["code"])


#: CodeableConcepts already validated by the R4B model, by content (see ``_known_concept``).
_CONCEPTS: dict[object, CodeableConcept] = {}
_CONCEPTS_KEPT = 4096
_PLAIN = (str, int, float, bool, type(None))


def _content_key(value: Any) -> object:
    """A hashable key equal only for equal JSON content of the same types (1, 1.0 and True
    differ); raises TypeError for anything but plain JSON values."""
    kind = type(value)
    if kind is str:
        return value  # every other kind is keyed by a tuple
    if kind is dict:
        items = []
        for name, item in value.items():
            if type(name) is not str:
                raise TypeError(name)
            items.append((name, item if type(item) is str else _content_key(item)))
        items.sort()  # the names differ: the values are never compared
        return (dict, *items)
    if kind is list:
        return (list, *[item if type(item) is str else _content_key(item) for item in value])
    if kind in _PLAIN:
        return (kind, repr(value))
    raise TypeError(kind)


def _known_concept(value: Any) -> Any:
    """The R4B CodeableConcept model of ``value`` (a dict), or ``value`` itself when invalid.

    The model accepts an element that is already a model instance as-is: that is what it
    makes of a dict element itself (``CodeableConcept.model_validate(dict)``), so validating
    the same content again would give the same verdict. Reports repeat a small vocabulary
    of coded values (population codes, stratifiers, stratum values) hundreds of times; each
    distinct content is validated by the model once, every other part of every report is
    validated in full. Invalid content is never kept and stays a dict, so the report's own
    validation names it.
    """
    if type(value) is not dict:
        return value
    try:
        key = _content_key(value)
    except TypeError:
        return value
    model = _CONCEPTS.get(key)
    if model is None:
        try:
            model = CodeableConcept.model_validate(value)
        except ValidationError:
            return value
        if len(_CONCEPTS) < _CONCEPTS_KEPT:
            _CONCEPTS[key] = model
    return model


def _concepts_in(item: Any, names: tuple[str, ...]) -> Any:
    """``item`` (copied) with its CodeableConcept elements ``names`` as known models."""
    if type(item) is not dict:
        return item
    out = dict(item)
    for name in names:
        if name in out:
            out[name] = _known_concept(out[name])
    return out


def _each(items: Any, convert: Any) -> Any:
    return [convert(item) for item in items] if type(items) is list else items


def _stratum(stratum: Any) -> Any:
    out = _concepts_in(stratum, ("value",))
    if type(out) is dict and "population" in out:
        out["population"] = _each(out["population"], lambda p: _concepts_in(p, ("code",)))
    return out


def _stratifier(stratifier: Any) -> Any:
    if type(stratifier) is not dict:
        return stratifier
    out = dict(stratifier)
    if "code" in out:
        out["code"] = _each(out["code"], _known_concept)
    if "stratum" in out:
        out["stratum"] = _each(out["stratum"], _stratum)
    return out


def _group(group: Any) -> Any:
    out = _concepts_in(group, ("code",))
    if type(out) is dict:
        if "population" in out:
            out["population"] = _each(out["population"], lambda p: _concepts_in(p, ("code",)))
        if "stratifier" in out:
            out["stratifier"] = _each(out["stratifier"], _stratifier)
    return out


def _with_known_concepts(report: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``report`` whose coded values are models the R4B model already accepted
    (``report`` itself is not changed)."""
    out = _concepts_in(dict(report), ("improvementNotation",))
    if "group" in out:
        out["group"] = _each(out["group"], _group)
    return dict(out)


def _structure(report: Mapping[str, Any]) -> None:
    try:
        MeasureReport.model_validate(_with_known_concepts(report))
    except ValidationError:
        try:  # again from the plain dicts, for the error exactly as the model reports it
            MeasureReport.model_validate(dict(report))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            _fail(f"MeasureReport.{path}", first["msg"])
        raise  # pragma: no cover - both validate the same content


def _narrative(report: Mapping[str, Any]) -> None:
    text = report.get("text")
    if not isinstance(text, dict) or text.get("status") not in NARRATIVE_STATUSES:
        _fail("MeasureReport.text.status", "missing or not a narrative status")
    try:
        root = ET.fromstring(text["div"])
    except (ET.ParseError, TypeError, KeyError) as exc:
        raise InvalidReportError(
            f"not well-formed XHTML ({exc})", field="MeasureReport.text.div"
        ) from exc
    if root.tag != _DIV:
        _fail("MeasureReport.text.div", "root is not an XHTML div")


def _score(value: Any, field: str, unit_interval: bool) -> None:
    number = value.get("value") if isinstance(value, dict) else None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        _fail(field, "not a finite decimal")
    if unit_interval and not 0 <= number <= 1:
        _fail(field, f"{number} is outside 0..1")


def _populations(populations: Any, field: str, contained: set[str]) -> None:
    counts: dict[str, int] = {}
    for i, population in enumerate(populations or ()):
        where = f"{field}.population[{i}]"
        code = _codes(population.get("code"), POPULATION, POPULATION_CODES, f"{where}.code")
        count = population.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            _fail(f"{where}.count", "not a non-negative integer")
        counts[code] = counts.get(code, 0) + count
        ref = (population.get("subjectResults") or {}).get("reference")
        if ref is not None and (not ref.startswith("#") or ref[1:] not in contained):
            _fail(f"{where}.subjectResults", f"{ref!r} is not a contained List")
    eligible = counts.get("denominator", 0) - counts.get("denominator-exclusion", 0)
    eligible -= counts.get("denominator-exception", 0)
    if "numerator" in counts and (eligible < 0 or counts["numerator"] > eligible):
        _fail(field, "numerator exceeds denominator minus exclusions, or exclusions exceed it")
    if counts.get("measure-population-exclusion", 0) > counts.get("measure-population", 0):
        _fail(field, "measure-population-exclusion exceeds measure-population")


def validate_measure_report(
    report: Mapping[str, Any], *, proportion: bool = False, unit_interval: bool = False
) -> None:
    """Raise ``InvalidReportError`` (naming the field) unless ``report`` is valid.

    ``proportion``: groups with a denominator must score in 0..1; ``unit_interval``: every
    score (group and stratum) must lie in 0..1 (the assessment).
    """
    _structure(report)
    if report.get("resourceType") != "MeasureReport":
        _fail("MeasureReport.resourceType", "not a MeasureReport")
    if not _ID_RE.match(str(report.get("id") or "")):
        _fail("MeasureReport.id", "not a FHIR id")
    if report.get("status") not in REPORT_STATUSES:
        _fail("MeasureReport.status", f"{report.get('status')!r} is not a report status")
    if report.get("type") not in REPORT_TYPES:
        _fail("MeasureReport.type", f"{report.get('type')!r} is not a report type")
    if "improvementNotation" in report:
        field = "MeasureReport.improvementNotation"
        _codes(report["improvementNotation"], IMPROVEMENT, IMPROVEMENT_CODES, field)
    _narrative(report)
    period = report["period"]
    if not period.get("start") or not period.get("end") or period["start"] >= period["end"]:
        _fail("MeasureReport.period", "start must precede end")
    contained = {str(r.get("id")) for r in report.get("contained") or ()}
    for g, group in enumerate(report.get("group") or ()):
        field = f"MeasureReport.group[{g}]"
        _populations(group.get("population"), field, contained)
        codes = {str(p["code"]["coding"][0]["code"]) for p in group.get("population") or ()}
        scaled = unit_interval or (proportion and "denominator" in codes)
        if "measureScore" in group:
            _score(group["measureScore"], f"{field}.measureScore", scaled)
        for s, stratifier in enumerate(group.get("stratifier") or ()):
            for t, stratum in enumerate(stratifier.get("stratum") or ()):
                where = f"{field}.stratifier[{s}].stratum[{t}]"
                _populations(stratum.get("population"), where, contained)
                if "measureScore" in stratum:
                    _score(stratum["measureScore"], f"{where}.measureScore", scaled)


__all__ = [
    "IMPROVEMENT_CODES",
    "POPULATION_CODES",
    "REPORT_STATUSES",
    "REPORT_TYPES",
    "validate_measure_report",
]
