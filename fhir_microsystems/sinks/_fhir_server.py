"""The FHIR server sink: ``PUT Type/id`` with deterministic ids inside transaction bundles,
so writing twice leaves one resource. Only resources the tool wrote are replaced or retired
(see :mod:`._ownership`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fhir_microsystems._errors import FatalFhirError
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient, SearchPage
from fhir_microsystems.derive.fhir_resources import DEFAULT_CANONICAL_BASE

from ._files import WRITE_ORDER
from ._ownership import SCOPE_TAG_SYSTEM, WritePlan, plan_retirements, plan_writes

Resource = dict[str, Any]


def put_all(
    client: FhirClient,
    resources: Mapping[str, Sequence[Resource]],
    *,
    chunk: int = 100,
    canonical_base: str = DEFAULT_CANONICAL_BASE,
    scope: str | None = None,
    findings: Findings | None = None,
    dry_run: bool = False,
) -> WritePlan:
    """Write every resource by id in transaction bundles, dependency order, reading first.

    A resource already at its id is replaced only if it carries the owner mark (``If-Match``
    its version); a foreign one is left untouched and becomes a ``foreign-resource`` finding.
    With ``scope``, our resources of that scope that were not produced again are retired.
    ``dry_run`` reads but writes nothing. Returns the plan (what was or would be done).
    The reads are one batch of searches (one request), the writes one transaction per
    ``chunk`` entries.
    """
    ordered = [r for t in WRITE_ORDER for r in resources.get(t, ())]
    ordered += [r for t, items in resources.items() if t not in WRITE_ORDER for r in items]
    ids: dict[str, list[str]] = {}
    for r in ordered:
        ids.setdefault(r["resourceType"], []).append(r["id"])
    queries: list[tuple[str, list[tuple[str, str]]]] = [
        (rtype, [("_id", ",".join(wanted[i : i + READ_CHUNK])), ("_count", str(READ_CHUNK))])
        for rtype, wanted in ids.items()
        for i in range(0, len(wanted), READ_CHUNK)
    ]
    retire_types = list(dict.fromkeys([*WRITE_ORDER, *resources])) if scope is not None else []
    queries += [
        (rtype, [("_tag", f"{SCOPE_TAG_SYSTEM}|{scope}"), ("_count", "500")])
        for rtype in retire_types
    ]
    found = _search_all(client, queries)
    existing = {
        f"{rtype}/{r['id']}": r
        for (rtype, _), matches in zip(queries, found, strict=True)
        for r in matches
        if r.get("id") in ids.get(rtype, ())
    }
    plan = plan_writes(ordered, existing, canonical_base=canonical_base, scope=scope)
    if scope is not None:
        produced = {f"{r['resourceType']}/{r['id']}" for r in ordered}
        stale = [r for matches in found[len(queries) - len(retire_types) :] for r in matches]
        plan.extend(plan_retirements(stale, produced, canonical_base=canonical_base))
    for ref in plan.refused:
        if findings is not None:
            findings.add(
                "foreign-resource",
                ref,
                "meta.tag",
                "the sink holds a resource not written by fhir-microsystems at this id: "
                "left untouched, the result was not written",
            )
    if dry_run:
        return plan
    for i in range(0, len(plan.entries), chunk):
        entries = plan.entries[i : i + chunk]
        client.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    return plan


#: Ids looked up in one search when reading before writing.
READ_CHUNK = 50


def _search_all(
    client: FhirClient, queries: Sequence[tuple[str, list[tuple[str, str]]]]
) -> list[list[Resource]]:
    """The matches of each ``(type, params)`` search, sent as one batch; a search the batch
    did not answer completely (refused, or paged) is run on its own."""
    if not queries:
        return []
    entries = [
        {"request": {"method": "GET", "url": f"{rtype}?{urlencode(params)}"}}
        for rtype, params in queries
    ]
    try:
        answer = client.batch({"resourceType": "Bundle", "type": "batch", "entry": entries})
        answers = answer.bundle.get("entry") or []
    except FatalFhirError:  # a server without batch searches
        answers = []
    results: list[list[Resource]] = []
    for index, (rtype, params) in enumerate(queries):
        entry = answers[index] if index < len(answers) else None
        bundle = entry.get("resource") if isinstance(entry, dict) else None
        status = str((entry or {}).get("response", {}).get("status", ""))
        if isinstance(bundle, dict) and bundle.get("type") == "searchset" and status[:1] == "2":
            page = SearchPage.from_bundle("", bundle)
            if page.next_url is None:
                results.append([r for r in page.matches if r.get("resourceType") == rtype])
                continue
        results.append(list(client.search(rtype, params)))
    return results


__all__ = ["put_all"]
