"""The four roles and the questions views ask about them.

A role is a Django group with a fixed name; the data migration `0002_roles` creates the groups and
gives them model permissions. Site scoping is not a permission: see `sites_for()`.
"""

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db.models import QuerySet

from accounts.models import Site, User


class Role(StrEnum):
    NURSE = "nurse"
    DOCTOR = "doctor"
    ADMIN = "admin"
    API_CLIENT = "api_client"


READ_ROLES = (Role.NURSE, Role.DOCTOR, Role.ADMIN)  # who may read clinical records on the web

ROLE_LABELS = {
    Role.NURSE: "Nurse",
    Role.DOCTOR: "Doctor",
    Role.ADMIN: "Administrator",
    Role.API_CLIENT: "API client",
}

# Model permissions each role's group receives (app_label.codename).
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.NURSE: [
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "screening.view_visit",
        "screening.add_visit",
        "screening.change_visit",
        "screening.view_fundusimage",
        "screening.add_fundusimage",
    ],
    Role.DOCTOR: ["patients.view_patient", "screening.view_visit", "screening.view_fundusimage"],
    Role.ADMIN: [
        "accounts.view_site",
        "accounts.add_site",
        "accounts.change_site",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "patients.view_patient",
        "screening.view_visit",
        "screening.view_fundusimage",
        "screening.view_review",
        "screening.view_eyereading",
        "screening.view_signoff",
        "screening.view_addendum",
        "audit.view_auditevent",
    ],
    Role.API_CLIENT: [
        "patients.view_patient",
        "patients.add_patient",
        "screening.view_visit",
        "screening.add_visit",
        "screening.view_fundusimage",
        "screening.add_fundusimage",
    ],
}


def sync_role_groups(
    group_model: type[Group], permission_model: type[Permission], using: str = "default"
) -> None:
    """Create each role's group and grant it exactly its permissions (idempotent).

    Takes the models as arguments so the data migration can pass its historical models. A
    permission whose model a later migration creates is skipped here; the post_migrate hook
    (accounts.apps) runs this again after every migrate, so the groups always end up complete.
    """
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.using(using).get_or_create(name=role.value)
        wanted: list[Permission] = []
        for name in names:
            app_label, codename = name.split(".")
            wanted.extend(
                permission_model.objects.using(using).filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group.permissions.set(wanted)


def roles_of(user: User | AnonymousUser) -> set[Role]:
    """The roles a user holds (superusers count as admins)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    cached = getattr(user, "_dr_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = {role for role in Role if role.value in names}
        if user.is_superuser:
            cached.add(Role.ADMIN)
        user._dr_roles = cached
    return cached


def has_role(user: User | AnonymousUser, *roles: Role) -> bool:
    return bool(roles_of(user) & set(roles))


def sees_all_sites(user: User | AnonymousUser) -> bool:
    return has_role(user, Role.ADMIN)


def sites_for(user: User | AnonymousUser) -> QuerySet[Site]:
    """Sites whose records the user may see: all for admins, their own for everyone else; for a
    request made with an API token limited to some sites, only those of them."""
    if not user.is_authenticated:
        return Site.objects.none()
    sites = Site.objects.all() if sees_all_sites(user) else user.sites.all()
    token_sites = getattr(user, "_dr_token_site_ids", None)
    if token_sites:
        sites = sites.filter(pk__in=token_sites)
    return sites


def limit_to_token_sites(user: User, site_ids: list[int]) -> None:
    """Scope this request's user to the sites its API token is limited to (empty: no limit)."""
    user._dr_token_site_ids = list(site_ids)


def role_allows(user: User | AnonymousUser, permission: str) -> bool:
    """Whether one of the user's roles carries the model permission ("app_label.codename")."""
    return any(permission in ROLE_PERMISSIONS[role] for role in roles_of(user))


def can_write_clinical_records(user: User | AnonymousUser) -> bool:
    """Nurses register patients, visits and images in the web application."""
    return has_role(user, Role.NURSE)


def can_read_clinical_records(user: User | AnonymousUser) -> bool:
    return has_role(user, Role.NURSE, Role.DOCTOR, Role.ADMIN)
