"""Run a Bulk Data ``$export`` into an NDJSON directory that ``run --source DIR`` reads.

``export_directory`` kicks off (or resumes) an export, waits for it, downloads its files in
a small bounded pool, turns its error files into findings and applies its ``deleted``
entries, then writes ``manifest.json``. The export's status URL is kept (an
:class:`ExportState`) while it runs, so an interrupted run polls the same export again; a
cancelled one (Ctrl-C) sends ``DELETE``. With ``incremental``, the directory's previous
``transactionTime`` is the ``_since`` watermark and the changes are merged into it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from fhir_microsystems._errors import ConfigurationError, FatalFhirError, FhirHttpError, InputError
from fhir_microsystems._findings import Findings
from fhir_microsystems.client import FhirClient
from fhir_microsystems.client._bulk import (
    BulkClient,
    BulkPolicy,
    ExportExpiredError,
    ExportFile,
    ExportRequest,
    Manifest,
    OnPoll,
    outcome_messages,
)

log = logging.getLogger("fhir_microsystems.exporting")

MANIFEST = "manifest.json"
STATE_FILE = ".export-status.json"
#: Most bytes of one ``deleted`` or error file read into memory.
MAX_SIDE_FILE_BYTES = 256 * 1024**2


class ExportState(Protocol):
    """Where a running export's status URL is kept (a file, or Redis for workers)."""

    def load(self, request_url: str) -> str | None: ...

    def save(self, request_url: str, status_url: str) -> None: ...

    def clear(self) -> None: ...


def export_state(request_url: str, status_url: str) -> bytes:
    """The stored state of an export under way: its kick-off request and status URL."""
    return orjson.dumps({"request": request_url, "status_url": status_url})


