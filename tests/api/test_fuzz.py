"""Hostile request bodies and schema fuzzing.

Malformed JSON (nesting, size, encodings, constants, duplicate keys) is always a 400 `parse_error`
in the API's one error body (413 when larger than the server reads), never a 500.

Schemathesis fuzzes every operation of the OpenAPI schema in-process (WSGI) with an API client
token, on a home site holding a patient, a visit with a photograph and a signed visit. Any server
error, or any answer the schema does not describe (status, content type, body, headers), fails.

Bounded: a few positive and negative examples per operation and a deadline per example, so the
whole run takes about a minute. (Schemathesis's lazy pytest loader does not run on pytest 9.2, so
the schema is generated here and each operation's Hypothesis strategy is driven directly.)
"""

import contextlib
import datetime
import io
import itertools
import json

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks

from dr_portal.wsgi import application
from tests.conftest import issue_token, session_client
from tests.factories import fundus_like_jpeg

load_all_checks()
# Every check schemathesis has: server errors, status codes, content types, headers, response
# bodies, positive data accepted, negative data rejected, auth not ignored, methods, and more.
CHECKS = REGISTERED_CHECKS.get_all()
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
def test_api_conforms_to_its_schema(operation, mode, auth_headers, patient):
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=3000,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case, data):
        if mode == GenerationMode.POSITIVE:
            _meet_the_rules_a_schema_cannot_state(case, data, patient)
        case.call_and_validate(headers=auth_headers, checks=CHECKS)

    fuzz()


def _meet_the_rules_a_schema_cannot_state(case, data, patient) -> None:
    """What makes a schema-valid write acceptable that no OpenAPI schema can express: a patient
    and site that exist, an MRN not yet used at the site, dates not in the future (nor a visit
    before birth, nor a diagnosis before birth), and a file that is a photograph. Positive cases
    of the writes get such values (schemathesis: "extend generators to match runtime rules");
    everything else is as drawn, and negative cases are untouched. Each rule's refusal is tested
    on its own in test_patients_visits.py and test_bad_uploads.py."""
    body, today = case.body, datetime.date.today()
    if not isinstance(body, dict):
        return
    if "site" in body:
        body["site"] = patient.site_id
    if "patient" in body:
        body["patient"] = patient.pk
    if "mrn" in body:
        body["mrn"] = f"{next(_MRN_NUMBERS)}-{body['mrn']}"[:64]
    if "date_of_birth" in body:
        born = data.draw(st.dates(datetime.date(1900, 1, 1), today))
        body["date_of_birth"] = born.isoformat()
        if body.get("diagnosis_year") is not None:
            body["diagnosis_year"] = data.draw(st.integers(born.year, today.year))
    elif body.get("diagnosis_year") is not None:
        body["diagnosis_year"] = data.draw(st.integers(patient.date_of_birth.year, today.year))
    if "visit_date" in body:
        body["visit_date"] = data.draw(st.dates(patient.date_of_birth, today)).isoformat()
    if "file" in body:
        body["file"] = fundus_like_jpeg(seed=data.draw(st.integers(0, 10_000)))


_MRN_NUMBERS = itertools.count(1)


# --- hostile JSON bodies --------------------------------------------------------------------------

PATIENT = {"mrn": "F-1", "given_name": "Ada", "family_name": "Li", "date_of_birth": "1960-02-03"}
JSON = "application/json"

MALFORMED_BODIES = {
    "1000 nested arrays (2 KB)": b"[" * 1000 + b"]" * 1000,
    "1000 unclosed arrays": b"[" * 1000,
    "100000 nested arrays": b"[" * 100_000,
    "nested objects past the limit": b'{"a":' * 40 + b"1" + b"}" * 40,
    "deep nesting inside a field": b'{"mrn": ' + b"[" * 500 + b"]" * 500 + b"}",
    "invalid UTF-8": b'{"mrn": "\xff\xfe\xc3\x28"}',
    "UTF-16 sent as UTF-8": json.dumps(PATIENT).encode("utf-16"),
    "truncated UTF-8 sequence": b'{"mrn": "\xe2\x82"}',
    "NaN": b'{"diagnosis_year": NaN}',
    "Infinity": b'{"diagnosis_year": Infinity}',
    "-Infinity": b'{"diagnosis_year": -Infinity}',
    "a float that overflows to infinity": b'{"diagnosis_year": 1e400}',
    "an integer of 5000 digits": b'{"diagnosis_year": ' + b"9" * 5000 + b"}",
    "duplicate keys": b'{"mrn": "A-1", "mrn": "B-2"}',
    "trailing comma": b'{"mrn": "A-1",}',
    "single quotes": b"{'mrn': 'A-1'}",
    "a lone surrogate escape is fine, a broken escape is not": b'{"mrn": "\\uZZZZ"}',
    "two documents": b'{"mrn": "A-1"}{"mrn": "B-2"}',
    "NUL bytes": b"\x00" * 64,
    "only a BOM": b"\xef\xbb\xbf",
}


