"""Every write to users and sites. Each change is recorded in the audit trail.

Users are never deleted (clinical records stay attributed to their authors): they are deactivated,
which also ends their sessions, because Django refuses sessions of inactive users.
"""

import datetime
from collections.abc import Iterable

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.api_tokens import new_secret
from accounts.models import ApiToken, Site, User
from accounts.roles import ROLE_LABELS, Role, has_role, roles_of
from accounts.tokens import set_password_token
from audit.services import audit_record

USER_PROFILE_FIELDS = ("first_name", "last_name", "email", "professional_id")
SITE_FIELDS = ("code", "name", "address")


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    roles: Iterable[Role],
    sites: Iterable[Site],
    send_invite: bool = False,
    request: HttpRequest | None = None,
    **profile: str,
) -> User:
    """Create an active user with no usable password, the given roles and sites.

    With `send_invite`, email them a one-time link to choose their password (the user needs an
    email address). Raises ValidationError for a taken username or invalid fields.
    """
    user = User(username=username, **_only(profile, USER_PROFILE_FIELDS))
    user.set_unusable_password()
    user.is_staff = Role.ADMIN in set(roles)
    user.full_clean()
    user.save()
    _set_roles_and_sites(user, roles, sites)
    audit_record(
        actor=actor,
        action="user.create",
        obj=user,
        changes={"username": [None, username], **_access_changes(None, user), **_diff({}, user)},
        request=request,
    )
    if send_invite:
        _send_set_password_link(actor=actor, user=user, request=request, action="user.invite")
    return user


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    roles: Iterable[Role],
    sites: Iterable[Site],
    request: HttpRequest | None = None,
    **profile: str,
) -> User:
    """Change a user's name, email, registration number, roles and sites."""
    roles = set(roles)
    if user == actor and Role.ADMIN not in roles and Role.ADMIN in roles_of(actor):
        raise ValidationError(
            "You cannot remove your own administrator role; ask another administrator.",
            "own_admin_role",
        )
    # From the database: a bound ModelForm has already copied its input onto the instance.
    before_profile = User.objects.values(*USER_PROFILE_FIELDS).get(pk=user.pk)
    before_access = _access_of(user)
    for name, value in _only(profile, USER_PROFILE_FIELDS).items():
        setattr(user, name, value)
    user.is_staff = Role.ADMIN in roles or user.is_superuser
    user.full_clean()
    user.save()
    _set_roles_and_sites(user, roles, sites)
    changes = _diff(before_profile, user) | _access_changes(before_access, user)
    if changes:
        audit_record(actor=actor, action="user.update", obj=user, changes=changes, request=request)
    return user


@transaction.atomic
def user_deactivate(*, actor: User, user: User, request: HttpRequest | None = None) -> User:
    """Stop a user from signing in and end their sessions; their records stay attributed."""
    if user == actor:
        raise ValidationError(
            "You cannot deactivate your own account; ask another administrator.", "self"
        )
    return _set_active(actor=actor, user=user, active=False, request=request)


@transaction.atomic
def user_reactivate(*, actor: User, user: User, request: HttpRequest | None = None) -> User:
    """Let a deactivated user sign in again (with their old password, if they had one)."""
    return _set_active(actor=actor, user=user, active=True, request=request)


def user_send_invite(*, actor: User, user: User, request: HttpRequest) -> None:
    """Email the user a one-time link to choose their password; their current one keeps working."""
    _send_set_password_link(actor=actor, user=user, request=request, action="user.invite")


@transaction.atomic
def user_reset_password(*, actor: User, user: User, request: HttpRequest) -> None:
    """Disable the user's password, which signs them out everywhere, lift any sign-in lockout,
    and email them a one-time link to choose a new one (a forgotten or compromised password)."""
    _check_can_receive_link(user)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    axes_reset(username=user.username)  # a sign-in lockout should not outlive the old password
    _send_set_password_link(actor=actor, user=user, request=request, action="user.password_reset")


@transaction.atomic
def password_set_from_link(*, user: User, password: str, request: HttpRequest) -> User:
    """Set the password chosen through a one-time link (the view has checked the token and run
    the password validators). Using the link makes it invalid."""
    user.set_password(password)
    user.save(update_fields=["password"])
    axes_reset(username=user.username)
    audit_record(actor=user, action="user.password_set", obj=user, request=request)
    return user


@transaction.atomic
def password_change(*, actor: User, password: str, request: HttpRequest) -> User:
    """Change the actor's own password (validated by the form). Every other session of the user
    ends, because Django ties sessions to the password hash; the view keeps the current one."""
    actor.set_password(password)
    actor.save(update_fields=["password"])
    audit_record(actor=actor, action="user.password_change", obj=actor, request=request)
    return actor


@transaction.atomic
def site_create(*, actor: User, request: HttpRequest | None = None, **fields: str) -> Site:
    """Add a clinic. Raises ValidationError for a taken code or name."""
    site = Site(**_only(fields, SITE_FIELDS))
    site.full_clean()
    site.save()
    audit_record(
        actor=actor, action="site.create", obj=site, changes=_diff({}, site), request=request
    )
    return site


@transaction.atomic
def site_update(
    *, actor: User, site: Site, request: HttpRequest | None = None, **fields: str
) -> Site:
    """Change a clinic's code, name or address."""
    before = Site.objects.values(*SITE_FIELDS).get(pk=site.pk)  # the form changed the instance
    for name, value in _only(fields, SITE_FIELDS).items():
        setattr(site, name, value)
    site.full_clean()
    site.save()
    changes = _diff(before, site)
    if changes:
        audit_record(actor=actor, action="site.update", obj=site, changes=changes, request=request)
    return site


