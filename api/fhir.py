"""FHIR R4 export of a signed visit (see CLINICAL.md, "Interoperability"; docs/CLINICAL.md lists
every code used here with its source).

A `collection` Bundle holding the DiagnosticReport (status final, or amended once an addendum
exists), one Observation per eye, the ImagingStudy with one series per eye (DICOM modality OP),
the Patient and the signing Practitioner. Every reference is an `urn:uuid:` full URL of another
entry, so the Bundle is self-contained. Ids are UUIDv5 of the visit, so exporting the same report
twice gives the same ids.

Standard codes come first, so that a receiving system can read the report without knowing DR
Portal: LOINC for what was observed (the report, each eye's DR severity and macular oedema, with
LOINC's ICDR answer list), SNOMED CT for the findings (DR severity levels, DME present or absent)
and for the eye (body structure and laterality). DR Portal's own codes (`urn:dr-portal:...`)
follow as additional codings of the same concept, so nothing DR Portal knew is lost. An ungradable
eye has no value: we could verify no SNOMED CT or LOINC concept for "ungradable photograph", so
the Observation says why the value is absent (`dataAbsentReason`), with DR Portal's "U" beside it.
"""

import uuid
from typing import Any

from django.utils import timezone

from patients.models import Patient
from screening.models import Dme
from screening.signed_report import EyeFinding, Person, SignedReport, grade_name

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DRP_CONCEPTS = "urn:dr-portal:fhir:concepts"
DRP_ICDR = "urn:dr-portal:fhir:icdr-grade"  # 0-4, and U for ungradable
DRP_DME = "urn:dr-portal:fhir:dme"
DRP_OUTCOME = "urn:dr-portal:fhir:outcome"
DRP_PROFESSIONAL_ID = "urn:dr-portal:professional-id"
DRP_USER = "urn:dr-portal:user"

Coding = dict[str, str]


def coding(system: str, code: str, display: str) -> Coding:
    return {"system": system, "code": code, "display": display}


# CLINICAL.md names 24028007 and 7771000 for the eyes: in SNOMED CT they are the laterality
# qualifiers Right and Left, so they go where FHIR asks for a laterality (ImagingStudy.series), and
# the eye itself (bodySite) is the body structure.
EYE_STRUCTURE = {
    "right": coding(SNOMED, "18944008", "Right eye structure"),
    "left": coding(SNOMED, "8966001", "Left eye structure"),
}
LATERALITY = {
    "right": coding(SNOMED, "24028007", "Right"),
    "left": coding(SNOMED, "7771000", "Left"),
}
OPHTHALMOLOGY = coding(SNOMED, "394594003", "Ophthalmology")
MODALITY_OP = coding(DICOM_DCM, "OP", "Ophthalmic photography")
# DICOM SOP class: Ophthalmic Photography 8 Bit Image Storage.
SOP_OPHTHALMIC_PHOTOGRAPHY_8BIT = {
    "system": "urn:ietf:rfc:3986",
    "code": "urn:oid:1.2.840.10008.5.1.4.1.1.77.1.5.1",
}

# --- LOINC: what was observed --------------------------------------------------------------------
REPORT_CODE = coding(LOINC, "104212-6", "Views screening for diabetic retinopathy of Eyes")
DR_SEVERITY = {  # answer list LL2117-1 is the ICDR scale
    "right": coding(
        LOINC, "71491-5", "Right eye Diabetic retinopathy severity level by Ophthalmoscopy"
    ),
    "left": coding(
        LOINC, "71490-7", "Left eye Diabetic retinopathy severity level by Ophthalmoscopy"
    ),
}
MACULAR_OEDEMA = {
    "right": coding(LOINC, "71489-9", "Right eye Macular edema by Ophthalmoscopy"),
    "left": coding(LOINC, "71488-1", "Left eye Macular edema by Ophthalmoscopy"),
}
ICDR_LOINC_ANSWER = {  # LOINC answer list LL2117-1
    "0": coding(LOINC, "LA18643-9", "No apparent retinopathy"),
    "1": coding(LOINC, "LA18644-7", "Mild non-proliferative retinopathy"),
    "2": coding(LOINC, "LA18645-4", "Moderate non-proliferative retinopathy"),
    "3": coding(LOINC, "LA18646-2", "Severe non-proliferative retinopathy"),
    "4": coding(LOINC, "LA18648-8", "Proliferative retinopathy"),
}

