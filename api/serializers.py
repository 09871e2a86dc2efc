"""What the API reads and writes. Validation of content (dates, MRN uniqueness, uploads) stays in
the models and services; serializers only parse types and shape answers."""

from dataclasses import asdict
from typing import Any, cast

from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiToken, Site
from accounts.roles import ROLE_LABELS, roles_of, sites_for
from patients.models import Patient
from patients.selectors import patients_for_user
from patients.services import EDITABLE_FIELDS as PATIENT_FIELDS
from screening.models import Eye, Field, FundusImage, GradingJob, OutcomeRule, Visit
from screening.rules import Urgency, grade_code, parse_grade, suggested_outcome
from screening.selectors import latest_grading, signed_result
from screening.services.visits import EDITABLE_FIELDS as VISIT_FIELDS
from screening.signed_report import SignedReport

# --- patients -------------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    site_code = serializers.CharField(source="site.code", read_only=True)
    email = serializers.CharField(read_only=True, help_text="Email address; empty when unknown.")
    visit_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Patient
        fields = ["id", "site", "site_code", *PATIENT_FIELDS, "visit_count", "created_at"]
        read_only_fields = fields


class PatientWriteSerializer(serializers.ModelSerializer):
    """Registering (with `site`) or changing (without) a patient; the service validates content."""

    site = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.none(),
        required=False,
        help_text="The clinic; may be left out when the caller works at exactly one site.",
    )

    class Meta:
        model = Patient
        fields = ["site", *PATIENT_FIELDS]
        validators: list[Any] = []  # uniqueness and dates: the service's full_clean()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if self.instance is not None:
            del self.fields["site"]  # a patient never moves between sites
        elif request is not None:
            site = cast(serializers.RelatedField, self.fields["site"])
            site.queryset = sites_for(request.user).filter(is_active=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "site" in self.initial_data:
            # Refused, not ignored: a caller asking to move a patient learns it did not happen.
            raise serializers.ValidationError(
                {"site": "A patient never moves between sites; register them at the other site."}
            )
        if self.instance is None and "site" not in data:
            sites = list(cast(serializers.RelatedField, self.fields["site"]).get_queryset()[:2])
            if len(sites) != 1:
                raise serializers.ValidationError({"site": "Choose the site of the patient."})
            data["site"] = sites[0]
        return data


# --- images and grading ---------------------------------------------------------------------------


class PatientChangeSerializer(PatientWriteSerializer):
    """Changing a patient (the schema of PATCH): every field but `site`, which never changes."""

    class Meta(PatientWriteSerializer.Meta):
        fields = [*PATIENT_FIELDS]


class GradingSerializer(serializers.ModelSerializer):
    """The AI's grading of one photograph by one model version (decision support)."""

    class Meta:
        model = GradingJob
        fields = [
            "status",
            "model_version",
            "queued_at",
            "finished_at",
            "gradable",
            "quality_reason",
            "quality_detail",
            "predicted_grade",
            "probabilities",
            "referable",
            "referable_probability",
            "referable_threshold",
            "most_likely_grade",
            "most_likely_probability",
            "confidence",
            "calibration",
            "error_reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "referable": {
                "help_text": "The screening decision: referable_probability >= "
                "referable_threshold (the model card's operating point)."
            },
            "referable_probability": {
                "help_text": "P(grade >= 2): the sum of the probabilities of grades 2, 3 and 4."
            },
            "predicted_grade": {
                "help_text": "The grade by the model card's grade rule (it stays "
                "on the side of the referral decision, so it can differ from "
                "most_likely_grade). Empty when the image is ungradable."
            },
            "confidence": {"help_text": "The probability of predicted_grade."},
        }

    most_likely_grade = serializers.SerializerMethodField(
        help_text="The grade the model ranks first (0-4); null when the image has no result."
    )
    most_likely_probability = serializers.SerializerMethodField(
        help_text="The probability of most_likely_grade."
    )

    def get_most_likely_grade(self, job: GradingJob) -> int | None:
        probabilities = job.probabilities or []
        return max(range(len(probabilities)), key=probabilities.__getitem__, default=None)

    def get_most_likely_probability(self, job: GradingJob) -> float | None:
        return max(job.probabilities) if job.probabilities else None

    probabilities = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        read_only=True,
        help_text="Model probabilities of ICDR grades 0, 1, 2, 3, 4.",
    )


