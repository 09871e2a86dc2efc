"""OpenAPI details drf-spectacular cannot infer: the token scheme and the error responses every
operation can give (all in the one error body of `api.exceptions`)."""

from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each field's problems.",
    "401": "No credentials, or an unknown, expired or revoked token.",
    "403": "The role or the token does not allow this operation.",
    "404": "No such record at the caller's sites (or no such page).",
    "409": "Conflicts with the record's state: a duplicate photograph tagged differently, a "
    "visit already in review or signed, or (reports) a visit not signed yet.",
    "413": "The photograph or the request is too large.",
    "415": "Unsupported media type: not multipart/JSON as documented, or a file that is not a "
    "JPEG, PNG or TIFF photograph.",
    "429": "Too many requests for this token; retry after `Retry-After` seconds.",
}
REPORT_ACTIONS = {"report", "report_pdf", "fhir"}


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    # The metaclass moves declared fields off the class, so this never shadows Serializer.fields
    # at run time; the stubs cannot know that.
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# Text may hold any character but NUL, which the API refuses (PostgreSQL cannot store it).
NO_NUL_PATTERN = "^[^\\u0000]*$"
# What str.strip() removes (DRF trims text): Python's whitespace, listed, not the regex \s.
_SPACE = "".join(
    [
        "\\t-\\r",
        "\\u001c-\\u0020",
        "\\u0085\\u00a0\\u1680",
        "\\u2000-\\u200a",
        "\\u2028\\u2029\\u202f\\u205f\\u3000",
    ]
)
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^{_SPACE}\\u0000][^\\u0000]*$"
BLANK = {"type": "string", "maxLength": 0}


class ApiAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        component = super()._map_basic_serializer(serializer, direction)
        if direction == "request":
            for name, schema in component.get("properties", {}).items():
                field = serializer.fields.get(name)
                if isinstance(field, serializers.CharField):
                    _describe_text(
                        schema, required_text=field.trim_whitespace and not field.allow_blank
                    )
        return component

    def _get_response_bodies(
        self, direction: Literal["request", "response"] = "response"
    ) -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        codes = ["400", "401", "403", "404", "429"]
        if self.method in ("POST", "PATCH", "PUT"):
            codes += ["409", "413", "415"]
        if getattr(self.view, "action", None) in REPORT_ACTIONS:
            codes.append("409")
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(
                    ErrorSerializer, code, ("application/json",), direction
                )
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = response
        return responses


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token drp_<prefix>_<secret>`, issued by an administrator.",
        }


class WebSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.SessionAuthentication"
    name = "webSession"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def _describe_text(schema: dict[str, Any], *, required_text: bool = False) -> None:
    """Say in the schema what the API checks of text: no NUL character; and "a pattern, or
    blank" as one pattern (generators such as schemathesis draw that oneOf of two strings wrongly,
    and readers find one pattern plainer)."""
    choices = schema.get("oneOf", [])
    if len(choices) == 2 and choices[1] == BLANK and "pattern" in choices[0]:
        del schema["oneOf"]
        schema.update(choices[0], pattern=f"^$|{choices[0]['pattern']}")
    if schema.get("type") == "string" and "pattern" not in schema and "format" not in schema:
        # Surrounding spaces are trimmed, so required text needs one character that is not space.
        schema["pattern"] = NOT_BLANK_PATTERN if required_text else NO_NUL_PATTERN
