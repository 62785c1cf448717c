"""Shared pieces of the benchmark: sample statistics, result rows, child processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Samples:
    """Repeated measurements of one quantity (seconds, MiB, or a ratio)."""

    values: tuple[float, ...]
    unit: str = "s"

    @classmethod
    def of(cls, values: Sequence[float], unit: str = "s") -> Samples:
        if not values:
            raise ValueError("no samples")
        return cls(tuple(values), unit)

    @property
    def median(self) -> float:
        return median(self.values)

    def cell(self) -> str:
        """``median [min-max] unit`` (the range only when there are several samples)."""
        text = _number(self.median, self.unit)
        if len(self.values) > 1:
            low, high = min(self.values), max(self.values)
            text += f" [{_number(low, self.unit, bare=True)}-{_number(high, self.unit, bare=True)}]"
        return text


def _number(value: float, unit: str, *, bare: bool = False) -> str:
    digits = 2 if unit == "x" or abs(value) < 10 else 1
    if unit == "MiB":
        digits = 0
    text = f"{value:,.{digits}f}"
    return text if bare else f"{text} {unit}"


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Samples:
    """Per-repeat ratios (repeat i of one side over repeat i of the other)."""
    if len(numerators) != len(denominators):
        raise ValueError("ratio of unequal sample counts")
    return Samples.of([a / b for a, b in zip(numerators, denominators, strict=True)], "x")


@dataclass(slots=True)
class Row:
    """One comparison of the results table."""

    key: str
    title: str
    ours_label: str
    ours: Samples | None = None
    baseline_label: str = ""
    baseline: Samples | None = None
    ratio_label: str = ""
    ratio: Samples | None = None
    goal: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class ChildError(RuntimeError):
    """A benchmark child process failed."""


@dataclass(frozen=True, slots=True)
class ChildResult:
    """What a child printed (its last stdout line, JSON) and its peak RSS (``ru_maxrss``)."""

    data: dict[str, Any]
    peak_rss_mib: float
    seconds: float


def run_child(kind: str, *args: str) -> ChildResult:
    """Run ``python -m bench child KIND ARGS`` in a fresh interpreter and wait for it.

    The child's own resource usage comes from ``wait4``, so ``peak_rss_mib`` is the peak of
    that process alone (Linux reports ``ru_maxrss`` in KiB).
    """
    command = [sys.executable, "-m", "bench", "child", kind, *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise ChildError(f"child {kind} exited with {process.returncode}:\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    if not lines:
        raise ChildError(f"child {kind} printed nothing:\n{stderr[-3000:]}")
    return ChildResult(json.loads(lines[-1]), usage.ru_maxrss / 1024, seconds)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as took: ...`` then ``took[0]`` is the elapsed wall time."""
    took: list[float] = []
    began = time.perf_counter()
    try:
        yield took
    finally:
        took.append(time.perf_counter() - began)
