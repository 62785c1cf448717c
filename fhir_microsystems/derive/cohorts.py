"""Patient cohorts: care settings (Encounter.class) and conditions (ValueSets in ``profiles/``).

The condition code lists live in one place, the FHIR ValueSets
``ValueSet-cohort-{cancer,diabetes,hypertension}.json``; this module reads them. A ValueSet
include may list ``concept``s (exact codes) or, for ICD-10-CM only, ``is-a`` filters, which
match the category code and every code below it (ICD-10-CM's hierarchy is its code prefix).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import parse_fhir_datetime
from fhir_microsystems.sources import ReferenceIndex, Source

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

#: Care-setting cohorts: cohort code -> Encounter.class code (v3 ActCode).
SETTING_COHORTS: Mapping[str, str] = {
    "ed-attenders": "EMER",
    "inpatients": "IMP",
    "ambulatory": "AMB",
}
#: Condition cohorts, each backed by ``profiles/ValueSet-cohort-<name>.json``.
CONDITION_COHORTS: tuple[str, ...] = ("cancer", "diabetes", "hypertension")
#: The cohort of all patients attributed to a microsystem.
ATTRIBUTED = "attributed"
ALL_COHORTS: tuple[str, ...] = (ATTRIBUTED, *SETTING_COHORTS, *CONDITION_COHORTS)

_EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def profiles_directory() -> Path:
    """Where the shipped conformance resources are (package data, else the source tree)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "profiles_data", package.parent / "profiles"):
        if (candidate / "ValueSet-cohort-cancer.json").is_file():
            return candidate
    raise ConfigurationError("cohort ValueSets not found (profiles/ValueSet-cohort-*.json)")


@dataclass(frozen=True, slots=True)
class CodeList:
    """Codes of one ValueSet: exact ``(system, code)`` pairs and ICD-10-CM category prefixes."""

    exact: frozenset[tuple[str, str]]
    prefixes: Mapping[str, tuple[str, ...]]

    def __contains__(self, coding: object) -> bool:
        if not isinstance(coding, tuple) or len(coding) != 2:
            return False
        system, code = coding
        if (system, code) in self.exact:
            return True
        bare = str(code).replace(".", "").upper()
        return any(bare.startswith(p) for p in self.prefixes.get(str(system), ()))


def code_list_from_valueset(valueset: Mapping[str, Any]) -> CodeList:
    """Read ``compose.include`` of a ValueSet (concepts, and is-a filters on ICD-10-CM)."""
    exact: set[tuple[str, str]] = set()
    prefixes: dict[str, list[str]] = {}
    for include in valueset.get("compose", {}).get("include", ()):
        system = str(include.get("system") or "")
        for concept in include.get("concept") or ():
            exact.add((system, str(concept["code"])))
        for rule in include.get("filter") or ():
            if system != ICD10CM or rule.get("op") != "is-a" or rule.get("property") != "concept":
                raise ConfigurationError(
                    f"unsupported ValueSet filter in {valueset.get('url')}: only ICD-10-CM is-a"
                )
            prefixes.setdefault(system, []).append(str(rule["value"]).replace(".", "").upper())
    return CodeList(frozenset(exact), {k: tuple(v) for k, v in prefixes.items()})


@cache
def condition_code_lists() -> dict[str, CodeList]:
    """Cohort name -> its code list, read from the shipped ValueSets."""
    directory = profiles_directory()
    return {
        name: code_list_from_valueset(
            orjson.loads((directory / f"ValueSet-cohort-{name}.json").read_bytes())
        )
        for name in CONDITION_COHORTS
    }


def cohorts_of_codings(codings: Iterable[tuple[str, str]]) -> set[str]:
    """The condition cohorts any of ``(system, code)`` belongs to."""
    lists = condition_code_lists()
    pairs = list(codings)
    return {name for name, codes in lists.items() if any(p in codes for p in pairs)}


@dataclass(frozen=True, slots=True)
class ConditionSpell:
    """One condition-cohort episode of a patient: ``[onset, abatement)``, None = open."""

    cohort: str
    onset: datetime | None
    abatement: datetime | None


