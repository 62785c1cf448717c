"""A stage hands the memory it freed back to the operating system when it ends."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest

from fhir_microsystems._memory import release_memory, releasing

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/statm")


def _rss_mib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 // 2**20


def _allocate_and_free() -> int:
    """Hold about 200 MiB of Arrow arrays (many 2 MB ones, as a stage's batches are), free
    them; the RSS while they were held."""
    arrays = [pa.array([b"x" * 1000] * 2000, pa.large_binary()) for _ in range(100)]
    held = _rss_mib()
    del arrays
    return held


def test_freed_arrow_memory_goes_back_to_the_system() -> None:
    held = _allocate_and_free()
    assert _rss_mib() > held - 50  # Arrow's pool keeps what it freed...
    release_memory()
    assert _rss_mib() < held - 150  # ...until it is released


def test_a_stage_releases_when_it_ends_even_by_raising() -> None:
    @releasing
    def stage() -> None:
        _allocate_and_free()
        raise ValueError("bad input")

    before = _rss_mib()
    with pytest.raises(ValueError, match="bad input"):
        stage()
    assert _rss_mib() < before + 50
