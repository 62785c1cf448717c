"""Read a run's MeasureReports, CareTeams, Groups and findings into :class:`RunData`.

From an output folder (``*.ndjson`` and ``summary.json``) or from a FHIR server, searched by the
project's identifier systems. A resource the reader cannot use is a counted problem, never a
crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems.derive.fhir_resources import (
    MICROSYSTEM_ID_SYSTEM,
    MICROSYSTEM_PERIOD_ID_SYSTEM,
    PATIENT_GROUP_ID_SYSTEM,
)
from fhir_microsystems.reports import overall_score, rounded

from ._model import (
    Cohort,
    Dimension,
    Finding,
    Member,
    Report,
    RunData,
    Stratum,
    Team,
    TeamChange,
)

MICROSYSTEM_EXTENSION = "https://fhir-microsystems.org/fhir/StructureDefinition/microsystem"
#: A line longer than this is not a resource the project wrote: skipped as a problem.
MAX_LINE_BYTES = 32 * 1024 * 1024
#: summary.json larger than this is not read.
MAX_SUMMARY_BYTES = 256 * 1024 * 1024
_CORE = "core-member"
_MEMBERSHIP = {"core-member", "occasional-member"}


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if len(self.items) < 1000:
            self.items.append(text)


def _ndjson(path: Path, problems: _Problems) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if len(line) > MAX_LINE_BYTES:
                problems.add(f"{path.name} line {n}: longer than {MAX_LINE_BYTES} bytes")
                continue
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.add(f"{path.name} line {n}: not JSON")
                continue
            if isinstance(value, dict):
                yield value
            else:
                problems.add(f"{path.name} line {n}: not a JSON object")


def _code(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return None


def _display(concept: Any) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if isinstance(coding, dict) and coding.get("display"):
            return str(coding["display"])
    return (concept or {}).get("text") or None


def _populations(items: Iterable[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pop in items or ():
        code = _code(pop.get("code"))
        if code and isinstance(pop.get("count"), int):
            counts[code] = pop["count"]
    return counts


def _score(element: Mapping[str, Any]) -> float | None:
    value = (element.get("measureScore") or {}).get("value")
    return float(value) if isinstance(value, int | float) else None


def _contained_members(resource: Mapping[str, Any], group: Mapping[str, Any]) -> tuple[str, ...]:
    ref = None
    for pop in group.get("population") or ():
        if _code(pop.get("code")) == "numerator":
            ref = ((pop.get("subjectResults") or {}).get("reference") or "").lstrip("#")
    if not ref:
        return ()
    for item in resource.get("contained") or ():
        if item.get("resourceType") == "List" and item.get("id") == ref:
            return tuple(
                str(e["item"]["reference"])
                for e in item.get("entry") or ()
                if isinstance(e.get("item"), dict) and e["item"].get("reference")
            )
    return ()


def parse_report(resource: Mapping[str, Any]) -> Report:
    """A MeasureReport as the project writes it; KeyError/ValueError/TypeError when it is not."""
    measure = str(resource["measure"]).split("|")[0].rsplit("/", 1)[-1]
    careteam = next(
        e["valueReference"]["reference"]
        for e in resource.get("extension") or ()
        if e.get("url") == MICROSYSTEM_EXTENSION
    )
    identifier = next(
        i["value"] for i in resource["identifier"] if i.get("system", "").endswith("/measurereport")
    )
    microsystem_id = str(identifier).split("|")[2]
    groups = resource.get("group") or []
    first = groups[0]
    strata: list[Stratum] = []
    dimensions: list[Dimension] = []
    if measure == "microsystem-assessment":
        for g in groups:
            dim = g.get("code") or {}
            display = next((c.get("display") for c in dim.get("coding") or ()), None)
            dimensions.append(Dimension(str(g.get("id")), str(display or g.get("id")), _score(g)))
    else:
        for strat in first.get("stratifier") or ():
            name = next((c.get("text") for c in strat.get("code") or ()), None) or strat["id"]
            for s in strat.get("stratum") or ():
                pops = _populations(s.get("population") or ())
                den = pops.get("denominator", pops.get("measure-population"))
                if den is not None:
                    den -= pops.get(
                        "denominator-exclusion", pops.get("measure-population-exclusion", 0)
                    )
                else:
                    den = pops.get("initial-population")
                value = (s.get("value") or {}).get("text") or _code(s.get("value")) or "?"
                strata.append(Stratum(str(name), str(value), _score(s), pops.get("numerator"), den))
    improvement = _code(resource.get("improvementNotation"))
    return Report(
        measure=measure,
        microsystem_id=microsystem_id,
        careteam=str(careteam),
        start=str(resource["period"]["start"]),
        end=str(resource["period"]["end"]),
        pending=resource.get("status") == "pending",
        improvement=improvement,
        score=_score(first) if measure != "microsystem-assessment" else _assessment_score(resource),
        populations=_populations(first.get("population") or ()),
        strata=tuple(strata),
        dimensions=tuple(dimensions),
        worklist=_contained_members(resource, first),
    )


def _assessment_score(resource: Mapping[str, Any]) -> float | None:
    """The overall result, by the rule ``summary.json`` states (:data:`OVERALL_RULE`)."""
    overall = overall_score(_score(g) for g in resource.get("group") or ())
    return rounded(overall, 4) if overall is not None else None


def _identifier(resource: Mapping[str, Any], system: str) -> str:
    return str(next(i["value"] for i in resource["identifier"] if i.get("system") == system))


def parse_team(resource: Mapping[str, Any]) -> Team:
    """A microsystem CareTeam; KeyError/StopIteration when it is not one."""
    microsystem_id = _identifier(resource, MICROSYSTEM_ID_SYSTEM)
    period = _identifier(resource, MICROSYSTEM_PERIOD_ID_SYSTEM).split("|")[1]
    orgs = resource.get("managingOrganization") or [{}]
    department = str(orgs[0].get("display") or orgs[0].get("reference") or "unknown department")
    members = []
    for p in resource.get("participant") or ():
        roles = p.get("role") or ()
        codes = [_code(r) for r in roles]
        role = next(
            (
                _display(r) or c
                for r, c in zip(roles, codes, strict=True)
                if c and c not in _MEMBERSHIP
            ),
            "member",
        )
        ref = (p.get("member") or {}).get("reference")
        if ref:
            members.append(Member(str(ref), role, _CORE in codes))
    return Team(
        microsystem_id,
        period,
        str(resource.get("name") or microsystem_id),
        department,
        tuple(members),
    )


def parse_cohort(resource: Mapping[str, Any]) -> Cohort:
    """A microsystem patient Group; KeyError/StopIteration when it is not one."""
    ms, period, cohort = _identifier(resource, PATIENT_GROUP_ID_SYSTEM).split("|")[:3]
    return Cohort(ms, period, cohort, int(resource.get("quantity") or 0))


_ERRORS = (KeyError, ValueError, TypeError, IndexError, StopIteration, AttributeError)


def _collect(
    resources: Iterable[Mapping[str, Any]], problems: _Problems
) -> tuple[list[Report], list[Team], list[Cohort]]:
    reports: list[Report] = []
    teams: list[Team] = []
    cohorts: list[Cohort] = []
    for r in resources:
        kind = r.get("resourceType")
        try:
            if kind == "MeasureReport":
                reports.append(parse_report(r))
            elif kind == "CareTeam":
                teams.append(parse_team(r))
            elif kind == "Group":
                cohorts.append(parse_cohort(r))
        except _ERRORS:
            problems.add(f"{kind}/{r.get('id')}: not a resource the project writes")
    return reports, teams, cohorts


def _dedupe_reports(reports: list[Report]) -> tuple[Report, ...]:
    latest: dict[tuple[str, str, str], Report] = {}
    for r in reports:
        latest[(r.measure, r.microsystem_id, r.start)] = r
    return tuple(sorted(latest.values(), key=lambda r: (r.microsystem_id, r.measure, r.start)))


def read_directory(directory: Path) -> RunData:
    """Read an output folder written by ``fhir-microsystems run``."""
    problems = _Problems()

    def resources() -> Iterator[dict[str, Any]]:
        for name in ("MeasureReport", "CareTeam", "Group"):
            yield from _ndjson(directory / f"{name}.ndjson", problems)

    reports, teams, cohorts = _collect(resources(), problems)
    findings = []
    for f in _ndjson(directory / "findings.ndjson", problems):
        findings.append(
            Finding(
                str(f.get("kind", "?")),
                str(f.get("where", "")),
                str(f.get("field", "")),
                str(f.get("message", "")),
            )
        )
    summary = _summary(directory / "summary.json", problems)
    derivation = summary.get("derivation") or {}
    by_kind = (summary.get("findings") or {}).get("by_kind")
    if not isinstance(by_kind, dict):
        by_kind = {}
        for finding in findings:
            by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
    changes = _changes(derivation.get("microsystems"))
    unattributed = derivation.get("unattributed")
    read = derivation.get("encounters_read")
    return RunData(
        reports=_dedupe_reports(reports),
        teams=tuple(teams),
        cohorts=tuple(cohorts),
        findings=tuple(findings),
        findings_by_kind={str(k): int(v) for k, v in by_kind.items() if isinstance(v, int)},
        unattributed=(
            {str(k): int(v) for k, v in unattributed.items() if isinstance(v, int)}
            if isinstance(unattributed, dict)
            else {}
        ),
        encounters_read=read if isinstance(read, int) else None,
        changes=changes,
        problems=tuple(problems.items),
        source=directory.name,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _changes(items: Any) -> dict[tuple[str, str], TeamChange]:
    """summary.json's per microsystem-period joins, leaves and stability, where it has them."""
    out: dict[tuple[str, str], TeamChange] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or not item.get("id") or not item.get("period"):
            continue
        joins, leaves = _number(item.get("joins")), _number(item.get("leaves"))
        out[(str(item["id"]), str(item["period"]))] = TeamChange(
            None if joins is None else int(joins),
            None if leaves is None else int(leaves),
            _number(item.get("stability")),
        )
    return out


