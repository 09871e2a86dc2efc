"""Reads of users and sites for the administration pages (the views check the admin role)."""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import ApiToken, Site, User
from accounts.roles import Role


def user_search(
    *, query: str = "", role: str = "", site: Site | None = None, active: bool | None = None
) -> QuerySet[User]:
    """Users matching every term (username, name or email), optionally by role, site and status."""
    users = User.objects.prefetch_related("groups", "sites").order_by("username")
    for term in query.split():
        users = users.filter(
            Q(username__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
        )
    if role:
        in_role = Q(groups__name=role)
        if role == Role.ADMIN:
            in_role |= Q(is_superuser=True)  # superusers count as admins (see roles_of)
        users = users.filter(in_role)
    if site is not None:
        users = users.filter(sites=site)
    if active is not None:
        users = users.filter(is_active=active)
    return users.distinct()


def get_user_for_admin(pk: int) -> User:
    return get_object_or_404(User.objects.prefetch_related("groups", "sites"), pk=pk)


def site_list() -> QuerySet[Site]:
    return Site.objects.order_by("-is_active", "name")


def get_site_for_admin(pk: int) -> Site:
    return get_object_or_404(Site, pk=pk)


def assignable_sites(user: User | None = None) -> QuerySet[Site]:
    """Active sites, plus the (possibly deactivated) sites the user already has."""
    condition = Q(is_active=True)
    if user is not None and user.pk:
        condition |= Q(users=user)
    return Site.objects.filter(condition).distinct().order_by("name")


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    return user.api_tokens.select_related("created_by", "revoked_by").prefetch_related("sites")


def get_api_token_for_admin(pk: int) -> ApiToken:
    return get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
