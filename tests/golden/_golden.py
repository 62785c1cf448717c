"""Run a golden case and put its outputs in canonical form (shared by the test and
``regenerate``).

Canonical form, per output file:

- ``<Type>.ndjson`` (CareTeam, Group, MeasureReport, List) and ``findings.ndjson``: one JSON
  value a line, keys sorted; resources sorted by ``(resourceType, id)``, findings by their
  text;
- ``summary.json``: keys sorted, indented; the only volatile values, ``spec.source`` and
  ``spec.out_dir`` (paths of this checkout and of the temporary output folder), become
  ``<input>`` and ``<out>``;
- ``spc.csv``: the header, then the rows sorted.

The dashboard's HTML is not compared (``spc.csv`` carries its numbers).
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems.dashboard import build_after_run
from fhir_microsystems.pipeline import RunSpec, run_in_process

CASES_DIR = Path(__file__).resolve().parent
#: The golden cases: a folder under ``tests/golden/`` with ``input/`` and ``expected/``.
CASES: tuple[str, ...] = ("small-hospital",)
#: Output entries that are not compared.
IGNORED = frozenset({"dashboard"})


def _json(value: Any, *, indent: bool = False) -> str:
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(value, option=option).decode()


def _ndjson(text: bytes) -> list[Any]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def _canonical_ndjson(name: str, data: bytes) -> str:
    values = _ndjson(data)
    if name == "findings.ndjson":
        lines = sorted(_json(v) for v in values)
    else:
        values.sort(key=lambda r: (str(r.get("resourceType")), str(r.get("id"))))
        lines = [_json(v) for v in values]
    return "".join(f"{line}\n" for line in lines)


def _canonical_summary(data: bytes) -> str:
    summary = orjson.loads(data)
    spec = summary.get("spec", {})
    for key, placeholder in (("source", "<input>"), ("out_dir", "<out>")):
        if spec.get(key) is not None:
            spec[key] = placeholder
    return _json(summary, indent=True) + "\n"


def _canonical_csv(data: bytes) -> str:
    header, *rows = data.decode().splitlines()
    return "".join(f"{line}\n" for line in (header, *sorted(rows)))


def canonical(path: Path) -> str:
    """The canonical text of one output file."""
    data = path.read_bytes()
    if path.name == "summary.json":
        return _canonical_summary(data)
    if path.suffix == ".ndjson":
        return _canonical_ndjson(path.name, data)
    if path.suffix == ".csv":
        return _canonical_csv(data)
    return data.decode()


@contextlib.contextmanager
def _default_settings() -> Iterator[None]:
    """No ``FHIRMS_*`` variable of the caller's environment while the case runs (a limit
    such as ``FHIRMS_MAX_ENCOUNTER_PARTICIPANTS`` would change the outputs)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("FHIRMS_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def run_case(case: str, out: Path) -> dict[str, str]:
    """Run ``case``'s input in process into ``out`` as ``fhir-microsystems run`` does
    (outputs, then ``spc.csv``), with default settings; return ``{file name: canonical
    text}``."""
    spec = RunSpec(source=str(CASES_DIR / case / "input"), out_dir=str(out))
    with _default_settings():
        run_in_process(spec)
        build_after_run(out)
    return {
        path.name: canonical(path)
        for path in sorted(out.iterdir())
        if path.is_file() and path.name not in IGNORED
    }


def expected(case: str) -> dict[str, str]:
    """The stored canonical outputs of ``case``."""
    folder = CASES_DIR / case / "expected"
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


def _pretty(name: str, text: str) -> list[str]:
    """Lines to diff: NDJSON values indented, so a diff names the field that changed."""
    if not name.endswith(".ndjson"):
        return text.splitlines(keepends=True)
    return [
        f"{line}\n"
        for value in _ndjson(text.encode())
        for line in _json(value, indent=True).splitlines()
    ]


def first_difference(
    case: str, actual: dict[str, str], stored: dict[str, str], limit: int = 120
) -> str | None:
    """A readable report of the first file that differs, its diff cut at ``limit`` lines
    (None: all equal)."""
    if sorted(actual) != sorted(stored):
        return f"{case}: output files differ: produced {sorted(actual)}, expected {sorted(stored)}"
    for name in sorted(actual):
        if actual[name] != stored[name]:
            lines = list(diff_lines(case, name, stored[name], actual[name]))
            cut = f"... {len(lines) - limit} more diff lines\n" if len(lines) > limit else ""
            return _first_resource(name, stored[name], actual[name]) + "".join(lines[:limit]) + cut
    return None


def _first_resource(name: str, old: str, new: str) -> str:
    """``first differing resource: Type/id`` for resource NDJSON files, else nothing."""
    if not name.endswith(".ndjson") or name == "findings.ndjson":
        return ""
    for before, after in zip(old.splitlines(), new.splitlines(), strict=False):
        if before != after:
            value = orjson.loads(before)
            return f"first differing resource: {value.get('resourceType')}/{value.get('id')}\n"
    return ""


def diff_lines(case: str, name: str, old: str, new: str, context: int = 3) -> Iterable[str]:
    """A unified diff of one file's canonical text, expected (old) against produced (new)."""
    return difflib.unified_diff(
        _pretty(name, old),
        _pretty(name, new),
        fromfile=f"{case}/expected/{name}",
        tofile=f"{case} (this run)/{name}",
        n=context,
    )
