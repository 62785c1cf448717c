"""The library's settings, read from ``FHIRMS_*`` environment variables (CLI flags on top)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Configuration of the library and the CLI (the workers add theirs:
    ``workers.settings.WorkerSettings``).

    Each field is the environment variable ``FHIRMS_<NAME>`` (case-insensitive). Secrets are
    ``SecretStr``: their values never appear in reprs or logs.
    """

    model_config = SettingsConfigDict(env_prefix="FHIRMS_", extra="ignore")

    # -- where data comes from and goes to
    source: str = Field("", description="NDJSON directory or FHIR base URL to read from.")
    sink_url: str = Field("", description="FHIR base URL to write results to (empty: none).")
    source_base_aliases: str = Field(
        "",
        description="Comma-separated other base URLs of the source: absolute references to "
        "them count as local (a server behind a proxy, data loaded from another server).",
    )
    out_dir: Path = Field(Path("out"), description="Directory for NDJSON outputs.")
    output_file_mode: str = Field(
        "600",
        description="Octal permissions of output files (they list patients); e.g. 640 for a group.",
    )
    max_encounter_participants: int = Field(
        200,
        description="Participants of one Encounter read at most (the rest: a finding), so "
        "tie counting stays linear.",
    )
    max_ndjson_line_bytes: int = Field(
        8 * 1024 * 1024,
        description="Longest NDJSON input line (bytes); longer ones are skipped as findings.",
    )
    canonical_base: str = Field(
        "https://fhir-microsystems.org/fhir",
        description="Base of canonical URLs of the Measures, profiles and code systems.",
    )

    # -- FHIR client
    auth: Literal["none", "bearer", "smart"] = Field("none", description="Authentication mode.")
    bearer_token: SecretStr | None = Field(None, description="Static bearer token (auth=bearer).")
    smart_client_id: str = Field("", description="SMART Backend Services client_id.")
    smart_private_key_file: Path | None = Field(
        None, description="PEM private key for the client assertion (RS384 or ES384)."
    )
    smart_algorithm: Literal["RS384", "ES384"] = Field("RS384", description="Assertion algorithm.")
    smart_kid: str = Field("", description="Key id (JWKS kid) put in the assertion header.")
    smart_scope: str = Field("system/*.read system/*.write", description="Scopes requested.")
    smart_token_url: str = Field(
        "", description="Token endpoint; empty: discovered from .well-known/smart-configuration."
    )
    sink_auth: Literal["none", "bearer", "smart"] = Field(
        "none",
        description="Authentication mode towards the sink (the source's credentials never go "
        "to the sink).",
    )
    sink_bearer_token: SecretStr | None = Field(
        None, description="Static bearer token for the sink (sink_auth=bearer)."
    )
    sink_smart_client_id: str = Field("", description="SMART client_id at the sink.")
    sink_smart_private_key_file: Path | None = Field(
        None, description="PEM private key of the sink's SMART client."
    )
    sink_smart_algorithm: Literal["RS384", "ES384"] = Field(
        "RS384", description="Assertion algorithm of the sink's SMART client."
    )
    sink_smart_kid: str = Field("", description="Key id of the sink's SMART client.")
    sink_smart_scope: str = Field(
        "system/*.read system/*.write", description="Scopes requested at the sink."
    )
    sink_smart_token_url: str = Field(
        "", description="Sink's token endpoint; empty: from its smart-configuration."
    )
    trust_env: bool = Field(
        False,
        description="Let HTTP clients use proxy variables and ~/.netrc (off: no credential "
        "from the environment reaches a server).",
    )
    verify_tls: bool = Field(True, description="Verify TLS certificates.")
    ca_bundle: Path | None = Field(None, description="CA bundle file for TLS verification.")
    connect_timeout: float = Field(5.0, description="Seconds to establish a connection.")
    read_timeout: float = Field(60.0, description="Seconds to wait for a response.")
    page_size: int = Field(200, description="_count hint for searches.")
    max_response_bytes: int = Field(
        128 * 1024 * 1024,
        description="Largest FHIR response body read (decoded bytes); larger: a fatal error.",
    )
    max_retries: int = Field(6, description="Attempts per request on temporary faults.")
    retry_budget_seconds: float = Field(
        120.0, description="Most seconds one request may spend sleeping between retries."
    )
    bulk_token_origins: str = Field(
        "",
        description="Comma-separated origins besides the server's that may receive the access "
        "token with Bulk Data file downloads (requiresAccessToken), e.g. a storage host.",
    )
    bulk_level: Literal["system", "patient"] = Field(
        "system", description="Bulk export level of `--read bulk` runs without `--group`."
    )
    bulk_max_wait_seconds: float = Field(
        6 * 3600.0, description="Most seconds a run polls one bulk export before giving up."
    )
    bulk_max_retry_after_seconds: float = Field(
        300.0, description="Longest Retry-After honoured while polling a bulk export."
    )
    bulk_workers: int = Field(3, description="Bulk export files downloaded at once.")
    bulk_type_filter: bool = Field(
        True, description="Send _typeFilter to bound Encounters/Observations to the window."
    )

    @property
    def base_aliases(self) -> tuple[str, ...]:
        """``source_base_aliases`` as a tuple of URLs without trailing slashes."""
        return tuple(
            u.strip().rstrip("/") for u in self.source_base_aliases.split(",") if u.strip()
        )

    log_level: str = Field(
        "WARNING", description="Logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL."
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level


__all__ = ["LOG_LEVELS", "Settings", "settings_table"]


def settings_table(cls: type[BaseSettings] = Settings) -> str:
    """A README configuration table of the fields ``cls`` declares (not those it inherits)."""
    inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "model_fields", {})}
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in cls.model_fields.items():
        if name in inherited:
            continue
        default = field.default
        shown = "" if default in (None, "") else str(default)
        lines.append(f"| `FHIRMS_{name.upper()}` | `{shown}` | {field.description} |")
    return "\n".join(lines)
