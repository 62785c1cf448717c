"""SPC rules and limits, checked against numbers computed by hand (shown with each test)."""

from __future__ import annotations

import pytest

from fhir_microsystems.spc import (
    MEASUREMENT,
    MIN_LIMIT_POINTS,
    PROPORTION,
    Point,
    analyse,
    crossings_min,
    i_limits,
    longest_run_max,
    p_prime_limits,
    part_starts,
    qbinom,
    runs_analysis,
)


def test_limits_table_matches_qicharts2_runs_limits_appendix() -> None:
    # round(log2(n)) + 3: log2(10) = 3.32 -> 6; log2(20) = 4.32 -> 7; log2(6) = 2.58 -> 6.
    assert [longest_run_max(n) for n in (6, 10, 20)] == [6, 6, 7]
    # qbinom(0.05, 9, 0.5): P(X<=1) = 10/512 = 0.0195, P(X<=2) = 46/512 = 0.0898 -> 2.
    assert crossings_min(10) == 2
    # qbinom(0.05, 19, 0.5): P(X<=5) = 0.0318, P(X<=6) = 0.0835 -> 6 (pyqicharts says 5).
    assert crossings_min(20) == 6
    # Binomial(1, 0.5): P(X<=0) = 0.5 >= 0.05 -> 0.
    assert qbinom(0.05, 1) == 0


def test_runs_ignore_points_on_the_centre_and_count_crossings() -> None:
    # Signs around 5: - - + (tie dropped) + + - -> runs 2,3,1 -> longest 3, crossings 2.
    result = runs_analysis([1, 2, 7, 5, 8, 9, 3], centre=5)
    assert (result.useful, result.longest_run, result.crossings) == (6, 3, 2)
    # n = 6: longest allowed 6, crossings at least qbinom(0.05, 5, .5) = 1 (1/32 < .05 <= 6/32).
    assert (result.longest_run_max, result.crossings_min) == (6, 1)
    assert not result.signal


def test_a_shift_of_seven_of_ten_points_is_a_long_run() -> None:
    # 3 below then 7 above the median 5: longest run 7 > 6 (n = 10) -> signal.
    result = runs_analysis([1, 2, 3, 6, 7, 8, 9, 8, 7, 6], centre=5)
    assert result.longest_run == 7 and result.long_run and result.signal
    # crossings 1 < 2 as well
    assert result.few_crossings


def test_i_chart_is_mean_plus_minus_2_66_mr_bar() -> None:
    # mean 3.2; moving ranges 2,1,4,2 -> MR-bar 2.25; 3 * 2.25 / 1.128 = 5.98404
    limits = i_limits([1, 3, 2, 6, 4], points=5)
    assert limits.centre == pytest.approx(3.2)
    assert limits.upper[0] == pytest.approx(3.2 + 5.98404, abs=1e-5)
    assert limits.lower[4] == pytest.approx(3.2 - 5.98404, abs=1e-5)


def test_i_chart_screens_freak_moving_ranges_like_qicharts2() -> None:
    # moving ranges 1,1,1,1,1,1,10: MR-bar 16/7 = 2.286, 3.267 x 2.286 = 7.47 < 10 -> dropped,
    # MR-bar 1; mean 22/8 = 2.75 -> upper 2.75 + 3/1.128 = 5.40957
    limits = i_limits([1, 2, 1, 2, 1, 2, 1, 12], points=1)
    assert limits.upper[0] == pytest.approx(2.75 + 3 / 1.128)


