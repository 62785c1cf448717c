"""Staff survey responses: by the period they were authored in, folded into the microsystems
their authors are members of (scored by :func:`fold_questionnaire_responses`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_microsystems._findings import Findings
from fhir_microsystems.periods import Period, to_utc

from ._questionnaire import StaffScore, fold_questionnaire_responses

#: The Practitioner key of a response's author (``None``: no clinician); given the resource
#: and its ``QuestionnaireResponse/<id>``.
AuthorOf = Callable[[Mapping[str, Any], str], str | None]


@dataclass(frozen=True, slots=True)
class StaffResponse:
    """A staff QuestionnaireResponse with a clinician author, in an assessed period."""

    where: str  # QuestionnaireResponse/<id>
    author: str  # Practitioner/<id>
    resource: dict[str, Any]


def responses_by_period(
    resources: Iterable[dict[str, Any]],
    author_of: AuthorOf,
    periods: Sequence[Period],
    findings: Findings,
) -> dict[str, list[StaffResponse]]:
    """Staff QuestionnaireResponses by the label of the period their ``authored`` falls in;
    those without a clinician author or outside the periods are findings."""
    by_period: dict[str, list[StaffResponse]] = {}
    for resource in resources:
        where = f"QuestionnaireResponse/{resource['id']}"
        author = author_of(resource, where)
        authored = resource.get("authored")
        label = period_of(periods, authored) if isinstance(authored, str) else None
        if author is None or label is None:
            findings.add(
                "unassignable-response",
                where,
                "QuestionnaireResponse.author"
                if author is None
                else "QuestionnaireResponse.authored",
                "no clinician author, or authored outside the assessed periods",
            )
            continue
        by_period.setdefault(label, []).append(StaffResponse(where, author, resource))
    return by_period


def staff_scores(
    members: Mapping[str, Iterable[str]],
    responses: Iterable[StaffResponse],
    findings: Findings,
    *,
    canonical_base: str | None,
) -> dict[str, dict[str, StaffScore]]:
    """One period's responses folded into every microsystem (id -> its members) their author
    is a member of, by microsystem id; an author in none is a finding."""
    memberships: dict[str, list[str]] = {}
    for ms_id, practitioners in members.items():
        for practitioner in practitioners:
            memberships.setdefault(practitioner, []).append(ms_id)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for response in responses:
        targets = memberships.get(response.author)
        if not targets:
            findings.add(
                "unassignable-response",
                response.where,
                "QuestionnaireResponse.author",
                "author is in no microsystem",
            )
            continue
        for ms_id in targets:
            grouped.setdefault(ms_id, []).append(response.resource)
    return {
        ms_id: fold_questionnaire_responses(
            grouped[ms_id], findings=findings, canonical_base=canonical_base
        )
        for ms_id in sorted(grouped)
    }


def period_of(periods: Sequence[Period], authored: str) -> str | None:
    """The label of the period an ISO 8601 ``authored`` instant falls in (None: none, or
    not an instant)."""
    try:
        moment = to_utc(datetime.fromisoformat(authored))
    except ValueError:
        return None
    for period in periods:
        if moment in period:
            return period.label
    return None


__all__ = ["AuthorOf", "StaffResponse", "period_of", "responses_by_period", "staff_scores"]
