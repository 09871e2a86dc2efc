"""User and site management for administrators (the admin role only; others get 403)."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts import services
from accounts.decorators import role_required
from accounts.forms import ApiTokenForm, SiteForm, UserCreateForm, UserEditForm, UserSearchForm
from accounts.http import AuthenticatedHttpRequest
from accounts.roles import Role, has_role
from accounts.selectors import (
    api_tokens_of,
    get_api_token_for_admin,
    get_site_for_admin,
    get_user_for_admin,
    site_list,
    user_search,
)

PAGE_SIZE = 50
admin_only = role_required(Role.ADMIN)


@admin_only
def user_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    search = UserSearchForm(request.GET or None)
    page = Paginator(user_search(**search.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/user_list.html", {"search": search, "page": page})


@admin_only
def user_create_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(
                actor=request.user, request=request, **form.service_fields()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            sent = " and emailed an invitation" if form.cleaned_data["send_invite"] else ""
            messages.success(request, f"Created {user.username}{sent}.")
            return redirect("staff:user_detail", pk=user.pk)
    return render(request, "accounts/user_form.html", {"form": form, "subject": None})


@admin_only
def user_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The user's details and the form that changes them, their roles and their sites."""
    subject = get_user_for_admin(pk)
    form = UserEditForm(request.POST or None, instance=subject)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(
                actor=request.user, user=subject, request=request, **form.service_fields()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {subject.username}.")
            return redirect("staff:user_detail", pk=subject.pk)
    return render(request, "accounts/user_form.html", {"form": form, "subject": subject})


@require_POST
@admin_only
def user_deactivate_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Deactivate only when the admin ticked the confirmation (it signs the user out at once)."""
    if request.POST.get("confirm") != "yes":
        subject = get_user_for_admin(pk)
        messages.error(
            request,
            f"{subject.username} was not deactivated: tick the box to confirm that they will be "
            "signed out and unable to sign in.",
        )
        return redirect("staff:user_detail", pk=subject.pk)
    return _user_action(
        request, pk, services.user_deactivate, "Deactivated {}; they are signed out."
    )


@require_POST
@admin_only
def user_reactivate_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _user_action(request, pk, services.user_reactivate, "Reactivated {}.")


@require_POST
@admin_only
def user_invite_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _user_action(
        request, pk, services.user_send_invite, "Emailed {} a link to choose a password."
    )


@require_POST
@admin_only
def user_reset_password_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _user_action(
        request,
        pk,
        services.user_reset_password,
        "Reset the password of {}: they are signed out everywhere and were emailed a link to "
        "choose a new one.",
    )


def _user_action(
    request: HttpRequest, pk: int, service: Callable[..., object], done: str
) -> HttpResponse:
    """Call one account service on the user; report its refusal or success as a message."""
    subject = get_user_for_admin(pk)
    try:
        service(actor=request.user, user=subject, request=request)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, done.format(subject.username))
    return redirect("staff:user_detail", pk=subject.pk)


@admin_only
def site_list_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "accounts/site_list.html", {"sites": site_list()})


@admin_only
def site_create_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            site = services.site_create(
                actor=request.user, request=request, **form.service_fields()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Added {site.name}.")
            return redirect("staff:site_list")
    return render(request, "accounts/site_form.html", {"form": form, "site": None})


@admin_only
def site_edit_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    site = get_site_for_admin(pk)
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        try:
            services.site_update(
                actor=request.user, site=site, request=request, **form.service_fields()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved {site.name}.")
            return redirect("staff:site_list")
    return render(request, "accounts/site_form.html", {"form": form, "site": site})


@require_POST
@admin_only
def site_deactivate_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Deactivate only when the admin ticked the confirmation (as for users)."""
    site = get_site_for_admin(pk)
    if request.POST.get("confirm") != "yes":
        messages.error(
            request,
            f"{site.name} was not deactivated: tick the box to confirm that it will take no new "
            "patients.",
        )
        return redirect("staff:site_edit", pk=site.pk)
    site = services.site_set_active(actor=request.user, site=site, active=False, request=request)
    messages.success(request, f"Deactivated {site.name}; its records stay readable.")
    return redirect("staff:site_list")


@require_POST
@admin_only
def site_reactivate_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    site = services.site_set_active(
        actor=request.user, site=get_site_for_admin(pk), active=True, request=request
    )
    messages.success(request, f"Reactivated {site.name}.")
    return redirect("staff:site_list")


@admin_only
def api_tokens_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """An API client's tokens, and the form that issues a new one. The new token's plaintext is
    shown on this one response only (never stored, never put in a URL or the session)."""
    subject = get_user_for_admin(pk)
    form = ApiTokenForm(request.POST or None, subject=subject)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_token_create(
                actor=request.user, user=subject, request=request, **form.service_fields()
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            form = ApiTokenForm(subject=subject)
    context = {
        "subject": subject,
        "form": form,
        "tokens": api_tokens_of(subject),
        "created": created,
        "is_api_client": has_role(subject, Role.API_CLIENT),
        "now": timezone.now(),
    }
    return render(request, "accounts/api_tokens.html", context)


@require_POST
@admin_only
def api_token_revoke_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    token = get_api_token_for_admin(pk)
    try:
        services.api_token_revoke(actor=request.user, token=token, request=request)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"Revoked the token “{token.name}” ({token.prefix}…).")
    return redirect("staff:api_tokens", pk=token.user_id)
