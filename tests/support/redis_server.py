"""A real ``redis-server`` process on a free loopback port, for the test session."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.processes import terminate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed CA and a server certificate for 127.0.0.1 made by :func:`make_tls`."""

    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """Generate a CA and a server certificate for 127.0.0.1 / localhost (EC P-256)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fhirms test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files


class _PortTakenError(Exception):
    """redis-server could not bind the port picked for it."""


class RedisTestServer:
    """Starts ``redis-server`` with AOF persistence and ``noeviction`` in ``workdir``.

    Persistence is on (``appendonly yes``) so a restart in a test keeps queued messages,
    as a production broker must; ``restart()`` stops and starts it on the same port.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        tls: TlsFiles | None = None,
        password: str | None = None,
    ) -> None:
        """``tls``: serve only TLS on ``port`` (plain port off); ``password``: requirepass."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run scripts/test, which installs it")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self._may_move = port is None  # a free port picked here may be taken before the bind
        self.process: subprocess.Popen[bytes] | None = None
        self.tls = tls
        self.password = password

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait for PING; a port it picked and lost to another process before the
        bind (parallel test sessions) is replaced by a fresh one, before the first start only."""
        for _attempt in range(3):
            try:
                self._start()
            except _PortTakenError:
                self.port = free_port()
                continue
            self._may_move = False  # restart() keeps the port clients were given
            return
        raise RuntimeError("redis-server found no free port in 3 attempts")

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        extra: list[str] = []
        if self.tls is not None:
            extra = [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self.tls.cert),
                "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        else:
            extra = ["--port", str(self.port)]
        if self.password:
            extra += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            [
                self.binary,
                *extra,
                "--bind", "127.0.0.1",
                "--dir", str(self.workdir),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--maxmemory-policy", "noeviction",
                "--protected-mode", "yes",
                "--logfile", str(self.workdir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        client = self.client(socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                code = self.process.returncode
                self.stop()
                log = self.workdir / "redis.log"
                if self._may_move and log.exists() and "in use" in log.read_text(errors="replace"):
                    log.unlink()
                    raise _PortTakenError
                raise RuntimeError(f"redis-server exited with {code}: {err}")
            try:
                # Only our own server counts: another one may hold the port ours failed to bind.
                if client.ping() and client.info("server")["process_id"] == self.process.pid:
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            else:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"another server answers on port {self.port}")
            time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        terminate(self.process)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, **options: object) -> redis.Redis:
        if self.tls is not None:
            options.update(ssl=True, ssl_ca_certs=str(self.tls.ca), ssl_cert_reqs="required")
        return redis.Redis(port=self.port, password=self.password, **options)  # type: ignore[arg-type]

    def __enter__(self) -> RedisTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
