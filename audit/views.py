from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render

from accounts.decorators import role_required
from accounts.http import AuthenticatedHttpRequest
from accounts.roles import Role
from audit.forms import AuditFilterForm
from audit.selectors import audit_event_search

PAGE_SIZE = 50


@role_required(Role.ADMIN)
def audit_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if not form.is_bound:
        events = audit_event_search()
    elif form.is_valid():
        events = audit_event_search(**form.filters())
    else:  # a filter that cannot be read must not silently show everything
        events = audit_event_search().none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/list.html", {"form": form, "page": page})
