"""The dashboard built from a real run's outputs: reader, spc.csv, pages, options."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from fhir_microsystems._errors import InputError
from fhir_microsystems.dashboard import (
    COLUMNS,
    build_after_run,
    build_dashboard,
    read_directory,
)
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth import generate


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run over 12 monthly periods (enough for control limits), with evidence Lists."""
    root = tmp_path_factory.mktemp("dash")
    generate(root / "src", seed=5, patients=200, months=13)
    run_in_process(RunSpec(source=str(root / "src"), out_dir=str(root / "out"), evidence=True))
    return root / "out"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_reader_reads_every_resource_the_run_wrote(run_out: Path) -> None:
    data = read_directory(run_out)
    reports = _lines(run_out / "MeasureReport.ndjson")
    assert len(data.reports) == len(reports)
    assert len(data.teams) == len(_lines(run_out / "CareTeam.ndjson"))
    assert len(data.cohorts) == len(_lines(run_out / "Group.ndjson"))
    assert data.problems == ()
    pending = sum(r["status"] == "pending" for r in reports)
    assert sum(r.pending for r in data.reports) == pending > 0
    assert any(r.worklist for r in data.reports)  # evidence Lists behind numerators


def test_spc_csv_has_one_row_per_report_and_the_reports_values(run_out: Path) -> None:
    out = run_out / "site"
    build_dashboard(str(run_out), out, spc_csv=out / "spc.csv")
    rows = _csv(out / "spc.csv")
    assert tuple(rows[0]) == COLUMNS
    reports = _lines(run_out / "MeasureReport.ndjson")
    assert len(rows) == len(reports)
    by_key = {
        (
            r["identifier"][0]["value"].split("|")[2],
            r["measure"].split("/")[-1].split("|")[0],
            r["period"]["start"],
        ): r
        for r in reports
    }
    checked = 0
    for row in rows:
        report = by_key[(row["microsystem_id"], row["measure"], row["period_start"])]
        score = report["group"][0].get("measureScore", {}).get("value")
        if score is not None and row["measure"] != "microsystem-assessment":
            assert float(row["value"]) == pytest.approx(score)
            checked += 1
        assert row["status"] == report["status"]
        if row["status"] == "pending":
            assert row["outside_limits"] == "false"
    assert checked > 100
    series: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        series[(row["microsystem_id"], row["measure"])].add(row["runs_signal"])
    assert all(len(v) == 1 for v in series.values())  # the series' signal on every row
    charts = {row["chart"] for row in rows}
    assert {"p-prime", "i"} <= charts  # 12 scored periods give control limits


def test_proportion_limits_are_laney_p_prime_of_the_rows(run_out: Path) -> None:
    out = run_out / "site-pp"
    build_dashboard(str(run_out), out, spc_csv=out / "spc.csv")
    rows = [r for r in _csv(out / "spc.csv") if r["chart"] == "p-prime"]
    first = (rows[0]["microsystem_id"], rows[0]["measure"])
    mine = [r for r in rows if (r["microsystem_id"], r["measure"]) == first]
    base = [r for r in mine if r["status"] == "complete" and r["denominator"]]
    centre = sum(float(r["numerator"]) for r in base) / sum(float(r["denominator"]) for r in base)
    assert float(mine[0]["centre"]) == pytest.approx(centre, abs=1e-6)
    # limits widen where the denominator is smaller
    by_den = sorted(mine, key=lambda r: float(r["denominator"]))
    width = [float(r["upper"]) - float(r["lower"]) for r in (by_den[0], by_den[-1])]
    assert width[0] >= width[1]


def test_pages_link_to_each_other_and_exist(run_out: Path) -> None:
    out = run_out / "site-links"
    summary = build_dashboard(str(run_out), out)
    assert summary.pages > 10
    for page in out.rglob("*.html"):
        html = page.read_text()
        assert "<script src=" in html and "http://" not in html.split("<main>")[0]
        for href in re.findall(r'href="([^"#]+)"', html):
            assert (page.parent / href).resolve().is_file(), f"{page.name} -> {href}"


def test_suppress_below_hides_small_counts_everywhere(run_out: Path) -> None:
    out = run_out / "site-small"
    build_dashboard(str(run_out), out, spc_csv=out / "spc.csv", suppress_below=11)
    for row in _csv(out / "spc.csv"):
        for column in ("numerator", "denominator"):
            if row[column]:
                assert int(row[column]) == 0 or int(row[column]) >= 11
        if row["measure"] == "volume" and row["value"]:
            assert float(row["value"]) == 0 or float(row["value"]) >= 11
    index = (out / "index.html").read_text()
    assert "Counts under 11 are hidden" in index
    details = "".join(p.read_text() for p in (out / "m").glob("*.html"))
    assert "&lt;11" in details
    assert not re.search(r"denominator ([1-9]|10)\)", details)
    volume = "".join(p.read_text() for p in (out / "m").glob("*--volume.html"))
    assert not re.search(r'data-tip="\d{4}-\d\d: ([1-9]|10)[ "]', volume)


