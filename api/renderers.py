from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer


class FhirJsonRenderer(JSONRenderer):
    """FHIR resources as `application/fhir+json` (FHIR R4's JSON media type)."""

    media_type = "application/fhir+json"
    format = "fhir"


class PdfRenderer(BaseRenderer):
    """Lets clients ask for `Accept: application/pdf`; the view answers with the PDF bytes."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> Any:
        return data
