"""Write the static site (``index.html`` and its pages) and ``spc.csv``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ._csv import write_spc_csv
from ._model import RunData
from ._pages import (
    Context,
    measure_detail,
    measure_page,
    ms_page,
    profile,
    quality,
    scorecard,
    worklists,
)
from ._series import Annotation, build_series, latest_teams

ASSETS = ("dashboard.css", "dashboard.js")
#: The folders of the site whose ``*.html`` the builder owns (stale pages are removed).
PAGE_DIRS = ("p", "m")


@dataclass(frozen=True, slots=True)
class SiteSummary:
    """What a build wrote."""

    pages: int
    series: int
    csv_rows: int
    index: Path


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_site(
    data: RunData,
    out_dir: Path,
    *,
    spc_csv: Path | None = None,
    annotations: Iterable[Annotation] = (),
    suppress_below: int = 0,
    worklists_page: bool = False,
    title: str = "Clinical microsystems",
) -> SiteSummary:
    """Build the dashboard of ``data`` in ``out_dir`` (and ``spc_csv`` when given)."""
    series = build_series(data, annotations)
    teams = latest_teams(data)
    periods = sorted({r.start[:7] for r in data.reports})
    ctx = Context(
        teams=teams,
        suppress_below=suppress_below,
        worklists=worklists_page,
        title=title,
        generated=f"periods {periods[0]} to {periods[-1]}" if periods else "no periods",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "assets").mkdir(exist_ok=True)
    for name in ASSETS:
        source = resources.files("fhir_microsystems.dashboard").joinpath("assets", name)
        with resources.as_file(source) as path:
            shutil.copyfile(path, out_dir / "assets" / name)
    written: set[Path] = set()

    def emit(rel: str, html: str) -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, html)
        written.add(path)

    emit("index.html", scorecard(series, data, ctx))
    emit("quality.html", quality(data, ctx))
    for n, s in enumerate(series):
        emit(measure_page(s.microsystem_id, s.measure), measure_detail(s, ctx, n))
    for ms in sorted({s.microsystem_id for s in series} | set(teams)):
        emit(ms_page(ms), profile(ms, series, data, ctx))
    stale = out_dir / "worklists.html"
    if worklists_page:
        emit("worklists.html", worklists(series, ctx))
    elif stale.exists():
        stale.unlink()  # a rebuild without --worklists must not leave patient data behind
    for folder in PAGE_DIRS:
        for old in (out_dir / folder).glob("*.html"):
            if old not in written:
                old.unlink()
    rows = write_spc_csv(spc_csv, series, teams, suppress_below) if spc_csv else 0
    return SiteSummary(len(written), len(series), rows, out_dir / "index.html")
