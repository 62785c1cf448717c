"""FHIR id syntax, checked everywhere an id enters (input resources, references, the client)."""

from __future__ import annotations

import re
from typing import TypeGuard

#: ``[A-Za-z0-9\-\.]{1,64}`` (FHIR R4 id).
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DOTS = re.compile(r"\.+")


def is_fhir_id(value: object) -> TypeGuard[str]:
    """True for a string of FHIR id syntax that is not only dots (``.``, ``..`` would be path
    segments that climb when put into a URL or a file name)."""
    return (
        isinstance(value, str)
        and FHIR_ID.fullmatch(value) is not None
        and not _DOTS.fullmatch(value)
    )


__all__ = ["FHIR_ID", "is_fhir_id"]
