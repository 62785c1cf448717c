"""The synthetic hospital: determinism, validity, references, ground truth, realism."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems.synth import RESOURCE_TYPES, SCHEMA, SynthConfig, generate
from fhir_microsystems.synth.encounters import HANDOVER_OVERLAP
from fhir_microsystems.synth.ids import luhn_npi

BASE = "https://synthetic-hospital.example/fhir"
NPI = "http://hl7.org/fhir/sid/us-npi"
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2}))?$")
#: Test sets: small enough to be quick, with turnover high enough for events in 3 months.
SMALL = {"seed": 7, "patients": 400, "months": 3}
SMALL_CONFIG = SynthConfig(staff_turnover=0.06)


@dataclass
class Dataset:
    """A generated directory read back into memory (test sets are small)."""

    root: Path
    resources: dict[str, list[dict[str, Any]]]
    truth: dict[str, Any]
    truth_encounters: list[dict[str, str]]

    @classmethod
    def read(cls, root: Path) -> Dataset:
        resources = {
            name: [json.loads(line) for line in (root / f"{name}.ndjson").open()]
            for name in RESOURCE_TYPES
        }
        truth = json.loads((root / "ground-truth.json").read_text())
        lines = (root / truth["encounters_file"]).read_text().splitlines()
        return cls(root, resources, truth, [json.loads(line) for line in lines])

    def keys(self, name: str) -> set[str]:
        return {f"{name}/{r['id']}" for r in self.resources[name]}

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {f"{n}/{r['id']}": r for n, rs in self.resources.items() for r in rs}

    def resolver(self) -> Resolver:
        return Resolver(self)

    def period(self, month: str) -> dict[str, Any]:
        found: dict[str, Any] = next(p for p in self.truth["periods"] if p["month"] == month)
        return dict(found["microsystems"])


class Resolver:
    """Resolves relative, absolute, PractitionerRole and conditional references."""

    def __init__(self, data: Dataset) -> None:
        self.known = set(data.by_key())
        self.by_npi = {
            f"{NPI}|{r['identifier'][0]['value']}": f"Practitioner/{r['id']}"
            for r in data.resources["Practitioner"]
        }
        self.role_practitioner = {
            f"PractitionerRole/{r['id']}": r["practitioner"]["reference"]
            for r in data.resources["PractitionerRole"]
        }

    def resolve(self, reference: str) -> str | None:
        """``Type/id`` of an existing resource, or None."""
        if reference.startswith(BASE + "/"):
            reference = reference[len(BASE) + 1 :]
        if "?" in reference:
            rtype, _, query = reference.partition("?")
            assert query.startswith("identifier=")
            key = self.by_npi.get(query[len("identifier=") :])
            return key if key and key.startswith(rtype + "/") else None
        return reference if reference in self.known else None

    def practitioner(self, reference: str) -> str | None:
        key = self.resolve(reference)
        return self.role_practitioner.get(key, key) if key else None


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, node) below ``value``."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, path)


def utc_month(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m")


def hours(period: dict[str, str]) -> float:
    start = datetime.fromisoformat(period["start"])
    return (datetime.fromisoformat(period["end"]) - start).total_seconds() / 3600


def code_of(concept: dict[str, Any] | None) -> str | None:
    return concept["coding"][0]["code"] if concept else None


def digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("synth-small")
    generate(root, **SMALL, config=SMALL_CONFIG)  # type: ignore[arg-type]
    return Dataset.read(root)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A default-config year, big enough for rates (about 20k resources)."""
    root = tmp_path_factory.mktemp("synth-year")
    generate(root, seed=3, patients=1500, months=12)
    return Dataset.read(root)


# -- determinism and API -----------------------------------------------------------------


