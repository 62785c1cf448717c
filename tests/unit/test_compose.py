"""Static checks of docker-compose.yml, docker/.env.example and docker/Dockerfile.

With a Docker client that has the compose plugin, ``docker compose config -q`` validates the
file; the structural checks below always run (they need only PyYAML).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.settings import WorkerSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "docker" / ".env.example"
DOCKERFILE = REPO / "docker" / "Dockerfile"
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?-[^}]*)?\}")
PINNED = re.compile(r"^[\w./-]+:[\w.-]*\d[\w.-]*$")  # a tag with a version number, not latest


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            out[name.strip()] = value
    return out


def _default_image(service: dict[str, Any]) -> str:
    image = str(service["image"])
    match = re.fullmatch(r"\$\{[A-Z_]+:-(.+)\}", image)
    return match[1] if match else image


def _docker_compose_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return probe.returncode == 0


def test_docker_compose_config_is_valid() -> None:
    if not _docker_compose_available():
        pytest.skip("no Docker client with the compose plugin: structural checks only")
    result = subprocess.run(
        ["docker", "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_services_present(compose: dict[str, Any]) -> None:
    assert {"redis", "fhir", "worker", "beat", "flower"} <= set(compose["services"])


def test_redis_is_persistent_noeviction_and_healthchecked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = [str(c) for c in redis["command"]]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "redis-cli" in " ".join(redis["healthcheck"]["test"])
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


def test_redis_requires_the_password_from_a_secret(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert "redis_password" in redis["secrets"]
    entrypoint = " ".join(redis["entrypoint"])
    assert "requirepass" in entrypoint and "/run/secrets/redis_password" in entrypoint
    assert "/run/secrets/redis_password" in " ".join(redis["healthcheck"]["test"])
    assert "redis_password" in compose["secrets"]
    env = compose["x-fhirms-env"]
    assert env["FHIRMS_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password"
    assert "@" not in env["FHIRMS_REDIS_URL"]  # no password in the environment
    flower = compose["services"]["flower"]
    assert "redis_password" in flower["secrets"]
    assert "/run/secrets/redis_password" in " ".join(flower["entrypoint"])


def test_claim_checks_are_encrypted_with_a_secret_key(compose: dict[str, Any]) -> None:
    env = compose["x-fhirms-env"]
    assert env["FHIRMS_CLAIM_CHECK_KEY_FILE"] == "/run/secrets/claim_check_key"
    assert env["FHIRMS_REQUIRE_ENCRYPTION"].endswith(":-true}")
    assert env["FHIRMS_CLAIM_CHECK_TTL_SECONDS"].endswith(":-86400}")
    assert "claim_check_key" in compose["secrets"]
    for name in ("worker", "beat"):
        secrets = compose["services"][name]["secrets"]
        assert {"claim_check_key", "redis_password", "sink_smart_private_key"} <= set(secrets)
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "docker/secrets/redis-password" in ignored
    assert "docker/secrets/claim-check.key" in ignored


def test_the_sink_has_its_own_credentials(compose: dict[str, Any]) -> None:
    env = compose["x-fhirms-env"]
    for key in ("FHIRMS_SINK_AUTH", "FHIRMS_SINK_SMART_CLIENT_ID", "FHIRMS_SINK_SMART_TOKEN_URL"):
        assert key in env
    assert env["FHIRMS_SINK_SMART_PRIVATE_KEY_FILE"] == "/run/secrets/sink_smart_private_key"
    assert env["FHIRMS_TRUST_ENV"].endswith(":-false}")


def test_fhir_is_pinned_hapi_r4_with_healthcheck(compose: dict[str, Any]) -> None:
    fhir = compose["services"]["fhir"]
    image = _default_image(fhir)
    assert image.startswith("hapiproject/hapi:v")
    assert PINNED.match(image) and not image.endswith(":latest")
    assert fhir["environment"]["hapi.fhir.fhir_version"] == "R4"
    test = " ".join(fhir["healthcheck"]["test"])
    assert "/fhir/metadata" in test
    # the image is distroless: the probe binary must come from the fhir-probe volume
    probe = compose["services"]["fhir-probe"]
    assert fhir["depends_on"]["fhir-probe"]["condition"] == "service_completed_successfully"
    assert fhir["healthcheck"]["test"][1].startswith("/probe/")
    assert any(str(v).startswith("fhir-probe:/probe") for v in probe["volumes"])


def test_worker_is_scalable(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"] == ["worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in worker


def test_exactly_one_beat(compose: dict[str, Any]) -> None:
    beats = [
        name
        for name, service in compose["services"].items()
        if service.get("command") == ["beat"] or "beat" in str(service.get("command", ""))
    ]
    assert beats == ["beat"]
    beat = compose["services"]["beat"]
    assert int(beat.get("deploy", {}).get("replicas", 1)) == 1
    assert "healthcheck" in beat


def test_flower_is_pinned_and_healthchecked(compose: dict[str, Any]) -> None:
    flower = compose["services"]["flower"]
    image = _default_image(flower)
    assert PINNED.match(image) and not image.endswith(":latest")
    assert "healthcheck" in flower


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = _default_image(service)
        assert PINNED.match(image), f"{name}: {image} is not pinned"


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_every_variable_is_in_env_example() -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    documented = set(_env_example())
    assert used - documented == set(), "variables missing from docker/.env.example"


def test_fhirms_variables_are_settings_fields(compose: dict[str, Any]) -> None:
    fields = {f"FHIRMS_{name.upper()}" for name in WorkerSettings.model_fields}
    deployment_only = {
        "FHIRMS_IMAGE",
        "FHIRMS_INPUT_HOST_DIR",
        "FHIRMS_SMART_PRIVATE_KEY_HOST_FILE",
        "FHIRMS_SINK_SMART_PRIVATE_KEY_HOST_FILE",
        "FHIRMS_REDIS_PASSWORD_HOST_FILE",
        "FHIRMS_CLAIM_CHECK_KEY_HOST_FILE",
        "FHIRMS_WORKER_STOP_GRACE",
    }
    env_names = set(compose["x-fhirms-env"]) | {
        n for n in _env_example() if n.startswith("FHIRMS_")
    }
    unknown = {n for n in env_names if n not in fields and n not in deployment_only}
    assert unknown == set()


def test_worker_and_beat_get_the_same_env_and_smart_secret(compose: dict[str, Any]) -> None:
    for name in ("worker", "beat"):
        service = compose["services"][name]
        env = service["environment"]
        assert env["FHIRMS_SMART_PRIVATE_KEY_FILE"] == "/run/secrets/smart_private_key"
        assert "smart_private_key" in service["secrets"]
        for key in ("FHIRMS_AUTH", "FHIRMS_SMART_CLIENT_ID", "FHIRMS_SMART_TOKEN_URL"):
            assert key in env
    assert "smart_private_key" in compose["secrets"]
    assert (REPO / "docker" / "secrets" / "no-smart-key.pem").is_file()


def test_env_example_defaults_make_valid_worker_settings() -> None:
    from workers.config import celery_config

    values = {k: v for k, v in _env_example().items() if k.startswith("FHIRMS_")}
    known = {f"FHIRMS_{n.upper()}": n for n in WorkerSettings.model_fields}
    kwargs = {known[k]: v for k, v in values.items() if k in known and v != ""}
    config = celery_config(WorkerSettings.model_validate(kwargs))
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"]


def test_dockerfile_installs_package_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.\d+", text, re.MULTILINE)
    assert "pip install ." in text
    assert re.search(r"^USER (?!root)", text, re.MULTILINE)
    assert '"workers"' in text


def test_dockerfile_copies_what_the_package_build_needs() -> None:
    copied = {  # the sources of every COPY (all words but the destination)
        name
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ")
        for name in line.split()[1:-1]
    }
    assert {"pyproject.toml", "README.md", "fhir_microsystems", "workers"} <= copied
    # a symlink inside the package (profiles_data -> ../profiles) needs its target copied too
    for link in (REPO / "fhir_microsystems").rglob("*"):
        if link.is_symlink():
            target = link.resolve().relative_to(REPO).parts[0]
            assert target in copied, f"{link.name} -> {target} is not copied into the image"
    ignore = (REPO / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    for name in copied:
        assert f"!{name}" in ignore, f"{name} is filtered out of the build context"
