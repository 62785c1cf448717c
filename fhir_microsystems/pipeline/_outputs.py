"""Where results go: NDJSON files (Bulk-Data layout) and/or a FHIR server, idempotently.

Each measure partition writes its own part file under ``.parts/<run id>/`` (replaced
atomically), so a redelivered partition overwrites rather than duplicates and a resumed run
reuses its own parts, never another run's; :func:`merge_parts` joins the parts of the run's
partitions into ``Type.ndjson`` in partition order and removes the output files of types the
run did not produce, so a run's outputs equal those of the same run into an empty folder.
Server writes are ``PUT Type/id`` with deterministic ids inside transaction bundles: writing
twice leaves one resource. Only resources the tool wrote are replaced or retired (see
:mod:`._ownership`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_microsystems._errors import ConfigurationError, FatalFhirError
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient, SearchPage
from fhir_microsystems.derive.fhir_resources import DEFAULT_CANONICAL_BASE

from ._ownership import SCOPE_TAG_SYSTEM, WritePlan, plan_retirements, plan_writes

Resource = dict[str, Any]

PARTS_DIR = ".parts"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")

#: Order in which output types are written to a server (referenced before referencing).
WRITE_ORDER: tuple[str, ...] = ("Group", "CareTeam", "List", "MeasureReport")


#: Every ``Type.ndjson`` a run may write (removed by :func:`merge_parts` when not produced).
OUTPUT_TYPES: tuple[str, ...] = WRITE_ORDER


def safe_name(partition: str) -> str:
    return _SAFE.sub("_", partition)


def parts_dir(out_dir: Path, run_id: str) -> Path:
    """The directory of one run's part files."""
    return out_dir / PARTS_DIR / safe_name(run_id)


def clear_parts(out_dir: Path, run_id: str) -> None:
    """Remove one run's part files (a run that cannot be resumed starts from none)."""
    shutil.rmtree(parts_dir(out_dir, run_id), ignore_errors=True)
    with contextlib.suppress(OSError):  # only when no other run's parts remain
        (out_dir / PARTS_DIR).rmdir()


def file_mode() -> int:
    """Permissions of output files (``FHIRMS_OUTPUT_FILE_MODE``, octal; default 600: Groups
    and evidence Lists name patients)."""
    from fhir_microsystems._settings import Settings

    text = Settings().output_file_mode
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise ConfigurationError(f"FHIRMS_OUTPUT_FILE_MODE must be octal like 600, not {text!r}")
    return mode


def _atomic_write(path: Path, lines: Iterable[bytes], mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = file_mode() if mode is None else mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # exactly ``mode``, whatever the umask
    with os.fdopen(fd, "wb") as fh:
        for line in lines:
            fh.write(line)
            fh.write(b"\n")
    os.replace(tmp, path)


def write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (atomically, with :func:`file_mode` permissions)."""
    _atomic_write(path, (line for line in data.split(b"\n") if line))


def write_part(
    out_dir: Path, run_id: str, partition: str, resources: Mapping[str, Sequence[Resource]]
) -> None:
    """Replace this partition's part file of each type (idempotent)."""
    for rtype, items in resources.items():
        path = parts_dir(out_dir, run_id) / rtype / f"{safe_name(partition)}.ndjson"
        _atomic_write(path, (orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in items))


def write_raw_part(out_dir: Path, run_id: str, partition: str, rtype: str, ndjson: bytes) -> None:
    """Replace this partition's part file of ``rtype`` with NDJSON already serialized."""
    path = parts_dir(out_dir, run_id) / rtype / f"{safe_name(partition)}.ndjson"
    _atomic_write(path, (line for line in ndjson.split(b"\n") if line))


def merge_parts(out_dir: Path, run_id: str, partitions: Iterable[str]) -> dict[str, int]:
    """Join the run's part files of ``partitions`` into ``Type.ndjson`` (partition order);
    remove the ``Type.ndjson`` of output types without parts; return lines per type."""
    counts: dict[str, int] = {}
    mode = file_mode()
    root = parts_dir(out_dir, run_id)
    names = sorted({f"{safe_name(p)}.ndjson" for p in partitions})
    type_dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for type_dir in type_dirs:
        parts = [type_dir / name for name in names if (type_dir / name).is_file()]
        if not parts:
            continue
        seen: set[str] = set()

        def lines(parts: list[Path] = parts, seen: set[str] = seen) -> Iterable[bytes]:
            for part in parts:
                with part.open("rb") as fh:
                    for raw in fh:
                        line = raw.rstrip(b"\n")
                        if not line:
                            continue
                        rid = orjson.loads(line).get("id")
                        if rid in seen:  # the same resource from two partitions: keep one
                            continue
                        seen.add(rid)
                        yield line

        _atomic_write(out_dir / f"{type_dir.name}.ndjson", lines(), mode)
        counts[type_dir.name] = len(seen)
    for rtype in OUTPUT_TYPES:
        if rtype not in counts:
            (out_dir / f"{rtype}.ndjson").unlink(missing_ok=True)
    return counts


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
