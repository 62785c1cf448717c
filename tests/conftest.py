"""Session services: a real Redis and the FHIR test server, started once, stopped after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.datasets import SYNTHEA_DIR
from tests.support.redis_server import RedisTestServer


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
    """Real Synthea R4 NDJSON: the excerpt in ``tests/data`` (see its README)."""
    return SYNTHEA_DIR
