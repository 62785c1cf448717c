"""The one interface every input source implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, cast, runtime_checkable

from fhir_microsystems._fhir_id import is_fhir_id
from fhir_microsystems._findings import Findings

Resource = dict[str, Any]

#: Elements a resource must have before it is handed on (FHIR R4 cardinality 1..1 / 1..*).
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Encounter": ("status", "class"),
    "Observation": ("status", "code"),
    "CareTeam": (),
    "Condition": ("subject",),
    "PractitionerRole": (),
    "Organization": (),
    "Practitioner": (),
    "Location": (),
    "Patient": (),
    "Group": ("type", "actual"),
    "QuestionnaireResponse": ("status",),
}


@runtime_checkable
class Source(Protocol):
    """Yields FHIR resources of one type as plain dicts; counts bad input in ``findings``."""

    findings: Findings
    #: Server base URLs whose absolute references count as local (``https://host/fhir``).
    base_urls: tuple[str, ...]

    def iter_resources(self, resource_type: str) -> Iterator[Resource]: ...

    def resource_types(self) -> list[str]: ...


#: Values a required element may not have (compared with ``==``, as JSON values).
_EMPTY: tuple[Any, ...] = (None, "", [], {})


#: Why an object is not a usable resource: ``(kind, key, field, message)``; ``key`` is the
#: resource's ``Type/id`` when the finding is about a resource that has one, else None (the
#: caller's place: ``file:line``, a page, a list index).
Problem = tuple[str, str | None, str, str]


def resource_problem(obj: object, resource_type: str) -> Problem | None:
    """Why ``obj`` is not a usable ``resource_type`` resource, or None when it is.

    Records nothing, so a source builds the place of a finding (``file:line``) only for
    the rare object that has a problem; :func:`check_resource` records it.
    """
    if not isinstance(obj, dict):
        return "not-an-object", None, "", "line is JSON but not an object"
    actual = obj.get("resourceType")
    if actual != resource_type:
        return (
            "wrong-resource-type",
            None,
            "resourceType",
            f"expected {resource_type}, found {actual!r}",
        )
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        return "missing-field", None, f"{resource_type}.id", "resource has no id"
    if not is_fhir_id(rid):
        return (
            "invalid-id",
            None,
            f"{resource_type}.id",
            f"id {rid[:80]!r} is not FHIR id syntax ([A-Za-z0-9-.]{{1,64}}, not only dots)",
        )
    for name in REQUIRED_FIELDS.get(resource_type, ()):
        if obj.get(name) in _EMPTY:
            return (
                "missing-field",
                f"{resource_type}/{rid}",
                f"{resource_type}.{name}",
                "required element is missing",
            )
    return None


def record_problem(problem: Problem, where: str, findings: Findings) -> None:
    """Record ``problem`` (from :func:`resource_problem`) of the object found at ``where``."""
    kind, key, field, message = problem
    findings.add(kind, key or where, field, message)


def check_resource(
    obj: object, resource_type: str, where: str, findings: Findings
) -> Resource | None:
    """Return ``obj`` if it is a usable ``resource_type`` resource, else record why and None."""
    problem = resource_problem(obj, resource_type)
    if problem is not None:
        record_problem(problem, where, findings)
        return None
    return cast(Resource, obj)


class ListSource:
    """An in-memory source (tests, small embedded data)."""

    def __init__(
        self,
        resources: Mapping[str, Iterable[Resource]],
        *,
        base_urls: Iterable[str] = (),
    ) -> None:
        self._resources = {k: list(v) for k, v in resources.items()}
        self.findings = Findings()
        self.base_urls = tuple(u.rstrip("/") for u in base_urls)

    def resource_types(self) -> list[str]:
        return sorted(self._resources)

    def iter_resources(self, resource_type: str) -> Iterator[Resource]:
        for n, obj in enumerate(self._resources.get(resource_type, ())):
            where = f"{resource_type}[{n}]"
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                where = f"{resource_type}/{obj['id']}"
            checked = check_resource(obj, resource_type, where, self.findings)
            if checked is not None:
                yield checked
