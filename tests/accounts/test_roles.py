import pytest
from django.contrib.auth.models import Group

from accounts.roles import ROLE_PERMISSIONS, Role, has_role, roles_of, sites_for
from tests.factories import SiteFactory, UserFactory


@pytest.mark.django_db
def test_migration_creates_each_role_with_its_permissions():
    for role, permissions in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role.value)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(permissions)


def test_nurse_has_model_permissions_through_group(nurse):
    assert nurse.has_perm("patients.add_patient")
    assert not nurse.has_perm("accounts.add_user")


def test_doctor_reads_but_does_not_write(doctor):
    assert doctor.has_perm("patients.view_patient")
    assert not doctor.has_perm("patients.add_patient")


def test_admin_sees_all_sites_and_others_only_their_own(admin_user, nurse, site, other_site):
    assert set(sites_for(admin_user)) == {site, other_site}
    assert set(sites_for(nurse)) == {site}


@pytest.mark.django_db
def test_user_with_several_sites_and_roles():
    north, south = SiteFactory(code="n"), SiteFactory(code="s")
    user = UserFactory(roles=["nurse", "doctor"], sites=[north, south])
    assert roles_of(user) == {Role.NURSE, Role.DOCTOR}
    assert set(sites_for(user)) == {north, south}


@pytest.mark.django_db
def test_inactive_user_has_no_role():
    user = UserFactory(roles=["doctor"], is_active=False)
    assert not has_role(user, Role.DOCTOR)


@pytest.mark.django_db
def test_usernames_and_site_codes_are_unique_ignoring_case():
    from django.core.exceptions import ValidationError

    from accounts.models import Site, User

    UserFactory(username="nurse")
    with pytest.raises(ValidationError, match="username already exists"):
        User(username="Nurse", password="x").full_clean()
    SiteFactory(code="east", name="East Clinic")
    with pytest.raises(ValidationError) as refused:
        Site(code="EAST", name="east clinic").full_clean()
    assert "A site with this code already exists." in str(refused.value)
    assert "A site with this name already exists." in str(refused.value)
