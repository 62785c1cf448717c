"""The console an analyst reads: 100 columns, percentages, pending marked, no Python reprs."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_microsystems._progress import ProgressDisplay
from fhir_microsystems.cli import MEASURE_HEADERS, print_summary
from fhir_microsystems.measures import MEASURES_BY_ID
from fhir_microsystems.synth import generate

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fhir_microsystems.cli"]


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("console") / "hospital"
    generate(root, seed=21, patients=120, months=3)
    return root


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    result = subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _latest_results(summary: dict[str, Any]) -> list[dict[str, Any]]:
    latest = summary["derivation"]["periods"][-1]
    shown = {
        f"CareTeam/{row['id']}-{row['period']}"
        for row in summary["derivation"]["microsystems"]
        if row["period"] == latest
    }
    return [r for r in summary["results"] if r["microsystem"] in shown]


@pytest.mark.parametrize("period", ["month", "quarter"])
def test_run_console(hospital: Path, tmp_path: Path, period: str) -> None:
    out = tmp_path / "out"
    result = _cli(
        ["run", "--source", str(hospital), "--out", str(out), "--period", period], tmp_path
    )
    text = result.stdout
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "None" not in text and "{" not in text and "[" not in text
    summary = orjson.loads((out / "summary.json").read_bytes())
    results = [r for r in _latest_results(summary) if r["measure"] in MEASURE_HEADERS]
    pending = [r for r in results if r["status"] == "pending"]
    assert pending, "the generated hospital has follow-up past its data end"
    assert len(re.findall(r"\bpending\b", text.split("-: nothing")[0])) == len(pending)
    proportions = {
        f"{r['score'] * 100:.1f}%"
        for r in results
        if r["status"] != "pending"
        and r["score"] is not None
        and r["measure"] in MEASURES_BY_ID
        and MEASURES_BY_ID[r["measure"]].scoring == "proportion"
    }
    assert proportions
    assert set(re.findall(r"\d+\.\d%", text)) == proportions
    assert "encounters: " in text and " not attributed" in text


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def test_narratives_read_as_sentences(hospital: Path, tmp_path: Path) -> None:
    _cli(["run", "--source", str(hospital), "--out", str(tmp_path / "out")], tmp_path)
    texts = []
    for line in (tmp_path / "out" / "MeasureReport.ndjson").read_bytes().splitlines():
        parser = _Text()
        parser.feed(orjson.loads(line)["text"]["div"])
        texts.append("".join(parser.parts))
    assert any(". Follow-up is incomplete" in t for t in texts)
    assert not any(re.search(r"[)a-z0-9]\.[A-Z]", t) for t in texts)


def test_help_shows_choices_and_defaults(tmp_path: Path) -> None:
    run = _cli(["run", "--help"], tmp_path).stdout
    assert "month|quarter|year" in run and "[default: month]" in run
    synth = _cli(["synth", "--help"], tmp_path).stdout
    assert "[default: 2000]" in synth and "[default: 2025-01-01]" in synth


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, interval=0, delay=0) as shown:
        shown.update("extract", 3, 5, 1200)
        shown.update("measure", 1, 2, 1200, "40 reports")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(
        r"\[ *\d+\.\d s\] extract: 3/5 partitions, 1,200 resources \([\d,]+/s\)", lines[0]
    )
    assert lines[1].startswith("[") and "] measure: 1/2 partitions, 1,200 resources (" in lines[1]
    assert "40 reports" in lines[1]
    quiet = io.StringIO()
    with ProgressDisplay(quiet, delay=3600) as shown:
        shown.update("extract", 1, 5, 10)
    assert quiet.getvalue() == ""  # a short command prints no progress


def test_summary_entries_without_a_table_are_words(
    hospital: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keys the console has no table for (added by later versions) are listed readably."""
    out = tmp_path / "out"
    _cli(["run", "--source", str(hospital), "--out", str(out)], tmp_path)
    summary = orjson.loads((out / "summary.json").read_bytes())
    summary["coverage"] = {"readmission-30d": {"qualifying": 12, "counted": 11, "gap": 1}}
    summary["limitations"] = [{"kind": "k", "count": 3, "message": "one clinician each"}]
    summary["sources"] = {"ehr": {"read": 12, "kept": 11}}
    summary["notes"] = ["no staff survey", "no patient survey"]
    summary["overall"] = None
    print_summary(summary)
    text = capsys.readouterr().out
    assert "readmission-30d counts 11 of 12 qualifying encounters (1 in no report)" in text
    assert "limitation: one clinician each" in text
    assert "sources:\n  ehr: read 12, kept 11\n" in text
    assert "notes:\n  - no staff survey\n  - no patient survey\n" in text
    assert "overall: -" in text
    assert "None" not in text and "{" not in text
