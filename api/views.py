"""The REST API's views: parse input, let `RolePolicy` authorise, call one selector or service,
answer. Reads and writes go through the same selectors and services as the web pages, so site
scoping (404 outside the caller's sites), validation and the audit of writes live in one place;
views pass the services the request's `api_context` and audit reads themselves."""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from accounts.http import AuthenticatedRequest
from accounts.models import ApiToken
from api import serializers as s
from api.audit import api_audit, api_context
from api.exceptions import Conflict, PayloadTooLarge
from api.fhir import visit_bundle
from api.filters import PatientFilter, VisitFilter
from api.parsers import JSONParser, MultiPartParser
from api.schema import NO_NUL_PATTERN
from patients.selectors import patient_search
from patients.services import patient_create, patient_update
from screening.models import FundusImage, Visit
from screening.reports import report_pdf
from screening.rules import grade_code
from screening.selectors import (
    get_image_with_gradings_for_user,
    get_signed_visit_for_user,
    get_visit_for_user,
    get_visit_with_images_for_user,
    gradings_of_image,
    images_with_gradings,
    latest_grading,
    visit_list,
)
from screening.services.images import image_attach
from screening.services.visits import visit_create
from screening.signed_report import signed_report
from screening.validators import MAX_SHOWN_NAME_LENGTH, file_size

SEARCH_MAX_LENGTH = 100
# Room for the multipart envelope and form fields around one photograph of the maximum size.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024
# Where a refused upload's file name is looked for (the first part's headers).
MULTIPART_HEAD_BYTES = 16 * 1024
FILE_NAME_IN_HEAD = re.compile(r'Content-Disposition:[^\r\n]*\bfilename="([^"\r\n]*)"', re.I)


