"""FHIR R4 export of a signed visit (see CLINICAL.md, "Interoperability").

A `collection` Bundle holding the DiagnosticReport (status final, or amended once an addendum
exists), one Observation per eye (ICDR grade as the value, DME and the AI's grade as components,
laterality in bodySite with the SNOMED CT codes CLINICAL.md gives), the ImagingStudy with one
series per eye (DICOM modality OP), the Patient and the signing Practitioner. Every reference is
an `urn:uuid:` full URL of another entry, so the Bundle is self-contained. Ids are UUIDv5 of the
visit, so exporting the same report twice gives the same ids.

Grades, DME and outcomes have no standard code system that fits exactly, so they use DR Portal's
own systems (`urn:dr-portal:...`); the text of every concept says what it means.
"""

import uuid
from typing import Any

from django.utils import timezone

from patients.models import Patient
from screening.models import Dme
from screening.templatetags.screening_tags import ICDR_NAMES

SNOMED = "http://snomed.info/sct"
DICOM_DCM = "http://dicom.nema.org/resources/ontology/DCM"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
DRP_CONCEPTS = "urn:dr-portal:fhir:concepts"
DRP_ICDR = "urn:dr-portal:fhir:icdr-grade"  # 0-4, and U for ungradable
DRP_DME = "urn:dr-portal:fhir:dme"
DRP_OUTCOME = "urn:dr-portal:fhir:outcome"
DRP_PROFESSIONAL_ID = "urn:dr-portal:professional-id"

# CLINICAL.md: laterality via bodySite, SNOMED 7771000 left eye, 24028007 right eye.
EYE_SITE = {
    "right": {"system": SNOMED, "code": "24028007", "display": "Right eye"},
    "left": {"system": SNOMED, "code": "7771000", "display": "Left eye"},
}
OPHTHALMOLOGY = {"system": SNOMED, "code": "394594003", "display": "Ophthalmology"}
MODALITY_OP = {"system": DICOM_DCM, "code": "OP", "display": "Ophthalmic photography"}
# DICOM SOP class: Ophthalmic Photography 8 Bit Image Storage.
SOP_OPHTHALMIC_PHOTOGRAPHY_8BIT = {
    "system": "urn:ietf:rfc:3986",
    "code": "urn:oid:1.2.840.10008.5.1.4.1.1.77.1.5.1",
}
GENDER: dict[str, str] = {
    Patient.Sex.FEMALE: "female",
    Patient.Sex.MALE: "male",
    Patient.Sex.OTHER: "other",
    Patient.Sex.UNKNOWN: "unknown",
}
SEX_BY_LABEL = {label: value for value, label in Patient.Sex.choices}


def sex_code(value: str) -> str:
    """The registry's code for a sex given as a code or as its label (signed reports freeze the
    label)."""
    return value if value in Patient.Sex.values else SEX_BY_LABEL.get(value, Patient.Sex.UNKNOWN)


ID_NAMESPACE = uuid.UUID("6f0b5c1e-2a4d-5e8f-9b1a-3c7d2e4f6a8b")


def visit_bundle(context: dict[str, Any]) -> dict[str, Any]:
    """The Bundle of one signed visit, from `screening.reports.report_context(visit)`."""
    visit = context["visit"]
    ids = _Ids(visit.pk)
    status = "amended" if context["amended"] else "final"
    patient = _patient(context["patient"], visit.site.code, ids)
    signer = _practitioner(context["sign_off"].signed_by, ids.of("practitioner"))
    study = _imaging_study(context, ids)
    observations = [
        _observation(context, section, ids, status)
        for section in context["eyes"]
        if section.reading is not None
    ]
    report = _diagnostic_report(context, ids, status, observations)
    resources = [report, *observations, study, patient, signer]
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


def _patient(patient: Any, site_code: str, ids: _Ids) -> dict[str, Any]:
    """The patient as the report was signed (`report_context`'s patient)."""
    return {
        "resourceType": "Patient",
        "id": ids.of("patient"),
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": "MR"}]},
                "system": f"urn:dr-portal:site:{site_code}:mrn",
                "value": patient.mrn,
            }
        ],
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        "gender": GENDER.get(sex_code(patient.sex), "unknown"),
        "birthDate": patient.date_of_birth.isoformat(),
    }


def _practitioner(user: Any, practitioner_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": practitioner_id,
        "name": [{"text": str(user)}],
    }
    if user.last_name:
        resource["name"][0]["family"] = user.last_name
    if user.professional_id:
        resource["identifier"] = [{"system": DRP_PROFESSIONAL_ID, "value": user.professional_id}]
    return resource


