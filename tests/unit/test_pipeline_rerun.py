"""A run's outputs equal those of the same run into an empty folder, whatever was there."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from fhir_microsystems.pipeline import (
    MemoryStore,
    RunSpec,
    derive,
    extract,
    finalize,
    measure,
    plan,
    run_in_process,
)
from fhir_microsystems.synth import generate


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hospitals")
    generate(root / "a", seed=21, patients=120, months=3)
    generate(root / "b", seed=22, patients=90, start=date(2024, 5, 1), months=3)
    return root / "a", root / "b"


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file of ``out`` (hidden ones too) but ``summary.json``, which names ``out``."""
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "summary.json"
    }
    summary = orjson.loads((out / "summary.json").read_bytes())
    summary["spec"].pop("out_dir")
    files["summary.json"] = orjson.dumps(summary, option=orjson.OPT_SORT_KEYS)
    return files


def _run(source: Path, out: Path, **spec: str) -> None:
    run_in_process(RunSpec(source=str(source), out_dir=str(out), **spec))  # type: ignore[arg-type]


def test_another_source_into_a_used_folder(hospitals: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = hospitals
    _run(a, tmp_path / "used")
    _run(b, tmp_path / "used")
    _run(b, tmp_path / "empty")
    assert _outputs(tmp_path / "used") == _outputs(tmp_path / "empty")


def test_quarterly_after_monthly(hospitals: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = hospitals
    _run(a, tmp_path / "used", period="month")
    _run(a, tmp_path / "used", period="quarter")
    _run(a, tmp_path / "empty", period="quarter")
    assert _outputs(tmp_path / "used") == _outputs(tmp_path / "empty")
    reports = (tmp_path / "used" / "MeasureReport.ndjson").read_bytes().splitlines()
    assert reports and all(orjson.loads(r)["period"]["start"][5:7] in ("01", "04") for r in reports)


def test_a_run_that_finds_nothing_leaves_no_old_outputs(
    hospitals: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = hospitals
    _run(a, tmp_path / "used")
    assert (tmp_path / "used" / "MeasureReport.ndjson").stat().st_size > 0
    window = {"start": "1990-01-01", "end": "1990-03-01"}
    _run(a, tmp_path / "used", **window)
    _run(a, tmp_path / "empty", **window)
    assert _outputs(tmp_path / "used") == _outputs(tmp_path / "empty")
    for name in ("CareTeam", "Group", "MeasureReport", "List"):
        assert not (tmp_path / "used" / f"{name}.ndjson").exists()


def test_a_folder_of_other_files_keeps_them(hospitals: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = hospitals
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    _run(a, tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "out" / ".parts").exists()


def _stages_until_measured(spec: RunSpec, store: MemoryStore, run_id: str) -> list[str]:
    partitions = plan(spec, store, run_id)
    for partition in partitions:
        extract(spec, partition, store, run_id)
    return derive(spec, partitions, store, run_id)


def test_a_resumed_run_reuses_its_own_parts_never_another_runs(
    hospitals: tuple[Path, Path], tmp_path: Path
) -> None:
    """As on the workers: run ``other`` measured into ``out`` and never finished; run ``r1``
    measures one partition, fails, is resumed and measures the rest, then finalizes."""
    a, b = hospitals
    out = tmp_path / "out"
    other = RunSpec(source=str(b), out_dir=str(out))
    other_store = MemoryStore()
    for partition in _stages_until_measured(other, other_store, "other"):
        measure(other, partition, other_store, "other")
    spec = RunSpec(source=str(a), out_dir=str(out))
    store = MemoryStore()
    measured = _stages_until_measured(spec, store, "r1")
    assert len(measured) > 1
    measure(spec, measured[0], store, "r1")  # attempt 1 dies after one partition
    for partition in measured[1:]:  # attempt 2 (resume) does the rest
        measure(spec, partition, store, "r1")
    finalize(spec, plan(spec, store, "r1"), measured, store, "r1")
    _run(a, tmp_path / "empty")
    for name in ("CareTeam", "Group", "MeasureReport"):
        expected = (tmp_path / "empty" / f"{name}.ndjson").read_bytes()
        assert (out / f"{name}.ndjson").read_bytes() == expected, name
