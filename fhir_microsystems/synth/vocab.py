"""Code systems and the codes the synthetic hospital writes (all from FHIR R4 value sets)."""

from __future__ import annotations

from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
ADMIT_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
DIAGNOSIS_ROLE = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
DEGREE = "http://terminology.hl7.org/CodeSystem/v2-0360|2.7"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def local_system(base_url: str, name: str) -> str:
    """A code system of the synthetic hospital itself, e.g. ``<base>/CodeSystem/experience``."""
    return f"{base_url}/CodeSystem/{name}"


def coding(system: str, code: str, display: str) -> dict[str, str]:
    """A Coding element."""
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    """A CodeableConcept with one coding and the display as text."""
    return {"coding": [coding(system, code, display)], "text": display}


#: Disciplines: practitioner-role code (or None), SNOMED occupation, qualification degree.
DISCIPLINES: dict[str, dict[str, tuple[str, str] | None]] = {
    "physician": {
        "role": ("doctor", "Doctor"),
        "occupation": ("158965000", "Medical practitioner"),
        "degree": ("MD", "Doctor of Medicine"),
    },
    "nurse": {
        "role": ("nurse", "Nurse"),
        "occupation": ("224535009", "Registered nurse"),
        "degree": ("RN", "Registered Nurse"),
    },
    "pharmacist": {
        "role": ("pharmacist", "Pharmacist"),
        "occupation": ("46255001", "Pharmacist"),
        "degree": ("PharmD", "Doctor of Pharmacy"),
    },
    "therapist": {
        "role": None,
        "occupation": ("36682004", "Physiotherapist"),
        "degree": None,
    },
    "social-worker": {
        "role": None,
        "occupation": ("106328005", "Social worker"),
        "degree": ("MSW", "Master of Social Work"),
    },
}

#: Microsystem kind -> PractitionerRole specialty (SNOMED, practice-setting value set).
SPECIALTIES: dict[str, tuple[str, str]] = {
    "emergency": ("773568002", "Emergency medicine"),
    "oncology": ("394593009", "Medical oncology"),
    "inpatient-ward": ("419192003", "Internal medicine"),
    "primary-care": ("394814009", "General practice"),
}

#: Cancers of oncology clinic patients (SNOMED).
CANCERS: tuple[tuple[str, str], ...] = (
    ("254637007", "Non-small cell lung cancer"),
    ("254837009", "Malignant neoplasm of breast"),
    ("363406005", "Malignant neoplasm of colon"),
    ("399068003", "Malignant tumor of prostate"),
)
DIABETES = ("44054006", "Diabetes mellitus type 2")
HYPERTENSION = ("38341003", "Hypertensive disorder")

#: ED presenting problems (SNOMED findings/disorders), with a relative weight.
ED_PROBLEMS: tuple[tuple[str, str, int], ...] = (
    ("29857009", "Chest pain", 5),
    ("21522001", "Abdominal pain", 6),
    ("267036007", "Dyspnea", 4),
    ("25064002", "Headache", 3),
    ("125605004", "Fracture of bone", 3),
    ("68566005", "Urinary tract infectious disease", 3),
    ("233604007", "Pneumonia", 3),
    ("84114007", "Heart failure", 2),
    ("13645005", "Chronic obstructive lung disease", 2),
    ("91302008", "Sepsis", 1),
    ("230690007", "Cerebrovascular accident", 1),
)

ENCOUNTER_TYPES: dict[str, tuple[str, str]] = {
    "emergency": ("50849002", "Emergency room admission"),
    "inpatient-ward": ("183452005", "Emergency hospital admission"),
    "inpatient-direct": ("32485007", "Hospital admission"),
    "oncology": ("390906007", "Follow-up encounter"),
    "oncology-mdt": ("185347001", "Encounter for problem"),
    "primary-care": ("185349003", "Encounter for check up"),
}
CHEMOTHERAPY = ("367336001", "Chemotherapy")
CHECK_UP = ("185349003", "Encounter for check up")

CLASSES: dict[str, tuple[str, str]] = {
    "emergency": ("EMER", "emergency"),
    "inpatient-ward": ("IMP", "inpatient encounter"),
    "oncology": ("AMB", "ambulatory"),
    "primary-care": ("AMB", "ambulatory"),
}
#: An unknown code in the right system: structurally valid, semantically wrong (noise).
BAD_CLASS = ("ER", "ER")

PARTICIPANT_TYPES: dict[str, str] = {
    "ATND": "attender",
    "ADM": "admitter",
    "DIS": "discharger",
    "PPRF": "primary performer",
    "SPRF": "secondary performer",
    "CON": "consultant",
    "PART": "Participation",
}

DISPOSITIONS: dict[str, str] = {
    "home": "Home",
    "alt-home": "Alternative home",
    "other-hcf": "Other healthcare facility",
    "hosp": "Hospice",
    "long": "Long-term care",
    "aadvice": "Left against advice",
    "exp": "Expired",
    "rehab": "Rehabilitation",
    "snf": "Skilled nursing facility",
    "oth": "Other",
}

#: CareTeam categories (LOINC answer list LL2977-7).
TEAM_ENCOUNTER = ("LA27976-2", "Encounter-focused care team")
TEAM_LONGITUDINAL = ("LA28865-6", "Longitudinal care-coordination focused care team")
#: Marks the lead of a CareTeam: a second coding on participant.role (local code system).
TEAM_LEAD = ("lead", "Team lead")

BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
HEART_RATE = ("8867-4", "Heart rate")
HBA1C = ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")
PAIN = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
EXPERIENCE = ("would-recommend", "Would recommend this unit to friends and family (0-10)")
