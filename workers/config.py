"""Celery configuration built from :class:`workers.settings.WorkerSettings` (env FHIRMS_*).

Every reliability choice is here, with the trap it avoids (see workers/README.md).
"""

from __future__ import annotations

import functools
import re
import ssl
import time
from typing import Any
from urllib.parse import quote

from celery.beat import BeatLazyFunc

from fhir_microsystems._errors import ConfigurationError
from workers.settings import WorkerSettings

QUEUE = "fhirms"

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z+]+://[^:/@]*:)(?P<secret>[^@/]+)@", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host`` (safe to log)."""
    return _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***@", url)


@functools.cache
def settings() -> WorkerSettings:
    """The process-wide settings (read once from the environment)."""
    return WorkerSettings()


def with_password(url: str, cfg: WorkerSettings) -> str:
    """``url`` with the password of FHIRMS_REDIS_PASSWORD_FILE when it is a Redis URL that
    carries none (the result is a secret: show it only through :func:`mask_url`)."""
    if cfg.redis_password_file is None or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("redis", "rediss") or "@" in rest.split("/", 1)[0]:
        return url
    try:
        password = cfg.redis_password_file.read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read FHIRMS_REDIS_PASSWORD_FILE {cfg.redis_password_file.name!r}: "
            f"{exc.strerror}"
        ) from None
    return f"{scheme}://:{quote(password, safe='')}@{rest}"


def redis_url(cfg: WorkerSettings) -> str:
    return with_password(cfg.redis_url, cfg)


def broker_url(cfg: WorkerSettings) -> str:
    return with_password(cfg.broker_url or cfg.redis_url, cfg)


def result_backend_url(cfg: WorkerSettings) -> str:
    return with_password(cfg.result_backend or cfg.redis_url, cfg)


def validate(cfg: WorkerSettings) -> None:
    """Refuse settings that make tasks redeliver while running or retry forever."""
    soft, hard = cfg.task_soft_time_limit_seconds, cfg.task_time_limit_seconds
    vis = cfg.visibility_timeout_seconds
    if not 0 < soft < hard < vis:
        raise ConfigurationError(
            "need 0 < FHIRMS_TASK_SOFT_TIME_LIMIT_SECONDS < FHIRMS_TASK_TIME_LIMIT_SECONDS < "
            f"FHIRMS_VISIBILITY_TIMEOUT_SECONDS (got {soft} < {hard} < {vis}): a task running "
            "longer than the visibility timeout is handed to another worker while it runs",
        )
    if cfg.max_deliveries < 1 or cfg.task_max_retries < 0:
        raise ConfigurationError("FHIRMS_MAX_DELIVERIES must be >= 1, FHIRMS_TASK_MAX_RETRIES >= 0")
    if cfg.unacked_restore_interval_seconds < 1:
        raise ConfigurationError("FHIRMS_UNACKED_RESTORE_INTERVAL_SECONDS must be >= 1")
    if cfg.beat_leader_ttl_seconds < 3:
        raise ConfigurationError("FHIRMS_BEAT_LEADER_TTL_SECONDS must be >= 3")


def celery_config(cfg: WorkerSettings) -> dict[str, Any]:
    """The Celery settings (lower-case names) for ``app.conf.update``."""
    validate(cfg)
    transport = {
        # Must exceed the hard time limit: otherwise a running task is redelivered again and
        # again (measured: 8 deliveries in 45 s) and starves the queue.
        "visibility_timeout": cfg.visibility_timeout_seconds,
        # kombu sweeps for tasks of lost workers every interval x throttle seconds (defaults
        # 10 x 10 = ~100 s after the visibility timeout); throttle 1 makes it the interval.
        "unacked_restore_interval": cfg.unacked_restore_interval_seconds,
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
    url = broker_url(cfg)
    config: dict[str, Any] = {
        "broker_url": url,
        "result_backend": result_backend_url(cfg),
        "broker_transport_options": transport,
        "result_backend_transport_options": {
            "visibility_timeout": cfg.visibility_timeout_seconds,
            # kombu ensure(): ~60 s of a Redis outage (restart) is ridden out.
            "retry_policy": {
                "max_retries": 60,
                "interval_start": 0,
                "interval_step": 0.5,
                "interval_max": 1,
            },
        },
        "result_backend_always_retry": True,
        "result_backend_max_retries": 60,
        "result_backend_max_sleep_between_retries_ms": 2000,
        "redis_socket_timeout": 30,
        "redis_socket_connect_timeout": 5,
        "redis_retry_on_timeout": True,
        "redis_socket_keepalive": True,
        "redis_backend_health_check_interval": 10,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "broker_channel_error_retry": True,
        # Messages are JSON of ids and small strings only; bulk data goes to the claim check.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": QUEUE,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_soft_time_limit": cfg.task_soft_time_limit_seconds,
        "task_time_limit": cfg.task_time_limit_seconds,
        "task_track_started": True,
        "task_send_sent_event": True,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 30,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2.0,
        },
        "result_expires": cfg.claim_check_ttl_seconds,
        "result_extended": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": cfg.worker_max_tasks_per_child,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": True,
        # Tasks running when the broker connection drops are redelivered anyway (acks_late):
        # cancel them rather than finish them twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_enable_remote_control": True,
        "beat_scheduler": "workers.beat:LeaderScheduler",
        "beat_max_loop_interval": max(1, cfg.beat_leader_ttl_seconds // 3),
        "beat_schedule": beat_schedule(cfg),
        "timezone": "UTC",
        "enable_utc": True,
    }
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss"):
        # kombu's Redis transport with the fix for a broker restart with tasks in flight
        config["broker_transport"] = "workers.transport:Transport"
    if scheme == "rediss":
        # the scheme is no longer what turns TLS on: do it here, verifying certificates
        config["broker_use_ssl"] = tls_options(cfg)
    if result_backend_url(cfg).split("://", 1)[0].lower() == "rediss":
        # without these the Redis result backend refuses a rediss:// URL outright
        config["redis_backend_use_ssl"] = tls_options(cfg)
    return config


def tls_options(cfg: WorkerSettings) -> dict[str, Any]:
    """TLS of broker and result backend: certificates verified, against FHIRMS_REDIS_CA_FILE
    when set (else the system CAs)."""
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if cfg.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(cfg.redis_ca_file)
    return options


def scheduled_now() -> float:
    """When beat sends a tick (evaluated by beat at send time, carried in the message)."""
    return time.time()


def beat_schedule(cfg: WorkerSettings) -> dict[str, Any]:
    """The incremental re-assessment, every ``incremental_interval_seconds`` (0: none)."""
    if cfg.incremental_interval_seconds <= 0:
        return {}
    return {
        "fhirms-incremental": {
            "task": "fhirms.incremental",
            "schedule": float(cfg.incremental_interval_seconds),
            "kwargs": {"scheduled_at": BeatLazyFunc(scheduled_now)},
            "options": {"expires": float(cfg.incremental_interval_seconds)},
        }
    }


__all__ = [
    "QUEUE",
    "beat_schedule",
    "broker_url",
    "celery_config",
    "mask_url",
    "redis_url",
    "result_backend_url",
    "settings",
    "tls_options",
    "validate",
    "with_password",
]
