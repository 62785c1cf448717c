"""Pure parts of the boundary rules: ownership marks and plans, sink credentials, Redis URLs."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from fhir_microsystems._errors import ConfigurationError
from fhir_microsystems._settings import Settings
from fhir_microsystems.client import BearerToken, NoAuth
from fhir_microsystems.connect import make_auth
from fhir_microsystems.sinks._ownership import (
    OWNER_CODE,
    is_ours,
    mark,
    plan_retirements,
    plan_writes,
)
from workers.config import celery_config, mask_url, redis_url, with_password
from workers.settings import WorkerSettings

BASE = "https://fhir-microsystems.org/fhir"


def _team(rid: str, **extra: object) -> dict[str, object]:
    return {"resourceType": "CareTeam", "id": rid, "status": "active", **extra}


def test_marking_twice_keeps_one_mark_and_foreign_tags() -> None:
    foreign_tag = {"system": "urn:x", "code": "keep"}
    once = mark(_team("a", meta={"tag": [foreign_tag]}), BASE, "s-2025-01")
    twice = mark(once, BASE, "s-2025-01")
    assert once == twice
    assert [t["code"] for t in twice["meta"]["tag"]] == ["keep", OWNER_CODE, "s-2025-01"]
    assert is_ours(twice, BASE) and not is_ours(twice, "https://other.example/fhir")


def test_plan_writes_creates_updates_by_version_and_refuses_foreign() -> None:
    ours = mark(_team("b"), BASE, None)
    ours["meta"]["versionId"] = "7"
    existing = {"CareTeam/b": ours, "CareTeam/c": _team("c")}
    plan = plan_writes(
        [_team("a"), _team("b"), _team("c")], existing, canonical_base=BASE, scope=None
    )
    assert (plan.created, plan.updated, plan.refused) == (
        ["CareTeam/a"],
        ["CareTeam/b"],
        ["CareTeam/c"],
    )
    requests = [e["request"] for e in plan.entries]
    assert requests == [
        {"method": "PUT", "url": "CareTeam/a"},
        {"method": "PUT", "url": "CareTeam/b", "ifMatch": 'W/"7"'},
    ]


def test_plan_retirements_touches_only_ours_not_produced_not_retired() -> None:
    stale = [
        mark(_team("gone"), BASE, "s"),
        mark(_team("kept"), BASE, "s"),
        mark(_team("done", status="entered-in-error"), BASE, "s"),
        _team("foreign"),
        mark({"resourceType": "Group", "id": "g", "active": True}, BASE, "s"),
        mark({"resourceType": "MeasureReport", "id": "m", "status": "complete"}, BASE, "s"),
    ]
    plan = plan_retirements(stale, {"CareTeam/kept"}, canonical_base=BASE)
    assert plan.retired == ["CareTeam/gone", "Group/g", "MeasureReport/m"]
    bodies = [e["resource"] for e in plan.entries]
    assert [bodies[0]["status"], bodies[1]["active"], bodies[2]["status"]] == [
        "entered-in-error",
        False,
        "error",
    ]


def test_source_and_sink_credentials_are_separate(tmp_path: Path) -> None:
    cfg = Settings(auth="bearer", bearer_token="src")
    assert isinstance(make_auth(cfg), BearerToken)
    assert isinstance(make_auth(cfg, "sink"), NoAuth)
    sink = Settings(sink_auth="bearer", sink_bearer_token="snk")
    assert "snk" in str(make_auth(sink, "sink").authorization(None))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="FHIRMS_SINK_SMART_CLIENT_ID"):
        make_auth(Settings(sink_auth="smart"), "sink")


def test_the_redis_password_file_fills_urls_without_one(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr/et\n")
    cfg = WorkerSettings(redis_url="rediss://redis:6380/0", redis_password_file=secret)
    assert redis_url(cfg) == "rediss://:s3cr%2Fet@redis:6380/0"
    assert "s3cr" not in mask_url(redis_url(cfg))
    assert with_password("redis://:other@redis/0", cfg) == "redis://:other@redis/0"
    assert with_password("memory://", cfg) == "memory://"


def test_rediss_gives_broker_and_result_backend_verified_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    config = celery_config(WorkerSettings(redis_url="rediss://redis:6380/0", redis_ca_file=ca))
    for name in ("broker_use_ssl", "redis_backend_use_ssl"):
        assert config[name] == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(ca)}
    assert "redis_backend_use_ssl" not in celery_config(
        WorkerSettings(redis_url="redis://r:6379/0")
    )
