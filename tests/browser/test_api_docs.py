"""The API documentation (Swagger UI from the vendored sidecar assets) runs in a real browser under
the site's strict Content Security Policy: it renders every operation and the browser reports no
policy violation and no script error."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_under_the_content_security_policy(page):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    response = page.goto("/api/v1/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 16
    assert page.get_by_text("/api/v1/visits/{id}/fhir").count() == 1
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not problems, problems
    origin = page.url.split("/api/")[0]
    assert all(url.startswith((origin, "data:")) for url in requests), requests  # no CDN
