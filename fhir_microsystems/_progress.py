"""Progress of a long command on stderr: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressDisplay:
    """Shows stage, partitions done, resources read (and their rate) and a detail.

    On a terminal it is one live, transient rich line; otherwise (a log file, a pipe) a plain
    line each time the stage changes and at most every ``interval`` seconds in between, from
    ``delay`` seconds on (a short command prints none).
    """

    def __init__(
        self, stream: IO[str] | None = None, *, interval: float = 10.0, delay: float = 2.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.delay = delay
        self.live = self.stream.isatty()
        self._began = time.monotonic()
        self._last_line = 0.0
        self._last_stage: str | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None, detail="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, trace)

    def update(
        self, stage: str, done: int, total: int | None, resources: int = 0, detail: str = ""
    ) -> None:
        """Report the current ``stage`` with ``done`` of ``total`` partitions."""
        elapsed = max(time.monotonic() - self._began, 1e-9)
        parts = [f"{resources:,} resources ({resources / elapsed:,.0f}/s)"] if resources else []
        if detail:
            parts.append(detail)
        text = ", ".join(parts)
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, description=stage, completed=done, total=total or None, detail=text
            )
            return
        now = time.monotonic()
        if elapsed < self.delay:  # a short command shows no progress
            return
        if stage == self._last_stage and now - self._last_line < self.interval:
            return
        self._last_stage, self._last_line = stage, now
        pieces = [f"{done}/{total} partitions"] if total else []
        pieces += [text] if text else []
        self.stream.write(f"[{elapsed:6.1f} s] {stage}: {', '.join(pieces) or '...'}\n")
        self.stream.flush()


__all__ = ["ProgressDisplay"]
