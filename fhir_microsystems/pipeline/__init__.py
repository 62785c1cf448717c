"""The assessment run: stages shared by the in-process runner and the Celery workers."""

from fhir_microsystems.sinks import merge_parts, put_all, write_part

from ._derive import derive
from ._extract import extract
from ._finalize import finalize
from ._inprocess import Progress, run_in_process
from ._measure import measure
from ._plan import plan
from ._protocol import Pipeline
from ._spec import PeriodKind, RunSpec
from ._store import DirStore, MemoryStore, Store

__all__ = [
    "DirStore",
    "MemoryStore",
    "PeriodKind",
    "Pipeline",
    "Progress",
    "RunSpec",
    "Store",
    "derive",
    "extract",
    "finalize",
    "measure",
    "merge_parts",
    "plan",
    "put_all",
    "run_in_process",
    "write_part",
]
