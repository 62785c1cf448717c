"""A tiny pipeline with the library's contract, to test the worker infrastructure alone.

Test workers run it: ``CeleryWorker(..., fake_pipeline=True)`` starts them through
``tests/support/pipeline_worker.py``, which installs this module with
``workers.stages.install`` (mypy checks there that it satisfies ``Pipeline``). ``spec.source``
is ``fake://<extract partitions>/<measure partitions>``; outputs go to ``spec.out_dir``:
one part file per measure partition (replaced atomically) and ``result.json`` from finalize.

Behaviour is steered by files in ``<out_dir>.control/`` (see :class:`Control`): a step
``stage:partition`` can be gated (waits while ``gate-...`` exists), made to fail temporarily
N times, to fail fatally, or to SIGKILL its own process once or always. Every execution is
appended to ``executions.log`` so tests can count how often a step really ran.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fhir_microsystems._errors import FatalError, TemporaryError
from fhir_microsystems._settings import Settings
from fhir_microsystems.pipeline import RunSpec, Store

__all__ = ["Control", "RunSpec", "derive", "extract", "finalize", "measure", "plan"]


class Control:
    """The control directory of a fake run (created by tests, read by the fake stages)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(f"{Path(out_dir)}.control")
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, stage: str, partition: str) -> Path:
        return self.dir / f"{kind}-{stage}-{partition}"

    def set(self, kind: str, stage: str, partition: str, value: str = "") -> None:
        self.path(kind, stage, partition).write_text(value)

    def clear(self, kind: str, stage: str, partition: str) -> None:
        self.path(kind, stage, partition).unlink(missing_ok=True)

    def has(self, kind: str, stage: str, partition: str) -> bool:
        return self.path(kind, stage, partition).exists()

    def executions(self) -> list[tuple[str, str]]:
        log = self.dir / "executions.log"
        if not log.exists():
            return []
        rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
        return [(row[0], row[1]) for row in rows]

    def count(self, stage: str, partition: str = "-") -> int:
        return sum(1 for s, p in self.executions() if s == stage and p == partition)

    # -- used by the stages
    def enter(self, stage: str, partition: str) -> None:
        with (self.dir / "executions.log").open("a") as fh:
            fh.write(f"{stage} {partition} {os.getpid()}\n")
        self.set("started", stage, partition, str(os.getpid()))
        if self.has("killonce", stage, partition):
            self.clear("killonce", stage, partition)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.has("killalways", stage, partition):
            os.kill(os.getpid(), signal.SIGKILL)
        while self.has("gate", stage, partition):
            time.sleep(0.05)
        sleep = self.path("sleep", stage, partition)
        if sleep.exists():
            time.sleep(float(sleep.read_text() or 0))
        fails = self.path("fail", stage, partition)
        if fails.exists():
            left = int(fails.read_text() or 0)
            if left > 0:
                fails.write_text(str(left - 1))
                raise TemporaryError(f"injected temporary fault in {stage} {partition}")
        if self.has("fatal", stage, partition):
            raise FatalError(f"injected fatal fault in {stage} {partition}")


def _shape(spec: RunSpec) -> tuple[int, int]:
    if not spec.source.startswith("fake://"):
        raise FatalError("fake pipeline needs source fake://<extract>/<measure>")
    extracts, measures = spec.source.removeprefix("fake://").split("/")
    return int(extracts), int(measures)


def _out(spec: RunSpec) -> Path:
    if not spec.out_dir:
        raise FatalError("fake pipeline needs out_dir")
    return Path(spec.out_dir)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plan(spec: RunSpec, store: Store, run_id: str) -> list[str]:
    Control(_out(spec)).enter("plan", "-")
    return [f"p{i}" for i in range(_shape(spec)[0])]


def extract(spec: RunSpec, partition: str, store: Store, run_id: str) -> dict[str, int]:
    Control(_out(spec)).enter("extract", partition)
    records = [f"{partition}-r{i}" for i in range(10)]
    store.put(f"extract/{partition}", json.dumps(records).encode())
    return {"resources": len(records), "findings": 1, "retries": 0}


def derive(
    spec: RunSpec,
    partitions: Iterable[str],
    store: Store,
    run_id: str,
    on_period: Callable[[str], None] | None = None,
) -> list[str]:
    Control(_out(spec)).enter("derive", "-")
    total = 0
    for partition in partitions:
        raw = store.get(f"extract/{partition}")
        if raw is None:
            raise FatalError(f"claim check of {partition} missing")
        total += len(json.loads(raw))
    ms = [f"m{j}" for j in range(_shape(spec)[1])]
    store.put("derived", json.dumps({"total": total, "partitions": ms}).encode())
    for partition in ms:  # like the real stage: each measure partition as soon as it exists
        if on_period is not None:
            on_period(partition)
    return ms


def measure(
    spec: RunSpec,
    partition: str,
    store: Store,
    run_id: str,
    *,
    settings: Settings | None = None,
) -> dict[str, int]:
    Control(_out(spec)).enter("measure", partition)
    raw = store.get("derived")
    if raw is None:
        raise FatalError("derivation missing")
    total = json.loads(raw)["total"]
    part = {"partition": partition, "total": total, "id": f"MeasureReport/{partition}"}
    _atomic_write(_out(spec) / ".parts" / f"{partition}.json", json.dumps(part))
    return {"reports": 1, "findings": 0}


def finalize(
    spec: RunSpec,
    partitions: Iterable[str],
    measure_partitions: Iterable[str],
    store: Store,
    run_id: str,
) -> dict[str, Any]:
    Control(_out(spec)).enter("finalize", "-")
    parts_dir = _out(spec) / ".parts"
    parts = [json.loads(p.read_text()) for p in sorted(parts_dir.glob("*.json"))]
    if sorted(p["partition"] for p in parts) != sorted(measure_partitions):
        raise FatalError("parts do not match the measure partitions")
    extracted = list(partitions)
    summary = {"reports": len(parts), "ids": [p["id"] for p in parts], "extracted": extracted}
    _atomic_write(_out(spec) / "result.json", json.dumps({"summary": summary, "parts": parts}))
    return summary