class ImageSerializer(serializers.ModelSerializer):
    grading = serializers.SerializerMethodField(
        help_text="The most recent grading (null before one is queued)."
    )

    class Meta:
        model = FundusImage
        fields = [
            "id",
            "visit",
            "eye",
            "field",
            "sha256",
            "byte_size",
            "width",
            "height",
            "content_type",
            "original_filename",
            "uploaded_at",
            "grading",
        ]
        read_only_fields = fields

    @extend_schema_field(GradingSerializer(allow_null=True))
    def get_grading(self, image: FundusImage) -> dict[str, Any] | None:
        job = latest_grading(image)
        return GradingSerializer(job).data if job else None


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="JPEG, PNG or TIFF; checked exactly like the web upload.",
        allow_empty_file=True,  # the service refuses empty files with its own message
        use_url=False,
    )
    eye = serializers.ChoiceField(choices=Eye.choices)
    field = serializers.ChoiceField(choices=Field.choices, default=Field.MACULA)

    def to_internal_value(self, data: Any) -> Any:
        """One photograph per request: a repeated part or a file under another name is refused,
        never silently dropped (a multipart body keeps only the last value of a repeated name)."""
        if hasattr(data, "lists"):
            errors = {}
            for name, values in data.lists():
                files = [v.name or "unnamed" for v in values if isinstance(v, UploadedFile)]
                if name not in self.fields and files:
                    errors[name] = [
                        f"Unexpected file part “{name}” ({', '.join(files)}): send the photograph "
                        "as “file”. Nothing was stored."
                    ]
                elif name in self.fields and len(values) > 1:
                    errors[name] = [_repeated_part_message(name, values, files)]
            if errors:
                raise serializers.ValidationError(errors, code="repeated_part")
        return super().to_internal_value(data)


def _repeated_part_message(name: str, values: list[Any], files: list[str]) -> str:
    if files:
        return (
            f"This request holds {len(values)} files under “{name}” ({', '.join(files)}); send one "
            "photograph per request. Nothing was stored."
        )
    return f"“{name}” is given {len(values)} times; give it once. Nothing was stored."


# --- visits ---------------------------------------------------------------------------------------


class OutcomeSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutcomeRule
        fields = ["key", "label", "referral", "recall_months", "refer_within_weeks"]
        read_only_fields = fields


class SuggestedOutcomeSerializer(serializers.Serializer):
    """The visit's one suggested outcome (screening.rules.suggested_outcome), urgency included."""

    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    referral = serializers.BooleanField()
    urgency = serializers.ChoiceField(
        choices=[urgency.value for urgency in Urgency],
        help_text="How soon the outcome asks for action; the worklist reads visits in this order.",
    )


def suggested_outcome_data(outcome: OutcomeRule | None) -> dict[str, Any] | None:
    suggested = suggested_outcome(outcome)
    return None if suggested is None else SuggestedOutcomeSerializer(suggested).data


class GradeCodeField(serializers.CharField):
    """A grade as its code: "0"-"4", "U", or "" while there is none yet."""

    def get_attribute(self, instance: Any) -> str:
        return grade_code(parse_grade(super().get_attribute(instance)))


class VisitSerializer(serializers.ModelSerializer):
    image_count = serializers.IntegerField(read_only=True)
    ai_grade_right = GradeCodeField(read_only=True, help_text="0-4, or U when ungradable.")
    ai_grade_left = GradeCodeField(read_only=True, help_text="0-4, or U when ungradable.")
    ai_overall_grade = GradeCodeField(read_only=True, help_text="The worse eye; U when either is.")
    ai_outcome = OutcomeSerializer(read_only=True, allow_null=True)
    ai_suggested_outcome = serializers.SerializerMethodField(
        help_text="The AI's suggested outcome with its urgency, as every page shows it."
    )

    class Meta:
        model = Visit
        fields = [
            "id",
            "patient",
            "site",
            *VISIT_FIELDS,
            "status",
            "ai_grade_right",
            "ai_grade_left",
            "ai_overall_grade",
            "ai_referable",
            "ai_outcome",
            "ai_suggested_outcome",
            "image_count",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SuggestedOutcomeSerializer(allow_null=True))
    def get_ai_suggested_outcome(self, visit: Visit) -> dict[str, Any] | None:
        return suggested_outcome_data(visit.ai_outcome)


