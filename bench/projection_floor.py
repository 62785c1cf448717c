"""How fast can Python merely *touch* the fields the assessment needs? (a lower bound).

Comparison 1's goal is the whole job within 3x of ``orjson.loads`` of every line. This
script times, on one NDJSON directory and in one process, three floors:

- ``parse``: ``orjson.loads`` of every line (comparison 1's floor);
- ``project``: parse, then read the handful of fields the job must look at (ids, the
  subject / participant references, class, status, codes, period or effective time, the
  value) with plain dict access, no conversion;
- ``project+time``: the same plus ``datetime.fromisoformat`` of the times read.

If ``project+time`` alone is over 3x ``parse``, no pure-Python implementation that looks at
those fields can meet the goal. Usage: ``python -m bench.projection_floor DIR [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson


def _time(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return None


def _project(resource: dict[str, Any], parse_times: bool) -> int:
    """Read what the job reads of one resource; return a count so nothing is optimised away."""
    touched = 0
    rtype = resource.get("resourceType")
    touched += resource.get("id") is not None
    subject = resource.get("subject")
    if isinstance(subject, dict):
        touched += subject.get("reference") is not None
    if rtype == "Encounter":
        cls = resource.get("class")
        touched += isinstance(cls, dict) and cls.get("code") is not None
        touched += resource.get("status") is not None
        for participant in resource.get("participant") or ():
            individual = participant.get("individual") or {}
            touched += individual.get("reference") is not None
        period = resource.get("period") or {}
        start, end = period.get("start"), period.get("end")
        if parse_times:
            touched += _time(start) is not None
            touched += _time(end) is not None
    elif rtype == "Observation":
        for coding in (resource.get("code") or {}).get("coding") or ():
            touched += coding.get("code") is not None
        value = resource.get("valueQuantity") or {}
        touched += value.get("value") is not None
        for component in resource.get("component") or ():
            touched += (component.get("valueQuantity") or {}).get("value") is not None
        effective = resource.get("effectiveDateTime")
        if parse_times:
            touched += _time(effective) is not None
    return touched


def _pass(directory: Path, per_resource: Callable[[dict[str, Any]], int] | None) -> float:
    started = time.perf_counter()
    total = 0
    for path in sorted(directory.glob("*.ndjson")):
        with path.open("rb") as fh:
            for line in fh:
                resource = orjson.loads(line)
                if per_resource is not None:
                    total += per_resource(resource)
    elapsed = time.perf_counter() - started
    assert total >= 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"parse": [], "project": [], "project+time": []}
    for _ in range(args.repeats):
        runs["parse"].append(_pass(args.directory, None))
        runs["project"].append(_pass(args.directory, lambda r: _project(r, False)))
        runs["project+time"].append(_pass(args.directory, lambda r: _project(r, True)))
    floor = statistics.median(runs["parse"])
    print("| pass | seconds (median) | ratio to parse |")
    print("|---|---|---|")
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / floor:.2f}x |")


if __name__ == "__main__":
    main()
