"""Streaming extraction of compact observation records for the measures.

:func:`extract_observation` reads one plain (orjson-parsed) Observation dict and keeps only
what the measures need as an :class:`ObservationFact`. Problems are counted as findings
(``Observation/<id>`` and the field), never guessed:

- ``missing-code``: no ``code.coding[].code`` (the record is kept as kind ``other``);
- ``missing-value``: a needed value (or panel component) is absent or not a number;
- ``unexpected-unit``: blood pressure not in ``mm[Hg]``, HbA1c not in ``%`` (UCUM ``code``,
  or the ``unit`` text when there is no code; ``mmHg`` is accepted as the text of mm[Hg]);
- ``inexact-value``: a quantity with a comparator (``>14 %``) is not used as a value;
- ``ignored-status``: entered-in-error and cancelled Observations are dropped;
- ``missing-field`` / ``unresolved-reference`` / ``invalid-datetime``: subject or time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures._inputs import ObservationFact
from fhir_microsystems.periods import parse_fhir_datetime

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

BP_PANEL, SYSTOLIC, DIASTOLIC, HBA1C, PAIN = "85354-9", "8480-6", "8462-4", "4548-4", "72514-3"
_KINDS = {BP_PANEL: "bp-panel", SYSTOLIC: "systolic", DIASTOLIC: "diastolic", HBA1C: "hba1c"}
_KINDS[PAIN] = "pain"
_MMHG = ("mm[Hg]", ("mm[Hg]", "mmHg"))
_PERCENT = ("%", ("%",))
IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled"})
_BP_CODES = frozenset({SYSTOLIC, DIASTOLIC})
_CODED_SYSTEMS = frozenset({LOINC, SNOMED})
_SYSTOLIC_FIELD = f"Observation.component[{SYSTOLIC}]"
_DIASTOLIC_FIELD = f"Observation.component[{DIASTOLIC}]"

Resolver = Callable[[Any], str | None]

_REFERENCE_RE = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$"
)


def literal_key(reference: Any) -> str | None:
    """``Type/id`` of a literal relative or absolute reference element, else None."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or "?" in ref or ref.startswith("#"):
        return None
    match = _REFERENCE_RE.search(ref)
    return f"{match['type']}/{match['id']}" if match else None


def _number(value: Any) -> float | None:
    cls = type(value)
    if cls is int or cls is float:
        return float(value)
    if cls is bool or not isinstance(value, int | float):
        return None
    return float(value)


class _Reader:
    """Reads the values of one Observation, recording findings against it."""

    __slots__ = ("findings", "ok", "where")

    def __init__(self, where: str, findings: Findings) -> None:
        self.where = where
        self.findings = findings
        self.ok = True

    def fail(self, kind: str, field: str, message: str) -> None:
        self.ok = False
        self.findings.add(kind, self.where, field, message)

    def quantity(
        self, element: Any, field: str, unit: tuple[str, tuple[str, ...]] | None
    ) -> tuple[float | None, str | None]:
        """The (value, unit) of ``element[valueQuantity]`` (or valueInteger without a unit)."""
        if not isinstance(element, dict):
            self.fail("missing-value", field, "absent")
            return None, None
        if unit is None:
            integer = _number(element.get("valueInteger"))
            if integer is not None:
                return integer, None
        qty = element.get("valueQuantity")
        value = _number(qty.get("value")) if isinstance(qty, dict) else None
        if value is None or not isinstance(qty, dict):
            self.fail("missing-value", f"{field}.valueQuantity.value", "absent or not a number")
            return None, None
        if qty.get("comparator"):
            self.fail("inexact-value", f"{field}.valueQuantity.comparator", "value with comparator")
            return None, None
        code, text, system = qty.get("code"), qty.get("unit"), qty.get("system")
        found = str(code or text or "")
        if unit is not None:
            expected, texts = unit
            good = (code == expected and system in (None, UCUM)) if code else text in texts
            if not good:
                self.fail("unexpected-unit", f"{field}.valueQuantity", f"expected {expected}")
                return None, found or None
            found = expected
        return value, found or None


def _effective(resource: dict[str, Any], reader: _Reader) -> datetime | None:
    raw = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    field = "Observation.effectiveDateTime"
    period = resource.get("effectivePeriod")
    if raw is None and isinstance(period, dict):
        raw, field = period.get("start"), "Observation.effectivePeriod.start"
    if raw is None:
        reader.findings.add("missing-field", reader.where, "Observation.effective[x]", "absent")
        return None
    try:
        return parse_fhir_datetime(raw)
    except (ValueError, TypeError):
        reader.findings.add("invalid-datetime", reader.where, field, "not a FHIR dateTime")
        return None


