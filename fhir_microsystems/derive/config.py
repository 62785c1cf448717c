"""Every threshold of the derivation, in one frozen, documented dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_microsystems._errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class DerivationConfig:
    """Thresholds and switches of :func:`fhir_microsystems.derive.derive`.

    The tie rules follow published patient-sharing network practice: Barnett et al. 2011
    (Health Serv Res 46:1592) recognised a working relationship between two physicians at
    about 9 shared patients a year; Landon et al. 2012/2013 and Casalino et al. 2015 found
    care communities in such networks by modularity-based community detection. Shared
    *encounters* (both clinicians documented on the same encounter) are much stronger
    evidence than shared patients and are weighted accordingly.
    """

    # -- co-participation network ---------------------------------------------------------
    #: Days before a period's start whose encounters also feed that period's network (the
    #: network is sparse in a single month; membership itself still uses the period only).
    lookback_days: int = 30
    #: Weight of look-back evidence relative to the period's own (staff who moved at the
    #: period start should be tied to their new team, not their old one).
    lookback_weight: float = 0.25
    #: Two clinicians share a patient if both saw the patient within this many days.
    shared_patient_window_days: int = 90
    #: Shared patients a year that make a tie (Barnett 2011); scaled to the network window
    #: and floored by ``min_shared_patients``.
    shared_patients_per_year: float = 9.0
    #: Lower bound on shared patients for a tie, whatever the window.
    min_shared_patients: int = 2
    #: Shared encounters that make a tie on their own.
    min_shared_encounters: int = 1
    #: Edge weight of one shared encounter.
    weight_shared_encounter: float = 1.0
    #: Edge weight of one shared patient.
    weight_shared_patient: float = 0.5
    #: Encounters with more distinct clinicians than this add no encounter ties (mass events,
    #: teaching rounds, data errors); they still count for membership.
    max_participants_per_encounter: int = 25
    #: Leiden resolution (higher = smaller communities) and seed (determinism).
    resolution: float = 1.0
    seed: int = 42
    #: Merge two communities of one context when the tie weight between them, less the part
    #: carried by the single most bridging clinician, is at least this share of the smaller
    #: one's total tie weight (modularity over-splits a team whose staff rotate; distinct
    #: teams are tied mostly through one floater or shared clinician). 0 disables.
    merge_min_cut_ratio: float = 0.18

    # -- organisational context -------------------------------------------------------------
    #: Detect communities separately inside each clinician's home context (the most specific
    #: organisation of their encounters; with ``context_by_location`` the location too), so
    #: co-participation never merges staff of different departments into one microsystem.
    split_by_context: bool = True
    #: Treat distinct Locations under one Organization as distinct contexts (two wards of one
    #: Medicine department). Off by default: locations are often buildings shared by teams.
    context_by_location: bool = False

    # -- joining shift partitions ---------------------------------------------------------
    #: Join communities of one context that work complementary hours at the same place
    #: (day and night staff of one ED rarely meet yet are one microsystem).
    join_shifts: bool = True
    #: Most overlap (sum of min of the hour-of-day activity distributions, 0..1) two
    #: communities may have to count as complementary shifts.
    shift_max_hour_overlap: float = 0.35
    #: Most hour overlap for two communities that are both mostly core members of one
    #: previous-period microsystem (its shifts, kept together through a month of uneven
    #: rotas); never stricter than ``shift_max_hour_overlap``.
    shift_max_hour_overlap_continuing: float = 0.5
    #: Least overlap of their dominant locations / encounter classes to join them.
    shift_min_place_overlap: float = 0.6
    #: Least encounters (in the network window) of each community to judge its hours.
    shift_min_encounters: int = 10
    #: Join communities whose members are mostly listed on one explicit team CareTeam.
    join_by_careteam: bool = True
    #: Share of a community's members a CareTeam must list to pull it in.
    careteam_min_cover: float = 0.5

    # -- explicit evidence ----------------------------------------------------------------
    #: A CareTeam is team evidence with at least this many practitioners and no Patient
    #: subject (a patient's own care team, e.g. Synthea's one per CarePlan, is not a unit).
    careteam_min_practitioners: int = 2
    #: ``CareTeam.participant.role`` codes (any code system) that designate the team lead
    #: (the assessment's leadership indicator); the synthetic hospital writes ``lead``.
    lead_role_codes: frozenset[str] = frozenset({"lead", "team-lead", "teamlead"})
    #: List explicit CareTeam members who had no encounter in the period (as occasional
    #: members). Off by default: unit CareTeams are often stale (leavers still listed); the
    #: idle ones are counted in ``Derivation.stats["explicit-members-idle"]``.
    include_idle_explicit_members: bool = False

    # -- membership -------------------------------------------------------------------------
    #: Least share of the microsystem's period encounters a member takes part in to be core.
    core_min_share: float = 0.05
    #: Least number of such encounters to be core.
    core_min_encounters: int = 3
    #: Least encounters relative to the microsystem's median member (members with at least
    #: one encounter) to be core: a floater covering a few shifts of a small ward is not core
    #: there even if those few shifts are a large share of the ward's encounters. 0 disables.
    core_min_relative: float = 0.5
    #: Least encounters in the period for a clinician to be listed as a member at all.
    member_min_encounters: int = 1

    # -- identity across periods ----------------------------------------------------------
    #: Least Jaccard of core memberships for a microsystem to keep its predecessor's id.
    identity_min_jaccard: float = 0.3
    #: Months a microsystem may stay quiet (no version) and still keep its id when it comes
    #: back with the same core: matched while its latest version ended at most this long
    #: before the period starts (12: a monthly one quiet for a year, a yearly one absent for
    #: one year). Counted in calendar months, so it means the same for every period length.
    identity_horizon_months: int = 12
    #: Keep an id for a microsystem that no core-membership match claimed when it has the
    #: same explicit team CareTeam (and organisation) as a recent one.
    identity_by_careteam: bool = True
    #: Otherwise keep it when the encounter-weighted overlap of all members (0..1, see
    #: ``identity.weighted_overlap``) with a recent one of the same organisation reaches
    #: this (small teams whose core crosses the core threshold month to month). 1 disables.
    identity_min_weighted_overlap: float = 0.5
    #: Least share of a microsystem's core members coming from an earlier one to record
    #: lineage (split from / merged from).
    lineage_min_overlap: float = 0.3

    # -- attribution ------------------------------------------------------------------------
    #: Encounter statuses that never happened and are counted, not attributed.
    excluded_statuses: tuple[str, ...] = ("entered-in-error", "cancelled", "planned")
    #: Encounter classes the measures count by end of stay (lengths of stay, readmission, ED
    #: return): one of these that ends in a later period than it started in counts there.
    ending_classes: frozenset[str] = frozenset({"IMP", "EMER"})
    #: Least of a microsystem's encounters in the period (started there, or ending there and
    #: counted there) for a patient to be in its patient group; a patient can be in several.
    patient_min_encounters: int = 1

    def __post_init__(self) -> None:
        for name in (
            "merge_min_cut_ratio",
            "lookback_weight",
            "shift_max_hour_overlap",
            "shift_max_hour_overlap_continuing",
            "shift_min_place_overlap",
            "careteam_min_cover",
            "core_min_share",
            "core_min_relative",
            "identity_min_jaccard",
            "identity_min_weighted_overlap",
            "lineage_min_overlap",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigurationError(
                    f"DerivationConfig.{name} must be within [0, 1], not {value}"
                )
        for name in ("lookback_days", "shared_patient_window_days", "identity_horizon_months"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"DerivationConfig.{name} must not be negative")

    def shared_patient_threshold(self, window_days: float) -> int:
        """Shared patients that make a tie over a network window of ``window_days``."""
        scaled = round(self.shared_patients_per_year * window_days / 365.0)
        return max(self.min_shared_patients, scaled)


__all__ = ["DerivationConfig"]
