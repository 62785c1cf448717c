"""The workers' settings: the library's plus Celery, Redis, claim checks, locks and beat.

Same environment variables (``FHIRMS_<NAME>``) as the library's, so one environment
configures both. ``python -m workers.settings`` prints the README's configuration tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from fhir_microsystems._settings import Settings, settings_table


class WorkerSettings(Settings):
    """What the Celery workers, beat and the commands that talk to them (``run --celery``,
    ``status``, ``resume``, ``health``) read besides the library's settings."""

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis for claim checks, locks, progress."
    )
    broker_url: str = Field("", description="Celery broker URL (empty: redis_url).")
    result_backend: str = Field("", description="Celery result backend (empty: redis_url).")
    claim_check_ttl_seconds: int = Field(
        24 * 3600,
        description="Lifetime of intermediate data (patient data) in the claim-check store: "
        "how long a failed run can be resumed.",
    )
    claim_check_key_file: Path | None = Field(
        None,
        description="File with the 32-byte key (base64 or hex) sealing claim checks (AES-256-GCM).",
    )
    require_encryption: bool = Field(
        False, description="Workers refuse to start without FHIRMS_CLAIM_CHECK_KEY_FILE."
    )
    redis_password_file: Path | None = Field(
        None,
        description="File with the Redis password, used for Redis URLs that carry none "
        "(keeps it out of the environment).",
    )
    redis_ca_file: Path | None = Field(
        None, description="CA bundle verifying the rediss:// server (empty: system CAs)."
    )
    worker_wait_seconds: float = Field(
        30.0,
        description="Seconds `run --celery` waits for a worker to take its queued run; if none "
        "answers by then the run is failed, its scope lock freed, and the command exits 75.",
    )
    visibility_timeout_seconds: int = Field(
        3600,
        description="Seconds an unacknowledged task stays with its worker before Redis hands it "
        "to another; must exceed task_time_limit_seconds.",
    )
    task_soft_time_limit_seconds: int = Field(
        1500, description="Seconds after which a task is asked to stop (SoftTimeLimitExceeded)."
    )
    task_time_limit_seconds: int = Field(
        1800, description="Seconds after which a task's process is killed; below the visibility."
    )
    unacked_restore_interval_seconds: int = Field(
        10, description="Seconds between sweeps requeueing tasks of lost workers (kombu)."
    )
    task_max_retries: int = Field(8, description="Celery retries of a task on temporary faults.")
    retry_backoff_max_seconds: int = Field(
        300, description="Longest back-off (seconds) between two retries of a task."
    )
    max_deliveries: int = Field(
        4, description="Deliveries of one task attempt (worker lost each time) before failing it."
    )
    worker_concurrency: int = Field(2, description="Processes per worker (`worker` CLI default).")
    worker_max_tasks_per_child: int = Field(
        100, description="Tasks a worker process runs before it is replaced (bounds memory)."
    )
    scope_lock_ttl_seconds: int = Field(
        7200, description="Lifetime of a run's scope lock unless refreshed by the run's tasks."
    )
    run_record_ttl_seconds: int = Field(
        30 * 24 * 3600, description="How long run status, progress and summary stay readable."
    )
    incremental_interval_seconds: int = Field(
        3600, description="Seconds between incremental re-assessments by beat (0: none)."
    )
    incremental_periods: int = Field(
        2, description="Recent periods (the current one included) each incremental run assesses."
    )
    incremental_period: Literal["month", "quarter", "year"] = Field(
        "month", description="Period kind of incremental runs."
    )
    watermark_overlap_seconds: int = Field(
        300, description="Seconds a _lastUpdated watermark is moved back (clock skew margin)."
    )
    beat_leader_ttl_seconds: int = Field(
        30, description="Lifetime of the beat leader lock; a standby beat takes over after it."
    )


def readme_tables() -> str:
    """The README's configuration section: the library's table, then the workers'."""
    return (
        f"{settings_table(Settings)}\n\n"
        "Celery workers, beat, `run --celery`, `status` and `resume` also read "
        "(`workers/settings.py`):\n\n"
        f"{settings_table(WorkerSettings)}"
    )


__all__ = ["WorkerSettings", "readme_tables"]


if __name__ == "__main__":
    print(readme_tables())