def _bp_components(resource: dict[str, Any], reader: _Reader) -> tuple[float | None, float | None]:
    found: dict[str, Any] = {}
    for component in resource.get("component") or ():
        if isinstance(component, dict):
            concept = component.get("code")
            if not isinstance(concept, dict):
                continue
            for coding in concept.get("coding") or ():
                if isinstance(coding, dict) and coding.get("code"):
                    code = str(coding["code"])
                    if code in _BP_CODES and str(coding.get("system") or "") == LOINC:
                        found.setdefault(code, component)
    systolic = reader.quantity(found.get(SYSTOLIC), _SYSTOLIC_FIELD, _MMHG)[0]
    return systolic, reader.quantity(found.get(DIASTOLIC), _DIASTOLIC_FIELD, _MMHG)[0]


def _is_survey(resource: dict[str, Any]) -> bool:
    for concept in resource.get("category") or ():
        if not isinstance(concept, dict):
            continue
        for c in concept.get("coding") or ():
            if (
                isinstance(c, dict)
                and c.get("code")
                and str(c["code"]) == "survey"
                and str(c.get("system") or "") in (CATEGORY, "")
            ):
                return True
    return False


def extract_observation(
    resource: dict[str, Any], findings: Findings, *, resolve: Resolver | None = None
) -> ObservationFact | None:
    """The compact record of one Observation, or None when it cannot be used at all.

    ``resolve`` maps a reference element (``subject``, ``encounter``) to a ``Type/id`` key;
    by default literal relative and absolute references are read.
    """
    row = extract_observation_row(resource, findings, resolve=resolve)
    return None if row is None else ObservationFact(*row)


def extract_observation_row(
    resource: dict[str, Any], findings: Findings, *, resolve: Resolver | None = None
) -> list[Any] | None:
    """:func:`extract_observation`'s fact as a row: its field values in the field order of
    :class:`ObservationFact` (what the extract stage stores, without building the fact)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return None
    where = f"Observation/{resource.get('id') or '?'}"
    status = str(resource.get("status") or "unknown")
    if status in IGNORED_STATUSES:
        findings.add("ignored-status", where, "Observation.status", status)
        return None
    resolve = resolve or literal_key
    subject = resource.get("subject")
    if subject is None:
        findings.add("missing-field", where, "Observation.subject", "absent")
        return None
    patient = resolve(subject)
    if patient is None or not patient.startswith("Patient/"):
        findings.add("unresolved-reference", where, "Observation.subject", "not a Patient")
        return None
    encounter_ref = resource.get("encounter")
    encounter = resolve(encounter_ref) if encounter_ref else None
    reader = _Reader(where, findings)
    effective = _effective(resource, reader)
    coded = has_code = False
    known = None  # the smallest LOINC code that names a kind
    concept = resource.get("code")
    for c in concept.get("coding") or () if isinstance(concept, dict) else ():
        if isinstance(c, dict) and c.get("code"):
            has_code = True
            system = str(c.get("system") or "")
            if system in _CODED_SYSTEMS:
                coded = True
                code = str(c["code"])
                if system == LOINC and code in _KINDS and (known is None or code < known):
                    known = code
    if not has_code:
        reader.fail("missing-code", "Observation.code.coding", "no code")
    kind = "other" if known is None else _KINDS[known]
    systolic = diastolic = value = None
    unit = None
    if kind == "bp-panel":
        systolic, diastolic = _bp_components(resource, reader)
    elif kind == "systolic":
        systolic = reader.quantity(resource, "Observation", _MMHG)[0]
    elif kind == "diastolic":
        diastolic = reader.quantity(resource, "Observation", _MMHG)[0]
    elif kind == "hba1c":
        value, unit = reader.quantity(resource, "Observation", _PERCENT)
    elif kind == "pain" or (kind == "other" and _is_survey(resource)):
        if kind == "other" and _number(_survey_value(resource)) is not None:
            kind = "experience"
        if kind != "other":
            value, unit = reader.quantity(resource, "Observation", None)
    elif not _has_value(resource):
        reader.ok = False  # an uncoded or valueless other observation is incomplete
    complete = reader.ok and effective is not None
    return [
        where,
        patient,
        kind,
        status,
        effective,
        encounter,
        systolic,
        diastolic,
        value,
        unit,
        coded,
        complete,
    ]


def _survey_value(resource: dict[str, Any]) -> Any:
    if "valueInteger" in resource:
        return resource["valueInteger"]
    qty = resource.get("valueQuantity")
    return qty.get("value") if isinstance(qty, dict) else None


def _has_value(resource: dict[str, Any]) -> bool:
    return bool(resource.get("component")) or any(k.startswith("value") for k in resource)


__all__ = [
    "BP_PANEL",
    "DIASTOLIC",
    "HBA1C",
    "IGNORED_STATUSES",
    "PAIN",
    "SYSTOLIC",
    "Resolver",
    "extract_observation",
    "extract_observation_row",
    "literal_key",
]
