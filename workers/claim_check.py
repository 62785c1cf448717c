"""The claim-check store in Redis: bulk intermediate data between stages, never via the broker.

Messages carry a run id and a partition id; the data they refer to is here, under
``fhirms:{run_id}:...`` (the library namespaces its keys so; a key outside the run's
namespace is put inside it), written with ``SET key value EX ttl``.

Why Redis: it is already the broker and result backend (one service to run), a value is
written in one atomic command (a redelivered task overwrites rather than duplicates), and the
TTL bounds what an abandoned run leaves behind. A run that succeeds deletes its claim checks
at once (they are about as large as the facts read from the source); a failed run keeps them
until the TTL so it can be resumed. Redis must run with ``maxmemory-policy noeviction`` so
data is never dropped silently: a full Redis refuses the write, retried as a temporary fault.

Claim checks hold patient data (patient ids, birth dates, encounter times, lab values, cohort
membership). With a key (``FHIRMS_CLAIM_CHECK_KEY_FILE``) every value is sealed with AES-256-GCM
(``cryptography``): a random 96-bit nonce per value and the Redis key as associated data, so a
value moved to another key, altered or read with another key fails to open (a fatal error).
``FHIRMS_REQUIRE_ENCRYPTION`` makes a worker without a key refuse to start.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fhir_microsystems._errors import ConfigurationError, FatalError, TemporaryError
from workers.settings import WorkerSettings

#: First bytes of a sealed value (format version 1: magic, 12-byte nonce, ciphertext + tag).
SEALED = b"fmsE1"
_NONCE = 12


class ClaimCheckCipher:
    """AES-256-GCM sealing of claim-check values, bound to their Redis key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("the claim-check key must be 32 bytes (256 bits)")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "ClaimCheckCipher(key=<redacted>)"

    @classmethod
    def from_file(cls, path: Path) -> ClaimCheckCipher:
        """Read a key file: 32 bytes in base64 (standard or URL-safe) or hex, one line."""
        try:
            text = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read FHIRMS_CLAIM_CHECK_KEY_FILE {path.name!r}: {exc.strerror}"
            ) from None
        for decode in (bytes.fromhex, base64.urlsafe_b64decode, base64.b64decode):
            try:
                key = decode(text.decode("ascii"))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                continue
            if len(key) == 32:
                return cls(key)
        raise ConfigurationError(
            "FHIRMS_CLAIM_CHECK_KEY_FILE must hold a 32-byte key in base64 or hex "
            "(e.g. `openssl rand -base64 32`)"
        )

    def seal(self, key: str, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return SEALED + nonce + self._aead.encrypt(nonce, data, key.encode())

    def open(self, key: str, value: bytes) -> bytes:
        if not value.startswith(SEALED):
            raise FatalError(f"claim check {key!r} is not encrypted but a key is configured")
        nonce = value[len(SEALED) : len(SEALED) + _NONCE]
        try:
            return self._aead.decrypt(nonce, value[len(SEALED) + _NONCE :], key.encode())
        except InvalidTag:
            raise FatalError(
                f"claim check {key!r} cannot be decrypted (another key, or altered)"
            ) from None


def cipher_for(cfg: WorkerSettings) -> ClaimCheckCipher | None:
    """The cipher the settings ask for; ConfigurationError if encryption is required but no
    key is configured (a worker then refuses to start)."""
    if cfg.claim_check_key_file is not None:
        return ClaimCheckCipher.from_file(cfg.claim_check_key_file)
    if cfg.require_encryption:
        raise ConfigurationError(
            "FHIRMS_REQUIRE_ENCRYPTION is set but FHIRMS_CLAIM_CHECK_KEY_FILE is not: claim "
            "checks hold patient data and are never stored unencrypted"
        )
    return None


def run_prefix(run_id: str) -> str:
    """Every key of one run starts with this."""
    return f"fhirms:{run_id}:"


class RedisStore:
    """:class:`fhir_microsystems.pipeline.Store` over Redis with a TTL per value."""

    def __init__(
        self,
        client: redis.Redis,
        run_id: str,
        ttl_seconds: int,
        cipher: ClaimCheckCipher | None = None,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.client = client
        self.cipher = cipher
        self.prefix = run_prefix(run_id)
        self.ttl_seconds = ttl_seconds

    def key(self, key: str) -> str:
        """The Redis key of ``key``: inside the run's namespace."""
        return key if key.startswith(self.prefix) else f"{self.prefix}cc:{key}"

    def put(self, key: str, data: bytes) -> None:
        name = self.key(key)
        if self.cipher is not None:
            data = self.cipher.seal(name, data)
        try:
            self.client.set(name, data, ex=self.ttl_seconds)
        except redis.exceptions.OutOfMemoryError as exc:
            raise TemporaryError("claim-check store full (Redis maxmemory reached)") from exc

    def get(self, key: str) -> bytes | None:
        name = self.key(key)
        value = self.client.get(name)
        if value is None:
            return None
        data = bytes(value)  # type: ignore[arg-type]
        return data if self.cipher is None else self.cipher.open(name, data)

    def purge(self, batch: int = 500) -> int:
        """Delete every claim check of the run (after it succeeded); return how many."""
        removed = 0
        keys: list[bytes] = []
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                removed += int(self.client.unlink(*keys))
                keys = []
        if keys:
            removed += int(self.client.unlink(*keys))
        return removed


__all__ = ["ClaimCheckCipher", "RedisStore", "cipher_for", "run_prefix"]
