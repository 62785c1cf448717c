"""Where a run's results go: NDJSON files and a FHIR server, both idempotent, and the
ownership marks that keep the server writer to what this tool wrote."""

from ._fhir_server import put_all
from ._files import (
    OUTPUT_TYPES,
    PARTS_DIR,
    WRITE_ORDER,
    clear_parts,
    file_mode,
    merge_parts,
    parts_dir,
    safe_name,
    write_file,
    write_part,
    write_raw_part,
)
from ._ownership import (
    OWNER_CODE,
    SCOPE_TAG_SYSTEM,
    WritePlan,
    is_ours,
    mark,
    owner_tag,
    plan_retirements,
    plan_writes,
    retired,
    scope_code,
)

__all__ = [
    "OUTPUT_TYPES",
    "OWNER_CODE",
    "PARTS_DIR",
    "SCOPE_TAG_SYSTEM",
    "WRITE_ORDER",
    "WritePlan",
    "clear_parts",
    "file_mode",
    "is_ours",
    "mark",
    "merge_parts",
    "owner_tag",
    "parts_dir",
    "plan_retirements",
    "plan_writes",
    "put_all",
    "retired",
    "safe_name",
    "scope_code",
    "write_file",
    "write_part",
    "write_raw_part",
]
