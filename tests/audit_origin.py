"""Suite-wide check: every audit event written while a request is handled carries that request's
IP address and user agent.

Used by tests/conftest.py as an autouse fixture, so every test that goes through a request (test
client, API client, the WSGI application in the schemathesis run, the live server) checks each
audit row written meanwhile; a service or view that forgets to pass the request's AuditContext
fails the test that exercised it. Rows written outside requests (services called directly by a
test, management commands) are not checked: they have no request to come from.

Django's test client sends no User-Agent (and a WSGI call may carry no REMOTE_ADDR), which would
make a forgotten one look the same as a recorded one; such requests get SUITE_USER_AGENT and
SUITE_ADDRESS here, as a real browser and server would give them.
"""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.handlers.base import BaseHandler
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponseBase

from audit.models import AuditEvent
from audit.services import AuditContext

SUITE_USER_AGENT = "DR Portal test suite (pytest)"
SUITE_ADDRESS = "192.0.2.10"  # TEST-NET-1, never a real client
_handling = threading.local()  # the request this thread's handler is answering, if any


@pytest.fixture(autouse=True)
def _audit_events_carry_the_request_origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    missing: list[str] = []
    get_response = BaseHandler.get_response

    def handling(self: BaseHandler, request: HttpRequest) -> HttpResponseBase:
        # From the request's arrival to its response (a streamed body is sent later, unaudited).
        request.META.setdefault("HTTP_USER_AGENT", SUITE_USER_AGENT)
        request.META["REMOTE_ADDR"] = request.META.get("REMOTE_ADDR") or SUITE_ADDRESS
        outer, _handling.request = getattr(_handling, "request", None), request
        try:
            return get_response(self, request)
        finally:
            _handling.request = outer

    def saved(sender: Any, instance: AuditEvent, created: bool, **kwargs: Any) -> None:
        request = getattr(_handling, "request", None)
        if not created or request is None:
            return
        origin = AuditContext.from_request(request)
        recorded = (instance.ip_address, instance.user_agent)
        if None in recorded or "" in recorded or recorded != (origin.ip_address, origin.user_agent):
            missing.append(
                f"{instance.action} (ip={instance.ip_address!r}, agent={instance.user_agent!r}) "
                f"during {request.method} {request.path}"
            )

    monkeypatch.setattr(BaseHandler, "get_response", handling)
    post_save.connect(saved, sender=AuditEvent, dispatch_uid="audit_origin_saved", weak=False)
    try:
        yield
    finally:
        post_save.disconnect(sender=AuditEvent, dispatch_uid="audit_origin_saved")
    assert not missing, "Audit events written during a request without its IP address and " + (
        "user agent:\n  " + "\n  ".join(missing)
    )