def _grade_concept(code: str) -> dict[str, Any]:
    display = ICDR_NAMES.get(code, f"Grade {code}") if code else "Not recorded"
    return {"coding": [{"system": DRP_ICDR, "code": code, "display": display}], "text": display}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _observation(context: dict[str, Any], section: Any, ids: _Ids, status: str) -> dict[str, Any]:
    reading = section.reading
    components = [
        {
            "code": _concept(DRP_CONCEPTS, "dme", "Diabetic macular oedema"),
            "valueCodeableConcept": _concept(DRP_DME, reading.dme, Dme(reading.dme).label),
        }
    ]
    if section.ai_grade:
        components.append(
            {
                "code": _concept(
                    DRP_CONCEPTS, "ai-grade", "AI grade of the eye (decision support only)"
                ),
                "valueCodeableConcept": _grade_concept(section.ai_grade),
            }
        )
    notes = [text for text in (reading.ungradable_reason, reading.comment) if text]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids.of(f"observation/{section.eye}"),
        "status": status,
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}
        ],
        "code": _concept(
            DRP_CONCEPTS, "icdr-eye-grade", "Diabetic retinopathy grade of one eye (ICDR)"
        ),
        "subject": ids.ref("patient"),
        "effectiveDateTime": context["visit"].visit_date.isoformat(),
        "issued": context["sign_off"].signed_at.isoformat(),
        "performer": [ids.ref("practitioner")],
        "valueCodeableConcept": _grade_concept(reading.code),
        "bodySite": {"coding": [EYE_SITE[section.eye]], "text": EYE_SITE[section.eye]["display"]},
        "derivedFrom": [ids.ref("imaging-study")],
        "component": components,
    }
    if notes:
        observation["note"] = [{"text": text} for text in notes]
    return observation


def _imaging_study(context: dict[str, Any], ids: _Ids) -> dict[str, Any]:
    visit = context["visit"]
    series = []
    for number, section in enumerate(context["eyes"], start=1):
        if not section.rows:
            continue
        series.append(
            {
                "uid": _dicom_uid(uuid.UUID(ids.of(f"series/{section.eye}"))),
                "number": number,
                "modality": MODALITY_OP,
                "description": section.label,
                "numberOfInstances": len(section.rows),
                "bodySite": EYE_SITE[section.eye],
                "laterality": EYE_SITE[section.eye],
                "instance": [
                    {
                        "uid": _dicom_uid(row.image.pk),
                        "sopClass": SOP_OPHTHALMIC_PHOTOGRAPHY_8BIT,
                        "number": index,
                        "title": row.image.get_field_display(),
                    }
                    for index, row in enumerate(section.rows, start=1)
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
        "started": visit.created_at.isoformat(),
        "numberOfSeries": len(series),
        "numberOfInstances": sum(s["numberOfInstances"] for s in series),
        "description": "Colour fundus photographs, diabetic retinopathy screening",
        "series": series,
    }
    if not series:
        del study["series"]
    return study


def _diagnostic_report(
    context: dict[str, Any], ids: _Ids, status: str, observations: list[dict[str, Any]]
) -> dict[str, Any]:
    final, visit = context["final"], context["visit"]
    conclusion = f"Overall grade (worse eye): {_grade_concept(final.overall_grade)['text']}."
    if final.outcome:
        conclusion += f" Outcome: {final.outcome.label}."
    for addendum in context["addenda"]:
        conclusion += f" Addendum ({addendum.created_at:%Y-%m-%d}, {addendum.reason}): "
        conclusion += addendum.text
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": ids.of("diagnostic-report"),
        "identifier": [{"system": "urn:dr-portal:visit", "value": str(visit.pk)}],
        "status": status,
        "category": [{"coding": [OPHTHALMOLOGY]}],
        "code": _concept(DRP_CONCEPTS, "dr-screening", "Diabetic retinopathy screening report"),
        "subject": ids.ref("patient"),
        "effectiveDateTime": visit.visit_date.isoformat(),
        "issued": context["sign_off"].signed_at.isoformat(),
        "performer": [ids.ref("practitioner")],
        "resultsInterpreter": [ids.ref("practitioner")],
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
        "imagingStudy": [ids.ref("imaging-study")],
        "conclusion": conclusion,
    }
    if final.outcome:
        report["conclusionCode"] = [_concept(DRP_OUTCOME, final.outcome.key, final.outcome.label)]
    return report


def _dicom_uid(value: uuid.UUID) -> str:
    """A DICOM UID derived from a UUID (the 2.25 root, ISO/IEC 9834-8)."""
    return f"2.25.{value.int}"
