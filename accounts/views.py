from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN, PasswordResetConfirmView
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Site, User
from accounts.roles import Role, has_role, sites_for
from accounts.services import password_change, password_set_from_link
from accounts.tokens import set_password_token
from patients.selectors import patients_for_user
from screening.models import Visit
from screening.selectors import recent_visits, visits_for_user


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One landing page; each role sees the panels for its own work."""
    user = request.user
    context: dict[str, object] = {"sites": sites_for(user)}
    if has_role(user, Role.NURSE, Role.DOCTOR, Role.ADMIN):
        visits = visits_for_user(user)
        context |= {
            "recent_visits": recent_visits(user=user),
            "patient_count": patients_for_user(user).count(),
            "visits_today": visits.filter(visit_date=timezone.localdate()).count(),
            "awaiting_review": visits.filter(status=Visit.Status.AWAITING_REVIEW).count(),
            "grading": visits.filter(status=Visit.Status.GRADING).count(),
        }
    if has_role(user, Role.ADMIN):
        context |= {
            "user_count": User.objects.filter(is_active=True).count(),
            "site_count": Site.objects.count(),
        }
    return render(request, "home.html", context)


@sensitive_post_parameters()
@login_required
def password_change_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Change one's own password; every other session of the user ends, this one continues."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = password_change(
            actor=request.user, password=form.cleaned_data["new_password1"], request=request
        )
        update_session_auth_hash(request, user)
        messages.success(request, "Password changed. Your other sessions have been signed out.")
        return redirect("home")
    return render(request, "accounts/password_change.html", {"form": form})


class SetPasswordFromLinkView(PasswordResetConfirmView):
    """Choose a password through a one-time link (an invitation or an admin-triggered reset).

    Django's view checks the token and moves it into the session so it never stays in the address
    bar (or a Referer header); here the password is saved through the service, with an audit event.
    """

    template_name = "accounts/set_password.html"
    token_generator = set_password_token
    reset_url_token = "set"  # noqa: S105 (a URL marker, not a password)
    success_url = reverse_lazy("login")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        password_set_from_link(
            user=form.user, password=form.cleaned_data["new_password1"], request=self.request
        )
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        messages.success(self.request, "Your password is set. Sign in with it now.")
        return HttpResponseRedirect(self.get_success_url())

    def get_user(self, uidb64: str) -> User | None:
        user = super().get_user(uidb64)
        return user if user is not None and user.is_active else None  # deactivated: link is dead
