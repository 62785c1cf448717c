"""The Clinical Microsystem Assessment Tool as a FHIR Questionnaire, and scoring staff answers.

Ten characteristics, each rated on a 3-point scale (1 = not yet, 2 = partly, 3 = fully; the
level texts paraphrase the tool). :func:`fold_questionnaire_responses` scores staff
QuestionnaireResponses per characteristic as the mean of ``(rating - 1) / 2`` (0..1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fhir_microsystems._findings import Findings
from fhir_microsystems.measures import DEFAULT_CANONICAL_BASE

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


@dataclass(frozen=True, slots=True)
class Characteristic:
    """One characteristic: code, title, the assessment dimension it folds into, level texts."""

    code: str
    title: str
    dimension: str
    levels: tuple[str, str, str]


CHARACTERISTICS: tuple[Characteristic, ...] = (
    Characteristic(
        "leadership",
        "Leadership",
        "leadership",
        (
            "It is unclear who leads the unit or what its goals are.",
            "Leaders set goals but staff take little part in shaping them.",
            "Leaders keep the whole team focused on shared goals and help everyone contribute.",
        ),
    ),
    Characteristic(
        "organizational-support",
        "Organizational support",
        "leadership",
        (
            "The wider organisation rarely supports the unit's work.",
            "Support comes when asked for, but slowly or partly.",
            "The organisation actively provides what the unit needs to improve.",
        ),
    ),
    Characteristic(
        "staff-focus",
        "Staff focus",
        "staff-focus",
        (
            "Staff are hired and oriented without attention to their development.",
            "Staff are valued, but orientation and development are uneven.",
            "Careful hiring, orientation and development let every member work to full potential.",
        ),
    ),
    Characteristic(
        "education-and-training",
        "Education and training",
        "staff-focus",
        (
            "Training is occasional and individual.",
            "Training happens regularly but is not planned around the team's work.",
            "Continuous learning is built into daily work for the whole team.",
        ),
    ),
    Characteristic(
        "interdependence",
        "Interdependence",
        "interdependence",
        (
            "Each discipline works on its own.",
            "Disciplines cooperate, but roles and hand-offs are often unclear.",
            "The team works as one, each member's role understood and used.",
        ),
    ),
    Characteristic(
        "patient-focus",
        "Patient focus",
        "patient-focus",
        (
            "Care is organised around the providers' needs.",
            "Patient needs are considered, but not systematically asked about.",
            "Patients' needs and preferences are sought and shape how care is given.",
        ),
    ),
    Characteristic(
        "community-and-market-focus",
        "Community and market focus",
        "patient-focus",
        (
            "The unit rarely looks at the community it serves.",
            "Community needs are known but seldom acted on.",
            "The unit works with community partners to meet local needs.",
        ),
    ),
    Characteristic(
        "performance-results",
        "Performance results",
        "performance-results",
        (
            "Outcomes are not routinely measured or fed back.",
            "Some outcomes are measured and occasionally reviewed.",
            "Outcomes are measured, fed back and compared with targets routinely.",
        ),
    ),
    Characteristic(
        "process-improvement",
        "Process improvement",
        "evidence-base",
        (
            "Changes are made without testing or evidence.",
            "Improvement work happens in isolated projects.",
            "Evidence and measured tests of change guide continuous improvement.",
        ),
    ),
    Characteristic(
        "information-and-information-technology",
        "Information and information technology",
        "information-systems",
        (
            "Information is hard to find when it is needed.",
            "Information systems help with some, but not all, daily work.",
            "Information systems connect the team, the patients and the data they need.",
        ),
    ),
)

CHARACTERISTICS_BY_CODE = {c.code: c for c in CHARACTERISTICS}


@dataclass(frozen=True, slots=True)
class StaffScore:
    """A characteristic's staff score (mean of 0..1 ratings) and how many ratings it has."""

    score: float
    responses: int


def questionnaire_url(canonical_base: str) -> str:
    return f"{canonical_base}/Questionnaire/microsystem-assessment"


