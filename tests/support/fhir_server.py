"""Python launcher for the in-memory FHIR R4 test server in ``tests/fhir_server``.

Usage::

    with FhirTestServer(load_dir=synthea_dir) as server:
        requests.get(f"{server.base_url}/Patient")
        server.inject("429", 2, retry_after=1)
        assert server.count("Patient") == 60

The server is a Node 20 process (Medplum ``FhirRouter`` + ``MemoryRepository``); see
``tests/fhir_server/README.md`` for its HTTP API. Node dependencies are installed with
``npm ci`` from the committed lock file the first time they are missing.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from tests.support.processes import terminate

SERVER_DIR = Path(__file__).resolve().parent.parent / "fhir_server"
FAULT_MODES = ("429", "503", "500", "410", "404", "delay", "drop", "truncate")
_OPTION_NAMES = {
    "retry_after": "retryAfter",
    "retryAfter": "retryAfter",
    "delay_ms": "delayMs",
    "delayMs": "delayMs",
    "paths": "paths",
}


class FhirServerError(RuntimeError):
    """The test server could not be installed or started."""


def ensure_node_modules(server_dir: Path = SERVER_DIR, timeout: float = 600.0) -> None:
    """Run ``npm ci`` in ``server_dir`` unless its dependencies are installed already.

    A lock file serialises concurrent installs (several test processes starting at once).
    """
    marker = server_dir / "node_modules" / "@medplum" / "fhir-router" / "package.json"
    if marker.is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise FhirServerError("npm not found: Node 20 and npm are needed for the FHIR test server")
    lock_path = Path(tempfile.gettempdir()) / "fhir-microsystems-fhir-server-npm.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if marker.is_file():
                return
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=server_dir,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout)[-3000:]
                raise FhirServerError(f"npm ci failed in {server_dir} ({proc.returncode}):\n{tail}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class FhirTestServer:
    """Starts ``node server.mjs --port 0 [--load DIR]`` and talks to its admin API.

    Attributes after :meth:`start`: ``port``, ``base_url`` (``http://127.0.0.1:<port>/fhir``),
    ``admin_url`` (``http://127.0.0.1:<port>/__admin``).
    """

    def __init__(
        self,
        load_dir: str | os.PathLike[str] | None = None,
        *,
        page_size: int | None = None,
        validate_load: bool = False,
        startup_timeout: float = 180.0,
        extra_args: Sequence[str] = (),
        server_dir: Path = SERVER_DIR,
    ) -> None:
        self.load_dir = Path(load_dir) if load_dir is not None else None
        self.page_size = page_size
        self.validate_load = validate_load
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.server_dir = server_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._stderr_file: Any = None
        self._admin = requests.Session()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/fhir"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}/__admin"

    def _require_port(self) -> int:
        if self.port is None:
            raise FhirServerError("FHIR test server is not running")
        return self.port

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise FhirServerError("node not found: Node 20 is needed for the FHIR test server")
        cmd = [node, "server.mjs", "--port", "0"]
        if self.load_dir is not None:
            cmd += ["--load", str(self.load_dir.resolve())]
        if self.page_size is not None:
            cmd += ["--page-size", str(self.page_size)]
        if self.validate_load:
            cmd.append("--validate-load")
        return cmd + self.extra_args

    def start(self) -> FhirTestServer:
        if self.process is not None:
            return self
        ensure_node_modules(self.server_dir)
        cmd = self.command()
        # stderr goes to a file so that a chatty server can never block on a full pipe.
        self._stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            cmd,
            cwd=self.server_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
        )
        atexit.register(self.stop)
        try:
            self.port = self._read_port()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr_file is None:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        data: bytes = self._stderr_file.read()
        return data.decode("utf-8", "replace")[-limit:]

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FhirServerError(
                        "FHIR test server printed no LISTENING line within"
                        f" {self.startup_timeout:.0f} s; stderr:\n{self._stderr_tail()}"
                    )
                if selector.select(timeout=min(remaining, 0.5)):
                    chunk = os.read(self.process.stdout.fileno(), 4096)
                    if not chunk:
                        code = self.process.wait(timeout=10)
                        raise FhirServerError(
                            f"FHIR test server exited with code {code} before listening; stderr:\n"
                            f"{self._stderr_tail()}"
                        )
                    buffer += chunk
                    if b"\n" in buffer:
                        line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
                        if not line.startswith("LISTENING "):
                            raise FhirServerError(
                                f"unexpected first stdout line from FHIR test server: {line!r}"
                            )
                        return int(line.split()[1])
                elif self.process.poll() is not None:
                    raise FhirServerError(
                        f"FHIR test server exited with code {self.process.returncode}"
                        f" before listening; stderr:\n{self._stderr_tail()}"
                    )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        url = f"{self.base_url}/metadata"
        while True:
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process is not None and self.process.poll() is not None:
                raise FhirServerError(f"FHIR test server died; stderr:\n{self._stderr_tail()}")
            if time.monotonic() > deadline:
                raise FhirServerError(
                    f"GET {url} did not answer 200; stderr:\n{self._stderr_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is not None:
            terminate(process)
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        self._admin.close()
        self.port = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> FhirTestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stderr_tail(self, limit: int = 4000) -> str:
        """The last ``limit`` characters the server wrote to stderr (never resource bodies)."""
        return self._stderr_tail(limit)

    # -- admin API ------------------------------------------------------------------------

    def _admin_call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._admin.request(method, f"{self.admin_url}/{path}", json=body, timeout=30)
        if response.status_code != 200:
            raise FhirServerError(
                f"{method} /__admin/{path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    def inject(self, mode: str, count: int = 1, **opts: Any) -> dict[str, Any]:
        """Make the next ``count`` matching /fhir requests fail with ``mode``.

        ``mode``: "429", "503", "500", "410", "404" (OperationOutcome body), "delay" (answer
        normally after ``delay_ms``), "drop" (close the connection without answering),
        "truncate" (send the headers and half the body, then close). Options:
        ``retry_after`` (seconds or HTTP-date string, 429/503/500), ``delay_ms``, ``paths``
        (substring of path+query the request must contain). camelCase names work too.
        """
        mode = str(mode)
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {FAULT_MODES}")
        spec: dict[str, Any] = {"mode": mode, "count": count}
        for key, value in opts.items():
            if key not in _OPTION_NAMES:
                raise TypeError(f"unknown fault option {key!r}")
            if value is not None:
                spec[_OPTION_NAMES[key]] = value
        result: dict[str, Any] = self._admin_call("POST", "faults", spec)
        return result

    def clear_faults(self) -> None:
        self._admin_call("DELETE", "faults")

    def expire_links(self) -> int:
        """Every next link issued so far answers 410 Gone. Returns how many were expired."""
        return int(self._admin_call("POST", "expire-links")["expired"])

    def configure_bulk(self, **settings: Any) -> dict[str, Any]:
        """Change ``$export`` behaviour (camelCase names, see the server README); returns all."""
        result: dict[str, Any] = self._admin_call("POST", "bulk", settings)["config"]
        return result

    def set_auth_tokens(self, tokens: Sequence[str] | None) -> None:
        """Require ``Authorization: Bearer <token>`` on /fhir except metadata; None = off."""
        self._admin_call("POST", "auth", {"tokens": list(tokens) if tokens is not None else None})

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "faultsServed": n, "byStatus": {"200": n, ..., "dropped": n}}``."""
        result: dict[str, Any] = self._admin_call("GET", "stats")
        return result

    def reset_stats(self) -> None:
        self._admin_call("POST", "reset-stats")

    def reset(self) -> None:
        """Clear all data, pending faults, auth, paging cursors and stats."""
        self._admin_call("POST", "reset")

    def count(self, resource_type: str) -> int:
        """Number of stored resources of ``resource_type`` (no paging involved)."""
        return int(self._admin_call("GET", f"count/{resource_type}")["count"])
