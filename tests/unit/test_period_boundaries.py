"""Encounters crossing a period boundary: each measure's population by its own rule.

Lengths of stay, readmission and ED return count the encounters that END in the period,
whichever period they started in, for the microsystem they were attributed to when they
started. The expected values here are recomputed from the raw encounters, not by the code.
"""

from __future__ import annotations

import random
import shutil
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_microsystems.derive import DerivationConfig
from fhir_microsystems.measures import MEASURES_BY_ID
from fhir_microsystems.pipeline import RunSpec, run_in_process
from fhir_microsystems.reports import listed_keys

from .test_derive_world import World

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
BY_END = ("ed-length-of-stay", "inpatient-length-of-stay", "readmission-30d", "ed-return-72h")
CLASS_OF = {
    "ed-length-of-stay": "EMER",
    "inpatient-length-of-stay": "IMP",
    "readmission-30d": "IMP",
    "ed-return-72h": "EMER",
}


@st.composite
def stays(draw: st.DrawFn) -> list[tuple[str, int, int, str, int, str]]:
    """(class, start minute, length in minutes, status, clinician, patient) of each stay:
    minutes to 60 days long, often across a month, quarter or year end."""
    out = []
    for _ in range(draw(st.integers(1, 25))):
        # start within the window, often just before a month end (day 25-31)
        month = draw(st.integers(0, 22))
        day = draw(st.sampled_from([1, 10, 25, 28, 30]))
        minute = (
            int(
                (
                    (START.replace(month=1 + month % 12, year=2024 + month // 12)) - START
                ).total_seconds()
            )
            // 60
            + (day - 1) * 1440
            + draw(st.integers(0, 1439))
        )
        length = draw(st.sampled_from([5, 90, 600, 1440 * 2, 1440 * 9, 1440 * 33, 1440 * 60]))
        out.append(
            (
                draw(st.sampled_from(["IMP", "EMER", "AMB"])),
                minute,
                length + draw(st.integers(0, 59)),
                draw(st.sampled_from(["finished", "finished", "finished", "in-progress"])),
                draw(st.integers(0, 2)),
                f"p{draw(st.integers(0, 3))}",
            )
        )
    return out


def _world(rows: list[tuple[str, int, int, str, int, str]]) -> World:
    """One clinician per encounter, each in an organisation of their own (so each clinician
    is one microsystem and the expected attribution is known without the code)."""
    world = World()
    doctors = [world.practitioner(f"d{i}", org=world.org(f"o{i}", f"Unit {i}")) for i in range(3)]
    patients = {f"p{i}": world.patient(f"p{i}") for i in range(4)}
    for number, (klass, minute, length, status, doctor, patient) in enumerate(rows):
        world.encounter(
            patients[patient],
            START + timedelta(minutes=minute),
            [doctors[doctor]],
            klass=klass,
            status=status,
            hours=length / 60,
            provider=f"Organization/o{doctor}",
            eid=f"e{number}",
        )
    return world


def _write(world: World, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, resources in world.resources.items():
        (folder / f"{rtype}.ndjson").write_bytes(
            b"".join(orjson.dumps(r) + b"\n" for r in resources)
        )
    return folder


def _run(world: World, tmp: Path, period: str, end: datetime = END) -> tuple[dict[str, Any], Path]:
    src, out = tmp / "src", tmp / "out"
    for folder in (src, out):
        shutil.rmtree(folder, ignore_errors=True)
    _write(world, src)
    spec = RunSpec(
        source=str(src),
        out_dir=str(out),
        start=START.date().isoformat(),
        end=end.date().isoformat(),
        period=period,  # type: ignore[arg-type]
        evidence=True,
    )
    return run_in_process(spec), out


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x] if path.exists() else []


def _measure(report: dict[str, Any]) -> str:
    return str(report["measure"].split("/Measure/")[-1].split("|")[0])


def _population(report: dict[str, Any], code: str) -> list[str]:
    group = report["group"][0]
    pop = next(p for p in group["population"] if p["code"]["coding"][0]["code"] == code)
    return listed_keys(report, pop["subjectResults"]["reference"].lstrip("#"))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _qualifying(world: World, measure: str) -> list[str]:
    """The encounters the documented rule selects over the assessed window: class, status
    (finished for lengths of stay, not void for the follow-ups) and period.end in it;
    volume: every encounter starting in it (none here is void)."""
    keys = []
    for enc in world.resources["Encounter"]:
        if measure == "volume":  # by start in the window
            if START <= _instant(enc["period"]["start"]) < END:
                keys.append(f"Encounter/{enc['id']}")
            continue
        end = _instant(enc["period"]["end"])
        if enc["class"]["code"] != CLASS_OF[measure] or not START <= end < END:
            continue
        if measure.endswith("length-of-stay") and enc["status"] != "finished":
            continue
        keys.append(f"Encounter/{enc['id']}")
    return sorted(keys)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=stays(), period=st.sampled_from(["month", "quarter", "year"]))
def test_every_qualifying_encounter_is_in_exactly_one_report(
    rows: list[tuple[str, int, int, str, int, str]], period: str, tmp_path: Path
) -> None:
    world = _world(rows)
    summary, out = _run(world, tmp_path, period)
    reports = _lines(out / "MeasureReport.ndjson")
    for measure in (*BY_END, "volume"):
        counted = Counter(
            key
            for r in reports
            if _measure(r) == measure
            for key in _population(r, "initial-population")
        )
        expected = _qualifying(world, measure)
        assert sorted(counted) == expected, measure
        assert set(counted.values()) <= {1}, f"{measure}: an encounter in two reports"
        assert summary["coverage"][measure] == {
            "qualifying": len(expected),
            "counted": len(expected),
            "gap": 0,
        }


def _rounded(value: float, places: int) -> float:
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def _expected(world: World, period: tuple[datetime, datetime], doctor: str) -> dict[str, Any]:
    """Scores and population sizes of one clinician's microsystem in one period, from the
    raw encounters: counted in the period they end in, whichever period they started in."""
    encounters = [
        (
            e["id"],
            e["subject"]["reference"],
            e["class"]["code"],
            e["status"],
            _instant(e["period"]["start"]),
            _instant(e["period"]["end"]),
            e["participant"][0]["individual"]["reference"],
        )
        for e in world.resources["Encounter"]
    ]
    data_end = max(max(s, e) for *_, s, e, _ in encounters)
    lo, hi = period
    mine = [x for x in encounters if x[6] == doctor and lo <= x[5] < hi]
    out: dict[str, Any] = {}
    for measure, unit, places, limit in (
        ("ed-length-of-stay", 60.0, 1, timedelta(days=7)),
        ("inpatient-length-of-stay", 86400.0, 2, timedelta(days=365)),
    ):
        stays = [
            end - start
            for _, _, klass, status, start, end, _ in mine
            if klass == CLASS_OF[measure] and status == "finished"
        ]
        values = [s.total_seconds() / unit for s in stays if timedelta(0) <= s <= limit]
        out[measure] = (
            len(stays),
            _rounded(statistics.median(values), places) if values else None,
        )
    for measure, window in (
        ("readmission-30d", timedelta(days=30)),
        ("ed-return-72h", timedelta(hours=72)),
    ):
        klass = CLASS_OF[measure]
        cases = [x for x in mine if x[2] == klass]
        hits = [
            any(
                other[0] != key
                and other[1] == patient
                and other[2] == klass
                and end < other[4] <= end + window
                for other in encounters
            )
            for key, patient, _, _, _, end, _ in cases
        ]
        pending = any(
            not hit and data_end < case[5] + window for hit, case in zip(hits, cases, strict=True)
        )
        score = _rounded(sum(hits) / len(cases), 4) if cases else None
        out[measure] = (len(cases), score, sum(hits), pending)
    return out


def test_recomputed_from_raw_encounters_across_boundaries(tmp_path: Path) -> None:
    """LOS, readmission and ED return of every report equal an independent recomputation
    (stays of minutes to 60 days, many across month ends, some ending in a month where
    their clinician starts nothing)."""
    rng = random.Random(12)
    rows = []
    for _ in range(160):
        klass = rng.choice(["IMP", "IMP", "EMER", "EMER", "AMB"])
        minute = rng.randrange(0, 600 * 1440)
        length = rng.choice([10, 240, 1440 * 3, 1440 * 12, 1440 * 40, 1440 * 60]) + rng.randrange(
            60
        )
        rows.append((klass, minute, length, "finished", rng.randrange(3), f"p{rng.randrange(4)}"))
    world = _world(rows)
    _, out = _run(world, tmp_path, "month")
    reports = _lines(out / "MeasureReport.ndjson")
    teams = {t["id"]: t for t in _lines(out / "CareTeam.ndjson")}
    checked = crossing = 0
    for report in reports:
        measure = _measure(report)
        if measure not in BY_END:
            continue
        team = teams[report["extension"][0]["valueReference"]["reference"].split("/")[1]]
        (doctor,) = {p["member"]["reference"] for p in team["participant"]}
        period = (_instant(report["period"]["start"]), _instant(report["period"]["end"]))
        want = _expected(world, period, doctor)[measure]
        group = report["group"][0]
        counts = {p["code"]["coding"][0]["code"]: p.get("count", 0) for p in group["population"]}
        score = group.get("measureScore", {}).get("value")
        assert counts["initial-population"] == want[0], (measure, team["id"])
        assert score == want[1], (measure, team["id"])
        if measure in ("readmission-30d", "ed-return-72h"):
            assert counts["numerator"] == want[2], (measure, team["id"])
            assert (report["status"] == "pending") == want[3], (measure, team["id"])
        checked += want[0]
        crossing += sum(
            1
            for key in _population(report, "initial-population")
            if _instant(_raw(world, key)["period"]["start"]) < period[0]
        )
    assert checked > 100 and crossing > 10  # the world does exercise the boundaries


def _raw(world: World, key: str) -> dict[str, Any]:
    return next(e for e in world.resources["Encounter"] if f"Encounter/{e['id']}" == key)


def test_the_derivation_carries_the_classes_the_measures_count_by_end() -> None:
    assert DerivationConfig().ending_classes == set(CLASS_OF.values())
    for measure, klass in CLASS_OF.items():  # the catalog's rule names the class and the end
        text = MEASURES_BY_ID[measure].groups[0].populations[0].description
        assert f"class {klass}" in text and "period.end" in text
