"""Read a server's CapabilityStatement and check, before a run, that it has what we need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_microsystems._errors import CapabilityError

#: Key of ``interactions`` for whole-system interactions (transaction, batch, ...).
SYSTEM = "system"


@dataclass(frozen=True)
class Capabilities:
    """What a CapabilityStatement declares (server mode ``rest`` entries only)."""

    fhir_version: str
    software: str
    resources: Mapping[str, Mapping[str, frozenset[str]]]
    system_interactions: frozenset[str]
    common_searches: frozenset[str]
    #: Operations by type (``system`` for whole-system ones), names as declared.
    operations: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_statement(cls, statement: Mapping[str, Any]) -> Capabilities:
        resources: dict[str, dict[str, frozenset[str]]] = {}
        system: set[str] = set()
        common: set[str] = set()
        operations: dict[str, frozenset[str]] = {}
        for rest in _dicts(statement.get("rest")):
            if rest.get("mode", "server") != "server":
                continue
            system |= _codes(rest.get("interaction"), "code")
            common |= _codes(rest.get("searchParam"), "name")
            operations[SYSTEM] = operations.get(SYSTEM, frozenset()) | _operations(rest)
            for res in _dicts(rest.get("resource")):
                rtype = res.get("type")
                if isinstance(rtype, str):
                    resources[rtype] = {
                        "interactions": _codes(res.get("interaction"), "code"),
                        "searches": _codes(res.get("searchParam"), "name"),
                    }
                    operations[rtype] = _operations(res)
        software = statement.get("software")
        name = software.get("name", "") if isinstance(software, dict) else ""
        return cls(
            fhir_version=str(statement.get("fhirVersion") or ""),
            software=str(name),
            resources=resources,
            system_interactions=frozenset(system),
            common_searches=frozenset(common),
            operations=operations,
        )

    def supports_export(self, level: str = SYSTEM) -> bool:
        """Whether ``$export`` is declared at ``level``: ``system``, ``Patient`` or ``Group``.

        Servers name the operation ``export`` (HAPI), ``patient-export``, ``group-export``
        or only by its Bulk Data definition URL; any of these counts.
        """
        return any("export" in name for name in self.operations.get(level, frozenset()))

    def searches(self, resource_type: str) -> frozenset[str]:
        """Search parameters usable on ``resource_type`` (its own plus the common ones)."""
        own = self.resources.get(resource_type, {}).get("searches", frozenset())
        return own | self.common_searches

    def interactions(self, resource_type: str) -> frozenset[str]:
        """Declared interactions on ``resource_type`` (or on the system for ``"system"``)."""
        if resource_type == SYSTEM:
            return self.system_interactions
        return self.resources.get(resource_type, {}).get("interactions", frozenset())

    def missing(
        self,
        *,
        fhir_version: str | None = "4.0",
        searches: Mapping[str, Iterable[str]] | None = None,
        interactions: Mapping[str, Iterable[str]] | None = None,
    ) -> list[str]:
        """Human-readable list of what is missing (empty when everything is there)."""
        problems: list[str] = []
        if fhir_version and not self.fhir_version.startswith(fhir_version):
            found = f"FHIR {self.fhir_version}" if self.fhir_version else "of no declared version"
            wanted = "R4" if fhir_version.startswith("4.0") else fhir_version
            problems.append(f"server is {found}, not {wanted}")
        for rtype, names in (searches or {}).items():
            if rtype not in self.resources:
                problems.append(f"no {rtype} resource")
                continue
            have = self.searches(rtype)
            problems += [f"search {rtype}?{n}" for n in names if n not in have]
        for rtype, codes in (interactions or {}).items():
            if rtype != SYSTEM and rtype not in self.resources:
                problems.append(f"no {rtype} resource")
                continue
            have = self.interactions(rtype)
            problems += [f"interaction {rtype} {c}" for c in codes if c not in have]
        return list(dict.fromkeys(problems))

    def require(
        self,
        *,
        fhir_version: str | None = "4.0",
        searches: Mapping[str, Iterable[str]] | None = None,
        interactions: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """Raise CapabilityError naming everything that :meth:`missing` finds."""
        problems = self.missing(
            fhir_version=fhir_version, searches=searches, interactions=interactions
        )
        if problems:
            raise CapabilityError(
                "FHIR server lacks what this run needs: " + "; ".join(problems),
                missing=problems,
            )


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _operations(entry: Mapping[str, Any]) -> frozenset[str]:
    """Names of the operations an entry declares, plus the last segment of each definition."""
    names: set[str] = set()
    for op in _dicts(entry.get("operation")):
        names.add(str(op.get("name", "")).lower())
        names.add(str(op.get("definition", "")).rstrip("/").rsplit("/", 1)[-1].lower())
    return frozenset(n for n in names if n)


def _codes(value: Any, key: str) -> frozenset[str]:
    return frozenset(str(d[key]) for d in _dicts(value) if key in d)


__all__ = ["SYSTEM", "Capabilities"]
