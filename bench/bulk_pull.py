"""Comparison 6: a Bulk Data ``$export`` pull vs paged searches of the same test server.

Both sides read every type a run reads from one FHIR test server loaded with the same
hospital: ``export_directory`` (kick-off, one status poll, files downloaded by its bounded
pool, gzip, written to disk) against ``FhirClient.search`` page by page (``_count`` as in
comparison 4, gzip). Both collect ``Type/id`` of every resource, and the sets must be equal.
Runs alternate (ABBA) after one untimed warm-up of each. Two ratios: wall time and the
number of HTTP requests the server answered.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import orjson

from fhir_microsystems.bulk_runs import RUN_TYPES
from fhir_microsystems.client import FhirClient
from fhir_microsystems.client._bulk import BulkPolicy, ExportRequest
from fhir_microsystems.exporting import export_directory

from ._common import Row, Samples, log, ratios
from .data import resource_count, resources_only
from .server_pull import pull_with_client


def pull_with_bulk(base_url: str, types: list[str], out: Path) -> set[str]:
    """Every resource of ``types`` through ``$export`` into ``out``, read back for ids."""
    seen: set[str] = set()
    with FhirClient(base_url) as client:
        export_directory(client, out, ExportRequest(types=tuple(types)), policy=BulkPolicy())
    for path in sorted(out.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            if line:
                resource = orjson.loads(line)
                seen.add(f"{resource['resourceType']}/{resource['id']}")
    return seen


def compare_bulk_pull(directory: Path, repeats: int, page_size: int) -> list[Row]:
    """Rows 7 (time) and 7r (requests) on ``directory`` loaded into a fresh test server."""
    from tests.support.fhir_server import FhirTestServer

    load_dir = resources_only(directory)
    log(f"7: starting the FHIR test server with {resource_count(directory):,} resources")
    with FhirTestServer(load_dir=load_dir) as server, tempfile.TemporaryDirectory() as tmp:
        # The export is ready at the first poll: the comparison is of transfer, not waiting.
        server.configure_bulk(pollsBeforeDone=0)
        types = [t for t in RUN_TYPES if server.count(t)]
        expected = sum(server.count(t) for t in types)
        base = server.base_url
        runs = 0

        def bulk() -> set[str]:
            nonlocal runs
            runs += 1
            return pull_with_bulk(base, types, Path(tmp) / f"export-{runs}")

        def search() -> set[str]:
            return pull_with_client(base, types, page_size)

        pulls = {"bulk": bulk, "search": search}
        reference = search()  # warm-up, untimed
        if len(reference) != expected or bulk() != reference:
            raise RuntimeError("bulk and search warm-ups did not pull the same resources")
        timings: dict[str, list[float]] = {"bulk": [], "search": []}
        requests: dict[str, list[float]] = {"bulk": [], "search": []}
        for n in range(repeats):
            order = ("bulk", "search") if n % 2 == 0 else ("search", "bulk")
            for name in order:
                log(f"7: {name} pull {n + 1}/{repeats}")
                server.reset_stats()
                began = time.perf_counter()
                got = pulls[name]()
                timings[name].append(time.perf_counter() - began)
                requests[name].append(float(server.stats()["requests"]))
                if got != reference:
                    raise RuntimeError(f"{name} pulled {len(got)} resources, not the same set")
    time_row = Row(
        "7",
        f"Pull {expected:,} resources: $export vs paged search",
        "$export",
        Samples.of(timings["bulk"]),
        "FhirClient.search",
        Samples.of(timings["search"]),
        "bulk / search",
        ratios(timings["bulk"], timings["search"]),
        "< 1x (bulk faster)",
    )
    assert time_row.ratio is not None
    time_row.met = time_row.ratio.median < 1.0
    time_row.notes.append(
        f"{len(types)} types; search _count={page_size}, gzip; $export downloads its files"
        " (5,000 resources each) with 3 workers, gzip, to disk, then reads them back;"
        " both sides yield the same Type/id set."
    )
    request_row = Row(
        "7r",
        "HTTP requests of the same pull",
        "$export",
        Samples.of(requests["bulk"], "req"),
        "FhirClient.search",
        Samples.of(requests["search"], "req"),
        "bulk / search",
        ratios(requests["bulk"], requests["search"]),
        "< 0.5x",
    )
    assert request_row.ratio is not None
    request_row.met = request_row.ratio.median < 0.5
    return [time_row, request_row]


__all__ = ["compare_bulk_pull", "pull_with_bulk"]
