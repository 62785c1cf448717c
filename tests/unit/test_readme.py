"""The README's configuration tables are the ones generated from the settings."""

from __future__ import annotations

import re
from pathlib import Path

from fhir_microsystems._settings import Settings
from workers.settings import WorkerSettings, readme_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    start = text.index("<!-- settings-table:start -->")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end].split("\n", 1)[1].strip() == readme_tables(), (
        "README configuration tables are stale: regenerate with python -m workers.settings"
    )


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:20])
    assert "fhir-microsystems run" in first_screen
    assert "scripts/test" in first_screen


def test_the_tables_list_every_setting_once() -> None:
    names = re.findall(r"^\| `FHIRMS_(\w+)` ", readme_tables(), re.MULTILINE)
    assert sorted(names) == sorted(name.upper() for name in WorkerSettings.model_fields)
    assert "REDIS_URL" not in {name.upper() for name in Settings.model_fields}


def test_the_exit_code_table_names_each_code_the_cli_returns_once() -> None:
    from fhir_microsystems import cli

    text = README.read_text()
    table = text[text.index("| code | meaning |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|$", table, re.MULTILINE)
    codes = {getattr(cli, name) for name in dir(cli) if name.startswith("EXIT_")}
    assert len(table.splitlines()) == len(rows) + 2  # header, rule, one row per code
    assert sorted(int(code) for code, _ in rows) == sorted(codes)
