"""A Bulk-Data NDJSON directory as a source, streamed line by line."""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, cast

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from fhir_microsystems._errors import InputError
from fhir_microsystems._findings import Finding, Findings

from ._base import Resource, resource_problem

_BOM = b"\xef\xbb\xbf"
#: Longest NDJSON line read (bytes, newline excluded); longer lines are skipped as findings.
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
_DRAIN_CHUNK = 1 << 20
#: Bytes of a file read at once by :func:`line_blocks` (then the rest of its last line).
DEFAULT_BLOCK_BYTES = 1024 * 1024
_BLANK = r"^[ \t\r\x0b\x0c]*$"

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


@dataclass(frozen=True, slots=True)
class LineBlock:
    """Consecutive lines of a file as Arrow arrays: ``numbers`` (int64, 1-based) and
    ``lines`` (binary, without the newline) of the non-blank ones that fit the limit;
    ``too_long`` the numbers of those that did not, ``blank`` how many were blank;
    ``open_end`` that the last of them ends the file without a newline."""

    numbers: pa.Array
    lines: pa.Array
    too_long: tuple[int, ...] = ()
    blank: int = 0
    open_end: bool = False

    def __len__(self) -> int:
        return len(self.lines)

    def text(self, index: int) -> bytes:
        """Line ``index`` of the block as read, with its newline (what a JSON reader's
        message about the line depends on)."""
        line: bytes = self.lines[index].as_py()
        last = self.open_end and index == len(self.lines) - 1
        return line if last else line + b"\n"

    def texts(self) -> list[bytes]:
        """Every line as :meth:`text` gives it (one conversion for the block)."""
        texts = [line + b"\n" for line in self.lines.to_pylist()]
        if self.open_end:
            texts[-1] = texts[-1][:-1]
        return texts


def line_blocks(
    handle: IO[bytes] | io.BufferedIOBase,
    max_bytes: int,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[LineBlock]:
    """The lines of ``handle`` in blocks of about ``block_bytes``, split by Arrow (no Python
    object per line). A line longer than ``max_bytes`` is read past in 1 MiB pieces and
    never held whole beyond the block it starts in (also through gzip)."""
    limit = max_bytes + 1  # room for the newline
    before = 0  # lines in earlier blocks
    while block := handle.read(block_bytes):
        drained = False
        if not block.endswith(b"\n"):  # complete the last line, never past the limit
            tail = handle.readline(limit)
            block += tail
            if len(tail) == limit and not tail.endswith(b"\n"):
                drained = True
                while piece := handle.readline(_DRAIN_CHUNK):
                    if piece.endswith(b"\n"):
                        break
        ends_line = block.endswith(b"\n")
        whole = pa.Array.from_buffers(  # the block as one value, without a copy
            pa.large_binary(),
            1,
            [None, pa.array([0, len(block)], pa.int64()).buffers()[1], pa.py_buffer(block)],
        )
        lines = pc.split_pattern(whole, b"\n").flatten()
        del whole, block  # (the lines are a copy: the block's memory goes now)
        if ends_line:
            lines = lines.slice(0, len(lines) - 1)
        numbers = pa.array(range(before + 1, before + 1 + len(lines)), pa.int64())
        before += len(lines)
        too_long = pc.greater(pc.binary_length(lines), max_bytes)
        if drained:
            too_long = pc.or_(too_long, pa.array([False] * (len(lines) - 1) + [True]))
        blank = pc.and_(pc.match_substring_regex(lines, _BLANK), pc.invert(too_long))
        keep = pc.invert(pc.or_(blank, too_long))
        # the file's last line has no newline (and is kept: not blank, not too long)
        open_end = not ends_line and bool(keep[len(keep) - 1].as_py())
        every = pc.all(keep).as_py()  # (a filter would copy the lines)
        yield LineBlock(
            numbers if every else numbers.filter(keep),
            lines if every else lines.filter(keep),
            tuple(numbers.filter(too_long).to_pylist()),
            pc.sum(blank).as_py() or 0,
            open_end,
        )


def bounded_lines(
    handle: IO[bytes] | io.BufferedIOBase, max_bytes: int
) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, line)`` of the non-blank lines of ``handle`` (:func:`line_blocks`);
    ``None`` for a line longer than ``max_bytes``."""
    for block in line_blocks(handle, max_bytes):
        items: list[tuple[int, bytes | None]] = list(
            zip(block.numbers.to_pylist(), block.texts(), strict=True)
        )
        if block.too_long:
            items = sorted(items + [(n, None) for n in block.too_long], key=lambda i: i[0])
        yield from items


def read_line(
    text: bytes, resource_type: str, where: Callable[[int], str], number: int
) -> Resource | Finding:
    """The resource on line ``number`` (``text`` as read, with its newline), or the finding
    for it: invalid JSON, or the problem of :func:`resource_problem`, named by the
    resource's key when it has one, else by ``where(number)`` (built only then)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Finding("invalid-json", where(number), "", f"invalid JSON ({exc.msg})")
    problem = resource_problem(obj, resource_type)
    if problem is None:  # the common case
        return cast(Resource, obj)
    kind, key, field, message = problem
    return Finding(kind, key or where(number), field, message)


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

    def iter_line_blocks(
        self, path: Path, block_bytes: int = DEFAULT_BLOCK_BYTES
    ) -> Iterator[LineBlock]:
        """One file's lines in blocks (:func:`line_blocks`), past a byte-order mark; a line
        longer than ``max_line_bytes`` is a ``line-too-long`` finding instead."""
        name = path.name
        with _open_binary(path) as handle:
            skip_bom(handle, name, self.findings)
            for block in line_blocks(handle, self.max_line_bytes, block_bytes):
                for number in block.too_long:
                    self.findings.add(
                        "line-too-long",
                        f"{name}:{number}",
                        "",
                        f"line longer than {self.max_line_bytes} bytes "
                        "(FHIRMS_MAX_NDJSON_LINE_BYTES): skipped",
                    )
                self.lines_read += len(block) + len(block.too_long)
                yield block

    def iter_lines(self, path: Path) -> Iterator[tuple[int, bytes]]:
        """``(line number, line)`` of one file's non-blank lines that fit the limit."""
        for block in self.iter_line_blocks(path):
            yield from zip(block.numbers.to_pylist(), block.texts(), strict=True)

    def iter_file(self, path: Path, resource_type: str) -> Iterator[Resource]:
        """Stream the resources of one file (one partition of a type)."""
        in_file = partial("{}:{}".format, path.name)
        for lineno, line in self.iter_lines(path):
            read = read_line(line, resource_type, in_file, lineno)
            if isinstance(read, Finding):
                self.findings.add(read.kind, read.where, read.field, read.message)
            else:
                yield read
