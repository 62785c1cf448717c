"""Every knob of the synthetic hospital, with a sensible default."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from fhir_microsystems._errors import ConfigurationError

DEFAULT_BASE_URL = "https://synthetic-hospital.example/fhir"
#: Probabilities whose names do not end in _rate, _share or _noise.
_AT_MOST_ONE = {"continuity", "noise", "staff_turnover", "ed_mortality", "inpatient_mortality"}


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """Knobs of :func:`fhir_microsystems.synth.generate`; rates are probabilities in [0, 1].

    Rates whose name ends in ``_noise`` are multiplied by the master knob ``noise`` (so
    ``noise=0`` gives clean data and ``noise=1`` the full rate).
    """

    #: Server base of absolute references and of the manifest ``request``.
    base_url: str = DEFAULT_BASE_URL
    #: Local UTC offset written on every local dateTime (months themselves are UTC months).
    utc_offset: str = "-05:00"
    #: Staff per microsystem relative to the templates; None = sqrt(patients / 2000), clamped.
    staff_scale: float | None = None
    #: Inpatient wards (all under the Medicine department); None = derived from staff_scale.
    wards: int | None = None
    #: Primary-care teams sharing one practice; None = derived from staff_scale.
    primary_care_teams: int | None = None

    #: Master noise level scaling every ``*_noise`` rate.
    noise: float = 0.1
    #: Finished encounters without participants (times noise).
    missing_participants_noise: float = 0.3
    #: Finished encounters without period.end (times noise).
    missing_end_noise: float = 0.2
    #: Encounters whose class is an unknown code of the right system (times noise).
    bad_class_noise: float = 0.05
    #: ED visits with an implausible length of stay: zero or weeks (times noise).
    bad_los_noise: float = 0.05
    #: HbA1c results in mmol/mol instead of % (times noise).
    wrong_unit_noise: float = 0.2
    #: Observations without a value (times noise).
    missing_value_noise: float = 0.1
    #: Observation codes without a code system (times noise).
    missing_system_noise: float = 0.05

    #: Share of staff who float: they also cover another microsystem.
    float_rate: float = 0.15
    #: Chance that a staffing slot is filled by a floater covering the unit (when one exists).
    cover_rate: float = 0.08
    #: Monthly chance that a staff member leaves or moves (events at month boundaries).
    staff_turnover: float = 0.015
    #: Share of turnover events that are moves to another microsystem (the rest are leaves).
    move_share: float = 0.35
    #: Chance that a leaver is replaced by a new joiner in the same month.
    replace_rate: float = 0.9

    #: Share of patients on a primary-care team's panel.
    primary_care_share: float = 0.7
    #: Primary-care visits per panel patient per month (chronic patients get 1.5x).
    primary_care_visits_per_month: float = 0.25
    #: Chance a primary-care visit is with the patient's own physician (continuity).
    continuity: float = 0.75
    #: Share of patients with an active cancer (oncology clinic patients).
    oncology_share: float = 0.06
    #: Oncology clinic visits per cancer patient per month.
    oncology_visits_per_month: float = 1.2
    #: Share of oncology visits that are multidisciplinary (several clinicians).
    multidisciplinary_share: float = 0.15
    #: ED visits per patient per month.
    ed_visits_per_month: float = 0.03
    #: Share of ED visits that end in an inpatient admission.
    ed_admission_rate: float = 0.22
    #: Direct (non-ED) inpatient admissions per patient per month.
    direct_admissions_per_month: float = 0.002
    #: Chance an inpatient discharge is followed by a readmission within 30 days.
    readmission_rate: float = 0.12
    #: Chance an ED discharge home is followed by a return to the ED within 72 hours.
    ed_return_rate: float = 0.05
    #: Median ED length of stay in hours (log-normal).
    ed_los_median_hours: float = 3.5
    #: Median inpatient length of stay in days (log-normal, long tail).
    inpatient_los_median_days: float = 4.0
    #: Chance an inpatient stay ends with the patient's death (disposition exp).
    inpatient_mortality: float = 0.025
    #: Chance an ED visit ends with the patient's death.
    ed_mortality: float = 0.002
    #: Chance a visit is followed by a patient-reported experience survey.
    survey_rate: float = 0.25
    #: Share of blood pressures written as two standalone Observations instead of a panel.
    bp_split_share: float = 0.2

    #: Share of encounters whose participants are referenced as PractitionerRole.
    practitioner_role_share: float = 0.5
    #: Share of encounters written with absolute-URL references.
    absolute_url_share: float = 0.1
    #: Share of encounters whose Practitioner references are conditional (by NPI).
    conditional_reference_share: float = 0.08
    #: Share of Observations whose effectiveDateTime is written in UTC (``Z``).
    utc_timestamp_share: float = 0.3

    #: Share of unit CareTeams that are stale (leavers still listed, newcomers missing).
    careteam_stale_rate: float = 0.3
    #: Share of unit CareTeams that are partial (only some members listed).
    careteam_partial_rate: float = 0.3
    #: Share of oncology and primary-care patients with a patient-level CareTeam.
    patient_careteam_rate: float = 0.4

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and (math.isnan(value) or value < 0):
                raise ConfigurationError(f"synth knob {item.name} must be >= 0", knob=item.name)
            if (
                item.name.endswith(("_rate", "_share", "_noise"))
                and isinstance(value, float)
                and value > 1
            ) or (item.name in _AT_MOST_ONE and value > 1):
                raise ConfigurationError(f"synth knob {item.name} must be <= 1", knob=item.name)
        if self.ed_los_median_hours <= 0 or self.inpatient_los_median_days <= 0:
            raise ConfigurationError("length-of-stay medians must be > 0")
        if self.wards is not None and self.wards < 2:
            raise ConfigurationError("at least two wards are needed", knob="wards")
        if self.primary_care_teams is not None and self.primary_care_teams < 2:
            raise ConfigurationError(
                "at least two primary-care teams are needed", knob="primary_care_teams"
            )
        if self.staff_scale is not None and self.staff_scale <= 0:
            raise ConfigurationError("staff_scale must be > 0", knob="staff_scale")

    def noisy(self, rate: float) -> float:
        """``rate`` scaled by the master ``noise`` knob."""
        return rate * self.noise

    def resolved_scale(self, patients: int) -> float:
        """The staff scale used for ``patients`` patients."""
        if self.staff_scale is not None:
            return self.staff_scale
        return min(8.0, max(0.5, math.sqrt(max(patients, 1) / 2000)))

    def resolved_wards(self, patients: int) -> int:
        """The number of inpatient wards used for ``patients`` patients."""
        if self.wards is not None:
            return self.wards
        return max(2, round(2 * self.resolved_scale(patients)))

    def resolved_primary_care_teams(self, patients: int) -> int:
        """The number of primary-care teams used for ``patients`` patients."""
        if self.primary_care_teams is not None:
            return self.primary_care_teams
        return max(2, round(3 * self.resolved_scale(patients)))

    def to_json(self, patients: int) -> dict[str, Any]:
        """Knobs as written in ground truth, with the derived sizes filled in."""
        data = asdict(self)
        data["staff_scale"] = self.resolved_scale(patients)
        data["wards"] = self.resolved_wards(patients)
        data["primary_care_teams"] = self.resolved_primary_care_teams(patients)
        return data
