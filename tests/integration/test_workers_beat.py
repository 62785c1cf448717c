"""Celery beat with real processes: one leader sends ticks, incremental runs use watermarks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.celery_worker import CeleryBeat, CeleryWorker, settings_for, wait_for
from workers.beat import LEADER_KEY
from workers.connections import make_client
from workers.progress import registry_for
from workers.runs import RunInfo, RunStatus
from workers.tasks import recent_window
from workers.watermarks import Watermarks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TICKS = "fhirms:beat:ticks"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = make_client(redis_url)
    yield c
    c.close()


def tick_counts(client: redis.Redis) -> dict[int, int]:
    raw = client.hgetall(TICKS)
    return {int(k): int(v) for k, v in raw.items()}


def leader_pid(client: redis.Redis) -> int | None:
    holder = client.get(LEADER_KEY)
    return None if holder is None else int(holder.decode().split(":")[1])  # type: ignore[union-attr]


def test_only_the_leader_beat_sends_ticks_and_a_standby_takes_over(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    env = {
        "FHIRMS_INCREMENTAL_INTERVAL_SECONDS": "1",
        "FHIRMS_BEAT_LEADER_TTL_SECONDS": "3",
    }
    logs = tmp_path / "logs"
    beats = [CeleryBeat(redis_url, logs, env=env) for _ in range(2)]
    with CeleryWorker(redis_url, logs, env=env, fake_pipeline=True):
        try:
            for beat in beats:
                beat.start()
            wait_for(lambda: len(tick_counts(client)) >= 4, 120, "four ticks")
            first_leader = leader_pid(client)
            leader = next(b for b in beats if b.pid == first_leader)
            standby = next(b for b in beats if b is not leader)
            before = len(tick_counts(client))
            leader.kill()
            wait_for(lambda: leader_pid(client) == standby.pid, 120, "the standby to lead")
            wait_for(lambda: len(tick_counts(client)) >= before + 3, 120, "ticks after failover")
        finally:
            for beat in beats:
                beat.stop()
    counts = tick_counts(client)
    # one tick per interval slot: the standby never sent while the leader lived
    assert set(counts.values()) == {1}, counts


def _runs(client: redis.Redis, redis_url: str) -> list[RunInfo]:
    return registry_for(client, settings_for(redis_url)).recent(50)


def test_incremental_runs_read_from_the_watermark(
    redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {
        "FHIRMS_SOURCE": "fake://1/2",
        "FHIRMS_OUT_DIR": str(out),
        "FHIRMS_INCREMENTAL_INTERVAL_SECONDS": "2",
        "FHIRMS_INCREMENTAL_PERIODS": "2",
        "FHIRMS_WATERMARK_OVERLAP_SECONDS": "0",
    }
    logs = tmp_path / "logs"

    def succeeded() -> list[RunInfo]:
        done = [r for r in _runs(client, redis_url) if r.status is RunStatus.SUCCEEDED]
        return sorted(done, key=lambda r: r.created_at)

    with (
        CeleryWorker(redis_url, logs, env=env, fake_pipeline=True),
        CeleryBeat(redis_url, logs, env=env),
    ):
        wait_for(lambda: len(succeeded()) >= 2, 120, "two incremental runs")
    first, second = succeeded()[:2]
    first_spec, second_spec = json.loads(first.spec_json), json.loads(second.spec_json)
    assert first_spec["since"] is None  # no watermark yet: everything is read
    first_mark = client.hget(f"fhirms:run:{first.run_id}", "watermark_at")
    assert first_mark is not None
    assert second_spec["since"] is not None
    assert second_spec["since"] >= first_mark.decode()  # type: ignore[union-attr]
    assert second_spec["source"] == "fake://1/2" and second_spec["out_dir"] == str(out)
    start, end = recent_window_of(first)
    assert (first_spec["start"], first_spec["end"]) == (start, end)
    scope = client.hget(f"fhirms:run:{first.run_id}", "watermark_scope")
    assert scope is not None
    mark = Watermarks(client).get(scope.decode())  # type: ignore[union-attr]
    assert mark is not None and mark >= second_spec["since"]
    assert (out / "result.json").exists()


def recent_window_of(info: RunInfo) -> tuple[str, str]:
    from datetime import UTC, datetime

    created = datetime.strptime(info.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return recent_window(created, "month", 2)
