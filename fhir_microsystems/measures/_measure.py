"""A measure: its definition (id, populations, scoring) and the SQL of its cases.

Each measure is one small class in its own module, listed in ``_registry.py``.
``cases`` holds one SQL ``SELECT`` per Measure.group over the fact tables of
``_tables.py``; it returns one row per counted Encounter or Patient with the columns

- ``ctx`` (the context's number), ``ord`` (its order in the context; 0 when unordered),
  ``key``, ``patient``, ``encounter_class``;
- one boolean column per population code of the group (``"initial-population"`` ...);
- ``observed`` (DOUBLE) for a continuous variable, ``pending`` (BOOLEAN) when
  :attr:`Measure.pending` and the column ``finding`` names when :attr:`Measure.finding` is set.

``_sql.py`` turns these rows into populations, scores and strata, the same for every measure.
"""

from __future__ import annotations

from typing import ClassVar

from ._catalog import MeasureDefinition


class Measure:
    """One measure. Subclasses set :attr:`definition` and :attr:`cases`."""

    definition: ClassVar[MeasureDefinition]
    cases: ClassVar[tuple[str, ...]]
    #: The cases have a ``pending`` column (a follow-up window the data cannot yet see).
    pending: ClassVar[bool] = False
    #: (field, message) of the ``missing-field`` finding recorded for each case whose
    #: ``finding`` column is true; None when the measure records none.
    finding: ClassVar[tuple[str, str] | None] = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if len(cls.cases) != len(cls.definition.groups):
            raise TypeError(f"{cls.__name__}: one cases query per group")


__all__ = ["Measure"]