# --- SNOMED CT: the findings ---------------------------------------------------------------------
ICDR_SNOMED = {
    "1": coding(
        SNOMED,
        "312903003",
        "Mild nonproliferative retinopathy co-occurrent and due to diabetes mellitus",
    ),
    "2": coding(
        SNOMED,
        "312904009",
        "Moderate nonproliferative retinopathy co-occurrent and due to diabetes mellitus",
    ),
    "3": coding(
        SNOMED,
        "312905005",
        "Severe nonproliferative retinopathy co-occurrent and due to diabetes mellitus",
    ),
    "4": coding(
        SNOMED, "59276001", "Proliferative retinopathy co-occurrent and due to diabetes mellitus"
    ),
}
NO_DR_SNOMED = {  # "no DR" is a statement about one eye: SNOMED CT has one per side
    "right": coding(SNOMED, "390850007", "O/E - no right diabetic retinopathy"),
    "left": coding(SNOMED, "390853009", "O/E - no left diabetic retinopathy"),
}
DME_SNOMED: dict[str, Coding] = {
    Dme.PRESENT: coding(SNOMED, "52101004", "Present"),
    Dme.ABSENT: coding(SNOMED, "2667000", "Absent"),
}
DIABETIC_MACULAR_OEDEMA = coding(
    SNOMED, "312912001", "Macular edema co-occurrent and due to diabetes mellitus"
)
UNKNOWN = coding(DATA_ABSENT_REASON, "unknown", "Unknown")

GENDER: dict[str, str] = {
    Patient.Sex.FEMALE: "female",
    Patient.Sex.MALE: "male",
    Patient.Sex.OTHER: "other",
    Patient.Sex.UNKNOWN: "unknown",
}

ID_NAMESPACE = uuid.UUID("6f0b5c1e-2a4d-5e8f-9b1a-3c7d2e4f6a8b")


def visit_bundle(report: SignedReport) -> dict[str, Any]:
    """The Bundle of one signed report (screening.signed_report.signed_report)."""
    ids = _Ids(report.visit_id)
    patient = _patient(report, ids)
    signer = _practitioner(report.signed_by, ids.of("practitioner"))
    study = _imaging_study(report, ids)
    observations = [_observation(report, eye, ids) for eye in report.eyes if eye.read]
    diagnostic_report = _diagnostic_report(report, ids, observations)
    resources = [diagnostic_report, *observations, study, patient, signer]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


class _Ids:
    def __init__(self, visit_pk: int) -> None:
        self.visit_pk = visit_pk

    def of(self, what: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"visit/{self.visit_pk}/{what}"))

    def ref(self, what: str) -> dict[str, str]:
        return {"reference": f"urn:uuid:{self.of(what)}"}


def _concept(*codings: Coding, text: str = "") -> dict[str, Any]:
    return {"coding": list(codings), "text": text or codings[0]["display"]}


def _patient(report: SignedReport, ids: _Ids) -> dict[str, Any]:
    """The patient as the report was signed."""
    patient = report.patient
    return {
        "resourceType": "Patient",
        "id": ids.of("patient"),
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": "MR"}]},
                "system": f"urn:dr-portal:site:{report.site_code}:mrn",
                "value": patient.mrn,
            }
        ],
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": GENDER.get(patient.sex, "unknown"),
        "birthDate": patient.date_of_birth.isoformat(),
    }


def _practitioner(person: Person, practitioner_id: str) -> dict[str, Any]:
    """The signing doctor: their DR Portal account always identifies them; their professional
    registration number too when recorded."""
    name: dict[str, Any] = {"use": "official", "text": person.name}
    if person.family_name:
        name["family"] = person.family_name
    if person.given_name:
        name["given"] = [person.given_name]
    identifiers = [{"use": "secondary", "system": DRP_USER, "value": person.username}]
    if person.professional_id:
        identifiers.insert(
            0, {"use": "official", "system": DRP_PROFESSIONAL_ID, "value": person.professional_id}
        )
    return {
        "resourceType": "Practitioner",
        "id": practitioner_id,
        "identifier": identifiers,
        "name": [name],
    }


def _local_grade(code: str) -> Coding:
    return coding(DRP_ICDR, code, grade_name(code))


def grade_value(eye: str, code: str) -> dict[str, Any]:
    """`valueCodeableConcept` or `dataAbsentReason` of an ICDR eye grade ("0"-"4", "U")."""
    if code == "U":
        return {"dataAbsentReason": _concept(UNKNOWN, _local_grade("U"), text="Ungradable")}
    standard = ICDR_SNOMED.get(code) or NO_DR_SNOMED[eye]
    return {
        "valueCodeableConcept": _concept(
            standard, ICDR_LOINC_ANSWER[code], _local_grade(code), text=grade_name(code)
        )
    }


def dme_value(dme: str) -> dict[str, Any]:
    local = coding(DRP_DME, dme, Dme(dme).label)
    if dme in DME_SNOMED:
        return {"valueCodeableConcept": _concept(DME_SNOMED[dme], local, text=local["display"])}
    return {"dataAbsentReason": _concept(UNKNOWN, local, text=local["display"])}


