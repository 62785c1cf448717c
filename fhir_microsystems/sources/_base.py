"""The one interface every input source implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeGuard, runtime_checkable

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


def is_usable(obj: object, resource_type: str) -> TypeGuard[Resource]:
    """Whether :func:`check_resource` would pass ``obj`` (a plain dict), without recording.

    Sources test each resource with this first and build the ``where`` of a finding (and
    call :func:`check_resource`, which records why) only for the rare resource that fails.
    """
    if type(obj) is not dict or obj.get("resourceType") != resource_type:
        return False
    rid = obj.get("id")
    if type(rid) is not str or not rid:
        return False
    for name in REQUIRED_FIELDS.get(resource_type, ()):  # a loop: no generator per resource
        if obj.get(name) in _EMPTY:
            break
    else:
        return True
    return False


def check_resource(
    obj: object, resource_type: str, where: str, findings: Findings
) -> Resource | None:
    """Return ``obj`` if it is a usable ``resource_type`` resource, else record why and None."""
    if not isinstance(obj, dict):
        findings.add("not-an-object", where, "", "line is JSON but not an object")
        return None
    actual = obj.get("resourceType")
    if actual != resource_type:
        findings.add(
            "wrong-resource-type",
            where,
            "resourceType",
            f"expected {resource_type}, found {actual!r}",
        )
        return None
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        findings.add("missing-field", where, f"{resource_type}.id", "resource has no id")
        return None
    for name in REQUIRED_FIELDS.get(resource_type, ()):
        if obj.get(name) in _EMPTY:
            findings.add(
                "missing-field",
                f"{resource_type}/{rid}",
                f"{resource_type}.{name}",
                "required element is missing",
            )
            return None
    return obj


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