def status_url_of(raw: bytes, request_url: str) -> str | None:
    """The status URL in stored state ``raw``, when it is that of ``request_url``'s export."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("request") != request_url:
        return None
    url = data.get("status_url")
    return url if isinstance(url, str) else None


class FileState:
    """The status URL in ``STATE_FILE`` of the output directory (in-process runs)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE

    def load(self, request_url: str) -> str | None:
        try:
            return status_url_of(self.path.read_bytes(), request_url)
        except FileNotFoundError:
            return None

    def save(self, request_url: str, status_url: str) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(export_state(request_url, status_url))
        tmp.replace(self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class ExportReport:
    """What an export brought: files and resources per type, deletions, restarts, findings."""

    directory: Path
    transaction_time: str
    resources: Counter[str] = field(default_factory=Counter)
    files: int = 0
    bytes: int = 0
    deleted: int = 0
    restarts: int = 0
    resumed: bool = False
    since: str | None = None
    findings: Findings = field(default_factory=Findings)


def previous_watermark(directory: Path) -> str | None:
    """The ``transactionTime`` of the directory's ``manifest.json``, if it has one."""
    manifest = _read_manifest(directory)
    value = manifest.get("transactionTime") if manifest else None
    return value if isinstance(value, str) else None


def export_directory(
    client: FhirClient,
    directory: Path,
    request: ExportRequest,
    *,
    policy: BulkPolicy | None = None,
    state: ExportState | None = None,
    incremental: bool = False,
    on_poll: OnPoll | None = None,
    max_restarts: int = 2,
) -> ExportReport:
    """Export into ``directory`` (created); see the module docstring. Returns the report.

    An expired file link (410/404) or a vanished export starts a fresh export, at most
    ``max_restarts`` times.
    """
    if not directory.is_dir():
        directory.mkdir(parents=True, mode=0o700)  # patient data: owner only
    bulk = BulkClient(client, policy)
    state = state or FileState(directory)
    watermark = previous_watermark(directory) if incremental else None
    if watermark is not None:
        request = replace(request, since=datetime.fromisoformat(watermark))
    request_url = request.url(client.base_url)
    report = ExportReport(directory, "", since=watermark)
    status_url = state.load(request_url)
    report.resumed = status_url is not None
    while True:
        if status_url is None:
            status_url = bulk.kick_off(request)
            state.save(request_url, status_url)
            log.info("export started")
        try:
            manifest = bulk.wait(status_url, on_poll)
            staging = staging_directory(directory, status_url)
            staging.mkdir(mode=0o700, exist_ok=True)
            names = _download_all(bulk, manifest, staging, report)
        except ExportExpiredError:
            report.restarts += 1
            state.clear()
            if status_url is not None:
                _remove(directory / f".export-{_short(status_url)}")
            if report.restarts > max_restarts:
                raise
            log.warning("export links expired; starting a new export")
            status_url = None
            continue
        except KeyboardInterrupt:
            bulk.cancel(status_url)
            state.clear()
            _remove(directory / f".export-{_short(status_url)}")
            raise
        break
    report.transaction_time = manifest.transaction_time
    _install(directory, staging, manifest, names, report, merge=watermark is not None)
    _finish(bulk, state, staging, status_url)
    return report


def cancel_export(client: FhirClient, directory: Path, request: ExportRequest) -> bool:
    """Send ``DELETE`` to the export kept for ``request`` in ``directory``; True if one was."""
    state = FileState(directory)
    status_url = state.load(request.url(client.base_url))
    if status_url is None:
        return False
    BulkClient(client).cancel(status_url)
    state.clear()
    _remove(directory / f".export-{_short(status_url)}")
    return True


# -- download -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Names:
    output: list[tuple[ExportFile, str]]
    error: list[str]
    deleted: list[str]


def file_jobs(manifest: Manifest) -> list[tuple[ExportFile, str]]:
    """Every file of ``manifest`` (output, error, deleted) with its local name."""
    return [*_names(manifest).output, *_side_files(manifest)]


def _names(manifest: Manifest) -> _Names:
    per_type: Counter[str] = Counter()
    jobs: list[tuple[ExportFile, str]] = []
    for item in manifest.output:
        if not _is_type(item.type):
            raise FatalFhirError(f"export manifest names a bad resource type {item.type!r}")
        jobs.append((item, f"{item.type}.{per_type[item.type]:03d}.ndjson"))
        per_type[item.type] += 1
    errors = [f"error.{n:03d}.ndjson" for n in range(len(manifest.error))]
    deleted = [f"deleted.{n:03d}.ndjson" for n in range(len(manifest.deleted))]
    return _Names(jobs, errors, deleted)


def _side_files(manifest: Manifest) -> list[tuple[ExportFile, str]]:
    names = _names(manifest)
    errors = zip(manifest.error, names.error, strict=True)
    return [*errors, *zip(manifest.deleted, names.deleted, strict=True)]


def staging_directory(directory: Path, status_url: str) -> Path:
    """Where the files of the export at ``status_url`` are downloaded before install."""
    return directory / f".export-{_short(status_url)}"


PENDING = "pending-manifest.json"


def keep_manifest(directory: Path, status_url: str, manifest: Manifest) -> None:
    """Keep a complete export's manifest beside its downloads (for per-file tasks)."""
    staging = staging_directory(directory, status_url)
    staging.mkdir(parents=True, mode=0o700, exist_ok=True)
    tmp = staging / (PENDING + ".tmp")
    tmp.write_bytes(orjson.dumps(manifest.raw))
    tmp.replace(staging / PENDING)


def kept_manifest(directory: Path, status_url: str) -> Manifest | None:
    """The manifest :func:`keep_manifest` kept for the export at ``status_url``, if any."""
    path = staging_directory(directory, status_url) / PENDING
    if not path.is_file() or path.stat().st_size > MAX_SIDE_FILE_BYTES:
        return None
    try:
        return Manifest.from_json(orjson.loads(path.read_bytes()), status_url)
    except (orjson.JSONDecodeError, FatalFhirError):
        return None


def download_file(bulk: BulkClient, manifest: Manifest, staging: Path, index: int) -> int:
    """Download file ``index`` of :func:`file_jobs` into ``staging`` (kept if complete)."""
    staging.mkdir(parents=True, mode=0o700, exist_ok=True)
    item, name = file_jobs(manifest)[index]
    target = staging / name
    if target.is_file():
        return target.stat().st_size
    return bulk.download(item, target, manifest)


def _download_all(
    bulk: BulkClient, manifest: Manifest, staging: Path, report: ExportReport
) -> _Names:
    """Fetch every file (complete ones from an earlier try are kept) in a bounded pool."""
    jobs = file_jobs(manifest)

    def fetch(index: int) -> int:
        return download_file(bulk, manifest, staging, index)

    workers = max(1, min(bulk.policy.workers, len(jobs)))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="bulk-download")
    try:
        report.bytes = sum(pool.map(fetch, range(len(jobs))))
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C or a failed file: no more
        raise
    pool.shutdown()
    names = _names(manifest)
    report.files = len(names.output)
    return names


def install_export(
    bulk: BulkClient,
    directory: Path,
    manifest: Manifest,
    status_url: str,
    state: ExportState,
    *,
    since: str | None,
) -> ExportReport:
    """Install the files downloaded (:func:`download_file`) of a complete export; then
    forget and ``DELETE`` it. ``since``: the watermark it was asked with (merge)."""
    staging = staging_directory(directory, status_url)
    report = ExportReport(directory, manifest.transaction_time, since=since)
    names = _names(manifest)
    report.files = len(names.output)
    report.bytes = sum(p.stat().st_size for p in staging.glob("*.ndjson"))
    _install(directory, staging, manifest, names, report, merge=since is not None)
    _finish(bulk, state, staging, status_url)
    return report


