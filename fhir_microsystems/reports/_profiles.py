"""Every conformance resource this package ships in ``profiles/``, built from the code."""

from __future__ import annotations

from typing import Any

from fhir_microsystems.measures import DEFAULT_CANONICAL_BASE, MEASURE_VERSION, shipped_measures

from ._assessment_report import assessment_measure_resource
from ._common import extension_url
from ._questionnaire import questionnaire_resource

_R4 = "http://hl7.org/fhir/StructureDefinition"
_POPULATION_VS = "http://hl7.org/fhir/ValueSet/measure-population"


def _element(path: str, **rules: Any) -> dict[str, Any]:
    return {"id": path.replace("[x]", ""), "path": path, **rules}


def measurereport_profile(*, canonical_base: str, version: str) -> dict[str, Any]:
    """The MeasureReport profile every report of this project conforms to."""
    microsystem = extension_url(canonical_base, "microsystem")
    return {
        "resourceType": "StructureDefinition",
        "id": "microsystem-measurereport",
        "url": f"{canonical_base}/StructureDefinition/microsystem-measurereport",
        "version": version,
        "name": "MicrosystemMeasureReport",
        "title": "Microsystem MeasureReport",
        "status": "active",
        "experimental": False,
        "publisher": "fhir-microsystems",
        "description": (
            "A summary MeasureReport of one measure (or the assessment) for one clinical "
            "microsystem and one half-open UTC period [start, end): subject is the "
            "microsystem's patient Group, reporter its Organization, extension "
            f"{microsystem} references its CareTeam. Groups may carry "
            f"{extension_url(canonical_base, 'pending-follow-up')} (valueInteger: members whose "
            "follow-up window the data cannot yet see; the report is then pending); evidence "
            "Lists are contained and referenced by population.subjectResults, their entries may "
            f"carry {extension_url(canonical_base, 'measure-observation-value')} "
            "(valueQuantity); assessment strata carry "
            f"{extension_url(canonical_base, 'indicator-source')} (valueCode data | staff)."
        ),
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": "MeasureReport",
        "baseDefinition": f"{_R4}/MeasureReport",
        "derivation": "constraint",
        "differential": {
            "element": [
                _element("MeasureReport", short="Microsystem measure summary"),
                _element("MeasureReport.text", min=1),
                _element(
                    "MeasureReport.extension",
                    slicing={
                        "discriminator": [{"type": "value", "path": "url"}],
                        "rules": "open",
                    },
                ),
                {
                    "id": "MeasureReport.extension:microsystem",
                    "path": "MeasureReport.extension",
                    "sliceName": "microsystem",
                    "short": "The microsystem's CareTeam",
                    "min": 1,
                    "max": "1",
                    "type": [{"code": "Extension", "profile": [microsystem]}],
                },
                _element("MeasureReport.identifier", min=1),
                _element("MeasureReport.status", short="complete, or pending (follow-up)"),
                _element("MeasureReport.type", patternCode="summary"),
                _element(
                    "MeasureReport.subject",
                    min=1,
                    type=[{"code": "Reference", "targetProfile": [f"{_R4}/Group"]}],
                ),
                _element("MeasureReport.date", min=1),
                _element(
                    "MeasureReport.reporter",
                    type=[{"code": "Reference", "targetProfile": [f"{_R4}/Organization"]}],
                ),
                _element("MeasureReport.group.id", min=1),
                _element(
                    "MeasureReport.group.population.code",
                    min=1,
                    binding={"strength": "required", "valueSet": _POPULATION_VS},
                ),
                _element("MeasureReport.group.population.count", min=1),
            ]
        },
    }


def shipped_profiles(
    *, canonical_base: str = DEFAULT_CANONICAL_BASE, version: str = MEASURE_VERSION
) -> dict[str, dict[str, Any]]:
    """File name -> resource, for every file this package owns in ``profiles/``."""
    out = {
        f"Measure-{m['id']}.json": m
        for m in shipped_measures(canonical_base=canonical_base, version=version)
    }
    out["Measure-microsystem-assessment.json"] = assessment_measure_resource(
        canonical_base=canonical_base, version=version
    )
    out["Questionnaire-microsystem-assessment.json"] = questionnaire_resource(
        canonical_base=canonical_base, version=version
    )
    out["StructureDefinition-microsystem-measurereport.json"] = measurereport_profile(
        canonical_base=canonical_base, version=version
    )
    return out


__all__ = ["measurereport_profile", "shipped_profiles"]