class ApiViewSet(GenericViewSet):
    # Errors are always JSON, whatever the successful answer's media type (PDF, FHIR); answers
    # are never kept in a shared cache.

    policy = ""
    request: AuthenticatedRequest  # RolePolicy answers 401 before any action runs
    parser_classes: list[type] = [JSONParser]

    # DRF finalizes any HttpResponse (report_pdf returns one); its stubs only allow a Response.
    def finalize_response(  # type: ignore[override]
        self, request: Request, response: HttpResponse, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[arg-type]
        if not response.has_header("Cache-Control"):  # clinical data: never in a shared cache
            response["Cache-Control"] = "private, no-store"
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response


# --- the caller's own credentials -----------------------------------------------------------------


class TokenViewSet(ApiViewSet):
    policy = "token"
    filter_backends: list[type] = []
    serializer_class = s.TokenInfoSerializer
    pagination_class = None

    @extend_schema(
        summary="Who am I",
        description="The user, roles and sites of the credentials in use, and for an API token "
        "its name, prefix, allowed actions, expiry and last use. Tokens are issued and revoked "
        "by administrators at /staff/users/<id>/tokens/.",
    )
    def retrieve(self, request: AuthenticatedRequest) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(s.token_info(request.user, token))


# --- patients -------------------------------------------------------------------------------------


@extend_schema(tags=["patients"])
class PatientViewSet(mixins.ListModelMixin, ApiViewSet):
    policy = "patients"
    serializer_class = s.PatientSerializer
    filterset_class = PatientFilter
    ordering_fields = ["family_name", "given_name", "mrn", "date_of_birth", "created_at", "id"]
    ordering = ["family_name", "given_name", "id"]

    def get_queryset(self) -> Any:
        query = self.request.query_params.get("q", "")
        if len(query) > SEARCH_MAX_LENGTH:
            raise ValidationError({"q": f"At most {SEARCH_MAX_LENGTH} characters."})
        if "\x00" in query:  # PostgreSQL cannot compare text with NUL in it
            raise ValidationError({"q": "Null characters are not allowed."})
        return patient_search(user=self.request.user, query=query)

    def get_serializer_class(self) -> type:
        if self.action in ("create", "partial_update"):
            return s.PatientWriteSerializer
        return s.PatientSerializer

    @extend_schema(
        summary="Search patients",
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": SEARCH_MAX_LENGTH, "pattern": NO_NUL_PATTERN},
                description="MRN prefix or part of a name (every word).",
            )
        ],
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a patient")
    def retrieve(self, request: AuthenticatedRequest, pk: int) -> Response:
        patient = self.get_object()
        api_audit(request, "patient.view", patient)
        return Response(s.PatientSerializer(patient).data)

    @extend_schema(summary="Register a patient", responses={201: s.PatientSerializer})
    def create(self, request: AuthenticatedRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        site = fields.pop("site")
        patient = patient_create(
            actor=request.user, site=site, audit=api_context(request), **fields
        )
        patient.visit_count = 0  # type: ignore[attr-defined]  # patient_search's annotation
        return Response(s.PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a patient's details (not the site: a patient never moves between sites)",
        request=s.PatientChangeSerializer,
        responses={200: s.PatientSerializer},
    )
    def partial_update(self, request: AuthenticatedRequest, pk: int) -> Response:
        patient = self.get_object()
        serializer = self.get_serializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        patient = patient_update(
            actor=request.user,
            patient=patient,
            audit=api_context(request),
            **serializer.validated_data,
        )
        return Response(s.PatientSerializer(patient).data)


# --- visits ---------------------------------------------------------------------------------------


@extend_schema(tags=["visits"])
class VisitViewSet(mixins.ListModelMixin, ApiViewSet):
    policy = "visits"
    serializer_class = s.VisitSerializer
    filterset_class = VisitFilter
    ordering_fields = ["visit_date", "created_at", "updated_at", "id"]
    ordering = ["-visit_date", "-id"]

    def get_queryset(self) -> Any:
        return visit_list(self.request.user)

    def get_serializer_class(self) -> type:
        return s.VisitWriteSerializer if self.action == "create" else s.VisitSerializer

    @extend_schema(summary="List visits")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a visit with its photographs", responses=s.VisitDetailSerializer)
    def retrieve(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = get_visit_with_images_for_user(request.user, pk)
        api_audit(request, "visit.view", visit)
        return Response(s.VisitDetailSerializer(visit).data)

    @extend_schema(summary="Open a visit", responses={201: s.VisitDetailSerializer})
    def create(self, request: AuthenticatedRequest) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        visit = visit_create(
            actor=request.user, patient=fields.pop("patient"), audit=api_context(request), **fields
        )
        visit = get_visit_with_images_for_user(request.user, visit.pk)
        return Response(s.VisitDetailSerializer(visit).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Poll the AI grading of a visit",
        description="Poll until `grading_finished` is true (the visit is then awaiting review).",
        responses=s.VisitResultsSerializer,
        filters=False,
    )
    def results(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = get_visit_with_images_for_user(request.user, pk)
        api_audit(request, "visit.results_view", visit)
        images = visit.image_list
        latest = [latest_grading(image) for image in images]
        finished = bool(images) and all(job and job.is_finished for job in latest)
        data = {
            "visit": visit.pk,
            "status": visit.status,
            "grading_finished": finished,
            "signed": visit.status == Visit.Status.SIGNED,
            "ai_grade_right": grade_code(visit.ai_grade("right")),
            "ai_grade_left": grade_code(visit.ai_grade("left")),
            "ai_overall_grade": grade_code(visit.ai_overall),
            "ai_referable": visit.ai_referable,
            "ai_outcome": s.OutcomeSerializer(visit.ai_outcome).data if visit.ai_outcome else None,
            "ai_suggested_outcome": s.suggested_outcome_data(visit.ai_outcome),
            "images": s.ImageSerializer(images, many=True).data,
        }
        return Response(data)

    def _signed_visit(self, request: AuthenticatedRequest, pk: int) -> Visit:
        """404 outside the caller's sites; 409 when the visit exists but is not signed yet."""
        visit = get_visit_for_user(request.user, pk)
        if visit.status != Visit.Status.SIGNED:
            raise Conflict(
                f"Visit {visit.pk} has no signed report yet (status: {visit.get_status_display()})."
                " Poll /results/ until it is signed.",
                "not_signed",
            )
        return get_signed_visit_for_user(request.user, pk)

    @extend_schema(summary="The signed report", responses=s.ReportSerializer, filters=False)
    def report(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = self._signed_visit(request, pk)
        api_audit(request, "report.view", visit)
        return Response(s.report_data(signed_report(visit)))

    @extend_schema(
        summary="The signed report as PDF",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY)},
        filters=False,
    )
    def report_pdf(self, request: AuthenticatedRequest, pk: int) -> HttpResponse:
        visit = self._signed_visit(request, pk)
        api_audit(request, "report.download", visit)
        response = HttpResponse(report_pdf(signed_report(visit)), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="report-{visit.pk}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        summary="The signed report as a FHIR R4 Bundle",
        description="A `collection` Bundle: the DiagnosticReport (final or amended), one "
        "Observation per eye (LOINC and SNOMED CT codes, the eye in bodySite), the ImagingStudy "
        "(one series per eye), the Patient and the signing Practitioner; references resolve in "
        "the Bundle.",
        responses={
            (200, "application/fhir+json"): OpenApiResponse(OpenApiTypes.OBJECT),
            # The same Bundle for clients that ask for plain JSON (`Accept` or `?format=json`).
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
        },
        filters=False,
    )
    def fhir(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = self._signed_visit(request, pk)
        api_audit(request, "report.fhir_export", visit)
        return Response(visit_bundle(signed_report(visit)))


# --- photographs ----------------------------------------------------------------------------------


@extend_schema(tags=["images"])
class VisitImageViewSet(ApiViewSet):
    policy = "visit_images"
    filter_backends: list[type] = []
    queryset = FundusImage.objects.none()  # for the schema's path parameter types only
    serializer_class = s.ImageSerializer
    pagination_class = None

    parser_classes = [MultiPartParser]  # a JSON upload is a 415

    @extend_schema(summary="The photographs of a visit", responses=s.ImageSerializer(many=True))
    def list(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = get_visit_for_user(request.user, pk)
        api_audit(request, "visit.images_view", visit)
        images = images_with_gradings(visit.images.all())
        return Response(s.ImageSerializer(images, many=True).data)

    @extend_schema(
        summary="Upload a photograph",
        description="Multipart: one `file`, `eye` (right/left), `field` (macula/disc). One "
        "photograph per request: a second `file` part, a file under another name or a repeated "
        "`eye`/`field` is a 400 and nothing is stored. The same file sent again to the same visit "
        "returns the existing image (200) instead of a new one (201); the same file tagged with "
        "another eye or field is a 409.",
        request={"multipart/form-data": s.ImageUploadSerializer},
        responses={201: s.ImageSerializer, 200: s.ImageSerializer},
    )
    def create(self, request: AuthenticatedRequest, pk: int) -> Response:
        visit = get_visit_for_user(request.user, pk)
        limit = settings.FUNDUS_MAX_UPLOAD_BYTES
        size = int(request.META.get("CONTENT_LENGTH") or 0)
        if size > limit + MULTIPART_OVERHEAD_BYTES:  # refused without reading the photograph
            name = _file_name_in_head(request)
            raise PayloadTooLarge(
                f"{f'“{name}”' if name else 'This upload'} is {file_size(size)}; a photograph may "
                f"be at most {file_size(limit)}. Export the photograph from the camera at a lower "
                "resolution or as JPEG, then upload it again (one photograph per request)."
            )
        serializer = s.ImageUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        image, created = image_attach(
            actor=request.user,
            visit=visit,
            upload=data["file"],
            eye=data["eye"],
            field=data["field"],
            audit=api_context(request),
        )
        image = get_image_with_gradings_for_user(request.user, image.pk)
        return Response(
            s.ImageSerializer(image).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


@extend_schema(tags=["images"])
class ImageViewSet(ApiViewSet):
    policy = "images"
    filter_backends: list[type] = []
    queryset = FundusImage.objects.none()  # for the schema's path parameter types only
    serializer_class = s.ImageSerializer
    pagination_class = None

    @extend_schema(summary="A photograph's facts and latest grading")
    def retrieve(self, request: AuthenticatedRequest, pk: str) -> Response:
        image = get_image_with_gradings_for_user(request.user, pk)
        api_audit(request, "image.view", image)
        return Response(s.ImageSerializer(image).data)

    @extend_schema(
        summary="Every grading of a photograph (one per model version)",
        responses=s.GradingSerializer(many=True),
    )
    def results(self, request: AuthenticatedRequest, pk: str) -> Response:
        image = get_image_with_gradings_for_user(request.user, pk)
        api_audit(request, "image.results_view", image)
        return Response(s.GradingSerializer(gradings_of_image(image), many=True).data)


def _file_name_in_head(request: Request) -> str:
    """The name of the first file part, read from the first few kilobytes of a multipart body
    that is being refused anyway (the rest is never read); empty when not found there."""
    stream = request.stream
    head = stream.read(MULTIPART_HEAD_BYTES).decode("utf-8", "replace") if stream else ""
    found = FILE_NAME_IN_HEAD.search(head)
    return found.group(1)[:MAX_SHOWN_NAME_LENGTH] if found else ""
