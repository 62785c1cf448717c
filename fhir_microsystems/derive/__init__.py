"""Derive clinical microsystems, their members, patients and cohorts, period by period.

Entry point: :func:`derive`. Thresholds: :class:`DerivationConfig`. Results:
:class:`Derivation` of :class:`MicrosystemPeriod` (with :class:`Member`\\ s) and compact
:class:`EncounterRecord`\\ s.
"""

from .cohorts import ALL_COHORTS, CONDITION_COHORTS, SETTING_COHORTS, condition_code_lists
from .config import DerivationConfig
from .model import (
    Derivation,
    Discipline,
    Member,
    MembershipEvent,
    MicrosystemPeriod,
)
from .pipeline import derive
from .records import EncounterRecord

__all__ = [
    "ALL_COHORTS",
    "CONDITION_COHORTS",
    "SETTING_COHORTS",
    "Derivation",
    "DerivationConfig",
    "Discipline",
    "EncounterRecord",
    "Member",
    "MembershipEvent",
    "MicrosystemPeriod",
    "condition_code_lists",
    "derive",
]
