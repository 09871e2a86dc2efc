"""Users, the sites (clinics) they work at, and their roles.

Roles are Django groups created by a data migration (see `accounts.roles`); a user's sites decide
which patients, visits and images they can see.
"""

import datetime
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

if TYPE_CHECKING:
    from accounts.roles import Role


class Site(models.Model):
    """A screening clinic. Patients, visits and images belong to exactly one site."""

    code = models.SlugField(max_length=32, unique=True, help_text="Short code, e.g. 'north'.")
    name = models.CharField(max_length=200, unique=True)
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [  # "North" and "north" would be the same clinic to a person
            models.UniqueConstraint(
                Lower("code"),
                name="site_code_unique_ignoring_case",
                violation_error_message="A site with this code already exists.",
                violation_error_code="duplicate_code",
            ),
            models.UniqueConstraint(
                Lower("name"),
                name="site_name_unique_ignoring_case",
                violation_error_message="A site with this name already exists.",
                violation_error_code="duplicate_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person (or an integrating system, for the API client role) who uses DR Portal."""

    sites = models.ManyToManyField(
        Site,
        blank=True,
        related_name="users",
        help_text="Clinics whose records this user may see. Admins see every site.",
    )
    professional_id = models.CharField(
        "professional registration number",
        max_length=64,
        blank=True,
        help_text="For clinicians: registration number printed on signed reports.",
    )

    if TYPE_CHECKING:  # per-request caches that accounts.roles keeps on the user object
        _dr_roles: set[Role]
        _dr_token_site_ids: list[int]

    class Meta:
        ordering = ["username"]
        constraints = [  # "Nurse" next to "nurse" invites sign-in mistakes and impersonation
            models.UniqueConstraint(
                Lower("username"),
                name="username_unique_ignoring_case",
                violation_error_message="A user with this username already exists.",
                violation_error_code="duplicate_username",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A credential an integrating system (an API client user) sends as `Authorization: Token ...`.

    Only a SHA-256 hash of the secret is stored; the plaintext is shown once, when an administrator
    creates the token. The public `prefix` finds the row; the hash is compared in constant time. A
    token may be limited to some of its user's sites and to some actions, may expire, and is
    revoked rather than deleted (the audit trail refers to it).
    """

    class Action(models.TextChoices):
        READ = "read", "Read patients, visits, results and reports"
        WRITE = "write", "Register patients and visits"
        UPLOAD = "upload", "Upload photographs"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'Camera PC, room 2'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField("SHA-256 of the secret", max_length=64, editable=False)
    sites = models.ManyToManyField(
        Site,
        blank=True,
        related_name="+",
        help_text="Limit the token to some of the user's sites; none chosen means all of them.",
    )
    actions = models.JSONField(
        default=list, help_text="What the token may do: any of read, write and upload."
    )
    expires_at = models.DateTimeField("expires", null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField("last used", null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user.username}"

    def is_expired(self, now: datetime.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