def test_same_seed_gives_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    args = {"patients": 150, "months": 3, "start": date(2025, 3, 1)}
    first = generate(tmp_path / "a", seed=11, **args)  # type: ignore[arg-type]
    generate(tmp_path / "b", seed=11, **args)  # type: ignore[arg-type]
    generate(tmp_path / "c", seed=12, **args)  # type: ignore[arg-type]
    same, other = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert same == other
    assert len(same) == len(RESOURCE_TYPES) + 3
    different = digest(tmp_path / "c")
    assert all(different[name] != same[name] for name in ("Encounter.ndjson", "Patient.ndjson"))
    assert first.total == sum(first.counts.values()) > 500
    assert first.files["Encounter"] == tmp_path / "a" / "Encounter.ndjson"
    assert first.ground_truth.name == "ground-truth.json"


def test_progress_is_reported_by_stage(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []
    summary = generate(
        tmp_path, patients=30, months=1, on_progress=lambda s, n: seen.append((s, n))
    )
    assert [stage for stage, _ in seen] == ["structure", "patients", "done"]
    assert seen[1] == ("patients", 30)
    assert seen[2] == ("done", summary.total)


def test_bad_arguments_raise_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        SynthConfig(noise=1.5)
    with pytest.raises(ConfigurationError):
        SynthConfig(readmission_rate=-0.1)
    with pytest.raises(ConfigurationError):
        SynthConfig(wards=1)
    with pytest.raises(ConfigurationError):
        generate(tmp_path, patients=0)
    with pytest.raises(ConfigurationError):
        generate(tmp_path, patients=10, months=0)
    with pytest.raises(ConfigurationError):
        generate(tmp_path, patients=10, config=SynthConfig(utc_offset="EST"))


def test_resource_counts_scale_with_patients(tmp_path: Path) -> None:
    few = generate(tmp_path / "few", seed=5, patients=200, months=2)
    many = generate(tmp_path / "many", seed=5, patients=800, months=2)
    assert few.counts["Patient"] == 200 and many.counts["Patient"] == 800
    for name in ("Encounter", "Observation", "Condition"):
        assert 2.8 < many.counts[name] / few.counts[name] < 5.5, name
    assert many.counts["Practitioner"] >= few.counts["Practitioner"]


def test_manifest_lists_every_file_with_its_line_count(small: Dataset) -> None:
    manifest = json.loads((small.root / "manifest.json").read_text())
    assert manifest["request"] == f"{BASE}/$export"
    assert manifest["requiresAccessToken"] is False
    assert manifest["transactionTime"] == "2025-04-01T00:00:00Z"
    assert [o["type"] for o in manifest["output"]] == list(RESOURCE_TYPES)
    for output in manifest["output"]:
        assert output["url"] == f"{output['type']}.ndjson"
        assert output["count"] == len(small.resources[output["type"]]) > 0


def test_npi_check_digit() -> None:
    assert luhn_npi("123456789") == "1234567893"


# -- validity ----------------------------------------------------------------------------


def test_every_resource_validates_as_r4b_model(small: Dataset) -> None:
    for name, resources in small.resources.items():
        module = importlib.import_module(f"fhir.resources.R4B.{name.lower()}")
        model = getattr(module, name)
        assert resources, name
        for resource in resources:
            model.model_validate(resource)


REQUIRED_CODES = {
    "Encounter.status": {"finished", "in-progress"},
    "Encounter.location.status": {"completed", "active"},
    "Observation.status": {"final"},
    "CareTeam.status": {"active"},
    "Patient.gender": {"male", "female", "other", "unknown"},
    "Practitioner.gender": {"male", "female", "other", "unknown"},
    "Location.status": {"active"},
    "Location.mode": {"instance"},
}


def test_required_bindings_invariants_and_formats(small: Dataset) -> None:
    for name, resources in small.resources.items():
        for resource in resources:
            assert ID_RE.match(resource["id"])
            for path, node in walk(resource, name):
                assert node not in ({}, [], ""), f"empty element at {path}"  # ele-1
                if path in REQUIRED_CODES:
                    assert node in REQUIRED_CODES[path], (path, node)
                last = path.rsplit(".", 1)[-1]
                if last in {
                    "start",
                    "end",
                    "effectiveDateTime",
                    "onsetDateTime",
                    "deceasedDateTime",
                    "abatementDateTime",
                    "recordedDate",
                }:
                    assert DATETIME_RE.match(node), (path, node)
                if last == "period" and "start" in node and "end" in node:  # per-1
                    assert node["start"][:10] <= node["end"][:10], (path, node)
                    if "T" in node["start"] and "T" in node["end"]:
                        assert hours(node) >= 0, (path, node)
                if last == "valueQuantity":
                    assert node["system"] == "http://unitsofmeasure.org"
                    assert node["code"] == node["unit"]
            if name == "Observation":
                assert not ("dataAbsentReason" in resource and "valueQuantity" in resource)
                assert resource["category"][0]["coding"][0]["system"] == (
                    "http://terminology.hl7.org/CodeSystem/observation-category"
                )
            if name == "Encounter":
                assert resource["class"]["system"] == (
                    "http://terminology.hl7.org/CodeSystem/v3-ActCode"
                )
                for part in resource.get("participant", []):
                    assert part["type"][0]["coding"][0]["system"] == (
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
                    )
                    assert part["type"][0]["coding"][0]["code"] in {
                        "ATND",
                        "PPRF",
                        "SPRF",
                        "CON",
                        "PART",
                        "ADM",
                        "DIS",
                    }


def test_local_datetimes_carry_the_configured_offset(small: Dataset) -> None:
    starts = [e["period"]["start"] for e in small.resources["Encounter"]]
    assert all(start.endswith("-05:00") for start in starts)
    effective = Counter(o["effectiveDateTime"][-1] == "Z" for o in small.resources["Observation"])
    assert effective[True] > 0 and effective[False] > effective[True]


# -- references --------------------------------------------------------------------------


def test_every_reference_points_to_an_existing_resource(small: Dataset) -> None:
    resolver = small.resolver()
    forms: Counter[str] = Counter()
    for name, resources in small.resources.items():
        for resource in resources:
            for path, node in walk(resource, name):
                if path.endswith(".reference") and isinstance(node, str):
                    assert resolver.resolve(node), (path, node)
                    forms[
                        "absolute"
                        if node.startswith("https://")
                        else "conditional"
                        if "?" in node
                        else "relative"
                    ] += 1
    assert forms["absolute"] > 0 and forms["conditional"] > 0
    assert forms["relative"] > forms["absolute"]


def test_participant_reference_forms_are_mixed_like_real_feeds(year: Dataset) -> None:
    forms: Counter[str] = Counter()
    for encounter in year.resources["Encounter"]:
        for part in encounter.get("participant", []):
            reference = part["individual"]["reference"]
            if "?identifier=" in reference:
                forms["conditional"] += 1
            elif "/PractitionerRole/" in reference or reference.startswith("PractitionerRole/"):
                forms["role"] += 1
            else:
                forms["practitioner"] += 1
            forms["absolute"] += reference.startswith(BASE)
    total = forms["role"] + forms["practitioner"] + forms["conditional"]
    assert 0.4 < forms["role"] / total < 0.6
    assert 0.03 < forms["conditional"] / total < 0.15
    assert 0.05 < forms["absolute"] / total < 0.15


# -- structure ---------------------------------------------------------------------------


def test_organization_hierarchy_and_shared_locations(small: Dataset) -> None:
    truth, resources = small.truth, small.by_key()

    def org_type(key: str) -> str:
        return str(code_of(resources[key]["type"][0]))

    assert org_type(truth["macrosystem"]) == "prov"
    for meso in truth["mesosystems"]:
        assert org_type(meso["organization"]) == "dept"
        assert resources[meso["organization"]]["partOf"]["reference"] == truth["macrosystem"]
    micros = {m["key"]: m for m in truth["microsystems"]}
    wards = [m for m in micros.values() if m["kind"] == "inpatient-ward"]
    teams = [m for m in micros.values() if m["kind"] == "primary-care"]
    assert len(wards) >= 2 and len(teams) >= 2
    assert {w["organization"] for w in wards} == {wards[0]["mesosystem"]}
    assert set(wards[0]["locations"]) & set(wards[1]["locations"])
    assert len({t["organization"] for t in teams}) == 1
    assert len({tuple(t["locations"]) for t in teams}) == 1
    for key in ("ed", "oncology"):
        own = resources[micros[key]["organization"]]
        assert code_of(own["type"][0]) == "team"
        assert own["partOf"]["reference"] == micros[key]["mesosystem"]
    for location in small.resources["Location"]:
        assert code_of(location["physicalType"]) in {"bu", "wi", "lvl", "wa", "ro"}
        assert location["managingOrganization"]["reference"] in resources
    assert all(key in resources for m in micros.values() for key in m["locations"])


def test_practitioners_have_npis_and_roles_have_codes(small: Dataset) -> None:
    npis = [p["identifier"][0] for p in small.resources["Practitioner"]]
    assert all(i["system"] == NPI and re.fullmatch(r"\d{10}", i["value"]) for i in npis)
    assert all(luhn_npi(i["value"][:9]) == i["value"] for i in npis)
    assert len({i["value"] for i in npis}) == len(npis)
    codes = Counter(code_of(r["code"][0]) for r in small.resources["PractitionerRole"])
    assert {"doctor", "nurse", "pharmacist", "36682004", "106328005"} <= set(codes)


# -- ground truth ------------------------------------------------------------------------


def test_ground_truth_header(small: Dataset) -> None:
    truth = small.truth
    assert truth["schema"] == SCHEMA
    assert (truth["seed"], truth["months"], truth["start"]) == (7, 3, "2025-01-01")
    assert truth["base_url"] == BASE
    assert truth["config"]["staff_turnover"] == 0.06
    assert [p["month"] for p in truth["periods"]] == ["2025-01", "2025-02", "2025-03"]


def test_ground_truth_encounters_agree_with_the_encounter_file(small: Dataset) -> None:
    encounters = {f"Encounter/{e['id']}": e for e in small.resources["Encounter"]}
    listed = {line["encounter"]: line for line in small.truth_encounters}
    assert set(listed) == set(encounters)
    counts: Counter[tuple[str, str]] = Counter()
    for key, line in listed.items():
        assert line["month"] == utc_month(encounters[key]["period"]["start"])
        counts[(line["month"], line["microsystem"])] += 1
    for period in small.truth["periods"]:
        for micro, entry in period["microsystems"].items():
            assert entry["encounters"] == counts[(period["month"], micro)]
    providers = {m["key"]: m["organization"] for m in small.truth["microsystems"]}
    for key, line in listed.items():
        provider = encounters[key]["serviceProvider"]["reference"].removeprefix(BASE + "/")
        assert provider == providers[line["microsystem"]]


def test_participants_are_the_unit_staff_and_core_staff_work(small: Dataset) -> None:
    resolver = small.resolver()
    encounters = {f"Encounter/{e['id']}": e for e in small.resources["Encounter"]}
    worked: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in small.truth_encounters:
        for part in encounters[line["encounter"]].get("participant", []):
            if part["type"][0]["coding"][0]["code"] == "CON":
                continue
            who = resolver.practitioner(part["individual"]["reference"])
            assert who
            month = utc_month(part["period"]["start"])
            entry = small.period(month)[line["microsystem"]]
            assert who in set(entry["core"]) | set(entry["occasional"]), (line, who)
            worked[(month, line["microsystem"])].add(who)
    core_seen: Counter[bool] = Counter()
    for period in small.truth["periods"]:
        for micro, entry in period["microsystems"].items():
            assert set(entry["identifiers"]) == set(entry["core"]) | set(entry["occasional"])
            assert set(entry["occasional"]) <= worked[(period["month"], micro)]
            if entry["encounters"]:
                assert set(entry["core"]) & worked[(period["month"], micro)], micro
            if entry["encounters"] >= 3 * len(entry["core"]):
                for who in entry["core"]:
                    core_seen[who in worked[(period["month"], micro)]] += 1
    # Busy units: nearly every core member shows up (a social worker may miss a month).
    assert core_seen[True] > 20
    assert core_seen[False] <= 0.1 * core_seen[True]


def test_events_are_reflected_in_rosters_and_roles(small: Dataset) -> None:
    events = small.truth["events"]
    assert {e["type"] for e in events} == {"join", "leave", "move"}
    months = [p["month"] for p in small.truth["periods"]]

    def home(who: str, month: str) -> set[str]:
        return {k for k, v in small.period(month).items() if who in v["core"]}

    roles: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for role in small.resources["PractitionerRole"]:
        roles[role["practitioner"]["reference"]].append(role)
    for event in events:
        before = months[months.index(event["month"]) - 1]
        who = event["practitioner"]
        if event["type"] == "join":
            assert home(who, before) == set() and home(who, event["month"]) == {event["to"]}
            assert any(r["period"]["start"] == f"{event['month']}-01" for r in roles[who])
        elif event["type"] == "leave":
            assert home(who, before) == {event["from"]} and home(who, event["month"]) == set()
            assert any(r["period"].get("end", "").startswith(before) for r in roles[who])
        else:
            assert home(who, before) == {event["from"]}
            assert home(who, event["month"]) == {event["to"]}
            assert len(roles[who]) >= 2


def test_default_settings_make_several_staff_events_a_year(year: Dataset) -> None:
    assert len(year.truth["events"]) >= 4
    assert {e["type"] for e in year.truth["events"]} >= {"join", "leave"}


# -- what real data does to inference ----------------------------------------------------


def test_ed_day_and_night_staff_rarely_meet(small: Dataset) -> None:
    """Day and night staff only overlap at handovers: minutes together, not encounters."""
    resolver = small.resolver()
    shift: dict[str, str] = {}
    for role in small.resources["PractitionerRole"]:
        for slot in role.get("availableTime", []):
            if "availableStartTime" in slot and code_of(role["specialty"][0]) == "773568002":
                night = slot["availableStartTime"] == "19:00:00"
                shift[role["practitioner"]["reference"]] = "night" if night else "day"
    together: dict[str, float] = defaultdict(float)
    ed = {line["encounter"] for line in small.truth_encounters if line["microsystem"] == "ed"}
    for encounter in small.resources["Encounter"]:
        if f"Encounter/{encounter['id']}" not in ed:
            continue
        spans = []
        for part in encounter.get("participant", []):
            who = resolver.practitioner(part["individual"]["reference"])
            if who in shift and "end" in part["period"]:
                start = datetime.fromisoformat(part["period"]["start"])
                spans.append((shift[who], start, datetime.fromisoformat(part["period"]["end"])))
        for i, (first, start_a, end_a) in enumerate(spans):
            for second, start_b, end_b in spans[i + 1 :]:
                overlap = (min(end_a, end_b) - max(start_a, start_b)).total_seconds() / 60
                if overlap > 0:
                    together["same" if first == second else "cross"] += overlap
                if overlap > 0 and first != second:
                    assert overlap <= HANDOVER_OVERLAP
    assert together["cross"] > 0
    assert together["cross"] < 0.1 * together["same"]


def test_single_clinician_and_multidisciplinary_visits(year: Dataset) -> None:
    onc = {line["encounter"] for line in year.truth_encounters if line["microsystem"] == "oncology"}
    sizes = Counter(
        len(e.get("participant", []))
        for e in year.resources["Encounter"]
        if f"Encounter/{e['id']}" in onc
    )
    single = sizes[1] / sum(sizes.values())
    assert single > 0.5
    assert sum(n for size, n in sizes.items() if size >= 3) > 0


def test_unit_careteams_are_complete_stale_or_partial(small: Dataset) -> None:
    resolver = small.resolver()
    teams = {m["careteam"]: m for m in small.truth["microsystems"]}
    last = small.truth["periods"][-1]["microsystems"]
    first = small.truth["periods"][0]["microsystems"]
    states: Counter[str] = Counter()
    by_key = small.by_key()
    for key, micro in teams.items():
        team = by_key[key]
        assert team["managingOrganization"][0]["reference"] == micro["organization"]
        members = {
            resolver.practitioner(p["member"]["reference"]) for p in team.get("participant", [])
        }
        ended = any("end" in p["period"] for p in team.get("participant", []))
        current = set(last[micro["key"]]["core"])
        if members >= current:
            states["complete"] += 1
        elif members <= set(first[micro["key"]]["core"]) and not ended:
            states["stale-or-partial"] += 1
        leads = [
            p
            for p in team.get("participant", [])
            if any(c["code"] == "lead" for c in p["role"][0]["coding"])
        ]
        assert len(leads) <= 1
    assert states["complete"] >= 1 and states["stale-or-partial"] >= 1
    patient_teams = [t for t in small.resources["CareTeam"] if "subject" in t]
    assert patient_teams
    assert all(t["subject"]["reference"].startswith("Patient/") for t in patient_teams)


# -- clinical realism --------------------------------------------------------------------


def _by_patient(data: Dataset) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for encounter in data.resources["Encounter"]:
        grouped[encounter["subject"]["reference"].rsplit("/", 1)[-1]].append(encounter)
    for encounters in grouped.values():
        encounters.sort(key=lambda e: datetime.fromisoformat(e["period"]["start"]))
    return grouped


def _disposition(encounter: dict[str, Any]) -> str | None:
    return code_of(encounter.get("hospitalization", {}).get("dischargeDisposition"))


def _kind(data: Dataset) -> dict[str, str]:
    kinds = {m["key"]: m["kind"] for m in data.truth["microsystems"]}
    return {
        line["encounter"].split("/")[1]: kinds[line["microsystem"]]
        for line in data.truth_encounters
    }


def test_lengths_of_stay_are_realistic(year: Dataset) -> None:
    kind = _kind(year)
    los: dict[str, list[float]] = defaultdict(list)
    for encounter in year.resources["Encounter"]:
        if "end" in encounter["period"]:
            los[kind[encounter["id"]]].append(hours(encounter["period"]))
    assert 2.5 < statistics.median(los["emergency"]) < 5
    assert any(h > 24 for h in los["emergency"])
    assert 3 * 24 < statistics.median(los["inpatient-ward"]) < 6 * 24
    assert max(los["inpatient-ward"]) > 14 * 24
    assert statistics.median(los["primary-care"]) < 1


def test_readmission_and_ed_return_rates_are_realistic(year: Dataset) -> None:
    kind = _kind(year)
    discharges = readmitted = ed_home = returned = 0
    for encounters in _by_patient(year).values():
        starts = defaultdict(list)
        for e in encounters:
            starts[kind[e["id"]]].append(datetime.fromisoformat(e["period"]["start"]))
        for e in encounters:
            if "end" not in e["period"] or _disposition(e) == "exp":
                continue
            end = datetime.fromisoformat(e["period"]["end"])
            if kind[e["id"]] == "inpatient-ward":
                discharges += 1
                readmitted += any(
                    0 < (s - end).total_seconds() <= 30 * 86400 for s in starts["inpatient-ward"]
                )
            elif kind[e["id"]] == "emergency" and _disposition(e) == "home":
                ed_home += 1
                returned += any(
                    0 < (s - end).total_seconds() <= 72 * 3600 for s in starts["emergency"]
                )
    assert discharges > 150 and ed_home > 300
    assert 0.07 < readmitted / discharges < 0.2
    assert 0.025 < returned / ed_home < 0.1


def test_deaths_end_the_patient_timeline(year: Dataset) -> None:
    deceased = {
        p["id"]: datetime.fromisoformat(p["deceasedDateTime"])
        for p in year.resources["Patient"]
        if "deceasedDateTime" in p
    }
    assert deceased
    expired = 0
    for patient, encounters in _by_patient(year).items():
        for encounter in encounters:
            if patient in deceased:
                assert datetime.fromisoformat(encounter["period"]["start"]) < deceased[patient]
            if _disposition(encounter) == "exp" and "end" in encounter["period"]:
                expired += 1
                end = datetime.fromisoformat(encounter["period"]["end"])
                assert deceased[patient] == end
    assert expired > 0


def test_primary_care_patients_mostly_see_their_own_physician(year: Dataset) -> None:
    resolver = year.resolver()
    kind = _kind(year)
    shares = []
    for encounters in _by_patient(year).values():
        seen = [
            resolver.practitioner(p["individual"]["reference"])
            for e in encounters
            if kind[e["id"]] == "primary-care"
            for p in e.get("participant", [])
            if code_of(p["type"][0]) == "PPRF"
        ]
        if len(seen) >= 3:
            shares.append(Counter(seen).most_common(1)[0][1] / len(seen))
    assert len(shares) > 50
    assert 0.55 < statistics.mean(shares) < 0.95


def test_observations_cover_the_measures(year: Dataset) -> None:
    resolver = year.resolver()
    codes: Counter[str] = Counter()
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    diabetics = {
        c["subject"]["reference"]
        for c in year.resources["Condition"]
        if code_of(c["code"]) == "44054006"
    }
    units: Counter[str] = Counter()
    for obs in year.resources["Observation"]:
        code = obs["code"]["coding"][0]["code"]
        codes[code] += 1
        assert obs["encounter"]["reference"] and obs["subject"]["reference"]
        if code in {"8480-6", "8462-4"}:
            pairs[(obs["encounter"]["reference"], obs["effectiveDateTime"])].add(code)
        if code == "85354-9":
            assert [c["code"]["coding"][0]["code"] for c in obs["component"]] == [
                "8480-6",
                "8462-4",
            ]
        if code == "4548-4":
            assert resolver.resolve(obs["subject"]["reference"]) in diabetics
            if "valueQuantity" in obs:
                units[obs["valueQuantity"]["unit"]] += 1
    assert codes["85354-9"] > codes["8480-6"] > 0
    assert all(found == {"8480-6", "8462-4"} for found in pairs.values())
    assert codes["72514-3"] > 0 and codes["would-recommend"] > 0
    assert units["%"] > units["mmol/mol"] > 0


def test_noise_zero_gives_clean_data(tmp_path: Path) -> None:
    generate(tmp_path, seed=2, patients=600, months=3, config=replace(SynthConfig(), noise=0.0))
    clean = Dataset.read(tmp_path)
    for encounter in clean.resources["Encounter"]:
        assert encounter["class"]["code"] in {"EMER", "IMP", "AMB"}
        if encounter["status"] == "finished":
            assert "end" in encounter["period"] and "participant" in encounter
    for obs in clean.resources["Observation"]:
        assert all("system" in c for c in obs["code"]["coding"])
        assert "dataAbsentReason" not in obs
        assert obs.get("valueQuantity", {}).get("unit") != "mmol/mol"


def test_default_noise_is_present(year: Dataset) -> None:
    encounters = year.resources["Encounter"]
    finished = [e for e in encounters if e["status"] == "finished"]
    assert any("participant" not in e for e in finished)
    assert any("end" not in e["period"] for e in finished)
    assert any(e["class"]["code"] not in {"EMER", "IMP", "AMB"} for e in encounters)
    assert sum("participant" not in e for e in finished) < 0.1 * len(finished)
