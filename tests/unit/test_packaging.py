"""The wheel carries every data file the library reads (a non-editable install, as the
worker image's ``pip install .``, has only what ``package-data`` names)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "fhir_microsystems"
#: Files read at run time by ``importlib.resources`` or by path, next to the code.
DATA_SUFFIXES = {".sql", ".css", ".js", ".typed"}


def test_package_data_names_every_data_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["fhir_microsystems"]
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix in DATA_SUFFIXES
    ]
    assert any(name.endswith(".sql") for name in data)
    missing = [name for name in data if not any(fnmatch(name, p) for p in patterns)]
    assert missing == []
