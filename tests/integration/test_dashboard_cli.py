"""The dashboard from the command line: ``run`` writes it, ``dashboard`` rebuilds it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "fhir_microsystems.cli"]


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIRMS_")}
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_run_writes_the_dashboard_and_the_spc_table(tmp_path: Path) -> None:
    result = _cli(["run", "--out", "out"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert "dashboard:" in result.stdout
    assert "Scorecard" in (out / "dashboard" / "index.html").read_text()
    with (out / "spc.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    reports = (out / "MeasureReport.ndjson").read_text().count("\n")
    assert len(rows) == reports > 0

    rebuilt = _cli(
        ["dashboard", "--source", "out", "--out", "share", "--suppress-below", "5"], tmp_path
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Counts under 5 are hidden" in (tmp_path / "share" / "index.html").read_text()
    assert (tmp_path / "share" / "spc.csv").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "missing"], "not a folder"),
        (["--source", "."], "no MeasureReport"),
        (["--source", ".", "--suppress-below", "-1"], "must be 0 or more"),
        (["--source", ".", "--annotations", "nope.csv"], "nope.csv: not found"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = _cli(["dashboard", *args, "--out", "site"], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
