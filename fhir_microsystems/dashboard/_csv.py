"""``spc.csv``: one row per microsystem x measure x period with its SPC lines and signals."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._model import Team
from ._series import Series

COLUMNS = (
    "microsystem_id",
    "microsystem",
    "measure",
    "period_start",
    "period_end",
    "value",
    "numerator",
    "denominator",
    "status",
    "chart",
    "centre",
    "lower",
    "upper",
    "runs_signal",
    "outside_limits",
)


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{round(value, digits):g}"


def hidden(count: float | None, suppress_below: int) -> bool:
    """Whether a count is suppressed: 1 .. ``suppress_below`` - 1 is hidden (0 is not)."""
    return count is not None and 0 < count < suppress_below


def spc_rows(
    series: Iterable[Series], teams: Mapping[str, Team], suppress_below: int = 0
) -> list[list[str]]:
    rows = []
    for s in series:
        team = teams.get(s.microsystem_id)
        name = team.name if team else s.microsystem_id
        signal = "true" if s.result.runs_signal else "false"
        for report, point, res in zip(s.reports, s.points, s.result.points, strict=True):
            num, den, value = point.numerator, point.denominator, point.value
            if s.measure == "volume" and hidden(value, suppress_below):
                value = None
            if hidden(num, suppress_below) or hidden(den, suppress_below):
                num = den = None
                if hidden(point.denominator, suppress_below):
                    value = None
            rows.append(
                [
                    s.microsystem_id,
                    name,
                    s.measure,
                    report.start,
                    report.end,
                    _num(value),
                    _num(num, 0),
                    _num(den, 0),
                    "pending" if report.pending else "complete",
                    res.chart,
                    _num(res.centre),
                    _num(res.lower),
                    _num(res.upper),
                    signal,
                    "true" if res.outside else "false",
                ]
            )
    return rows


def write_spc_csv(
    path: Path, series: Iterable[Series], teams: Mapping[str, Team], suppress_below: int = 0
) -> int:
    """Write ``spc.csv`` (replaced atomically); return the number of rows."""
    rows = spc_rows(series, teams, suppress_below)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return len(rows)