def _post(client, url, body, content_type=JSON):
    return client.generic("POST", url, body, content_type=content_type)


def _is_parse_error(response) -> bool:
    error = response.json()["error"]
    return (
        response.status_code == 400
        and error
        == {"status": 400, "code": "parse_error", "message": error["message"], "fields": {}}
        and len(error["message"]) > 15
    )


@pytest.mark.parametrize("url", ["/api/v1/patients/", "/api/v1/visits/"])
@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_every_malformed_body_is_a_400_parse_error(api, url, body):
    response = _post(api, url, body)
    assert _is_parse_error(response), response.content[:300]


def test_a_malformed_patch_is_a_400_parse_error(nurse, patient):
    response = session_client(nurse).generic(
        "PATCH", f"/api/v1/patients/{patient.pk}/", b"[" * 1000, content_type=JSON
    )
    assert _is_parse_error(response)
    patient.refresh_from_db()
    assert patient.mrn == "H-0001"


def test_the_parse_error_says_what_was_wrong(api):
    assert (
        "nested more than 32 levels"
        in _post(api, "/api/v1/patients/", b"[" * 1000).json()["error"]["message"]
    )
    duplicate = _post(api, "/api/v1/patients/", MALFORMED_BODIES["duplicate keys"])
    assert '"mrn" appears twice' in duplicate.json()["error"]["message"]
    assert (
        "not valid utf-8"
        in _post(api, "/api/v1/patients/", b'{"a": "\xff"}').json()["error"]["message"].lower()
    )


def test_a_charset_that_is_not_a_text_encoding_is_a_parse_error(api):
    body = json.dumps(PATIENT).encode()
    response = _post(api, "/api/v1/patients/", body, content_type=f"{JSON}; charset=base64")
    assert _is_parse_error(response)


def test_a_body_larger_than_the_server_reads_is_a_413(api, settings):
    body = json.dumps({**PATIENT, "address": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    response = _post(api, "/api/v1/patients/", body.encode())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_nesting_within_the_limit_reaches_the_serializer(api):
    """Depth 32 is parsed; the field is then refused for its type, not the body for its shape."""
    body = b'{"mrn": ' + b"[" * 31 + b"]" * 31 + b"}"
    error = _post(api, "/api/v1/patients/", body).json()["error"]
    assert error["code"] != "parse_error" and "mrn" in error["fields"]


def test_brackets_inside_strings_do_not_count_as_nesting(api, site):
    body = {**PATIENT, "address": "[" * 1000 + '{"' * 100 + "\\"}
    response = _post(api, "/api/v1/patients/", json.dumps(body).encode())
    assert response.status_code == 201, response.content
    assert response.json()["address"] == body["address"]


@pytest.mark.parametrize(
    ("encoded", "content_type"),
    [
        (b"\xef\xbb\xbf" + json.dumps(PATIENT).encode(), JSON),  # RFC 8259 lets a parser skip it
        (json.dumps(PATIENT).encode("utf-16"), f"{JSON}; charset=utf-16"),
        (json.dumps({**PATIENT, "given_name": "Zoë"}, ensure_ascii=False).encode(), JSON),
    ],
    ids=["UTF-8 with BOM", "UTF-16 declared", "plain UTF-8"],
)
def test_well_formed_json_in_other_encodings_is_read(api, site, encoded, content_type):
    response = _post(api, "/api/v1/patients/", encoded, content_type=content_type)
    assert response.status_code == 201, response.content


@given(body=st.binary(max_size=2048))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_random_bytes_never_crash_the_parser(body):
    from rest_framework.exceptions import ParseError

    from api.parsers import JSONParser

    with contextlib.suppress(ParseError):
        JSONParser().parse(io.BytesIO(body), JSON, {})


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children) | st.dictionaries(st.text(), children)


@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        _containers,
        max_leaves=50,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_json_document_is_answered_without_a_server_error(api, body):
    response = _post(api, "/api/v1/visits/", json.dumps(body).encode())
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["error"]["status"] == response.status_code
