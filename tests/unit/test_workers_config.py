"""Celery configuration, run records and CLI argument building (no Redis, no workers)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from fhir_microsystems._errors import ConfigurationError
from workers.cli import beat_argv, worker_argv
from workers.config import beat_schedule, celery_config, mask_url, validate
from workers.runs import RunInfo, RunProgress, RunStatus, new_run_id
from workers.settings import WorkerSettings
from workers.tasks import recent_window
from workers.watermarks import with_overlap


def test_reliability_settings() -> None:
    config = celery_config(WorkerSettings(redis_url="redis://r:6379/0"))
    assert config["broker_url"] == config["result_backend"] == "redis://r:6379/0"
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["worker_max_tasks_per_child"] == 100
    transport = config["broker_transport_options"]
    assert transport["visibility_timeout"] > config["task_time_limit"]
    assert config["task_time_limit"] > config["task_soft_time_limit"]
    # the sweep for lost workers' tasks: every interval, not interval x throttle (10 x 10 s)
    assert transport["unacked_restore_throttle"] == 1
    assert transport["unacked_restore_interval"] == 10
    assert config["accept_content"] == ["json"]


def test_broker_and_backend_override_redis_url() -> None:
    cfg = WorkerSettings(
        redis_url="redis://r/0", broker_url="redis://b/1", result_backend="redis://c/2"
    )
    config = celery_config(cfg)
    assert (config["broker_url"], config["result_backend"]) == ("redis://b/1", "redis://c/2")


@pytest.mark.parametrize(
    ("soft", "hard", "visibility"),
    [(10, 10, 20), (10, 30, 20), (10, 20, 20), (0, 5, 10)],
)
def test_time_limits_must_stay_below_visibility_timeout(
    soft: int, hard: int, visibility: int
) -> None:
    cfg = WorkerSettings(
        task_soft_time_limit_seconds=soft,
        task_time_limit_seconds=hard,
        visibility_timeout_seconds=visibility,
    )
    with pytest.raises(ConfigurationError, match="VISIBILITY"):
        validate(cfg)


def test_beat_schedule_from_interval() -> None:
    assert beat_schedule(WorkerSettings(incremental_interval_seconds=0)) == {}
    entry = beat_schedule(WorkerSettings(incremental_interval_seconds=600))["fhirms-incremental"]
    assert entry["task"] == "fhirms.incremental"
    assert entry["schedule"] == 600.0


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://user:p%40ss@host/1", "rediss://user:***@host/1"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_run_info_round_trips_through_a_flat_map() -> None:
    info = RunInfo(
        run_id=new_run_id(),
        status=RunStatus.RUNNING,
        scope_key="abc",
        spec_json='{"source": "x"}',
        created_at="2025-01-01T00:00:00Z",
        attempt=2,
        progress=RunProgress(stage="measure", extract_total=3, extract_done=3, measure_total=5),
    )
    fields = info.to_fields()
    assert all(isinstance(v, str) for v in fields.values())
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    assert RunInfo.from_fields(raw) == info
    view = info.to_dict()
    assert view["status"] == "running"
    assert view["progress"]["partitions_total"] == 8
    assert view["progress"]["partitions_done"] == 3


def test_terminal_statuses() -> None:
    assert {s for s in RunStatus if s.terminal} == {RunStatus.SUCCEEDED, RunStatus.FAILED}


def test_worker_argv_has_defaults_and_passes_extra_args_last() -> None:
    argv = worker_argv(WorkerSettings(worker_concurrency=3), ["--pool", "solo"], pid=42)
    assert argv[:6] == [sys.executable, "-m", "celery", "-A", "workers.app", "worker"]
    assert argv[argv.index("--concurrency") + 1] == "3"
    assert argv[argv.index("--queues") + 1] == "fhirms"
    assert argv[argv.index("--hostname") + 1] == "fhirms-42@%h"
    assert argv[-2:] == ["--pool", "solo"]


def test_beat_argv_uses_the_leader_scheduler() -> None:
    argv = beat_argv(WorkerSettings(log_level="DEBUG"), ["--pidfile="])
    assert argv[5] == "beat"
    assert argv[argv.index("--scheduler") + 1] == "workers.beat:LeaderScheduler"
    assert argv[argv.index("--loglevel") + 1] == "DEBUG"
    assert argv[-1] == "--pidfile="


@pytest.mark.parametrize(
    ("now", "kind", "count", "window"),
    [
        (datetime(2025, 3, 15, tzinfo=UTC), "month", 2, ("2025-02-01", "2025-04-01")),
        (datetime(2025, 1, 2, tzinfo=UTC), "month", 3, ("2024-11-01", "2025-02-01")),
        (datetime(2025, 5, 1, tzinfo=UTC), "quarter", 2, ("2025-01-01", "2025-07-01")),
        (datetime(2025, 5, 1, tzinfo=UTC), "year", 1, ("2025-01-01", "2026-01-01")),
    ],
)
def test_recent_window(now: datetime, kind: str, count: int, window: tuple[str, str]) -> None:
    assert recent_window(now, kind, count) == window  # type: ignore[arg-type]


def test_watermark_overlap() -> None:
    assert with_overlap("2025-03-01T00:02:00Z", 300) == "2025-02-28T23:57:00Z"
