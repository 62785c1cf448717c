"""Resolve the three reference forms real data uses to canonical ``Type/id`` keys.

- literal relative: ``Practitioner/123`` (``/_history/n`` dropped);
- absolute on the source's own server: ``https://host/fhir/Practitioner/123``;
- conditional: ``Practitioner?identifier=system|value`` (Synthea writes these);
- logical: ``{"type": "Practitioner", "identifier": {"system": ..., "value": ...}}``.

An unresolvable reference is recorded as an ``unresolved-reference`` finding, not raised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from fhir_microsystems._fhir_id import is_fhir_id
from fhir_microsystems._findings import Findings

from ._base import Resource, Source

#: The small resource types an index holds in full; everything else is streamed.
INDEXED_TYPES: tuple[str, ...] = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
)

#: The reason of an absolute reference off the source's bases (then its base, in brackets).
ABSOLUTE_ELSEWHERE = "absolute reference to another server"
_BASE_RE = re.compile(r"^(.*?)/[A-Z][A-Za-z]+(?:/[^/?]+(?:/_history/[^/]*)?|\?.*)$")


def reference_base(literal: str) -> str:
    """The server base of an absolute reference (at most 200 characters)."""
    match = _BASE_RE.match(literal)
    return (match[1] if match else literal)[:200]


_LITERAL_RE = re.compile(
    r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/.*)?$"
)


_CONDITIONAL_RE = re.compile(r"^[A-Z][A-Za-z]+\?")

#: How many literal references :class:`ReferenceIndex` remembers (resources are streamed in
#: patient order, so a small memo catches nearly every repeat); it is emptied when full.
_LITERAL_MEMO_SIZE = 4096


def _identifier_key(resource_type: str, system: str | None, value: str) -> str:
    return f"{resource_type}|{system or ''}|{value}"


@dataclass(slots=True)
class PractitionerRoleInfo:
    """What the derivation needs of a PractitionerRole (no names, no identifiers)."""

    key: str
    practitioner: str | None
    organization: str | None
    codes: tuple[tuple[str, str, str], ...]  # (system, code, display)
    specialties: tuple[tuple[str, str, str], ...]
    active: bool = True


@dataclass(slots=True)
class PatientInfo:
    """Administrative facts the measures stratify by (no names, no identifiers)."""

    key: str
    gender: str | None
    birth_date: str | None
    deceased: bool
    deceased_at: str | None


def _codings(concepts: Any) -> tuple[tuple[str, str, str], ...]:
    out: list[tuple[str, str, str]] = []
    if not isinstance(concepts, list):
        return ()
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding") or ():
            if isinstance(coding, dict) and coding.get("code"):
                out.append(
                    (
                        str(coding.get("system") or ""),
                        str(coding["code"]),
                        str(coding.get("display") or ""),
                    )
                )
    return tuple(out)


@dataclass
class ReferenceIndex:
    """Canonical keys, identifiers and the few facts of small resource types.

    The index changes only through :meth:`add` (which forgets remembered resolutions).
    """

    base_urls: tuple[str, ...] = ()
    findings: Findings = field(default_factory=Findings)
    known: set[str] = field(default_factory=set)
    #: Types seen while indexing: a literal reference to one of them must exist.
    indexed_types: set[str] = field(default_factory=set)
    by_identifier: dict[str, str] = field(default_factory=dict)
    organization_parents: dict[str, str | None] = field(default_factory=dict)
    organization_names: dict[str, str] = field(default_factory=dict)
    organization_types: dict[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)
    location_orgs: dict[str, str | None] = field(default_factory=dict)
    location_names: dict[str, str] = field(default_factory=dict)
    roles: dict[str, PractitionerRoleInfo] = field(default_factory=dict)
    roles_by_practitioner: dict[str, list[PractitionerRoleInfo]] = field(default_factory=dict)
    patients: dict[str, PatientInfo] = field(default_factory=dict)
    _pending_roles: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: ``literal -> (key, reason)`` of recently resolved literal references.
    _literals: dict[str, tuple[str | None, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # -- building -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        source: Source,
        findings: Findings | None = None,
        types: Iterable[str] = INDEXED_TYPES,
    ) -> ReferenceIndex:
        """Read the small types of ``source`` once and index them."""
        index = cls(
            base_urls=source.base_urls,
            findings=source.findings if findings is None else findings,
        )
        for resource_type in types:
            for resource in source.iter_resources(resource_type):
                index.add(resource)
        index.finish()
        return index

    def add(self, resource: Resource) -> None:
        """Register one resource (its key and identifiers, and facts per type)."""
        rtype = str(resource["resourceType"])
        key = f"{rtype}/{resource['id']}"
        self._literals.clear()
        self.known.add(key)
        self.indexed_types.add(rtype)
        for ident in resource.get("identifier") or ():
            if isinstance(ident, dict) and ident.get("value"):
                self.by_identifier.setdefault(
                    _identifier_key(rtype, ident.get("system"), str(ident["value"])), key
                )
        if rtype == "Organization":
            self.organization_names[key] = str(resource.get("name") or "")
            self.organization_types[key] = _codings(resource.get("type"))
            self.organization_parents[key] = None
            self._pending_roles.append((key, "partOf", resource.get("partOf")))
        elif rtype == "Location":
            self.location_names[key] = str(resource.get("name") or "")
            self.location_orgs[key] = None
            self._pending_roles.append(
                (key, "managingOrganization", resource.get("managingOrganization"))
            )
        elif rtype == "PractitionerRole":
            self._pending_roles.append((key, "role", resource))
        elif rtype == "Patient":
            deceased_at = resource.get("deceasedDateTime")
            self.patients[key] = PatientInfo(
                key=key,
                gender=resource.get("gender"),
                birth_date=resource.get("birthDate"),
                deceased=bool(resource.get("deceasedBoolean")) or bool(deceased_at),
                deceased_at=deceased_at if isinstance(deceased_at, str) else None,
            )

    def finish(self) -> None:
        """Resolve references between indexed resources (after every one is registered)."""
        pending, self._pending_roles = self._pending_roles, []
        for key, kind, payload in pending:
            if kind == "partOf":
                self.organization_parents[key] = self.resolve(
                    payload, where=key, field="Organization.partOf", expected="Organization"
                )
            elif kind == "managingOrganization":
                self.location_orgs[key] = self.resolve(
                    payload,
                    where=key,
                    field="Location.managingOrganization",
                    expected="Organization",
                )
            else:
                self._add_role(key, payload)

    def _add_role(self, key: str, resource: Resource) -> None:
        practitioner = self.resolve(
            resource.get("practitioner"),
            where=key,
            field="PractitionerRole.practitioner",
            expected="Practitioner",
        )
        info = PractitionerRoleInfo(
            key=key,
            practitioner=practitioner,
            organization=self.resolve(
                resource.get("organization"),
                where=key,
                field="PractitionerRole.organization",
                expected="Organization",
            ),
            codes=_codings(resource.get("code")),
            specialties=_codings(resource.get("specialty")),
            active=resource.get("active") is not False,
        )
        self.roles[key] = info
        if practitioner:
            self.roles_by_practitioner.setdefault(practitioner, []).append(info)

    # -- resolving ----------------------------------------------------------------------

    def resolve(
        self,
        reference: Any,
        *,
        where: str,
        field: str,
        expected: str | None = None,
        record: bool = True,
    ) -> str | None:
        """Canonical ``Type/id`` for a Reference element, or None (recorded as a finding).

        ``None``/absent references return None without a finding: absence is the caller's
        concern. ``expected`` is the target type the element allows: it types logical
        (identifier-only) references and rejects references to another type. Keys of types
        the index does not hold (Encounter, Condition, ...) are returned when well-formed:
        their existence is checked where they are streamed.
        """
        if reference is None:
            return None
        literal = reference.get("reference") if type(reference) is dict else None
        if type(literal) is str and literal:
            # the outcome of a literal reference does not depend on ``expected``
            memo = self._literals
            found = memo.get(literal)
            if found is None:
                if len(memo) >= _LITERAL_MEMO_SIZE:
                    memo.clear()
                found = memo[literal] = self._resolve_literal(literal)
            key, reason = found
        else:
            key, reason = self._resolve(reference, expected)
        if key is not None and expected is not None and not key.startswith(expected + "/"):
            reason = f"refers to {key.split('/', 1)[0]}, expected {expected}"
            key = None
        if key is None and record:
            self.findings.add("unresolved-reference", where, field, reason)
        return key

    def _resolve(self, reference: Any, expected: str | None) -> tuple[str | None, str]:
        if not isinstance(reference, dict):
            return None, "reference element is not an object"
        literal = reference.get("reference")
        if isinstance(literal, str) and literal:
            return self._resolve_literal(literal)
        ident = reference.get("identifier")
        rtype = reference.get("type") or expected
        if isinstance(ident, dict) and ident.get("value") and isinstance(rtype, str):
            key = self.by_identifier.get(
                _identifier_key(rtype, ident.get("system"), str(ident["value"]))
            )
            return (key, "") if key else (None, f"no {rtype} with that identifier")
        return None, "reference has neither reference nor type+identifier"

    def _resolve_literal(self, literal: str) -> tuple[str | None, str]:
        if literal.startswith("#"):
            return None, "contained references are not followed"
        if "?" in literal and _CONDITIONAL_RE.match(literal):
            return self._resolve_conditional(literal)
        if "://" in literal:
            for base in self.base_urls:
                if literal.startswith(base + "/"):
                    literal = literal[len(base) + 1 :]
                    break
            else:
                return None, f"{ABSOLUTE_ELSEWHERE} ({reference_base(literal)})"
            if "?" in literal and _CONDITIONAL_RE.match(literal):
                return self._resolve_conditional(literal)
        match = _LITERAL_RE.match(literal)
        if not match or not is_fhir_id(match["id"]):
            return None, "malformed reference"
        rtype = match["type"]
        key = literal if match.end("id") == len(literal) else f"{rtype}/{match['id']}"
        if rtype in self.indexed_types and key not in self.known:
            return None, f"{rtype} not found"
        return key, ""

    def _resolve_conditional(self, literal: str) -> tuple[str | None, str]:
        rtype, _, query = literal.partition("?")
        values = parse_qs(query, keep_blank_values=True).get("identifier")
        if not values or len(values) != 1:
            return None, "conditional reference without a single identifier"
        token = unquote(values[0])
        system, sep, value = token.rpartition("|")
        if not sep:
            system, value = "", token
        key = self.by_identifier.get(_identifier_key(rtype, system, value))
        return (key, "") if key else (None, f"no {rtype} with that identifier")

    # -- facts ----------------------------------------------------------------------------

    def practitioner(self, key: str | None) -> str | None:
        """The Practitioner behind a Practitioner or PractitionerRole key."""
        if key is None:
            return None
        if key.startswith("Practitioner/"):
            return key
        if key.startswith("PractitionerRole/"):
            role = self.roles.get(key)
            return role.practitioner if role else None
        return None

    def roles_of(self, practitioner: str) -> list[PractitionerRoleInfo]:
        return list(self.roles_by_practitioner.get(practitioner, ()))

    def organization_parent(self, key: str) -> str | None:
        return self.organization_parents.get(key)

    def organization_ancestors(self, key: str) -> list[str]:
        """``key``'s partOf chain, nearest first (cycles cut)."""
        chain: list[str] = []
        current = self.organization_parents.get(key)
        while current and current not in chain and current != key:
            chain.append(current)
            current = self.organization_parents.get(current)
        return chain

    def location_org(self, key: str) -> str | None:
        return self.location_orgs.get(key)
