"""Memory a stage freed, handed back to the operating system when it ends.

Arrow's pool (mimalloc or jemalloc) keeps the memory it frees for its own reuse, and glibc's
malloc keeps freed heap pages; neither is reused by the other allocators (Python's, DuckDB's)
of the next stage, so without this a process that runs stage after stage (an in-process run,
a Celery worker) holds the high-water mark of each allocator at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import pyarrow as pa

P = ParamSpec("P")
R = TypeVar("R")


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Return the freed memory of Arrow's pool and of the C heap to the operating system."""
    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


def releasing(stage: Callable[P, R]) -> Callable[P, R]:
    """``stage``, releasing the memory it freed when it returns or raises."""

    @wraps(stage)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return stage(*args, **kwargs)
        finally:
            release_memory()

    return run


__all__ = ["release_memory", "releasing"]