def _summary(path: Path, problems: _Problems) -> dict[str, Any]:
    if not path.is_file():
        return {}
    if path.stat().st_size > MAX_SUMMARY_BYTES:
        problems.add(f"{path.name}: larger than {MAX_SUMMARY_BYTES} bytes, not read")
        return {}
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        problems.add(f"{path.name}: not JSON")
        return {}
    return value if isinstance(value, dict) else {}


def read_server(client: Any, canonical_base: str) -> RunData:
    """Search a FHIR server (a :class:`FhirClient`) for the project's resources by identifier."""
    problems = _Problems()
    searches = (
        ("MeasureReport", f"{canonical_base}/id/measurereport|"),
        ("CareTeam", f"{MICROSYSTEM_ID_SYSTEM}|"),
        ("Group", f"{PATIENT_GROUP_ID_SYSTEM}|"),
    )

    def resources() -> Iterator[dict[str, Any]]:
        for kind, token in searches:
            yield from client.search(kind, {"identifier": token}, count=200)

    reports, teams, cohorts = _collect(resources(), problems)
    return RunData(
        reports=_dedupe_reports(reports),
        teams=tuple(teams),
        cohorts=tuple(cohorts),
        problems=tuple(problems.items),
        source=str(getattr(client, "base_url", "")),
    )
