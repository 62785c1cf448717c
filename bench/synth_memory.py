"""Throughput and peak memory of the synthetic-hospital generator at several sizes.

Each size runs in its own child process (so peak RSS is that run's alone); the child reports
resources written, seconds, its RSS after imports and its peak RSS (``ru_maxrss``). Flat
memory means the peak hardly moves while the resource count grows twenty-fold.

    python bench/synth_memory.py                     # ~10k and ~200k resources
    python bench/synth_memory.py --patients 700 --patients 65000 --months 12
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Patients giving about 10k and about 200k resources over 12 months (default knobs).
DEFAULT_PATIENTS = (700, 13_500)


def _rss_mb() -> float:
    """Peak RSS of this process in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(out: Path, patients: int, months: int, seed: int) -> dict[str, Any]:
    """Generate once in this process and measure it."""
    from fhir_microsystems.synth import generate

    baseline = _rss_mb()
    began = time.perf_counter()
    summary = generate(out, seed=seed, patients=patients, months=months)
    seconds = time.perf_counter() - began
    return {
        "patients": patients,
        "resources": summary.total,
        "encounters": summary.counts["Encounter"],
        "seconds": seconds,
        "baseline_mb": baseline,
        "peak_mb": _rss_mb(),
        "bytes": sum(path.stat().st_size for path in out.iterdir()),
    }


def run_child(patients: int, months: int, seed: int) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter and return its measurements."""
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as tmp:
        command = [
            sys.executable,
            __file__,
            "--child",
            "--out",
            tmp,
            "--patients",
            str(patients),
            "--months",
            str(months),
            "--seed",
            str(seed),
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'patients':>9} {'resources':>10} {'encounters':>10} {'seconds':>8} "
        f"{'resources/s':>12} {'MB written':>10} {'RSS base MB':>11} {'RSS peak MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['patients']:>9,} {row['resources']:>10,} {row['encounters']:>10,} "
            f"{row['seconds']:>8.2f} {row['resources'] / row['seconds']:>12,.0f} "
            f"{row['bytes'] / 1e6:>10.1f} {row['baseline_mb']:>11.1f} {row['peak_mb']:>11.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, action="append", help="a size (repeatable)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sizes = args.patients or [DEFAULT_PATIENTS[0]]
        print(json.dumps(child(args.out, sizes[0], args.months, args.seed)))
        return
    rows = [run_child(n, args.months, args.seed) for n in args.patients or DEFAULT_PATIENTS]
    print_table(rows)


if __name__ == "__main__":
    main()
