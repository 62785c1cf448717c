"""Derive clinical microsystems, their members, patients and cohorts, period by period.

Entry point :func:`derive`; thresholds in :class:`DerivationConfig`; results in a
:class:`Derivation` of :class:`MicrosystemPeriod` (members, patients, encounters, cohorts,
identity across periods) and the compact :class:`EncounterRecord` of every encounter read.

How (per period, e.g. a UTC month; the period's encounters and its look-back are read as
:class:`~.records.EncounterRows`, an Arrow table, and each rule over them is a step of
``ties.sql`` or ``window.sql``):

1. Network (:mod:`.network`): clinicians are tied by shared encounters and by shared
   patients (seen within 90 days; about 9 a year make a tie, Barnett 2011), over the period
   plus a 30-day look-back that weighs a quarter.
2. Communities: Leiden (seeded, reproducible) inside each clinician's home organisation
   (the most specific of serviceProvider and the Location's managing organisation), so
   departments never mix; modularity over-splits are undone when the halves are tied
   through many members rather than one floater (``merge_min_cut_ratio``).
3. Explicit evidence and shifts (:mod:`.joining`): a team CareTeam in force (not stale, no
   Patient subject) joins the communities it mostly covers; communities of one organisation
   that work complementary hours at the same place and setting are one unit's shifts.
4. Membership (:mod:`.membership`): each encounter goes to the community with most of its
   participants; a clinician is a member wherever they took part, core where that is a
   regular share (``core_min_share``, ``core_min_encounters``, ``core_min_relative``).
5. Identity (:mod:`.identity`): ids persist while the core membership's Jaccard index stays
   above ``identity_min_jaccard`` (greedy best match); joins, leaves, splits, merges and a
   stability index are recorded; new ids hash organisation, first period and core members.
6. Attribution (:mod:`.attribution`): encounters to the microsystem with most participants
   as members (fallback: same Location, organisation, serviceProvider); a microsystem's
   patient group is every patient with an encounter attributed to it; cohorts by care
   setting and condition (:mod:`.cohorts`).

FHIR output: :mod:`.fhir_resources` (CareTeam and Group builders, conformance resources) and
:mod:`.validation` (checks of the shipped profiles).
"""

from .cohorts import ALL_COHORTS, CONDITION_COHORTS, SETTING_COHORTS, condition_code_lists
from .config import DerivationConfig
from .fhir_resources import (
    careteam_resource,
    conformance_resources,
    microsystem_resources,
    patient_group_resource,
)
from .model import (
    Derivation,
    Discipline,
    Member,
    MembershipEvent,
    MicrosystemPeriod,
)
from .pipeline import derive
from .records import EncounterRecord
from .validation import validate_microsystem_careteam, validate_patient_group

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
    "careteam_resource",
    "condition_code_lists",
    "conformance_resources",
    "derive",
    "microsystem_resources",
    "patient_group_resource",
    "validate_microsystem_careteam",
    "validate_patient_group",
]
