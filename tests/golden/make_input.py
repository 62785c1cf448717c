"""How the golden input tree was built: ``python -m tests.golden.make_input`` (rewrites it).

The committed ``small-hospital/input/`` is the fixed input of the golden test; this script
records how it was made and is run only to change that input on purpose (then regenerate
the expected outputs and say why in the commit). It writes:

- the generated hospital (the demo's seed, 30 patients, 2 months; ``ground-truth*`` dropped,
  the run does not read them);
- ``Encounter.edges.ndjson``: valid encounters on period boundaries (variants of generated
  ones: an inpatient stay and an ED visit across the month end, a visit starting exactly at
  a month's first instant in UTC, a stay that began before the window);
- ``<Type>.defects.ndjson``: bad lines and resources that become findings, one defect each;
- ``QuestionnaireResponse.ndjson``: staff assessment answers, usable and not.
"""

from __future__ import annotations

import copy
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems.synth import generate

from ._golden import CASES_DIR

CASE = "small-hospital"
SEED, PATIENTS, MONTHS, START = 7, 30, 2, date(2025, 1, 1)
BASE = "https://fhir-microsystems.org/fhir"
QUESTIONNAIRE = f"{BASE}/Questionnaire/microsystem-assessment"

Resource = dict[str, Any]


def _read(path: Path) -> list[Resource]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _first(items: list[Resource], test: Callable[[Resource], bool]) -> Resource:
    return copy.deepcopy(next(r for r in items if test(r)))


def _class(code: str) -> Callable[[Resource], bool]:
    return lambda r: r["class"]["code"] == code


def _code(code: str) -> Callable[[Resource], bool]:
    return lambda r: r["code"]["coding"][0].get("code") == code


def _timed(encounter: Resource, rid: str, start: str, end: str) -> Resource:
    """``encounter`` with id ``rid``, its period and every participant's and location's
    period moved to ``start``..``end``."""
    encounter["id"] = rid
    encounter["period"] = {"start": start, "end": end}
    for part in (*encounter.get("participant", ()), *encounter.get("location", ())):
        part["period"] = {"start": start, "end": end}
    return encounter


def _edges(encounters: list[Resource]) -> list[Resource]:
    imp, emer, amb = (_first(encounters, _class(c)) for c in ("IMP", "EMER", "AMB"))
    return [
        # an inpatient stay from January into February (local time and UTC)
        _timed(
            copy.deepcopy(imp),
            "golden-imp-across-month",
            "2025-01-30T20:00:00-05:00",
            "2025-02-03T10:00:00-05:00",
        ),
        # an ED visit on 31 January local time that is already 1 February in UTC
        _timed(
            copy.deepcopy(emer),
            "golden-ed-across-midnight",
            "2025-01-31T22:30:00-05:00",
            "2025-02-01T01:10:00-05:00",
        ),
        # a visit starting exactly at February's first instant (half-open periods)
        _timed(
            copy.deepcopy(amb),
            "golden-amb-at-boundary",
            "2025-02-01T00:00:00Z",
            "2025-02-01T00:30:00Z",
        ),
        # a stay that began in December, before the assessed window, ending in January
        _timed(
            imp,
            "golden-imp-from-before",
            "2024-12-29T08:00:00-05:00",
            "2025-01-02T12:00:00-05:00",
        ),
    ]


def _encounter_defects(encounters: list[Resource]) -> list[bytes]:
    emer = _first(encounters, _class("EMER"))

    def variant(rid: str, change: Callable[[Resource], None]) -> bytes:
        resource = copy.deepcopy(emer)
        resource["id"] = rid
        change(resource)
        return orjson.dumps(resource)

    return [
        b'{"resourceType": "Encounter", "id": "truncated", "status": "fini',  # invalid JSON
        b'["an", "array"]',  # JSON, not an object
        b'{"resourceType": "Patient", "id": "in-the-wrong-file"}',
        b'{"resourceType": "Encounter", "status": "finished"}',  # no id
        b'{"resourceType": "Encounter", "id": "not an id!", "status": "finished"}',
        b"",  # a blank line is skipped without a finding
        variant("golden-no-class", lambda r: r.pop("class")),
        variant("golden-no-end", lambda r: r["period"].pop("end")),
        variant(
            "golden-unknown-patient",
            lambda r: r.update(subject={"reference": "Patient/does-not-exist"}),
        ),
        variant("golden-no-participants", lambda r: r.pop("participant")),
        variant(
            "golden-bad-datetime",
            lambda r: r["period"].update(start="31/01/2025 10:00"),
        ),
        variant("golden-cancelled", lambda r: r.update(status="cancelled")),
    ]