def test_worklists_only_when_asked_with_a_banner(run_out: Path) -> None:
    out = run_out / "site-work"
    build_dashboard(str(run_out), out, worklists=True)
    page = (out / "worklists.html").read_text()
    assert (
        "Contains patient data" in page
        and "Contains patient data" in (out / "index.html").read_text()
    )
    assert re.search(r"<li>(Patient|Encounter)/", page)
    build_dashboard(str(run_out), out)  # rebuilt for sharing: no patient data left behind
    assert not (out / "worklists.html").exists()
    assert not any("Patient/" in p.read_text() for p in out.rglob("*.html"))


def test_annotations_rebase_the_centre(run_out: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    plain = {
        (r["microsystem_id"], r["measure"], r["period_start"]): r["centre"]
        for r in _csv(build_and_csv(run_out, out, None))
    }
    notes = tmp_path / "annotations.csv"
    notes.write_text("period,reason,kind\n2025-08,new triage process,rebase\n")
    rebased = _csv(build_and_csv(run_out, out, notes))
    changed = [
        r
        for r in rebased
        if r["period_start"] >= "2025-08"
        and r["centre"] != plain[(r["microsystem_id"], r["measure"], r["period_start"])]
    ]
    assert changed
    assert all(r["chart"] == "run" for r in rebased)  # 5 to 7 points a part: too few for limits
    page = next((out / "m").glob("*bp-control.html")).read_text()
    assert "rebase: new triage process" in page


def build_and_csv(run_out: Path, out: Path, notes: Path | None) -> Path:
    build_dashboard(str(run_out), out, spc_csv=out / "spc.csv", annotations=notes)
    return out / "spc.csv"


def test_bad_annotations_are_a_clear_input_error(run_out: Path, tmp_path: Path) -> None:
    notes = tmp_path / "annotations.csv"
    notes.write_text("when,why\n2025-08,x\n")
    with pytest.raises(InputError, match="period and reason"):
        build_dashboard(str(run_out), tmp_path / "site", annotations=notes)


def test_a_bad_line_is_a_counted_problem_not_a_crash(run_out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "out"
    shutil.copytree(run_out, copy, ignore=shutil.ignore_patterns("site*", "dashboard"))
    with (copy / "MeasureReport.ndjson").open("a") as fh:
        fh.write("{not json\n")
        fh.write('{"resourceType": "MeasureReport", "id": "foreign"}\n')
    site = build_after_run(copy)
    assert site is not None
    quality = (copy / "dashboard" / "quality.html").read_text()
    assert "MeasureReport.ndjson line" in quality and "MeasureReport/foreign" in quality


def test_an_empty_source_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no MeasureReport"):
        build_dashboard(str(tmp_path), tmp_path / "site")
    with pytest.raises(InputError, match="not a folder"):
        build_dashboard(str(tmp_path / "missing"), tmp_path / "site")


def test_profile_shows_the_runs_own_joins_leaves_and_stability(run_out: Path) -> None:
    out = run_out / "site-profile"
    build_dashboard(str(run_out), out)
    summary = json.loads((run_out / "summary.json").read_text())
    items = summary["derivation"]["microsystems"]
    latest = {m["id"]: m for m in sorted(items, key=lambda m: m["period"])}
    shown = 0
    for ms, item in latest.items():
        page = (out / "p" / f"{ms}.html").read_text()
        assert "Clinical Value Compass" in page and "no data" in page  # functional, satisfaction
        if item["stability"] is not None:
            assert f"period before, 0..1) {item['stability']:.2f}" in page
            assert f"{item['joins']} joined and {item['leaves']} left" in page
            shown += 1
    assert shown


def test_rebuild_replaces_its_own_pages_and_keeps_other_files(run_out: Path) -> None:
    out = run_out / "site-again"
    build_dashboard(str(run_out), out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (out / "m" / "ms-gone--volume.html").write_text("old page")
    (out / "notes.txt").write_text("mine")
    build_dashboard(str(run_out), out)
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert again.pop(Path("notes.txt")) == b"mine"
    assert again == first  # same bytes, the stale page gone, no temporary files left


def test_a_note_is_drawn_but_never_rebases(run_out: Path, tmp_path: Path) -> None:
    plain = _csv(build_and_csv(run_out, tmp_path / "plain", None))
    notes = tmp_path / "annotations.csv"
    notes.write_text("period,reason,kind,measure\n2025-08,audit started,note,bp-control\n")
    noted = _csv(build_and_csv(run_out, tmp_path / "noted", notes))
    assert noted == plain
    pages = list((tmp_path / "noted" / "m").glob("*"))
    with_note = [p for p in pages if "audit started" in p.read_text()]
    assert with_note and all(p.name.endswith("--bp-control.html") for p in with_note)
