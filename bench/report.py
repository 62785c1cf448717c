"""The results table (Markdown), the machine description and the profile tables."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ._common import REPO, Row

PACKAGES = ("orjson", "fhir.resources", "pydantic", "requests", "celery", "redis", "igraph")


def results_table(rows: list[Row]) -> str:
    """One line per comparison: absolute figures beside the ratio (median [range])."""
    lines = [
        "| # | comparison | ours | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.error is not None:
            lines.append(f"| {row.key} | {row.title} | FAILED | | | {row.goal} | error |")
            continue
        ours = f"{row.ours_label}: {row.ours.cell()}" if row.ours else ""
        base = f"{row.baseline_label}: {row.baseline.cell()}" if row.baseline else ""
        ratio = f"{row.ratio_label}: **{row.ratio.cell()}**" if row.ratio else ""
        met = "-" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.key} | {row.title} | {ours} | {base} | {ratio} | {row.goal} | {met} |"
        )
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    """What each row measured, and any error in full."""
    out = []
    for row in rows:
        for note in row.notes:
            out.append(f"- **{row.key}.** {note}")
        if row.error is not None:
            out.append(f"- **{row.key}. FAILED:** `{row.error.strip().splitlines()[-1]}`")
    return "\n".join(out)


def _tool_version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "missing"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else "?"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip() or "?"


def machine(load_before: tuple[float, ...]) -> str:
    """CPU, memory, OS, interpreter, package versions and load averages."""
    packages = []
    for name in PACKAGES:
        try:
            packages.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            packages.append(f"{name} -")
    load_after = os.getloadavg()
    items = [
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores",
        f"Memory: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        f"OS: {platform.platform()}",
        f"Python {sys.version.split()[0]}; {', '.join(packages)}",
        f"redis-server: {_tool_version(['redis-server', '--version'])};"
        f" node: {_tool_version(['node', '--version'])}",
        f"Commit: {_commit()} (plus any uncommitted changes)",
        "Load average (1/5/15 min) before: "
        + "/".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + "/".join(f"{x:.2f}" for x in load_after),
    ]
    return "\n".join(f"- {item}" for item in items)


def profile_tables(profile: dict[str, Any]) -> str:
    """Top functions by self time (any code) and by inclusive time (the project's)."""

    def table(rows: list[list[Any]], header: str) -> str:
        lines = [f"| {header} | seconds | share |", "|---|---|---|"]
        lines += [f"| `{name}` | {seconds:.2f} | {share:.1%} |" for name, seconds, share in rows]
        return "\n".join(lines)

    return (
        f"`run_in_process` on {profile['resources']:,} resources: {profile['seconds']:.1f} s"
        f" under pyinstrument (sampling every {profile['interval'] * 1000:g} ms, which slows"
        " the run down; shares are what count).\n\n"
        "Project functions by inclusive time (the function and what it calls):\n\n"
        + table(profile["inclusive"], "function (inclusive)")
        + "\n\nAll functions by self time (time in the function's own code):\n\n"
        + table(profile["self"], "function (self)")
    )


__all__ = ["machine", "notes", "profile_tables", "results_table"]
