"""Users, the sites (clinics) they work at, and their roles.

Roles are Django groups created by a data migration (see `accounts.roles`); a user's sites decide
which patients, visits and images they can see.
"""

from django.contrib.auth.models import AbstractUser
from django.db import models


class Site(models.Model):
    """A screening clinic. Patients, visits and images belong to exactly one site."""

    code = models.SlugField(max_length=32, unique=True, help_text="Short code, e.g. 'north'.")
    name = models.CharField(max_length=200, unique=True)
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

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

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username