class SignedResultSerializer(serializers.Serializer):
    """The doctors' signed decision (the full report is at `report_url`)."""

    signed_at = serializers.DateTimeField(source="sign_off.signed_at")
    signed_by = serializers.CharField(source="sign_off.signed_by")
    overall_grade = serializers.CharField(
        source="sign_off.review.overall_grade", help_text="ICDR 0-4, or U when ungradable."
    )
    referable = serializers.BooleanField(source="sign_off.review.referable", allow_null=True)
    outcome = OutcomeSerializer(source="sign_off.review.outcome", allow_null=True)
    amended = serializers.BooleanField(help_text="True once an addendum follows the signature.")
    report_url = serializers.SerializerMethodField()

    def get_report_url(self, result: Any) -> str:
        return reverse("api:visit-report", kwargs={"pk": result.sign_off.visit_id})


class VisitDetailSerializer(VisitSerializer):
    images = ImageSerializer(many=True, read_only=True, source="image_list")
    signed_result = serializers.SerializerMethodField(
        help_text="The doctors' signed decision; null until the report is signed."
    )

    class Meta(VisitSerializer.Meta):
        fields = [*VisitSerializer.Meta.fields, "signed_result", "images"]
        read_only_fields = fields

    @extend_schema_field(SignedResultSerializer(allow_null=True))
    def get_signed_result(self, visit: Visit) -> dict[str, Any] | None:
        result = signed_result(visit)
        return SignedResultSerializer(result).data if result else None


class VisitWriteSerializer(serializers.ModelSerializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.none())

    class Meta:
        model = Visit
        fields = ["patient", *VISIT_FIELDS]
        validators: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            patient = cast(serializers.RelatedField, self.fields["patient"])
            patient.queryset = patients_for_user(request.user)


class VisitResultsSerializer(serializers.Serializer):
    """What a polling client needs: is grading finished, and what did the AI say."""

    visit = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Visit.Status.choices)
    grading_finished = serializers.BooleanField(
        help_text="True once every photograph's grading has succeeded or failed."
    )
    signed = serializers.BooleanField(help_text="True once a doctor signed the report.")
    ai_grade_right = serializers.CharField(allow_blank=True)
    ai_grade_left = serializers.CharField(allow_blank=True)
    ai_overall_grade = serializers.CharField(allow_blank=True)
    ai_referable = serializers.BooleanField(allow_null=True)
    ai_outcome = OutcomeSerializer(allow_null=True)
    ai_suggested_outcome = SuggestedOutcomeSerializer(allow_null=True)
    images = ImageSerializer(many=True)


# --- signed report --------------------------------------------------------------------------------


class ReportEyeSerializer(serializers.Serializer):
    eye = serializers.ChoiceField(choices=Eye.choices)
    grade = serializers.CharField(help_text="ICDR 0-4, or U when ungradable.")
    gradable = serializers.BooleanField()
    ungradable_reason = serializers.CharField(allow_blank=True)
    dme = serializers.CharField()
    ai_grade = serializers.CharField(allow_blank=True, help_text="The AI's eye grade (0-4, U).")
    comment = serializers.CharField(allow_blank=True)


class ReportReadingSerializer(serializers.Serializer):
    round = serializers.CharField()
    reader = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)


class ReportAddendumSerializer(serializers.Serializer):
    author = serializers.CharField()
    created_at = serializers.DateTimeField()
    reason = serializers.CharField()
    text = serializers.CharField()


