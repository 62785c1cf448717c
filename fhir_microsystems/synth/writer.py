"""Streams resources to Bulk-Data NDJSON files, one ``Type.ndjson`` per type, and the manifest."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

#: The resource types written, in manifest order.
RESOURCE_TYPES: tuple[str, ...] = (
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Patient",
    "Condition",
    "CareTeam",
    "Encounter",
    "Observation",
)
_BUFFER = 1 << 20


class BulkWriter:
    """Open NDJSON files of ``out_dir``; :meth:`write` appends one resource as one line."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.counts: dict[str, int] = dict.fromkeys(RESOURCE_TYPES, 0)
        self.paths = {name: out_dir / f"{name}.ndjson" for name in RESOURCE_TYPES}
        self._files: dict[str, IO[bytes]] = {}
        try:
            for name, path in self.paths.items():
                self._files[name] = path.open("wb", buffering=_BUFFER)
        except BaseException:
            self.close()
            raise

    def write(self, resource: dict[str, Any]) -> None:
        name = resource["resourceType"]
        self._files[name].write(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))
        self.counts[name] += 1

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def write_manifest(
    out_dir: Path, base_url: str, transaction_time: str, counts: dict[str, int]
) -> Path:
    """A Bulk Data export manifest naming every file written (``url`` is the file name)."""
    manifest = {
        "transactionTime": transaction_time,
        "request": f"{base_url}/$export",
        "requiresAccessToken": False,
        "output": [
            {"type": name, "url": f"{name}.ndjson", "count": counts[name]}
            for name in RESOURCE_TYPES
        ],
        "error": [],
    }
    path = out_dir / "manifest.json"
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return path