def _observation(report: SignedReport, eye: EyeFinding, ids: _Ids) -> dict[str, Any]:
    components = [
        {
            "code": _concept(
                MACULAR_OEDEMA[eye.eye], coding(DRP_CONCEPTS, "dme", "Diabetic macular oedema")
            ),
            **dme_value(eye.dme),
        }
    ]
    if eye.ai_grade:
        components.append(
            {
                "code": _concept(
                    coding(DRP_CONCEPTS, "ai-grade", "AI grade of the eye (decision support only)")
                ),
                **grade_value(eye.eye, eye.ai_grade),
            }
        )
    notes = [text for text in (eye.ungradable_reason, eye.comment) if text]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids.of(f"observation/{eye.eye}"),
        "status": report.status,
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}
        ],
        "code": _concept(
            DR_SEVERITY[eye.eye],
            coding(DRP_CONCEPTS, "icdr-eye-grade", "Diabetic retinopathy grade of one eye (ICDR)"),
        ),
        "subject": ids.ref("patient"),
        "effectiveDateTime": report.visit_date.isoformat(),
        "issued": report.signed_at.isoformat(),
        "performer": [ids.ref("practitioner")],
        **grade_value(eye.eye, eye.grade),
        "bodySite": _concept(EYE_STRUCTURE[eye.eye]),
        "method": {"text": "Doctor's grading of colour fundus photographs (ICDR scale)"},
        "derivedFrom": [ids.ref("imaging-study")],
        "component": components,
    }
    if notes:
        observation["note"] = [{"text": text} for text in notes]
    return observation


def _imaging_study(report: SignedReport, ids: _Ids) -> dict[str, Any]:
    series = []
    for number, eye in enumerate(report.eyes, start=1):
        if not eye.images:
            continue
        series.append(
            {
                "uid": _dicom_uid(uuid.UUID(ids.of(f"series/{eye.eye}"))),
                "number": number,
                "modality": MODALITY_OP,
                "description": eye.label,
                "numberOfInstances": len(eye.images),
                "bodySite": EYE_STRUCTURE[eye.eye],
                "laterality": LATERALITY[eye.eye],
                "instance": [
                    {
                        "uid": _dicom_uid(image.image_id),
                        "sopClass": SOP_OPHTHALMIC_PHOTOGRAPHY_8BIT,
                        "number": index,
                        "title": image.field_label,
                    }
                    for index, image in enumerate(eye.images, start=1)
                ],
            }
        )
    study: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": ids.of("imaging-study"),
        "identifier": [
            {
                "system": "urn:dicom:uid",
                "value": f"urn:oid:{_dicom_uid(uuid.UUID(ids.of('study-uid')))}",
            }
        ],
        "status": "available",
        "modality": [MODALITY_OP],
        "subject": ids.ref("patient"),
        "started": report.visit_started_at.isoformat(),
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series),
        "description": "Colour fundus photographs, diabetic retinopathy screening",
        "series": series,
    }
    if not series:
        del study["series"]
    return study


def _conclusion_codes(report: SignedReport) -> list[dict[str, Any]]:
    """SNOMED CT findings of the visit (the most severe DR level of a gradable eye, even when the
    other eye is ungradable; DME in either eye) and DR Portal's outcome."""
    codes = []
    worst = max((eye.grade for eye in report.eyes if eye.grade in ICDR_LOINC_ANSWER), default="")
    if worst in ICDR_SNOMED:
        codes.append(_concept(ICDR_SNOMED[worst]))
    if any(eye.dme == Dme.PRESENT for eye in report.eyes):
        codes.append(_concept(DIABETIC_MACULAR_OEDEMA))
    if report.outcome:
        codes.append(_concept(coding(DRP_OUTCOME, report.outcome.key, report.outcome.label)))
    return codes


def _diagnostic_report(
    report: SignedReport, ids: _Ids, observations: list[dict[str, Any]]
) -> dict[str, Any]:
    overall = report.overall_grade_name or "Not recorded"
    conclusion = f"Overall grade (worse eye): {overall}."
    if report.outcome:
        conclusion += f" Outcome: {report.outcome.label}."
    for addendum in report.addenda:
        conclusion += f" Addendum ({addendum.created_at:%Y-%m-%d}, {addendum.reason}): "
        conclusion += addendum.text
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": ids.of("diagnostic-report"),
        "identifier": [{"system": "urn:dr-portal:visit", "value": str(report.visit_id)}],
        "status": report.status,
        "category": [{"coding": [OPHTHALMOLOGY]}],
        "code": _concept(
            REPORT_CODE,
            coding(DRP_CONCEPTS, "dr-screening", "Diabetic retinopathy screening report"),
        ),
        "subject": ids.ref("patient"),
        "effectiveDateTime": report.visit_date.isoformat(),
        "issued": report.signed_at.isoformat(),
        "performer": [ids.ref("practitioner")],
        "resultsInterpreter": [ids.ref("practitioner")],
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
        "imagingStudy": [ids.ref("imaging-study")],
        "conclusion": conclusion,
    }
    if codes := _conclusion_codes(report):
        resource["conclusionCode"] = codes
    return resource


def _dicom_uid(value: uuid.UUID) -> str:
    """A DICOM UID derived from a UUID (the 2.25 root, ISO/IEC 9834-8)."""
    return f"2.25.{value.int}"