class ReportPatientSerializer(serializers.Serializer):
    """The patient as the report was signed (a later registry correction does not change it)."""

    id = serializers.IntegerField()
    mrn = serializers.CharField()
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Patient.Sex.choices)


class ReportSerializer(serializers.Serializer):
    visit = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["final", "amended"])
    patient = ReportPatientSerializer()
    registry_changed = serializers.ListField(
        child=serializers.CharField(),
        help_text="Patient details the registry has corrected since signing.",
    )
    site = serializers.CharField()
    visit_date = serializers.DateField()
    camera = serializers.CharField(allow_blank=True)
    overall_grade = serializers.CharField(allow_blank=True)
    referable = serializers.BooleanField(allow_null=True)
    outcome = OutcomeSerializer(allow_null=True)
    outcome_reason = serializers.CharField(allow_blank=True)
    comment = serializers.CharField(allow_blank=True)
    eyes = ReportEyeSerializer(many=True)
    readings = ReportReadingSerializer(many=True)
    signed_by = serializers.CharField()
    signed_by_professional_id = serializers.CharField(allow_blank=True)
    signed_at = serializers.DateTimeField()
    ai_model_versions = serializers.ListField(child=serializers.CharField())
    ai_statement = serializers.CharField()
    addenda = ReportAddendumSerializer(many=True)
    pdf_url = serializers.CharField()
    fhir_url = serializers.CharField()


def report_data(report: SignedReport) -> dict[str, Any]:
    """The JSON report: the same `SignedReport` the PDF, letter and FHIR export read."""
    return {
        "visit": report.visit_id,
        "status": report.status,
        "patient": {
            "id": report.patient.registry_id,
            "mrn": report.patient.mrn,
            "given_name": report.patient.given_name,
            "family_name": report.patient.family_name,
            "date_of_birth": report.patient.date_of_birth,
            "sex": report.patient.sex,
        },
        "registry_changed": list(report.registry_changed),
        "site": report.site_name,
        "visit_date": report.visit_date,
        "camera": report.camera,
        "overall_grade": report.overall_grade,
        "referable": report.referable,
        "outcome": asdict(report.outcome) if report.outcome else None,
        "outcome_reason": report.outcome_reason,
        "comment": report.comment,
        "eyes": [
            {
                "eye": eye.eye,
                "grade": eye.grade,
                "gradable": eye.gradable,
                "ungradable_reason": eye.ungradable_reason,
                "dme": eye.dme,
                "ai_grade": eye.ai_grade,
                "comment": eye.comment,
            }
            for eye in report.eyes
            if eye.read
        ],
        "readings": [
            {"round": r.round, "reader": r.reader.name, "submitted_at": r.submitted_at}
            for r in report.readings
        ],
        "signed_by": report.signed_by.name,
        "signed_by_professional_id": report.signed_by.professional_id,
        "signed_at": report.signed_at,
        "ai_model_versions": list(report.model_versions),
        "ai_statement": report.ai_statement,
        "addenda": [
            {
                "author": a.author.name,
                "created_at": a.created_at,
                "reason": a.reason,
                "text": a.text,
            }
            for a in report.addenda
        ],
        "pdf_url": reverse("api:visit-report-pdf", kwargs={"pk": report.visit_id}),
        "fhir_url": reverse("api:visit-fhir", kwargs={"pk": report.visit_id}),
    }


# --- the caller's own credentials -----------------------------------------------------------------


class SiteRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name"]
        read_only_fields = fields


class TokenInfoSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    sites = SiteRefSerializer(many=True, help_text="The sites this request may see.")
    token = serializers.DictField(
        allow_null=True,
        help_text="name, prefix, actions, expires_at, last_used_at; null for a web session.",
    )


def token_info(user: Any, token: ApiToken | None) -> dict[str, Any]:
    return {
        "username": user.username,
        "roles": sorted(ROLE_LABELS[role] for role in roles_of(user)),
        "sites": SiteRefSerializer(sites_for(user).order_by("name"), many=True).data,
        "token": None
        if token is None
        else {
            "name": token.name,
            "prefix": token.prefix,
            "actions": token.actions,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        },
    }
