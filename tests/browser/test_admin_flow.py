"""End to end in a real browser under the Content Security Policy: an admin creates a nurse with an
invitation, the nurse sets a password through the one-time link and signs in; no page violates the
policy."""

import re

import pytest
from django.core import mail

from accounts.models import User
from tests.factories import SiteFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_invites_a_nurse_who_sets_a_password_and_signs_in(page, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    site = SiteFactory(code="north", name="North Clinic")
    UserFactory(username="ada", roles=["admin"], password="browser-pass-123")
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )

    page.goto("/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "browser-pass-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Users & sites").click()
    page.get_by_role("button", name="Add a user").click()
    page.fill("#id_username", "nell")
    page.fill("#id_first_name", "Nell")
    page.fill("#id_last_name", "Hart")
    page.fill("#id_email", "nell@example.org")
    page.check("input[name=roles][value=nurse]")
    page.check(f"input[name=sites][value='{site.pk}']")
    page.get_by_role("button", name="Create user").click()
    page.get_by_text("Created nell and emailed an invitation.").wait_for()
    page.screenshot(path=str(tmp_path / "user.png"), full_page=True)  # for humans reviewing
    page.get_by_role("link", name="Audit trail").click()
    page.locator("td[title='user.invite']").wait_for()
    page.get_by_role("button", name="Log out").click()

    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    page.goto(link)
    page.fill("#id_new_password1", "copper-meadow-lantern-8")
    page.fill("#id_new_password2", "copper-meadow-lantern-8")
    page.get_by_role("button", name="Set password").click()
    page.get_by_text("Your password is set.").wait_for()
    page.fill("#id_username", "nell")
    page.fill("#id_password", "copper-meadow-lantern-8")
    page.click("button[type=submit]")
    page.get_by_text("Welcome, Nell").wait_for()

    assert User.objects.get(username="nell").check_password("copper-meadow-lantern-8")
    # Pico's stylesheet loaded (same origin) and styled the page: buttons are not browser-default.
    radius = page.locator("button[type=submit]").first.evaluate(
        "b => getComputedStyle(b).borderRadius"
    )
    assert radius not in ("", "0px")
    assert violations == []
