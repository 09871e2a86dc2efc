"""Administrators manage users and sites in the application; every change is audited."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Site, User
from accounts.roles import Role
from audit.models import AuditEvent
from patients.forms import PatientForm
from tests.conftest import login
from tests.factories import SiteFactory, UserFactory


@pytest.fixture
def staff(admin_user):
    return login(admin_user)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


def _link_in(message: mail.EmailMessage) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def _create(staff: Client, site: Site, **overrides: object):
    data = {
        "username": "nina",
        "first_name": "Nina",
        "last_name": "Okafor",
        "email": "nina@example.org",
        "roles": ["nurse"],
        "sites": [site.pk],
        "send_invite": "on",
    } | overrides
    return staff.post(reverse("staff:user_create"), data)


def test_admin_creates_a_user_with_roles_sites_and_an_invitation(staff, site, admin_user):
    response = _create(staff, site)
    user = User.objects.get(username="nina")
    assert response.status_code == 302
    assert set(user.groups.values_list("name", flat=True)) == {"nurse"}
    assert list(user.sites.all()) == [site]
    assert not user.has_usable_password() and user.is_active and not user.is_staff
    assert mail.outbox[0].to == ["nina@example.org"]
    created = _events("user.create")[0]
    assert created.actor == admin_user and created.changes["roles"] == [[], ["Nurse"]]
    assert _events("user.invite")[0].changes == {"sent_to": "nina@example.org"}
    assert _link_in(mail.outbox[0]) not in str(AuditEvent.objects.values_list("changes"))


def test_invitation_link_sets_the_password_once(staff, site):
    _create(staff, site)
    link = _link_in(mail.outbox[0])
    anonymous = Client()
    form_url = anonymous.get(link)["Location"]  # the token moves into the session
    assert "/set/" in form_url
    short = anonymous.post(form_url, {"new_password1": "abc", "new_password2": "abc"})
    assert "too short" in short.content.decode()
    password = "violet-harbour-engine-42"
    response = anonymous.post(form_url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 302
    user = User.objects.get(username="nina")
    assert user.check_password(password)
    assert _events("user.password_set")[0].actor == user
    assert "link is invalid" in Client().get(link, follow=True).content.decode()


def test_nurses_need_a_site_and_invitations_need_an_email(staff, site):
    response = _create(staff, site, sites=[], email="")
    errors = response.content.decode()
    assert "need at least one site" in errors and "needs an email address" in errors
    assert not User.objects.filter(username="nina").exists()


def test_duplicate_username_is_refused(staff, site, nurse):
    response = _create(staff, site, username="nurse")
    assert "already exists" in response.content.decode()


def test_admin_changes_roles_and_sites_and_the_change_is_audited(staff, nurse, site, other_site):
    response = staff.post(
        reverse("staff:user_detail", kwargs={"pk": nurse.pk}),
        {
            "first_name": nurse.first_name,
            "last_name": nurse.last_name,
            "email": "",
            "professional_id": "RN-1",
            "roles": ["nurse", "doctor"],
            "sites": [site.pk, other_site.pk],
        },
    )
    assert response.status_code == 302
    assert set(nurse.groups.values_list("name", flat=True)) == {"nurse", "doctor"}
    assert set(nurse.sites.all()) == {site, other_site}
    changes = _events("user.update")[0].changes
    assert changes["roles"] == [["Nurse"], ["Doctor", "Nurse"]]
    assert changes["sites"] == [["Home Clinic"], ["Away Clinic", "Home Clinic"]]
    assert changes["professional_id"] == ["", "RN-1"]


def test_admin_cannot_remove_their_own_admin_role(admin_user):
    with pytest.raises(ValidationError, match="own administrator role"):
        services.user_update(
            actor=admin_user, user=admin_user, roles=[Role.DOCTOR], sites=[SiteFactory()]
        )
    assert admin_user.groups.filter(name="admin").exists()


def test_deactivation_signs_the_user_out_keeps_their_records_and_blocks_sign_in(
    staff, nurse, patient
):
    nurse_session = login(nurse)
    assert nurse_session.get(reverse("home")).status_code == 200
    unconfirmed = staff.post(reverse("staff:user_deactivate", kwargs={"pk": nurse.pk}), follow=True)
    assert "tick the box to confirm" in unconfirmed.content.decode()
    nurse.refresh_from_db()
    assert nurse.is_active and not _events("user.deactivate")  # nothing happened
    response = staff.post(
        reverse("staff:user_deactivate", kwargs={"pk": nurse.pk}), {"confirm": "yes"}
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert not nurse.is_active
    assert nurse_session.get(reverse("home"))["Location"].startswith(reverse("login"))
    assert (
        not Client()
        .post(reverse("login"), {"username": "nurse", "password": "correct-horse-battery"})
        .wsgi_request.user.is_authenticated
    )
    patient.refresh_from_db()
    assert patient.created_by == nurse  # never deleted: records stay attributed
    assert _events("user.deactivate")[0].changes == {"is_active": [True, False]}


def test_admin_cannot_deactivate_themselves(staff, admin_user):
    response = staff.post(
        reverse("staff:user_deactivate", kwargs={"pk": admin_user.pk}),
        {"confirm": "yes"},
        follow=True,
    )
    assert "cannot deactivate your own account" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_reactivation(staff, nurse):
    nurse.is_active = False
    nurse.save()
    staff.post(reverse("staff:user_reactivate", kwargs={"pk": nurse.pk}))
    nurse.refresh_from_db()
    assert nurse.is_active and _events("user.reactivate")


def test_password_reset_signs_out_everywhere_and_emails_a_link(staff, nurse):
    nurse.email = "nurse@example.org"
    nurse.save()
    nurse_session = login(nurse)
    staff.post(reverse("staff:user_reset_password", kwargs={"pk": nurse.pk}))
    nurse.refresh_from_db()
    assert not nurse.has_usable_password()
    assert nurse_session.get(reverse("home")).status_code == 302
    assert mail.outbox[0].to == ["nurse@example.org"] and "/set-password/" in mail.outbox[0].body
    assert _events("user.password_reset")


def test_links_need_an_email_address(staff, nurse):
    response = staff.post(reverse("staff:user_invite", kwargs={"pk": nurse.pk}), follow=True)
    assert "has no email address" in response.content.decode()
    assert not mail.outbox and not _events("user.invite")


def test_user_list_searches_and_filters(staff, nurse, doctor, outsider, site):
    page = staff.get(reverse("staff:user_list"), {"q": "outs"}).content.decode()
    assert ">outsider</a>" in page and ">nurse</a>" not in page
    by_role = staff.get(reverse("staff:user_list"), {"role": "doctor"}).content.decode()
    assert ">doctor</a>" in by_role and ">nurse</a>" not in by_role
    by_site = staff.get(reverse("staff:user_list"), {"site": site.pk}).content.decode()
    assert ">nurse</a>" in by_site and ">outsider</a>" not in by_site


def test_deactivated_users_are_listed_only_on_request(staff, nurse):
    nurse.is_active = False
    nurse.save()
    assert ">nurse</a>" not in staff.get(reverse("staff:user_list")).content.decode()
    listed = staff.get(reverse("staff:user_list"), {"status": "inactive"}).content.decode()
    assert ">nurse</a>" in listed


def test_user_list_query_budget(staff, site, django_assert_max_num_queries):
    for n in range(25):
        UserFactory(username=f"u{n}", roles=["nurse", "doctor"], sites=[site])
    with django_assert_max_num_queries(12):  # constant, whatever the number of users
        assert staff.get(reverse("staff:user_list")).status_code == 200


def test_sites_are_created_edited_and_deactivated(staff, admin_user, nurse):
    staff.post(reverse("staff:site_create"), {"code": "east", "name": "East Clinic"})
    east = Site.objects.get(code="east")
    staff.post(
        reverse("staff:site_edit", kwargs={"pk": east.pk}),
        {"code": "east", "name": "East Eye Clinic", "address": "1 Road"},
    )
    staff.post(reverse("staff:site_deactivate", kwargs={"pk": east.pk}), {"confirm": "yes"})
    east.refresh_from_db()
    assert (east.name, east.is_active) == ("East Eye Clinic", False)
    assert [e.action for e in AuditEvent.objects.filter(object_type="accounts.site")] == [
        "site.deactivate",
        "site.update",
        "site.create",
    ]
    nurse.sites.add(east)
    assert east not in PatientForm(user=nurse).fields["site"].queryset  # no new patients there
    staff.post(reverse("staff:site_reactivate", kwargs={"pk": east.pk}))
    east.refresh_from_db()
    assert east.is_active


def test_duplicate_site_code_is_refused(staff, site):
    response = staff.post(reverse("staff:site_create"), {"code": site.code, "name": "Other"})
    assert "already exists" in response.content.decode()


def test_admin_role_grants_django_admin_access(staff, site):
    _create(staff, site, username="boss", roles=["admin"], sites=[], send_invite="")
    boss = User.objects.get(username="boss")
    assert boss.is_staff and boss.groups.get() == Group.objects.get(name="admin")
