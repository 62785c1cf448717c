"""The session Redis is a real server with the settings the broker needs."""

from __future__ import annotations

import pytest
import redis

from tests.support import redis_server as redis_server_module
from tests.support.redis_server import RedisTestServer

pytestmark = pytest.mark.integration


def test_real_redis_with_persistence_and_noeviction(redis_server: RedisTestServer) -> None:
    client = redis_server.client()
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert client.config_get("appendonly")["appendonly"] == "yes"
    assert int(client.info("server")["tcp_port"]) == redis_server.port


def test_restart_keeps_data(tmp_path) -> None:
    with RedisTestServer(tmp_path / "r") as server:
        client = server.client()
        client.rpush("queue", b"a", b"b", b"c")
        client.close()
        server.restart()
        client = server.client()
        assert client.lrange("queue", 0, -1) == [b"a", b"b", b"c"]
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=server.port, socket_connect_timeout=0.2).ping()


def test_a_picked_port_taken_before_the_bind_is_replaced(
    redis_server: RedisTestServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parallel sessions may pick the same free port: the loser moves, never shares a server."""
    picks = iter([redis_server.port, redis_server_module.free_port()])
    monkeypatch.setattr(redis_server_module, "free_port", lambda: next(picks))
    session = redis_server.client()
    session.set("owner", b"session")
    with RedisTestServer(tmp_path / "r") as server:
        assert server.port != redis_server.port
        client = server.client()
        assert client.info("server")["process_id"] == server.process.pid  # type: ignore[union-attr]
        assert client.get("owner") is None
        client.close()
    assert session.get("owner") == b"session"
    session.close()
