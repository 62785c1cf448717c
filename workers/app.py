"""The Celery application: ``celery -A workers.app worker`` (configured from FHIRMS_* env)."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_init, worker_ready

from fhir_microsystems._errors import ConfigurationError
from workers.claim_check import cipher_for
from workers.config import broker_url, celery_config, mask_url, result_backend_url, settings
from workers.settings import WorkerSettings

log = logging.getLogger(__name__)


def create_app(cfg: WorkerSettings | None = None, *, include_tasks: bool = True) -> Celery:
    """A Celery app for ``cfg``; ``include_tasks=False`` for clients that only send by name."""
    cfg = cfg or settings()
    celery_app = Celery(
        "fhirms", include=["workers.tasks", "workers.export_tasks"] if include_tasks else []
    )
    celery_app.conf.update(celery_config(cfg))
    return celery_app


app = create_app()


#: Exit status of a worker refusing its configuration (sysexits EX_CONFIG).
EX_CONFIG = 78


@worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_unsafe_start(**_: object) -> None:
    """A worker that would store patient data unencrypted against the settings stops here
    (SystemExit: Celery's signal dispatch swallows ordinary exceptions)."""
    try:
        cipher_for(settings())
    except ConfigurationError as exc:
        log.critical("fhirms worker refuses to start: %s", exc)
        raise SystemExit(EX_CONFIG) from None


@worker_ready.connect  # type: ignore[untyped-decorator]
def _announce(**_: object) -> None:
    cfg = settings()
    log.info(
        "fhirms worker ready: broker=%s backend=%s visibility=%ss time limits=%s/%ss",
        mask_url(broker_url(cfg)),
        mask_url(result_backend_url(cfg)),
        cfg.visibility_timeout_seconds,
        cfg.task_soft_time_limit_seconds,
        cfg.task_time_limit_seconds,
    )


__all__ = ["app", "create_app"]
