"""Where the workers' tasks get their stages: the library pipeline, unless one is installed.

:func:`install` is the hook for tests: a process that starts a worker in-process (see
``tests/support/pipeline_worker.py``) installs its fake before Celery starts, and the pool
processes forked from it inherit the fake. Production never calls it.
"""

from __future__ import annotations

import fhir_microsystems.pipeline as library
from fhir_microsystems.pipeline import Pipeline

#: The installed pipeline, if any (at most one).
_installed: list[Pipeline] = []


def pipeline() -> Pipeline:
    """The stages of this process: the installed pipeline, else the library's."""
    return _installed[0] if _installed else library


def install(stages: Pipeline | None) -> None:
    """Make ``stages`` this process's pipeline (``None``: the library's again)."""
    _installed[:] = [] if stages is None else [stages]


__all__ = ["install", "pipeline"]
