"""One-sentence XHTML narratives of measure results (escaped; no patient data)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from fhir_microsystems.measures import GroupResult, MeasureDefinition, MeasureResult

XHTML = "http://www.w3.org/1999/xhtml"


def xhtml_div(*sentences: str) -> str:
    """A FHIR narrative div holding ``sentences`` (escaped) as paragraphs, a space apart (so
    the text of the div reads as sentences)."""
    body = " ".join(f"<p>{escape(s, quote=False)}</p>" for s in sentences if s)
    return f'<div xmlns="{XHTML}">{body}</div>'


def period_words(period: tuple[datetime, datetime]) -> str:
    """``2025-03-01T00:00Z to 2025-04-01T00:00Z (UTC, end exclusive)``."""
    start, end = (p.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") for p in period)
    return f"{start} to {end} (UTC, end exclusive)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _number(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def _proportion(defn: MeasureDefinition, group: GroupResult, places: int) -> str:
    noun = defn.subject.lower()
    den = group.population("denominator").count
    excl = group.population("denominator-exclusion").count
    num = group.population("numerator").count
    tail = f"; {excl} excluded" if "denominator-exclusion" in defn.group(group.id).codes else ""
    if group.score is None:
        return f"no score: the denominator is empty ({_plural(den, noun)}{tail})"
    return (
        f"{num} of {den - excl} eligible {noun}s in the numerator, score "
        f"{_number(group.score, places)} ({group.score * 100:.1f}%; denominator {den}{tail})"
    )


def _continuous(defn: MeasureDefinition, group: GroupResult, places: int) -> str:
    noun = defn.subject.lower()
    mp = group.population("measure-population").count
    excl = group.population("measure-population-exclusion").count
    observed = len(group.observations)
    if group.score is None:
        return f"no score: no {noun} was observed (measure population {mp}, {excl} excluded)"
    unit = f" {defn.unit_display}" if defn.unit and defn.unit != "1" else ""
    return (
        f"{defn.aggregate} {_number(group.score, places)}{unit} over {_plural(observed, noun)} "
        f"(measure population {mp}, {excl} excluded)"
    )


def result_sentences(
    defn: MeasureDefinition,
    result: MeasureResult,
    microsystem: str,
    period: tuple[datetime, datetime],
    data_end: datetime,
) -> list[str]:
    """The narrative sentences of ``result``: the result, then any pending follow-up."""
    places = defn.precision
    if defn.scoring == "cohort":
        counts = ", ".join(
            _plural(g.population("initial-population").count, g.id.rstrip("s"))
            for g in result.groups
        )
        what = counts
    else:
        group = result.groups[0]
        what = (
            _proportion(defn, group, places)
            if defn.scoring == "proportion"
            else _continuous(defn, group, places)
        )
    sentences = [f"{defn.title} for {microsystem}, {period_words(period)}: {what}."]
    pending = sum(len(g.pending) for g in result.groups)
    if pending:
        until = data_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
        sentences.append(
            f"Follow-up is incomplete for {_plural(pending, defn.subject.lower())}: the data end "
            f"at {until}, before their follow-up window closes, so "
            "the report is pending and the score may still rise."
        )
    return sentences


__all__ = ["XHTML", "period_words", "result_sentences", "xhtml_div"]
