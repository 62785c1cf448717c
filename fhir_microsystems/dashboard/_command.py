"""Build the dashboard from a source (output folder or FHIR server): what the CLI calls."""

from __future__ import annotations

from pathlib import Path

from fhir_microsystems._errors import InputError
from fhir_microsystems._settings import Settings

from ._model import RunData
from ._read import read_directory, read_server
from ._series import Annotation, read_annotations
from ._site import SiteSummary, build_site

#: An annotations file next to a run's outputs is read by ``run`` (and by default here).
ANNOTATIONS_FILE = "annotations.csv"


def load(source: str, settings: Settings) -> RunData:
    """Read ``source``: an output folder, or a FHIR base URL searched through the client."""
    if source.startswith(("http://", "https://")):
        from fhir_microsystems.connect import make_client

        with make_client(source, settings) as client:
            return read_server(client, settings.canonical_base)
    directory = Path(source)
    if not directory.is_dir():
        raise InputError(f"dashboard source {source}: not a folder nor an http(s) URL")
    return read_directory(directory)


def annotations_from(path: Path | None) -> tuple[Annotation, ...]:
    if path is None or not path.is_file():
        return ()
    try:
        return read_annotations(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"annotations {path.name}: {exc}") from exc


def build_dashboard(
    source: str,
    out_dir: Path,
    *,
    settings: Settings | None = None,
    spc_csv: Path | None = None,
    annotations: Path | None = None,
    suppress_below: int = 0,
    worklists: bool = False,
) -> SiteSummary:
    """Read ``source`` and write the site to ``out_dir`` (and ``spc_csv``)."""
    if suppress_below < 0:
        raise InputError("--suppress-below must be 0 or more")
    if annotations is not None and not annotations.is_file():
        raise InputError(f"annotations file {annotations}: not found")
    notes = annotations_from(annotations)
    settings = settings or Settings()
    data = load(source, settings)
    if not data.reports:
        raise InputError(f"dashboard source {source}: no MeasureReport of this project found")
    return build_site(
        data,
        out_dir,
        spc_csv=spc_csv,
        annotations=notes,
        suppress_below=suppress_below,
        worklists_page=worklists,
    )


def build_after_run(out_dir: Path) -> SiteSummary | None:
    """``run``'s hook: ``<out>/dashboard/`` and ``<out>/spc.csv`` from the run's own outputs."""
    data = read_directory(out_dir)
    if not data.reports:
        return None
    return build_site(
        data,
        out_dir / "dashboard",
        spc_csv=out_dir / "spc.csv",
        annotations=annotations_from(out_dir / ANNOTATIONS_FILE),
    )
