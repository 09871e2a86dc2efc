from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import Site, User
from accounts.roles import Role, has_role, sites_for
from patients.selectors import patients_for_user
from screening.models import Visit
from screening.selectors import recent_visits, visits_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
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