@transaction.atomic
def site_set_active(
    *, actor: User, site: Site, active: bool, request: HttpRequest | None = None
) -> Site:
    """Deactivate a clinic (no new patients are registered there; its records stay readable) or
    reactivate it."""
    if site.is_active != active:
        site.is_active = active
        site.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="site.reactivate" if active else "site.deactivate",
            obj=site,
            changes={"is_active": [not active, active]},
            request=request,
        )
    return site


@transaction.atomic
def api_token_create(
    *,
    actor: User,
    user: User,
    name: str,
    actions: Iterable[str],
    sites: Iterable[Site] = (),
    expires_at: datetime.datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Issue an API token to an API client user; return it and its plaintext, which is shown once
    and never stored (only its SHA-256). `sites` limits it to some of the user's sites (none: all
    of them), `actions` to reading, registering patients and visits, and uploading."""
    actions, sites = sorted(set(actions)), list(sites)
    errors: dict[str, str] = {}
    if not has_role(user, Role.API_CLIENT):
        errors["user"] = f"{user.username} is not an API client; give them that role first."
    if not actions or set(actions) - set(ApiToken.Action.values):
        errors["actions"] = "Choose what the token may do: read, write or upload."
    outside = {site.pk for site in sites} - set(user.sites.values_list("pk", flat=True))
    if outside:
        errors["sites"] = f"{user.username} does not work at every site chosen."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry is in the past."
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    token = ApiToken(
        user=user,
        name=name,
        prefix=secret.prefix,
        secret_hash=secret.secret_hash,
        actions=actions,
        expires_at=expires_at,
        created_by=actor,
    )
    token.full_clean()
    token.save()
    token.sites.set(sites)
    audit_record(
        actor=actor,
        action="api_token.create",
        obj=token,
        changes={  # never the secret
            "user": user.username,
            "prefix": token.prefix,
            "name": name,
            "actions": actions,
            "sites": sorted(site.name for site in sites) or "all of the user's sites",
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        request=request,
    )
    return token, secret.plaintext


@transaction.atomic
def api_token_revoke(
    *, actor: User, token: ApiToken, request: HttpRequest | None = None
) -> ApiToken:
    """Stop a token from working at once; the row stays for the audit trail."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.is_revoked:
        raise ValidationError("This token is already revoked.", "revoked")
    token.revoked_at, token.revoked_by = timezone.now(), actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="api_token.revoke",
        obj=token,
        changes={"user": token.user.username, "prefix": token.prefix},
        request=request,
    )
    return token


def _set_active(*, actor: User, user: User, active: bool, request: HttpRequest | None) -> User:
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="user.reactivate" if active else "user.deactivate",
            obj=user,
            changes={"is_active": [not active, active]},
            request=request,
        )
    return user


def _check_can_receive_link(user: User) -> None:
    if not user.is_active:
        raise ValidationError(
            f"{user.username} is deactivated. Reactivate the account first.", "inactive"
        )
    if not user.email:
        raise ValidationError(
            f"{user.username} has no email address. Add one, then send the link.", "no_email"
        )


def _send_set_password_link(
    *, actor: User, user: User, request: HttpRequest | None, action: str
) -> None:
    _check_can_receive_link(user)
    if request is None:
        raise ValueError("A request is needed to build the link's address.")
    path = reverse(
        "accounts:set_password",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": set_password_token.make_token(user),
        },
    )
    context = {
        "user": user,
        "link": request.build_absolute_uri(path),
        "invite": action == "user.invite",
        "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    send_mail(
        subject="DR Portal: choose your password",
        message=render_to_string("accounts/email/set_password.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
    # The link itself is a secret: it is never written to the audit trail or the logs.
    audit_record(
        actor=actor, action=action, obj=user, changes={"sent_to": user.email}, request=request
    )


def _set_roles_and_sites(user: User, roles: Iterable[Role], sites: Iterable[Site]) -> None:
    user.groups.set(Group.objects.filter(name__in=[Role(r).value for r in roles]))
    user.sites.set(list(sites))
    user.__dict__.pop("_dr_roles", None)  # roles_of() caches on the instance


def _access_of(user: User) -> dict[str, list[str]]:
    names = set(user.groups.values_list("name", flat=True))
    return {
        "roles": sorted(ROLE_LABELS[r] for r in Role if r.value in names),
        "sites": sorted(user.sites.values_list("name", flat=True)),
    }


def _access_changes(before: dict[str, list[str]] | None, user: User) -> dict[str, list[object]]:
    after = _access_of(user)
    before = before or {"roles": [], "sites": []}
    return {key: [before[key], after[key]] for key in after if before[key] != after[key]}


def _diff(before: dict[str, object], obj: object) -> dict[str, list[object]]:
    """{field: [before, after]} for each field in `before` (each editable field on creation)."""
    names = before or (SITE_FIELDS if isinstance(obj, Site) else USER_PROFILE_FIELDS)
    changes = {}
    for name in names:
        old, new = before.get(name), getattr(obj, name)
        if old != new and (old or new):
            changes[name] = [old, new]
    return changes


def _only(fields: dict[str, str], allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    return fields