def test_p_prime_by_hand() -> None:
    # num 2,4,6 of 10,20,20: p-bar 12/50 = .24, p(1-p) = .1824
    # sigma_i = sqrt(.1824/10) = .135056, sqrt(.1824/20) = .095499
    # z = (.2-.24)/.135056 = -.29617, (.2-.24)/.095499 = -.41885, (.3-.24)/.095499 = .62828
    # moving ranges .12268, 1.04713 -> mean .584905; sigma_z = .584905 / 1.128 = .518535
    # n=20: .24 +/- 3 x .095499 x .518535 = .24 +/- .148558; n=10: upper .24 + .210093
    limits = p_prime_limits([2, 4, 6], [10, 20, 20], [10, 20, 20])
    assert limits.centre == pytest.approx(0.24)
    assert limits.upper[1] == pytest.approx(0.388558, abs=1e-6)
    assert limits.lower[2] == pytest.approx(0.091442, abs=1e-6)
    assert limits.upper[0] == pytest.approx(0.450093, abs=1e-6)


def test_p_prime_limits_are_clipped_to_0_and_1() -> None:
    limits = p_prime_limits([0, 5, 1, 4], [5, 5, 5, 5], [5])
    assert limits.lower[0] == 0.0 and limits.upper[0] == 1.0


def _points(values: list[float], pending: int = 0) -> list[Point]:
    n = len(values)
    return [
        Point(f"2024-{i:03d}", f"2024-{i + 1:03d}", v, pending=i >= n - pending)
        for i, v in enumerate(values)
    ]


def test_run_chart_until_enough_points_then_i_chart() -> None:
    few = analyse(_points([1.0, 2, 3, 4, 5]), MEASUREMENT)
    assert few.chart == "run" and few.points[0].centre == 3 and few.points[0].upper is None
    many = analyse(_points([float(v % 3) for v in range(MIN_LIMIT_POINTS)]), MEASUREMENT)
    assert many.chart == "i" and many.points[0].upper is not None


def test_pending_periods_never_signal_nor_move_the_centre() -> None:
    values = [5.0, 6, 5, 6, 5, 6, 5, 6, 5, 6, 5, 6, 100, 100, 100, 100, 100, 100, 100, 100]
    with_pending = analyse(_points(values, pending=8), MEASUREMENT)
    assert with_pending.points[0].centre == pytest.approx(5.5)
    assert not any(p.outside for p in with_pending.points)
    assert not with_pending.runs_signal
    scored = analyse(_points(values), MEASUREMENT)
    assert any(p.outside for p in scored.points) and scored.runs_signal


def test_baseline_is_frozen_and_rebasing_starts_a_new_part() -> None:
    values = [5.0, 6] * 6 + [9.0, 10] * 6
    frozen = analyse(_points(values), MEASUREMENT)
    # baseline = first 20 points: 6 x (5+6) + 4 x (9+10) = 142 -> mean 7.1, frozen for all 24
    assert all(p.centre == pytest.approx(7.1) for p in frozen.points)
    assert [p.baseline for p in frozen.points].count(True) == 20
    points = _points(values)
    assert part_starts(points, ["2024-012"]) == [0, 12]
    rebased = analyse(points, MEASUREMENT, rebase_at=["2024-012"])
    assert rebased.points[0].centre == pytest.approx(5.5)
    assert rebased.points[-1].centre == pytest.approx(9.5)
    assert rebased.points[-1].part == 1


def test_proportions_get_p_prime_with_per_point_limits() -> None:
    points = [
        Point(f"2024-{i:02d}", "", num / den, num, den)
        for i, (num, den) in enumerate([(3, 30), (5, 40), (4, 35), (6, 50)] * 3)
    ]
    result = analyse(points, PROPORTION)
    assert result.chart == "p-prime"
    assert result.points[0].upper != result.points[1].upper  # limits follow n_i


def test_nonnegative_clips_lower_limits_at_zero() -> None:
    # mean 1.5 of 0,3 alternating: MR-bar 3 -> lower 1.5 - 3 x 3 / 1.128 < 0
    points = _points([0.0, 3.0] * 6)
    assert analyse(points, MEASUREMENT).points[0].lower == pytest.approx(1.5 - 9 / 1.128)
    assert analyse(points, MEASUREMENT, nonnegative=True).points[0].lower == 0.0