#: Columns of :class:`Spells`: one row per cohort episode of a patient (UTC times; a null
#: onset or abatement is open).
SPELL_SCHEMA = pa.schema(
    [
        ("patient", pa.string()),
        ("cohort", pa.string()),
        ("onset", pa.timestamp("us", tz="UTC")),
        ("abatement", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, slots=True)
class Spells:
    """Condition-cohort spells of many patients as one Arrow table of :data:`SPELL_SCHEMA`
    (the derivation joins it with a period's patients in SQL)."""

    table: pa.Table

    @classmethod
    def of(cls, found: Iterable[tuple[str, Sequence[ConditionSpell]]]) -> Spells:
        """The spells of ``(patient key, spells)`` pairs."""
        rows = [(patient, s) for patient, spells in found for s in spells]
        return cls(
            pa.table(
                [
                    pa.array([p for p, _ in rows], pa.string()),
                    pa.array([s.cohort for _, s in rows], pa.string()),
                    pa.array([s.onset for _, s in rows], SPELL_SCHEMA.field("onset").type),
                    pa.array([s.abatement for _, s in rows], SPELL_SCHEMA.field("abatement").type),
                ],
                schema=SPELL_SCHEMA,
            )
        )

    @classmethod
    def concat(cls, parts: Iterable[pa.Table]) -> Spells:
        """The spells of tables of :data:`SPELL_SCHEMA` (as stored by the extract stage)."""
        tables = [t.cast(SPELL_SCHEMA) for t in parts]
        return cls(pa.concat_tables(tables) if tables else SPELL_SCHEMA.empty_table())


def _time(value: Any, key: str, field: str, findings: Findings, *, upper: bool) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_fhir_datetime(value, upper=upper)
    except ValueError:
        findings.add("invalid-datetime", key, field, "not a FHIR dateTime")
        return None


def _codings(element: Any) -> list[Any]:
    """The ``coding`` entries of a CodeableConcept (none when either is not as FHIR has it)."""
    codings = element.get("coding") if isinstance(element, dict) else None
    return codings if isinstance(codings, list) else []


def _status_code(element: Any) -> str | None:
    for coding in _codings(element):
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return None


def code_cohorts(code: Any) -> frozenset[str]:
    """The condition cohorts of a ``Condition.code`` element (any JSON value)."""
    return _cohorts_of(
        tuple(
            (str(c.get("system") or ""), str(c["code"]))
            for c in _codings(code)
            if isinstance(c, dict) and c.get("code")
        )
    )


@lru_cache(maxsize=4096)
def _cohorts_of(codings: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """:func:`cohorts_of_codings`, remembered: Conditions repeat a few codings."""
    return frozenset(cohorts_of_codings(codings))


def condition_spells(
    resource: Mapping[str, Any], index: ReferenceIndex, findings: Findings
) -> tuple[str | None, list[ConditionSpell]]:
    """``(patient_key, spells)`` of one Condition dict (no spells if it is in no cohort)."""
    names = code_cohorts(resource.get("code"))
    if not names or _status_code(resource.get("verificationStatus")) in _EXCLUDED_VERIFICATION:
        return None, []
    key = f"Condition/{resource['id']}"
    patient = index.resolve(
        resource.get("subject"), where=key, field="Condition.subject", expected="Patient"
    )
    if patient is None:
        return None, []
    onset = _time(
        resource.get("onsetDateTime"), key, "Condition.onsetDateTime", findings, upper=False
    )
    if onset is None and isinstance(resource.get("onsetPeriod"), dict):
        onset = _time(
            resource["onsetPeriod"].get("start"),
            key,
            "Condition.onsetPeriod.start",
            findings,
            upper=False,
        )
    if onset is None:
        onset = _time(
            resource.get("recordedDate"), key, "Condition.recordedDate", findings, upper=False
        )
    abatement = _time(
        resource.get("abatementDateTime"), key, "Condition.abatementDateTime", findings, upper=True
    )
    if abatement is None and isinstance(resource.get("abatementPeriod"), dict):
        abatement = _time(
            resource["abatementPeriod"].get("end"),
            key,
            "Condition.abatementPeriod.end",
            findings,
            upper=True,
        )
    clinical = _status_code(resource.get("clinicalStatus"))
    if abatement is None and clinical in ("inactive", "resolved", "remission"):
        findings.add(
            "missing-field", key, "Condition.abatement[x]", "resolved condition without abatement"
        )
        return None, []  # resolved at an unknown time: no period can be claimed
    return sys.intern(patient), [ConditionSpell(n, onset, abatement) for n in sorted(names)]


def read_condition_spells(source: Source, index: ReferenceIndex, findings: Findings) -> Spells:
    """Stream Conditions; keep only the cohort episodes, in the order read."""
    found: list[tuple[str, list[ConditionSpell]]] = []
    for resource in source.iter_resources("Condition"):
        patient, spells = condition_spells(resource, index, findings)
        if patient is not None and spells:
            found.append((patient, spells))
    return Spells.of(found)


__all__ = [
    "ALL_COHORTS",
    "ATTRIBUTED",
    "CONDITION_COHORTS",
    "SETTING_COHORTS",
    "SPELL_SCHEMA",
    "CodeList",
    "ConditionSpell",
    "Spells",
    "code_list_from_valueset",
    "cohorts_of_codings",
    "condition_code_lists",
    "condition_spells",
    "profiles_directory",
    "read_condition_spells",
]