def discard_export(directory: Path, status_url: str, state: ExportState) -> None:
    """Forget an export whose links expired (its partial downloads too)."""
    state.clear()
    _remove(staging_directory(directory, status_url))


def _finish(bulk: BulkClient, state: ExportState, staging: Path, status_url: str) -> None:
    state.clear()
    _remove(staging)
    try:
        bulk.cancel(status_url)  # done: the server may free the files
    except FhirHttpError as exc:
        log.info("export DELETE after download failed: %s", exc)


# -- install --------------------------------------------------------------------------------


def _install(
    directory: Path,
    staging: Path,
    manifest: Manifest,
    names: _Names,
    report: ExportReport,
    *,
    merge: bool,
) -> None:
    """Record error findings, apply deletions, move files in place, write ``manifest.json``.

    The export's error files are kept beside the data (``error.000.ndjson``, listed under
    ``error``) for whoever needs to follow them up with the server's operators.
    """
    errors: list[dict[str, Any]] = []
    for name in names.error:
        count = record_export_errors(staging / name, report.findings)
        errors.append({"type": "OperationOutcome", "url": name, "count": count})
    gone: set[str] = set()
    for name in names.deleted:
        gone |= _deleted_keys(staging / name, report.findings)
    report.deleted = len(gone)
    previous = _read_manifest(directory) or {}
    old_files = [
        directory / str(o["url"])
        for o in previous.get("output") or ()
        if isinstance(o, dict) and _is_local_name(o.get("url"))
    ]
    new_by_type: dict[str, list[Path]] = {}
    for item, name in names.output:
        new_by_type.setdefault(item.type, []).append(staging / name)
    if merge and not new_by_type and not gone and not errors:
        # Nothing changed since the watermark: the data files stay as they are (their times
        # too, so a run with --since sees no change); only the watermark moves.
        previous["transactionTime"] = manifest.transaction_time
        previous["request"] = manifest.request or previous.get("request") or ""
        for item in previous.get("output") or ():
            if isinstance(item, dict) and isinstance(item.get("count"), int):
                report.resources[str(item.get("type"))] += item["count"]
        _write_manifest(directory, previous)
        return
    outputs: list[dict[str, Any]] = []
    merged: list[tuple[str, Path]] = []
    if merge:
        fresh = {t: _ids(paths) for t, paths in new_by_type.items()}
        for old in old_files:
            rtype = old.name.split(".", 1)[0]
            if old.is_file() and _is_type(rtype) and not old.name.endswith(".search.ndjson"):
                drop = fresh.get(rtype, set()) | {
                    k.split("/", 1)[1] for k in gone if k.startswith(f"{rtype}/")
                }
                kept = staging / f"{rtype}.prev-{len(merged):03d}.ndjson"
                _filter_file(old, kept, drop)
                merged.append((rtype, kept))
    for old in old_files:
        old.unlink(missing_ok=True)
    for old_error in previous.get("error") or ():
        if isinstance(old_error, dict) and _is_local_name(old_error.get("url")):
            (directory / str(old_error["url"])).unlink(missing_ok=True)
    for error in errors:
        (staging / error["url"]).replace(directory / error["url"])
    by_type: dict[str, list[Path]] = {}
    for rtype, path in merged:
        by_type.setdefault(rtype, []).append(path)
    for rtype, paths in new_by_type.items():
        by_type.setdefault(rtype, []).extend(paths)
    for rtype in sorted(by_type):
        n = 0
        for path in by_type[rtype]:
            count = _count_lines(path)
            if not count:
                path.unlink()
                continue
            name = f"{rtype}.{n:03d}.ndjson"
            path.replace(directory / name)
            outputs.append({"type": rtype, "url": name, "count": count})
            report.resources[rtype] += count
            n += 1
    body = {
        "transactionTime": manifest.transaction_time,
        "request": manifest.request or previous.get("request") or "",
        "requiresAccessToken": False,
        "output": outputs,
        "error": errors,
        "deleted": [],
    }
    _write_manifest(directory, body)


def _write_manifest(directory: Path, body: dict[str, Any]) -> None:
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    tmp.replace(directory / MANIFEST)


def add_searched(directory: Path, rtype: str, resources: Iterable[dict[str, Any]]) -> int:
    """Write ``resources`` read by search as the directory's ``rtype`` file; list it in the
    manifest. Replaces an earlier file of that type the same way. Returns the count."""
    manifest = _read_manifest(directory)
    if manifest is None:
        raise InputError("no manifest.json to add searched resources to", file=MANIFEST)
    name = f"{rtype}.search.ndjson"
    count = 0
    tmp = directory / (name + ".tmp")
    with tmp.open("wb") as handle:
        for resource in resources:
            handle.write(orjson.dumps(resource) + b"\n")
            count += 1
    tmp.replace(directory / name)
    outputs = [
        o for o in manifest.get("output") or () if isinstance(o, dict) and o.get("url") != name
    ]
    outputs.append({"type": rtype, "url": name, "count": count})
    manifest["output"] = outputs
    (directory / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return count


def _deleted_keys(path: Path, findings: Findings) -> set[str]:
    """``Type/id`` of every DELETE entry of the Bundles of a ``deleted`` file."""
    keys: set[str] = set()
    for n, line in enumerate(_lines(path), start=1):
        try:
            bundle = orjson.loads(line)
        except orjson.JSONDecodeError:
            findings.add("invalid-json", f"{path.name}:{n}", "", "deleted entry is not JSON")
            continue
        for entry in bundle.get("entry") or () if isinstance(bundle, dict) else ():
            request = entry.get("request") if isinstance(entry, dict) else None
            url = request.get("url") if isinstance(request, dict) else None
            parts = url.split("/") if isinstance(url, str) else []
            if len(parts) >= 2 and _is_type(parts[-2]):
                keys.add(f"{parts[-2]}/{parts[-1]}")
            else:
                findings.add("bad-deleted-entry", f"{path.name}:{n}", "Bundle.entry.request.url")
    return keys


def record_export_errors(path: Path, findings: Findings) -> int:
    """One ``export-error`` finding per OperationOutcome line of an export's error file
    (named ``file:line``); returns how many."""
    texts = outcome_messages(_lines(path))
    for n, text in enumerate(texts, start=1):
        findings.add("export-error", f"{path.name}:{n}", "OperationOutcome", text[:500])
    return len(texts)


def local_error_files(directory: Path) -> list[Path]:
    """The error files an export folder's ``manifest.json`` lists beside its data."""
    manifest = directory / "manifest.json"
    if not manifest.is_file() or manifest.stat().st_size > MAX_SIDE_FILE_BYTES:
        return []
    try:
        entries = orjson.loads(manifest.read_bytes()).get("error") or []
    except (orjson.JSONDecodeError, AttributeError):
        return []  # the NDJSON source reports an unreadable manifest
    names = [
        str(url)
        for entry in (entries if isinstance(entries, list) else ())
        if isinstance(entry, dict) and _is_local_name(url := entry.get("url"))
    ]
    return [directory / name for name in names if (directory / name).is_file()]


def _lines(path: Path) -> Iterator[bytes]:
    if path.stat().st_size > MAX_SIDE_FILE_BYTES:
        raise InputError(f"{path.name} exceeds {MAX_SIDE_FILE_BYTES} bytes", file=path.name)
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                yield line


def _ids(paths: Iterable[Path]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        with path.open("rb") as handle:
            for line in handle:
                rid = _id_of(line)
                if rid is not None:
                    ids.add(rid)
    return ids


def _id_of(line: bytes) -> str | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    rid = value.get("id") if isinstance(value, dict) else None
    return rid if isinstance(rid, str) else None


def _filter_file(source: Path, target: Path, drop: set[str]) -> None:
    with source.open("rb") as src, target.open("wb") as out:
        for line in src:
            if line.strip() and _id_of(line) not in drop:
                out.write(line if line.endswith(b"\n") else line + b"\n")


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        value = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"manifest.json is not valid JSON: {exc}", file=MANIFEST) from exc
    return value if isinstance(value, dict) else None


def _is_type(value: object) -> bool:
    return isinstance(value, str) and value[:1].isupper() and value.isalpha() and len(value) < 64


def _is_local_name(value: object) -> bool:
    return isinstance(value, str) and "/" not in value and value.endswith(".ndjson")


def _short(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def check_directory(directory: Path) -> None:
    """Refuse an output directory that holds NDJSON this project did not write."""
    if not directory.is_dir():
        return
    manifest = _read_manifest(directory) or {}
    listed = {
        str(o.get("url"))
        for key in ("output", "error")
        for o in manifest.get(key) or ()
        if isinstance(o, dict)
    }
    strays = [p.name for p in directory.glob("*.ndjson*") if p.name not in listed]
    if strays:
        raise ConfigurationError(
            f"export directory {directory.name!r} holds NDJSON files no export wrote "
            f"({', '.join(sorted(strays)[:3])}); choose an empty or earlier export directory"
        )


__all__ = [
    "MANIFEST",
    "ExportReport",
    "ExportState",
    "FileState",
    "add_searched",
    "cancel_export",
    "check_directory",
    "discard_export",
    "download_file",
    "export_directory",
    "export_state",
    "file_jobs",
    "install_export",
    "keep_manifest",
    "kept_manifest",
    "local_error_files",
    "previous_watermark",
    "record_export_errors",
    "staging_directory",
    "status_url_of",
]
