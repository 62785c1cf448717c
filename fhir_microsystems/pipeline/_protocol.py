"""The stage signatures the workers call: what a pipeline (the library's, or a test's fake) is."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from fhir_microsystems._settings import Settings

from ._spec import RunSpec
from ._store import Store


class Pipeline(Protocol):
    """plan -> extract (per partition) -> derive -> measure (per period) -> finalize.

    The package ``fhir_microsystems.pipeline`` itself satisfies it (its stage functions);
    workers get theirs from ``workers.stages.pipeline()``.
    """

    def plan(self, spec: RunSpec, store: Store, run_id: str) -> Sequence[str]:
        """The extract partitions of the run."""
        ...

    def extract(
        self, spec: RunSpec, partition: str, store: Store, run_id: str
    ) -> Mapping[str, int]:
        """Read one partition into ``store``; counters (resources, findings, retries)."""
        ...

    def derive(
        self,
        spec: RunSpec,
        partitions: Iterable[str],
        store: Store,
        run_id: str,
        on_period: Callable[[str], None] | None = None,
    ) -> Sequence[str]:
        """The measure partitions; ``on_period(name)`` as soon as each one is stored."""
        ...

    def measure(
        self,
        spec: RunSpec,
        partition: str,
        store: Store,
        run_id: str,
        *,
        settings: Settings | None = None,
    ) -> Mapping[str, int]:
        """Compute and write one measure partition; counters (reports, findings, retries)."""
        ...

    def finalize(
        self,
        spec: RunSpec,
        partitions: Iterable[str],
        measure_partitions: Iterable[str],
        store: Store,
        run_id: str,
    ) -> Mapping[str, Any]:
        """Merge the outputs; the run's summary."""
        ...


__all__ = ["Pipeline"]
