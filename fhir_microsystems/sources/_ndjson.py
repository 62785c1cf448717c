"""A Bulk-Data NDJSON directory as a source, streamed line by line."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import orjson

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings

from ._base import Resource, record_problem, resource_problem

_BOM = b"\xef\xbb\xbf"
#: Longest NDJSON line read (bytes, newline excluded); longer lines are skipped as findings.
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_DRAIN_CHUNK = 1 << 20

_FILE_RE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)(?:\.(?P<part>[^.]+))?\.ndjson(?P<gz>\.gz)?$")


def _bulk_files(directory: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE_RE.match(path.name)
        if match and path.is_file():
            files.setdefault(match["type"], []).append(path)
    return files


def _base_from_manifest(directory: Path) -> tuple[str, ...]:
    """The server base named by a Bulk Data ``manifest.json`` (its ``request`` URL)."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return ()
    try:
        data = orjson.loads(manifest.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"manifest.json is not valid JSON: {exc}", file="manifest.json") from exc
    request = data.get("request") if isinstance(data, dict) else None
    if not isinstance(request, str) or "://" not in request:
        return ()
    base = request.split("?", 1)[0]
    base = re.sub(r"/(?:(?:Patient|Group/[^/]+)/)?\$export$", "", base)
    return (base.rstrip("/"),)


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def skip_bom(handle: IO[bytes] | io.BufferedIOBase, name: str, findings: Findings) -> None:
    """Move ``handle`` past a UTF-8 byte-order mark at its start (one ``byte-order-mark``
    finding naming the file); without one, back to the start."""
    if handle.read(len(_BOM)) == _BOM:
        findings.add("byte-order-mark", name, "", "UTF-8 BOM at start removed")
    else:
        handle.seek(0)


def bounded_lines(
    handle: IO[bytes] | io.BufferedIOBase, max_bytes: int
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` of ``handle``; ``None`` for a line longer than ``max_bytes``,
    which is read past in 1 MiB pieces and never held whole (also through gzip)."""
    readline = handle.readline
    limit = max_bytes + 1  # room for the newline
    lineno = 0
    while True:
        line = readline(limit)
        if not line:
            return
        lineno += 1
        if len(line) == limit and not line.endswith(b"\n"):
            while True:  # drain the rest of the long line
                piece = readline(_DRAIN_CHUNK)
                if not piece or piece.endswith(b"\n"):
                    break
            yield lineno, None
            continue
        yield lineno, line


class NdjsonSource:
    """Reads ``Type.ndjson``, ``Type.000.ndjson`` and ``Type.ndjson.gz`` files of a directory.

    Lines are parsed one at a time with orjson; a malformed line or resource is recorded in
    ``findings`` with its file and line and skipped, and so is a line longer than
    ``max_line_bytes`` (``line-too-long``; it is never held whole). A UTF-8 byte-order mark
    at the start of a file is removed (one ``byte-order-mark`` finding). Absolute references
    on ``base_urls`` (given, or taken from a Bulk Data ``manifest.json``) count as local.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        base_urls: tuple[str, ...] = (),
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_line_bytes = max_line_bytes
        if not self.directory.is_dir():
            raise InputError(f"NDJSON source {self.directory.name!r} is not a directory")
        self.findings = Findings()
        self._files = _bulk_files(self.directory)
        self.base_urls = tuple(u.rstrip("/") for u in base_urls) or _base_from_manifest(
            self.directory
        )
        self.lines_read = 0

    def resource_types(self) -> list[str]:
        return sorted(self._files)

    def files(self, resource_type: str) -> list[Path]:
        return list(self._files.get(resource_type, ()))

    def iter_resources(self, resource_type: str) -> Iterator[Resource]:
        for path in self._files.get(resource_type, ()):
            yield from self.iter_file(path, resource_type)

    def iter_lines(self, path: Path) -> Iterator[tuple[int, bytes]]:
        """``(line number, line)`` of one file's non-blank lines, past a byte-order mark;
        a line longer than ``max_line_bytes`` is a ``line-too-long`` finding instead."""
        name = path.name
        with _open_binary(path) as handle:
            skip_bom(handle, name, self.findings)
            for lineno, line in bounded_lines(handle, self.max_line_bytes):
                if line is None:
                    self.lines_read += 1
                    self.findings.add(
                        "line-too-long",
                        f"{name}:{lineno}",
                        "",
                        f"line longer than {self.max_line_bytes} bytes "
                        "(FHIRMS_MAX_NDJSON_LINE_BYTES): skipped",
                    )
                    continue
                if line.isspace():  # blank (isspace stops at the first other byte)
                    continue
                self.lines_read += 1
                yield lineno, line

    def iter_file(self, path: Path, resource_type: str) -> Iterator[Resource]:
        """Stream the resources of one file (one partition of a type)."""
        name = path.name
        for lineno, line in self.iter_lines(path):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                where = f"{name}:{lineno}"
                self.findings.add("invalid-json", where, "", f"invalid JSON ({exc.msg})")
                continue
            problem = resource_problem(obj, resource_type)
            if problem is None:  # the common case: no ``where`` to build
                yield obj
            else:
                record_problem(problem, f"{name}:{lineno}", self.findings)
