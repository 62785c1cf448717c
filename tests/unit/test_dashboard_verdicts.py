"""Variation and assurance icons read improvementNotation, the limits and the target."""

from __future__ import annotations

from fhir_microsystems.dashboard import Report, RunData, build_series


def _reports(measure: str, values: list[float], improvement: str) -> tuple[Report, ...]:
    return tuple(
        Report(
            measure=measure,
            microsystem_id="ms-1",
            careteam=f"CareTeam/ms-1-{i}",
            start=f"2025-{i + 1:02d}-01T00:00:00Z" if i < 12 else f"2026-{i - 11:02d}-01T00:00:00Z",
            end="",
            pending=False,
            improvement=improvement,
            score=v,
            populations={"measure-population": 30},
        )
        for i, v in enumerate(values)
    )


def _verdict(measure: str, values: list[float], improvement: str) -> tuple[str, str]:
    data = RunData(reports=_reports(measure, values, improvement), teams=(), cohorts=())
    (series,) = build_series(data)
    return series.variation.code, series.assurance.code


def test_a_high_point_is_a_concern_when_lower_is_better() -> None:
    # 4.1/3.9 x 6 then 9: mean 57/13 = 4.385; moving ranges 0.2 (the jump of 5.1 is screened
    # out: 3.267 x 7.3/12 = 1.99) -> 3 sigma = 0.6/1.128 = 0.532; limits 3.853..4.917, 9 above.
    values = [4.1, 3.9] * 6 + [9.0]
    # inpatient length of stay: lower is better, target <= 5 d, met by both limits
    assert _verdict("inpatient-length-of-stay", values, "decrease") == ("concern", "pass")


def test_a_high_point_is_an_improvement_when_higher_is_better() -> None:
    # mean 4.5/13 = 0.346; MR 0.04 (0.62 screened) -> 3 sigma 0.106; limits 0.240..0.452
    values = [0.32, 0.28] * 6 + [0.9]
    # continuity: higher is better, target >= 0.5, met by neither limit
    assert _verdict("continuity-of-care", values, "increase") == ("improvement", "fail")


def test_common_cause_and_hit_and_miss() -> None:
    # mean 0.5, MR 0.1 -> limits 0.234..0.766 around the target 0.5
    values = [0.45, 0.55] * 6 + [0.5]
    assert _verdict("continuity-of-care", values, "increase") == ("common", "hit-and-miss")


def test_a_run_chart_gives_no_assurance() -> None:
    assert _verdict("continuity-of-care", [0.4, 0.6, 0.5], "increase") == ("common", "none")
