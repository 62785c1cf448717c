"""``dashboard --source URL``: the same site from the FHIR server as from the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhir_microsystems.dashboard import build_dashboard
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth.generator import generate
from tests.support.fhir_server import FhirTestServer

pytestmark = pytest.mark.integration


def test_server_source_gives_the_same_spc_table(tmp_path: Path) -> None:
    hospital = tmp_path / "hospital"
    generate(hospital, seed=11, patients=120, months=3)
    with FhirTestServer() as server:
        run_in_process(
            RunSpec(source=str(hospital), out_dir=str(tmp_path / "out"), sink_url=server.base_url)
        )
        from_server = build_dashboard(
            server.base_url, tmp_path / "rest", spc_csv=tmp_path / "rest" / "spc.csv"
        )
    from_files = build_dashboard(
        str(tmp_path / "out"), tmp_path / "files", spc_csv=tmp_path / "files" / "spc.csv"
    )
    assert from_server.csv_rows == from_files.csv_rows > 0
    assert (tmp_path / "rest" / "spc.csv").read_text() == (
        tmp_path / "files" / "spc.csv"
    ).read_text()
    assert from_server.pages == from_files.pages