def _observation_defects(observations: list[Resource]) -> list[bytes]:
    panel, hba1c, pain, survey = (
        _first(observations, _code(c)) for c in ("85354-9", "4548-4", "72514-3", "would-recommend")
    )
    out: list[Resource] = []

    def add(template: Resource, rid: str, change: Callable[[Resource], None]) -> None:
        resource = copy.deepcopy(template)
        resource["id"] = rid
        change(resource)
        out.append(resource)

    add(panel, "golden-panel-no-systolic", lambda r: r["component"][0].pop("valueQuantity"))
    add(
        panel,
        "golden-panel-kpa",
        lambda r: r["component"][1]["valueQuantity"].update(unit="kPa", code="kPa"),
    )
    add(
        hba1c,
        "golden-hba1c-mmol",
        lambda r: r["valueQuantity"].update(value=75, unit="mmol/mol", code="mmol/mol"),
    )
    add(hba1c, "golden-hba1c-comparator", lambda r: r["valueQuantity"].update(comparator=">"))
    add(pain, "golden-pain-no-value", lambda r: r.pop("valueQuantity"))
    add(survey, "golden-survey-text", lambda r: r.update(valueInteger="nine"))
    add(pain, "golden-no-code", lambda r: r.update(code={"text": "something"}))
    add(pain, "golden-no-subject", lambda r: r.pop("subject"))
    add(pain, "golden-entered-in-error", lambda r: r.update(status="entered-in-error"))
    add(pain, "golden-bad-time", lambda r: r.update(effectiveDateTime="yesterday"))
    bom = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark at the start of the file
    lines = [orjson.dumps(r) for r in out]
    return [bom + lines[0], *lines[1:]]


def _condition_defects(conditions: list[Resource]) -> list[bytes]:
    template = conditions[0]
    no_subject = {**copy.deepcopy(template), "id": "golden-condition-no-subject"}
    no_subject.pop("subject")
    resolved = copy.deepcopy(template)
    resolved["id"] = "golden-resolved-no-abatement"
    resolved["clinicalStatus"]["coding"][0]["code"] = "resolved"
    unknown = {**copy.deepcopy(template), "id": "golden-condition-unknown-patient"}
    unknown["subject"] = {"reference": "Patient/does-not-exist"}
    return [orjson.dumps(r) for r in (no_subject, resolved, unknown)]


def _careteam_defects(teams: list[Resource]) -> list[bytes]:
    team = copy.deepcopy(teams[0])
    team["id"] = "golden-careteam-dangling"
    team["name"] = "Team of unknown people"
    for participant in team["participant"]:
        participant["member"] = {"reference": "Practitioner/does-not-exist"}
    return [orjson.dumps(team)]


def _frequent_staff(encounters: list[Resource], month: str, n: int = 2) -> list[Any]:
    """The ``n`` participants (as referenced) in most encounters starting in ``month``:
    core members of a microsystem then."""
    counts: Counter[str] = Counter()
    for encounter in encounters:
        if encounter["period"]["start"].startswith(month):
            counts.update(
                {orjson.dumps(p["individual"]).decode() for p in encounter.get("participant", ())}
            )
    return [orjson.loads(ref) for ref, _ in counts.most_common(n)]


def _responses(encounters: list[Resource]) -> list[Resource]:
    """Two frequent staff rate leadership 3 and 1 (staff score 0.5); then unusable ones."""
    members = _frequent_staff(encounters, "2025-01")

    def response(rid: str, author: Any, **fields: Any) -> Resource:
        return {
            "resourceType": "QuestionnaireResponse",
            "id": rid,
            "questionnaire": QUESTIONNAIRE,
            "status": "completed",
            "authored": "2025-01-20T12:00:00Z",
            "author": author,
            "item": [{"linkId": "leadership", "answer": [{"valueInteger": 3}]}],
            **fields,
        }

    low = [{"linkId": "leadership", "answer": [{"valueInteger": 1}]}]
    return [
        response("golden-qr-high", members[0]),
        response("golden-qr-low", members[1], item=low),
        response("golden-qr-no-author", None),
        response("golden-qr-unknown-author", {"reference": "Practitioner/does-not-exist"}),
        response("golden-qr-outside", members[0], authored="2024-06-01T12:00:00Z"),
        response("golden-qr-other-questionnaire", members[0], questionnaire=f"{BASE}/Q/x"),
        response("golden-qr-in-progress", members[1], status="in-progress"),
        response(
            "golden-qr-bad-rating",
            members[1],
            item=[{"linkId": "leadership", "answer": [{"valueInteger": 7}]}],
        ),
    ]


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def build(target: Path) -> None:
    """Write the input tree to ``target`` (emptied first)."""
    shutil.rmtree(target, ignore_errors=True)
    generate(target, seed=SEED, patients=PATIENTS, start=START, months=MONTHS)
    for name in ("ground-truth.json", "ground-truth-encounters.ndjson"):
        (target / name).unlink()
    encounters = _read(target / "Encounter.ndjson")
    observations = _read(target / "Observation.ndjson")
    teams = _read(target / "CareTeam.ndjson")
    _write(target / "Encounter.edges.ndjson", [orjson.dumps(r) for r in _edges(encounters)])
    _write(target / "Encounter.defects.ndjson", _encounter_defects(encounters))
    _write(target / "Observation.defects.ndjson", _observation_defects(observations))
    _write(
        target / "Condition.defects.ndjson", _condition_defects(_read(target / "Condition.ndjson"))
    )
    _write(target / "CareTeam.defects.ndjson", _careteam_defects(teams))
    _write(
        target / "QuestionnaireResponse.ndjson", [orjson.dumps(r) for r in _responses(encounters)]
    )


if __name__ == "__main__":
    build(CASES_DIR / CASE / "input")
