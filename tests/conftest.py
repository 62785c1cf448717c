"""Session services: a real Redis and the FHIR test server, started once, stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisTestServer

REPO = Path(__file__).resolve().parent.parent
SHARED_SYNTHEA = REPO.parent / "shared" / "datasets" / "synthea-r4-small"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTestServer]:
    """A real redis-server process on a free loopback port (AOF on, noeviction)."""
    with RedisTestServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisTestServer) -> Iterator[str]:
    """A clean database of the session Redis for one test."""
    client = redis_server.client()
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def synthea_dir() -> Path:
    """The shared real Synthea R4 dataset (60 patients)."""
    if not SHARED_SYNTHEA.is_dir():
        pytest.skip("shared Synthea dataset not present beside the repository")
    return SHARED_SYNTHEA
