"""The finalize stage: merged outputs, findings, coverage and limitations in ``summary.json``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from fhir_microsystems.measures import (
    ENCOUNTER_MEASURES,
)
from fhir_microsystems.sinks import (
    merge_parts,
    safe_name,
    write_file,
)

from . import _codec
from ._common import (
    FINDINGS_KEPT,
)
from ._hints import with_base_hints
from ._keys import store_key
from ._spec import RunSpec
from ._store import Store


def _sink_plan(
    store: Store, run_id: str, measure_parts: Iterable[str], dry_run: bool
) -> dict[str, Any]:
    """What the measure partitions did (or, dry, would do) at the sink: counts per action,
    the ``Type/id`` of every retired and refused resource, and of every one, dry."""
    refs: dict[str, list[str]] = {a: [] for a in ("created", "updated", "retired", "refused")}
    for part in measure_parts:
        plan = orjson.loads(store.get(store_key(run_id, "sink-plan", part)) or b"{}")
        for action, found in plan.items():
            refs.setdefault(action, []).extend(found)
    merged: dict[str, Any] = {"dry_run": dry_run, "counts": {a: len(r) for a, r in refs.items()}}
    for action, found in refs.items():
        if dry_run or action in ("retired", "refused"):
            merged[action] = found
    return merged


#: A limitation is reported when at least this share of microsystem-periods has one member.
SINGLE_MEMBER_SHARE = 0.5


def coverage(derivation: dict[str, Any], results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per encounter measure: ``qualifying`` encounters (by the measure's own rule over the
    assessed window, whichever period they started in), ``counted`` (in the initial
    population of some report) and the ``gap`` between them (encounters no microsystem got:
    see ``derivation.unattributed`` and ``derivation.ending_unattributed``)."""
    qualifying = derivation.get("qualifying")
    if qualifying is None:  # an unchanged incremental run measures nothing
        return {}
    counted: Counter[str] = Counter()
    for row in results:
        counted[row["measure"]] += row["populations"].get("initial-population", 0)
    return {
        m: {
            "qualifying": qualifying.get(m, 0),
            "counted": counted[m],
            "gap": qualifying.get(m, 0) - counted[m],
        }
        for m in ENCOUNTER_MEASURES
    }


def limitations(derivation: dict[str, Any]) -> list[dict[str, Any]]:
    """What the data cannot show, as ``{kind, count, message}``: most microsystem-periods
    with a single member (the source records one clinician per encounter, so continuity and
    stability are perfect by construction), and microsystem-periods that served encounters
    without a patient group (encounters without a patient)."""
    rows = derivation.get("microsystems", [])
    found: list[dict[str, Any]] = []
    single = sum(1 for r in rows if r["core"] + r["occasional"] == 1)
    if rows and single >= SINGLE_MEMBER_SHARE * len(rows):
        one = derivation.get("attributed_one_clinician", 0)
        attributed = derivation.get("encounters_attributed", 0)
        found.append(
            {
                "kind": "single-member-microsystems",
                "count": single,
                "message": (
                    f"{single} of {len(rows)} microsystem-periods have a single member: "
                    f"{one} of {attributed} attributed encounters record at most one clinician, "
                    "so the source cannot show teams; continuity of care and staff stability "
                    "of a one-member microsystem are perfect by construction, not findings"
                ),
            }
        )
    no_group = sum(1 for r in rows if r["encounters"] and not r["patients"])
    if no_group:
        found.append(
            {
                "kind": "no-patient-group",
                "count": no_group,
                "message": (
                    f"{no_group} microsystem-periods with encounters have no patient group: "
                    "their encounters name no patient, so their clinical measures are empty"
                ),
            }
        )
    return found


def finalize(
    spec: RunSpec,
    partitions: Iterable[str],
    measure_partitions: Iterable[str],
    store: Store,
    run_id: str,
) -> dict[str, Any]:
    """Merge part files, gather findings and results, write ``summary.json``.

    A run skipped because nothing changed since ``spec.since`` leaves the outputs as they are.
    """
    extract_parts = list(partitions)
    measure_partitions = list(measure_partitions)
    measure_parts = [safe_name(p) for p in measure_partitions]
    findings = _codec.findings_from(
        [
            store.get(store_key(run_id, "findings", "plan")),
            store.get(store_key(run_id, "findings", "derive")),
        ]
        + [store.get(store_key(run_id, "findings", "extract", p)) for p in extract_parts]
        + [store.get(store_key(run_id, "findings", "measure", p)) for p in measure_parts],
        keep=FINDINGS_KEPT * 5,
    )
    findings = with_base_hints(findings)
    derivation = orjson.loads(store.get(store_key(run_id, "derivation")) or b"{}")
    results = [
        row
        for p in measure_parts
        for row in orjson.loads(store.get(store_key(run_id, "reports", p)) or b"[]")
    ]
    summary: dict[str, Any] = {
        "run_id": run_id,
        "spec": orjson.loads(spec.to_json()),
        "derivation": derivation,
        "results": results,
        "coverage": coverage(derivation, results),
        "limitations": limitations(derivation),
        "findings": findings.summary(),
    }
    if spec.sink_url:
        summary["sink"] = _sink_plan(store, run_id, measure_parts, spec.dry_run)
    if spec.out_dir and "unchanged_since" not in derivation:  # unchanged: outputs stand
        out = Path(spec.out_dir)
        summary["files"] = merge_parts(out, run_id, measure_partitions)
        out.mkdir(parents=True, exist_ok=True)
        write_file(  # findings name resources, patients among them
            out / "findings.ndjson", b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in findings)
        )
        (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary
