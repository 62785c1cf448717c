"""A Bulk-Data NDJSON directory as a source, streamed line by line."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import orjson

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Findings

from ._base import Resource, record_problem, resource_problem

_BOM = b"\xef\xbb\xbf"
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


class NdjsonSource:
    """Reads ``Type.ndjson``, ``Type.000.ndjson`` and ``Type.ndjson.gz`` files of a directory.

    Lines are parsed one at a time with orjson; a malformed line or resource is recorded in
    ``findings`` with its file and line and skipped. A UTF-8 byte-order mark at the start of
    a file is removed (one ``byte-order-mark`` finding). Absolute references on ``base_urls``
    (given, or taken from a Bulk Data ``manifest.json``) count as local.
    """

    def __init__(self, directory: str | Path, *, base_urls: tuple[str, ...] = ()) -> None:
        self.directory = Path(directory)
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

    def iter_file(self, path: Path, resource_type: str) -> Iterator[Resource]:
        """Stream the resources of one file (one partition of a type)."""
        name = path.name
        with _open_binary(path) as handle:
            if handle.read(len(_BOM)) == _BOM:
                self.findings.add("byte-order-mark", name, "", "UTF-8 BOM at start removed")
            else:
                handle.seek(0)
            for lineno, line in enumerate(handle, start=1):
                if not line or line.isspace():  # blank (isspace stops at the first other byte)
                    continue
                self.lines_read += 1
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
