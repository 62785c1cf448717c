"""Benchmark inputs: synthetic hospitals from ``fhir_microsystems.synth.generate``.

A hospital is generated once per (seed, patients, months) into the data directory; a
``.complete`` marker makes a kept data directory (``--data``) reusable across runs (the
generator writes the same bytes for the same arguments). Derived layouts (resource files
only, Observations split into partitions) are built from hard links where possible.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import orjson

from fhir_microsystems.sources import NdjsonSource
from fhir_microsystems.synth import generate

from ._common import log

MARKER = ".complete"
START = date(2025, 1, 1)


def hospital_dir(data_dir: Path, patients: int, *, months: int = 12, seed: int = 1) -> Path:
    """Where :func:`hospital` keeps the hospital of these arguments."""
    return data_dir / f"hospital-s{seed}-p{patients}-m{months}"


def hospital(data_dir: Path, patients: int, *, months: int = 12, seed: int = 1) -> Path:
    """The generated hospital of ``patients`` patients (generated unless already there)."""
    directory = hospital_dir(data_dir, patients, months=months, seed=seed)
    if (directory / MARKER).is_file():
        return directory
    if directory.exists():
        shutil.rmtree(directory)
    summary = generate(directory, seed=seed, patients=patients, start=START, months=months)
    log(f"generated {summary.total:,} resources ({patients:,} patients) in {summary.seconds:.1f} s")
    (directory / MARKER).write_text(str(summary.total))
    return directory


def resource_count(directory: Path) -> int:
    """Resources the generator wrote into ``directory``."""
    return int((directory / MARKER).read_text())


def resource_files(directory: Path) -> dict[str, list[Path]]:
    """The Bulk-Data files of ``directory`` by resource type, as the pipeline's source sees them."""
    source = NdjsonSource(directory)
    return {rtype: source.files(rtype) for rtype in source.resource_types()}


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def resources_only(directory: Path) -> Path:
    """A sibling holding only the resource files (what a FHIR server can load)."""
    target = directory.with_name(directory.name + "-resources")
    if (target / MARKER).is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for paths in resource_files(directory).values():
        for path in paths:
            _link(path, target / path.name)
    (target / MARKER).write_text((directory / MARKER).read_text())
    return target


#: Resource types split into partitions (the extract stage reads one task per file).
SPLIT_TYPES = ("Encounter", "Observation")


def partitioned(directory: Path, parts: int) -> Path:
    """A sibling whose Encounters and Observations are split into ``parts`` files each
    (``Encounter.NNN.ndjson``, ``Observation.NNN.ndjson``).

    The other resource files are linked unchanged; the manifest names the parts. The split
    is contiguous and about even by line count, so each extract partition gets similar work.
    """
    target = directory.with_name(f"{directory.name}-split{parts}")
    if (target / MARKER).is_file():
        return target
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    files = resource_files(directory)
    for rtype, paths in files.items():
        if rtype not in SPLIT_TYPES:
            for path in paths:
                _link(path, target / path.name)
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    output = [o for o in manifest["output"] if o["type"] not in SPLIT_TYPES]
    for rtype in SPLIT_TYPES:
        lines = [line for path in files.get(rtype, ()) for line in path.read_bytes().splitlines()]
        size = -(-len(lines) // parts)
        for n in range(parts):
            chunk = lines[n * size : (n + 1) * size]
            name = f"{rtype}.{n:03d}.ndjson"
            (target / name).write_bytes(b"".join(line + b"\n" for line in chunk))
            output.append({"type": rtype, "url": name, "count": len(chunk)})
    manifest["output"] = output
    (target / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    (target / MARKER).write_text((directory / MARKER).read_text())
    return target
