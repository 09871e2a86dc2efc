"""Schemathesis fuzzes every operation of the OpenAPI schema in-process (WSGI) with an API client
token, on a home site holding a patient, a visit with a photograph and a signed visit. Any server
error, or any answer the schema does not describe (status, content type, body, headers), fails.

Bounded: a few positive and negative examples per operation and a deadline per example, so the
whole run takes about a minute. (Schemathesis's lazy pytest loader does not run on pytest 9.2, so
the schema is generated here and each operation's Hypothesis strategy is driven directly.)
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dr_portal.wsgi import application
from tests.conftest import issue_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}

SCHEMA = schemathesis.openapi.from_dict(
    json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
)
SCHEMA.app = application  # requests go straight to the WSGI application, no server
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Negative cases need something to break: a parameter or a body.
CASES = [
    (operation, mode)
    for operation in OPERATIONS
    for mode in EXAMPLES
    if mode == GenerationMode.POSITIVE
    or operation.path_parameters
    or operation.query
    or operation.body
]


@pytest.fixture
def _keep_the_test_connection():
    """Calling the WSGI handler directly would close the test's database connection (and its
    transaction) after each request; Django's own test client disconnects this handler too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(
    _keep_the_test_connection, api_client_user, admin_user, nurse, doctor, patient, visit, settings
) -> dict[str, str]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from screening.services.images import image_attach
    from screening.services.review import review_sign_off
    from tests.factories import PASSWORD, fundus_like_jpeg, make_graded_visit, read_visit

    settings.API_THROTTLE_RATE = "100000/minute"
    upload = SimpleUploadedFile("a.jpg", fundus_like_jpeg())
    image_attach(actor=nurse, visit=visit, upload=upload, eye="right", field="macula")
    signed = make_graded_visit(nurse=nurse, patient=patient, right=0, left=0)
    read_visit(doctor, signed, right="0", left="0")
    review_sign_off(actor=doctor, visit=signed, password=PASSWORD)
    return {"Authorization": f"Token {issue_token(api_client_user, actor=admin_user)}"}


def test_every_operation_is_fuzzed():
    assert len(OPERATIONS) == 16


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{o.label} {m.value}" for o, m in CASES]
)
def test_api_conforms_to_its_schema(operation, mode, auth_headers):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=3000,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(headers=auth_headers, checks=CHECKS)

    fuzz()
