"""The dashboard in a real browser (Debian's chromium driven by Playwright, from file://)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from fhir_microsystems.dashboard import build_dashboard
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.synth import generate

pytestmark = pytest.mark.integration

#: Okabe-Ito colours, greys and white: every colour the charts may use.
PALETTE = {
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#595959",
    "#8c8c8c",
    "#fff",
    "#ffffff",
    "#6b3a5a",
    "none",
}


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).is_file(), "chromium is missing: scripts/_services installs it (apt-get)"
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    generate(root / "src", seed=5, patients=200, months=13)
    run_in_process(RunSpec(source=str(root / "src"), out_dir=str(root / "out"), evidence=True))
    build_dashboard(str(root / "out"), root / "site", worklists=True)
    return root / "site"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser: Browser, url: str, width: int = 1280) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
    page.goto(url)
    return page, errors


def test_every_page_loads_from_file_without_errors(site: Path, browser: Browser) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    page, errors = _open(browser, (site / "index.html").as_uri())
    for path in pages:
        page.goto(path.as_uri())
        assert page.title(), path.name
        assert page.locator("main").is_visible()
        assert page.locator("header nav a").count() >= 2
        assert errors == [], f"{path.name}: {errors}"
    page.close()


def test_charts_render_with_a_text_alternative_and_safe_colours(
    site: Path, browser: Browser
) -> None:
    path = next((site / "m").glob("*bp-control.html"))
    page, errors = _open(browser, path.as_uri())
    charts = page.locator("svg.chart")
    assert charts.count() > 1  # the chart and its small multiples
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 150
    assert charts.first.locator(".pt").count() == 12
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img"
        assert chart.locator("title").text_content()
        assert "periods from" in (chart.locator("desc").text_content() or "")
    html = path.read_text().lower()
    colours = set(re.findall(r'(?:fill|stroke)="([^"]+)"', html))
    assert colours <= PALETTE, colours - PALETTE
    assert errors == []


def test_hover_shows_the_denominator(site: Path, browser: Browser) -> None:
    path = next((site / "m").glob("*bp-control.html"))
    page, _ = _open(browser, path.as_uri())
    tip = page.locator("#tip")
    assert not tip.is_visible()
    page.locator("svg.chart").first.locator(".pt").nth(2).hover()
    assert tip.is_visible()
    assert re.search(r"numerator \d+, denominator \d+", tip.text_content() or "")
    page.mouse.move(0, 0)
    assert not tip.is_visible()


def test_links_between_pages_work(site: Path, browser: Browser) -> None:
    page, errors = _open(browser, (site / "index.html").as_uri())
    page.locator("table.scorecard td a").first.click()
    assert "/m/" in page.url and page.locator("svg.chart").count() > 0
    page.locator("main p a").first.click()  # back to the microsystem's profile
    assert "/p/" in page.url
    assert page.get_by_role("heading", name="Clinical Value Compass").is_visible()
    page.get_by_role("link", name="Data quality").click()
    assert page.url.endswith("quality.html")
    assert page.get_by_role("heading", name="What the data cannot show").is_visible()
    page.get_by_role("link", name="Worklists").click()
    assert (page.get_by_role("alert").text_content() or "").startswith("Contains patient data")
    page.get_by_role("link", name="Scorecard").click()
    assert page.url.endswith("index.html")
    assert errors == []


def test_sort_by_concern_puts_concerns_first(site: Path, browser: Browser) -> None:
    page, _ = _open(browser, (site / "index.html").as_uri())
    page.get_by_role("button", name="Sort by concern").click()
    for body in page.locator("tbody.dept-rows").all():
        concerns = [
            int(v)
            for v in body.locator("tr.ms").evaluate_all("rows => rows.map(r => r.dataset.concern)")
        ]
        assert concerns == sorted(concerns, reverse=True)
    assert page.get_by_role("button", name="Sort by name").is_visible()


@pytest.mark.parametrize("width", [1280, 390])
def test_usable_on_wide_and_narrow_screens(
    site: Path, browser: Browser, width: int, tmp_path: Path
) -> None:
    for name in ("index.html", "quality.html"):
        page, errors = _open(browser, (site / name).as_uri(), width)
        # no page-wide horizontal scrolling: wide tables scroll inside their own box
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} at {width}px overflows by {overflow}px"
        nav = page.get_by_role("navigation").bounding_box()
        assert nav is not None and nav["x"] + nav["width"] <= width
        page.screenshot(path=str(tmp_path / f"{width}-{name}.png"))
        assert errors == []
    page, _ = _open(browser, next((site / "m").glob("*bp-control.html")).as_uri(), width)
    box = page.locator("svg.chart").first.bounding_box()
    assert box is not None and box["width"] <= width
