"""One error body for every API error:

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"mrn": ["..."]}}}

Domain errors raised by services keep their message and get the status that fits: a refused
photograph 400 (413 when too large, 415 when not a JPEG, PNG or TIFF), a duplicate photograph or a
locked visit 409. Unknown API URLs (handler404) answer in the same shape.
"""

import logging
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from screening.models import SignedRecordLocked
from screening.services.images import DuplicateImageConflict

logger = logging.getLogger(__name__)
API_PREFIX = "/api/"
NOT_FOUND_MESSAGE = "Not found: there is no such record at your sites."

# Codes of domain ValidationErrors that are not plain 400s.
STATUS_BY_CODE = {
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "format": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "not_an_image": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    "locked": status.HTTP_409_CONFLICT,
    "in_review": status.HTTP_409_CONFLICT,
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the record's current state."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "too_large"


class DomainError(exceptions.APIException):
    """A service's ValidationError with the status its code calls for."""

    def __init__(self, error: DjangoValidationError, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(" ".join(error.messages), _django_code(error))


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _translate(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's handler500 answers
    response.data = error_body(response.status_code, exc)
    return response


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        code = _django_code(exc)
        if code in STATUS_BY_CODE:
            return DomainError(exc, STATUS_BY_CODE[code])
        if hasattr(exc, "error_dict"):
            detail = {
                ("non_field_errors" if name == NON_FIELD_ERRORS else name): messages
                for name, messages in exc.message_dict.items()
            }
            return exceptions.ValidationError(detail)
        return exceptions.ValidationError({"non_field_errors": exc.messages}, code)
    if isinstance(exc, DuplicateImageConflict):
        return Conflict(str(exc), "duplicate_image")
    if isinstance(exc, SignedRecordLocked):
        return Conflict(str(exc), "locked")
    if isinstance(exc, IntegrityError):  # a concurrent write won a uniqueness race (same MRN)
        logger.warning("API write lost a race: %s", type(exc).__name__)
        return Conflict("The record was changed by another request at the same time; retry.")
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("The request body is larger than the server accepts.")
    if isinstance(exc, Http404):
        return exceptions.NotFound(NOT_FOUND_MESSAGE)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def _django_code(error: DjangoValidationError) -> str:
    for item in error.error_list if not hasattr(error, "error_dict") else []:
        if item.code:
            return item.code
    return "invalid"


def error_body(status_code: int, exc: Exception) -> dict[str, Any]:
    message, code, fields = "", "error", {}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        detail = exc.detail
        general = detail.get("non_field_errors", [])
        fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in detail.items()
            if name != "non_field_errors"
        }
        message = " ".join(str(m) for m in general) or (
            "Check the fields: " + ", ".join(sorted(fields)) + "." if fields else "Invalid input."
        )
        code = _first_code(exc.get_codes(), default="invalid")
    elif isinstance(exc, exceptions.APIException):
        error_detail = exc.detail
        message = (
            " ".join(str(m) for m in error_detail)
            if isinstance(error_detail, list)
            else str(error_detail)
        )
        code = _first_code(exc.get_codes(), default=exc.default_code)
    return {"error": {"status": status_code, "code": code, "message": message, "fields": fields}}


def _first_code(codes: Any, default: str) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        for value in codes.values():
            return _first_code(value, default)
    if isinstance(codes, list) and codes:
        return _first_code(codes[0], default)
    return default


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"error": {"status": status_code, "code": code, "message": message, "fields": {}}},
        status=status_code,
    )


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: JSON under /api/, the site's 404 page elsewhere."""
    if is_api_request(request):
        return json_error(404, "not_found", "Not found: no such API endpoint or record.")
    from django.views.defaults import page_not_found as html_page_not_found

    return html_page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, the site's 500 page elsewhere."""
    if is_api_request(request):
        return json_error(500, "server_error", "Internal server error; it has been logged.")
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
