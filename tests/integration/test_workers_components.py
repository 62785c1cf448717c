"""Worker building blocks against the real test Redis: claim checks, locks, run records,
completion markers, delivery counts, watermarks, dispatch with scope coalescing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from fhir_microsystems._errors import TemporaryError
from fhir_microsystems.pipeline import RunSpec
from tests.support.celery_worker import settings_for, wait_for
from workers.claim_check import RedisStore
from workers.connections import make_client
from workers.dispatch import resume_run, start_run
from workers.locks import RedisLock, scope_lock_key
from workers.progress import registry_for
from workers.runs import RunInfo, RunStatus
from workers.watermarks import Watermarks

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = make_client(redis_url)
    yield c
    c.close()


class RecordingSender:
    """Stands in for the Celery app where only what is sent matters."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.lock = threading.Lock()

    def send_task(self, name: str, args: Any = None, **_: Any) -> None:
        with self.lock:
            self.sent.append((name, list(args or [])))


def test_claim_check_sets_ttl_and_namespaces_keys(client: redis.Redis) -> None:
    store = RedisStore(client, "run1", ttl_seconds=100)
    store.put("obs:p1", b"\x00bytes")
    store.put("fhirms:run1:plan", b"[1]")
    assert store.get("obs:p1") == b"\x00bytes"
    assert store.get("fhirms:run1:plan") == b"[1]"
    assert store.get("missing") is None
    assert client.exists("fhirms:run1:cc:obs:p1", "fhirms:run1:plan") == 2
    assert 0 < int(client.ttl("fhirms:run1:cc:obs:p1")) <= 100


def test_claim_check_expires(client: redis.Redis) -> None:
    store = RedisStore(client, "run2", ttl_seconds=1)
    store.put("k", b"v")
    assert store.get("k") == b"v"
    wait_for(lambda: store.get("k") is None, 10, "the claim check to expire")


def test_full_redis_is_a_temporary_fault(client: redis.Redis) -> None:
    store = RedisStore(client, "run3", ttl_seconds=60)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 200_000)
    try:
        with pytest.raises(TemporaryError, match="full"):
            for i in range(50):
                store.put(f"big{i}", b"x" * 100_000)
    finally:
        client.config_set("maxmemory", 0)
        client.flushall()


def test_lock_is_token_safe(client: redis.Redis) -> None:
    first = RedisLock(client, "fhirms:lock:test", ttl_seconds=30, token="a")
    second = RedisLock(client, "fhirms:lock:test", ttl_seconds=30, token="b")
    assert first.acquire()
    assert first.acquire()  # re-entrant for the same token
    assert not second.acquire()
    assert not second.refresh()
    assert not second.release()
    assert first.holder() == "a"
    assert second.acquire_or_holder() == "a"
    assert first.release()
    assert second.acquire()
    assert first.holder() == "b"


def test_lock_expires(client: redis.Redis) -> None:
    first = RedisLock(client, "fhirms:lock:ttl", ttl_seconds=0.3, token="a")
    second = RedisLock(client, "fhirms:lock:ttl", ttl_seconds=30, token="b")
    assert first.acquire()
    wait_for(second.acquire, 10, "the expired lock to be taken")
    assert not first.refresh()


def _record(run_id: str = "r1") -> RunInfo:
    return RunInfo(
        run_id=run_id,
        status=RunStatus.QUEUED,
        scope_key="s",
        spec_json="{}",
        created_at="2025-01-01T00:00:00Z",
    )


def test_completion_is_recorded_and_counted_once(redis_url: str, client: redis.Redis) -> None:
    registry = registry_for(client, settings_for(redis_url))
    registry.create(_record())
    counters = {"extract_done": 1, "resources_read": 7, "findings": 2}
    assert registry.complete("r1", "extract", "p1", '{"resources": 7}', counters)
    assert not registry.complete("r1", "extract", "p1", '{"resources": 7}', counters)
    info = registry.get("r1")
    assert info is not None
    assert (info.progress.extract_done, info.progress.resources_read) == (1, 7)
    assert info.progress.findings == 2
    assert registry.marker("r1", "extract", "p1") == '{"resources": 7}'
    assert registry.markers("r1", "extract", ["p1", "p2"]) == ['{"resources": 7}', None]