def questionnaire_resource(*, canonical_base: str, version: str) -> dict[str, Any]:
    """The shipped Questionnaire (``profiles/Questionnaire-microsystem-assessment.json``)."""
    scale = f"{canonical_base}/CodeSystem/microsystem-assessment-scale"
    characteristic = f"{canonical_base}/CodeSystem/microsystem-assessment-characteristic"
    items = []
    for c in CHARACTERISTICS:
        options = [
            {
                "valueCoding": {
                    "extension": [{"url": ORDINAL, "valueDecimal": level}],
                    "system": scale,
                    "code": str(level),
                    "display": text,
                }
            }
            for level, text in enumerate(c.levels, start=1)
        ]
        items.append(
            {
                "linkId": c.code,
                "code": [
                    {
                        "system": characteristic,
                        "code": c.code,
                        "display": c.title,
                    }
                ],
                "text": f"{c.title}: which statement best describes your microsystem?",
                "type": "choice",
                "required": False,
                "answerOption": options,
            }
        )
    return {
        "resourceType": "Questionnaire",
        "id": "microsystem-assessment",
        "url": questionnaire_url(canonical_base),
        "version": version,
        "name": "MicrosystemAssessment",
        "title": "Clinical microsystem assessment (staff self-assessment)",
        "status": "active",
        "experimental": False,
        "subjectType": ["Group"],
        "publisher": "fhir-microsystems",
        "description": (
            "The ten characteristics of the Clinical Microsystem Assessment Tool, each rated by "
            "a staff member on a 3-point scale (1 not yet, 2 partly, 3 fully). The level texts "
            "paraphrase the tool. Answers are scored (rating - 1) / 2 and folded into the "
            "dimensions of the microsystem-assessment Measure."
        ),
        "item": items,
    }


def _items(items: Any) -> Iterator[dict[str, Any]]:
    for item in items or ():
        if isinstance(item, dict):
            yield item
            yield from _items(item.get("item"))


def _rating(answer: Any) -> int | None:
    if not isinstance(answer, dict):
        return None
    value = answer.get("valueInteger")
    coding = answer.get("valueCoding")
    if isinstance(coding, dict):
        for ext in coding.get("extension") or ():
            if isinstance(ext, dict) and ext.get("url") == ORDINAL:
                value = ext.get("valueDecimal")
        if value is None and str(coding.get("code")) in ("1", "2", "3"):
            value = int(str(coding["code"]))
    if isinstance(value, bool) or value not in (1, 2, 3):
        return None
    return int(value)


def fold_questionnaire_responses(
    responses: Iterable[dict[str, Any]],
    *,
    findings: Findings,
    canonical_base: str | None = DEFAULT_CANONICAL_BASE,
) -> dict[str, StaffScore]:
    """Per characteristic, the mean staff score of completed/amended responses.

    Responses to another Questionnaire than ``<canonical_base>/Questionnaire/
    microsystem-assessment`` are skipped (``unexpected-questionnaire``; ``None`` accepts any);
    unusable answers are counted as ``invalid-answer``; unanswered items are skipped.
    """
    ratings: dict[str, list[float]] = {}
    for response in responses:
        where = f"QuestionnaireResponse/{response.get('id') or '?'}"
        if response.get("status") not in ("completed", "amended"):
            findings.add("ignored-status", where, "QuestionnaireResponse.status")
            continue
        if canonical_base is not None:
            url = str(response.get("questionnaire") or "").split("|")[0]
            if url != questionnaire_url(canonical_base):
                findings.add(
                    "unexpected-questionnaire", where, "QuestionnaireResponse.questionnaire"
                )
                continue
        for item in _items(response.get("item")):
            code = item.get("linkId")
            if code not in CHARACTERISTICS_BY_CODE:
                continue
            answers = item.get("answer")
            if not answers:
                continue  # not answered
            rating = _rating(answers[0])
            if rating is None:
                findings.add("invalid-answer", where, f"item[{code}].answer", "not a 1-3 rating")
                continue
            ratings.setdefault(code, []).append((rating - 1) / 2)
    return {
        code: StaffScore(sum(values) / len(values), len(values))
        for code, values in sorted(ratings.items())
    }


__all__ = [
    "CHARACTERISTICS",
    "CHARACTERISTICS_BY_CODE",
    "Characteristic",
    "StaffScore",
    "fold_questionnaire_responses",
    "questionnaire_resource",
    "questionnaire_url",
]
