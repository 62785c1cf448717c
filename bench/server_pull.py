"""Comparison 4: pulling a loaded FHIR test server with ``FhirClient.search`` vs ``requests``.

Both sides search every loaded type with the same ``_count``, follow ``next`` links, reuse
one pooled session, ask for gzip and parse with orjson; both collect ``Type/id`` of every
resource, and the two sets must equal what the server holds. Runs alternate (ABBA) after one
untimed warm-up pull, all in this process.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import requests

from fhir_microsystems.client import FhirClient

from ._common import Row, Samples, log, ratios
from .data import resource_count, resource_files, resources_only

HEADERS = {"Accept": "application/fhir+json", "Accept-Encoding": "gzip"}


def pull_with_client(base_url: str, types: list[str], page_size: int) -> set[str]:
    """Every resource of ``types`` through the project's client."""
    seen: set[str] = set()
    with FhirClient(base_url) as client:
        for rtype in types:
            for resource in client.search(rtype, count=page_size):
                seen.add(f"{resource['resourceType']}/{resource['id']}")
    return seen


def pull_with_requests(base_url: str, types: list[str], page_size: int) -> set[str]:
    """Every resource of ``types`` with a plain ``requests`` loop over next links."""
    seen: set[str] = set()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        for rtype in types:
            url: str | None = f"{base_url}/{rtype}?_count={page_size}"
            while url:
                response = session.get(url, timeout=(5, 60))
                response.raise_for_status()
                bundle = orjson.loads(response.content)
                for entry in bundle.get("entry", ()):
                    resource = entry["resource"]
                    seen.add(f"{resource['resourceType']}/{resource['id']}")
                url = next(
                    (link["url"] for link in bundle.get("link", ()) if link["relation"] == "next"),
                    None,
                )
    return seen


def compare_server_pull(directory: Path, repeats: int, page_size: int) -> Row:
    """Row 4 on the resources of ``directory`` loaded into a fresh test server."""
    from tests.support.fhir_server import FhirTestServer

    load_dir = resources_only(directory)
    types = sorted(resource_files(load_dir))
    log(f"4: starting the FHIR test server with {resource_count(directory):,} resources")
    with FhirTestServer(load_dir=load_dir) as server:
        expected = sum(server.count(t) for t in types)
        base = server.base_url
        reference = pull_with_requests(base, types, page_size)  # warm-up, untimed
        if len(reference) != expected:
            raise RuntimeError(f"requests pulled {len(reference)} of {expected} resources")
        server.reset_stats()
        timings: dict[str, list[float]] = {"client": [], "requests": []}
        pulls = {"client": pull_with_client, "requests": pull_with_requests}
        for n in range(repeats):
            order = ("client", "requests") if n % 2 == 0 else ("requests", "client")
            for name in order:
                log(f"4: {name} pull {n + 1}/{repeats}")
                began = time.perf_counter()
                got = pulls[name](base, types, page_size)
                timings[name].append(time.perf_counter() - began)
                if got != reference:
                    raise RuntimeError(f"{name} pulled {len(got)} resources, not the same set")
        pages = server.stats()["requests"]
    client, plain = timings["client"], timings["requests"]
    row = Row(
        "4",
        f"Pull {expected:,} resources from the FHIR test server",
        "FhirClient.search",
        Samples.of(client),
        "requests loop",
        Samples.of(plain),
        "client / requests",
        ratios(client, plain),
        "<= 1.25x (overhead < 25%)",
    )
    assert row.ratio is not None
    row.met = row.ratio.median <= 1.25
    row.notes.append(
        f"{len(types)} types, _count={page_size}, gzip, one session per pull;"
        f" {pages // (2 * repeats):,} requests per pull; both sides yield the same Type/id set."
    )
    return row


__all__ = ["compare_server_pull", "pull_with_client", "pull_with_requests"]
