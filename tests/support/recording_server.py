"""A small real HTTP server on 127.0.0.1 that records every request and answers by rule.

Used to show what the client sends to an origin it should not trust (a second server, a
redirect target, a token endpoint)::

    with RecordingServer() as other:
        other.answer("GET", "/fhir/Patient", 200, {"resourceType": "Bundle", ...})
        ...
        assert other.requests == []

Rules match a method and a path prefix; the first match answers. Unmatched requests get 404
with an OperationOutcome. Each server on its own port is its own origin.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Rule:
    method: str
    prefix: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """A threaded ``http.server`` on a free loopback port; ``origin`` is ``http://127.0.0.1:N``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.requests.append(
                        Recorded(self.command, self.path, dict(self.headers.items()), body)
                    )
                    rule = next(
                        (
                            r
                            for r in owner._rules
                            if r.method in (self.command, "*") and self.path.startswith(r.prefix)
                        ),
                        None,
                    )
                if rule is None:
                    rule = _Rule(self.command, "", 404, _outcome("no rule for " + self.path))
                self.send_response(rule.status)
                for name, value in rule.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(rule.body)))
                self.end_headers()
                self.wfile.write(rule.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(
        self,
        method: str,
        prefix: str,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``method`` requests whose path starts with ``prefix`` (JSON ``body``)."""
        raw = b"" if body is None else json.dumps(body).encode()
        extra = {"Content-Type": "application/fhir+json", **(headers or {})}
        with self._lock:
            self._rules.append(_Rule(method, prefix, status, raw, extra))

    def redirect(self, method: str, prefix: str, location: str, status: int = 302) -> None:
        """Answer with a redirect to ``location``."""
        self.answer(method, prefix, status, None, {"Location": location})

    def authorizations(self) -> list[str]:
        """The Authorization header of every request received (missing ones left out)."""
        with self._lock:
            return [
                r.headers["Authorization"] for r in self.requests if "Authorization" in r.headers
            ]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _outcome(text: str) -> bytes:
    issue = {"severity": "error", "code": "not-found", "diagnostics": text}
    return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()


def bundle(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle of ``resources`` with an optional next link."""
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


__all__ = ["Recorded", "RecordingServer", "bundle"]
