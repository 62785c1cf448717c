"""Which URLs may receive a credential, and which redirects the client follows.

A credential (bearer token, SMART access token) is configured for one FHIR base URL. It is
sent only to URLs of that base's origin (scheme, host, port) whose path lies under the base's
path: not to another server, not to ``/admin`` beside ``/fhir``, not to a redirect target or
a Bulk Data file elsewhere. Redirects are never followed across origins.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default ports written out, names lower-cased)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def same_origin(url: str, base_url: str) -> bool:
    """True when scheme, host and port of ``url`` and ``base_url`` agree."""
    return origin(url) == origin(base_url)


def within_base(url: str, base_url: str) -> bool:
    """True when ``url`` is on ``base_url``'s origin and its path is the base path or below it.

    Dot segments and encoded slashes in the path count as outside (they could climb out).
    """
    if not same_origin(url, base_url):
        return False
    path = urlsplit(url).path
    base_path = urlsplit(base_url).path.rstrip("/")
    segments = path.split("/")
    if any(s in (".", "..") for s in segments) or "%2f" in path.lower() or "%2e" in path.lower():
        return False
    return path == base_path or path.startswith(base_path + "/")


def may_receive_credential(url: str, base_url: str) -> bool:
    """The one rule for credentials: may a request to ``url`` carry the credential that was
    configured for ``base_url``? (Same origin, path under the base path.)"""
    return within_base(url, base_url)


def has_userinfo(url: str) -> bool:
    """True when ``url`` carries ``user[:password]@`` before its host."""
    return "@" in urlsplit(url).netloc


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback address."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = [
    "has_userinfo",
    "is_loopback",
    "may_receive_credential",
    "origin",
    "same_origin",
    "within_base",
]