def test_status_transitions_are_compare_and_set(redis_url: str, client: redis.Redis) -> None:
    registry = registry_for(client, settings_for(redis_url))
    registry.create(_record())
    active = (RunStatus.QUEUED, RunStatus.RUNNING)
    assert registry.transition("r1", RunStatus.RUNNING, active, stage="extract")
    assert registry.transition("r1", RunStatus.FAILED, active, error="boom")
    # terminal: a late task cannot flip it back
    assert not registry.transition("r1", RunStatus.SUCCEEDED, active)
    info = registry.get("r1")
    assert info is not None and info.status is RunStatus.FAILED and info.error == "boom"
    assert not registry.transition("nope", RunStatus.RUNNING, active)


def test_a_fan_out_is_claimed_by_one_task_and_again_by_it_alone(
    redis_url: str, client: redis.Redis
) -> None:
    registry = registry_for(client, settings_for(redis_url))
    assert registry.claim_dispatch("r2", "measured", 1, "task-a")
    assert not registry.claim_dispatch("r2", "measured", 1, "task-b")
    assert registry.claim_dispatch("r2", "measured", 1, "task-a")  # redelivered: sends again
    assert registry.claim_dispatch("r2", "measured", 2, "task-b")  # a new attempt


def test_deliveries_are_counted_per_attempt(redis_url: str, client: redis.Redis) -> None:
    registry = registry_for(client, settings_for(redis_url))
    assert [registry.count_delivery("t", 0) for _ in range(3)] == [1, 2, 3]
    assert registry.count_delivery("t", 1) == 1


def test_watermark_only_moves_forward(client: redis.Redis) -> None:
    marks = Watermarks(client)
    assert marks.get("scope") is None
    assert marks.advance("scope", "2025-03-01T00:00:00Z")
    assert not marks.advance("scope", "2025-02-01T00:00:00Z")
    assert marks.advance("scope", "2025-03-02T00:00:00Z")
    assert marks.get("scope") == "2025-03-02T00:00:00Z"


def test_concurrent_dispatches_of_one_scope_coalesce(redis_url: str, client: redis.Redis) -> None:
    cfg = settings_for(redis_url)
    sender = RecordingSender()
    spec = RunSpec(source="fake://1/1", out_dir="/tmp/unused-a")
    results: list[str] = []
    barrier = threading.Barrier(6)

    def dispatch() -> None:
        own = make_client(redis_url)
        barrier.wait()
        results.append(start_run(sender, own, cfg, spec).run_id)
        own.close()

    threads = [threading.Thread(target=dispatch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert sender.sent == [("fhirms.start", [results[0], 1])]
    assert registry_for(client, cfg).recent() == [registry_for(client, cfg).get(results[0])]
    # another scope is another run
    other = start_run(sender, client, cfg, RunSpec(source="fake://1/1", out_dir="/tmp/unused-b"))
    assert not other.coalesced and other.run_id != results[0]


def test_lock_of_a_finished_run_does_not_block(redis_url: str, client: redis.Redis) -> None:
    cfg = settings_for(redis_url)
    sender = RecordingSender()
    spec = RunSpec(source="fake://1/1", out_dir="/tmp/unused-c")
    first = start_run(sender, client, cfg, spec)
    registry = registry_for(client, cfg)
    # the run failed without releasing its lock (e.g. its worker died in on_failure)
    registry.transition(first.run_id, RunStatus.FAILED, (RunStatus.QUEUED,))
    assert client.get(scope_lock_key(spec.scope_key())) == first.run_id.encode()
    second = start_run(sender, client, cfg, spec)
    assert not second.coalesced and second.run_id != first.run_id
    assert client.get(scope_lock_key(spec.scope_key())) == second.run_id.encode()


def test_resume_starts_a_new_attempt(redis_url: str, client: redis.Redis) -> None:
    cfg = settings_for(redis_url)
    sender = RecordingSender()
    spec = RunSpec(source="fake://1/1", out_dir="/tmp/unused-d")
    run_id = start_run(sender, client, cfg, spec).run_id
    registry = registry_for(client, cfg)
    registry.transition(run_id, RunStatus.FAILED, (RunStatus.QUEUED,), error="x")
    RedisLock(client, scope_lock_key(spec.scope_key()), 10, token=run_id).release()
    info = resume_run(sender, client, cfg, run_id)
    assert info.status is RunStatus.QUEUED and info.attempt == 2 and info.error == ""
    assert sender.sent[-1] == ("fhirms.start", [run_id, 2])
    with pytest.raises(Exception, match="queued"):
        resume_run(sender, client, cfg, run_id)
