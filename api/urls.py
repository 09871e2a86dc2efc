"""/api/v1/: every endpoint of the REST API (the security suite enumerates these)."""

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer

from api import views
from api.renderers import FhirJsonRenderer, PdfRenderer


class DatabaseIdConverter:
    """A positive integer that fits a bigint column (longer numbers are a 404, not a 500)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "id")


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI from the vendored sidecar assets (no CDN), with no inline script or style, so it
    runs under the site's Content Security Policy."""

    template_name = "api/swagger_ui.html"


app_name = "api"
urlpatterns = [
    path("token/", views.TokenViewSet.as_view({"get": "retrieve"}), name="token"),
    path(
        "patients/",
        views.PatientViewSet.as_view({"get": "list", "post": "create"}),
        name="patient-list",
    ),
    path(
        "patients/<id:pk>/",
        views.PatientViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="patient-detail",
    ),
    path(
        "visits/", views.VisitViewSet.as_view({"get": "list", "post": "create"}), name="visit-list"
    ),
    path("visits/<id:pk>/", views.VisitViewSet.as_view({"get": "retrieve"}), name="visit-detail"),
    path(
        "visits/<id:pk>/results/",
        views.VisitViewSet.as_view({"get": "results"}),
        name="visit-results",
    ),
    path(
        "visits/<id:pk>/images/",
        views.VisitImageViewSet.as_view({"get": "list", "post": "create"}),
        name="visit-images",
    ),
    path(
        "visits/<id:pk>/report/",
        views.VisitViewSet.as_view({"get": "report"}),
        name="visit-report",
    ),
    path(
        "visits/<id:pk>/report/pdf/",
        views.VisitViewSet.as_view(
            {"get": "report_pdf"}, renderer_classes=[PdfRenderer, JSONRenderer]
        ),
        name="visit-report-pdf",
    ),
    path(
        "visits/<id:pk>/fhir",
        views.VisitViewSet.as_view(
            {"get": "fhir"}, renderer_classes=[FhirJsonRenderer, JSONRenderer]
        ),
        name="visit-fhir",
    ),
    path("images/<uuid:pk>/", views.ImageViewSet.as_view({"get": "retrieve"}), name="image-detail"),
    path(
        "images/<uuid:pk>/results/",
        views.ImageViewSet.as_view({"get": "results"}),
        name="image-results",
    ),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SwaggerView.as_view(url_name="api:schema"), name="docs"),
]
