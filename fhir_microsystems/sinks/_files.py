"""NDJSON output files (Bulk-Data layout), written idempotently.

Each measure partition writes its own part file under ``.parts/<run id>/`` (replaced
atomically), so a redelivered partition overwrites rather than duplicates and a resumed run
reuses its own parts, never another run's; :func:`merge_parts` joins the parts of the run's
partitions into ``Type.ndjson`` in partition order and removes the output files of types the
run did not produce, so a run's outputs equal those of the same run into an empty folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems._errors import ConfigurationError

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


__all__ = [
    "OUTPUT_TYPES",
    "PARTS_DIR",
    "WRITE_ORDER",
    "clear_parts",
    "file_mode",
    "merge_parts",
    "parts_dir",
    "safe_name",
    "write_file",
    "write_part",
    "write_raw_part",
]
