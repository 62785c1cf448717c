"""The README's configuration table is the one generated from the settings."""

from __future__ import annotations

from pathlib import Path

from fhir_microsystems._settings import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    start = text.index("<!-- settings-table:start -->")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end].split("\n", 1)[1].strip() == settings_table(), (
        "README configuration table is stale: regenerate with python -m fhir_microsystems._settings"
    )


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:20])
    assert "fhir-microsystems run" in first_screen
    assert "scripts/test" in first_screen
