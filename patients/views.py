from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.decorators import role_required
from accounts.http import AuthenticatedHttpRequest
from accounts.roles import READ_ROLES, Role
from audit.services import AuditContext, audit_record
from patients.forms import PatientForm, PatientSearchForm
from patients.selectors import get_patient_for_user, patient_search
from patients.services import patient_create, patient_update
from screening.selectors import visits_for_patient

PAGE_SIZE = 25


@role_required(*READ_ROLES)
def patient_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    search = PatientSearchForm(request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(patient_search(user=request.user, query=query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "patients/list.html", {"search": search, "query": query, "page": page})


@role_required(*READ_ROLES)
def patient_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for_user(request.user, pk)
    audit_record(actor=request.user, action="patient.view", obj=patient, request=request)
    visits = visits_for_patient(user=request.user, patient=patient)
    return render(request, "patients/detail.html", {"patient": patient, "visits": visits})


@role_required(Role.NURSE)
def patient_create_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            patient = patient_create(
                actor=request.user,
                site=form.chosen_site,
                audit=AuditContext.from_request(request),
                **form.service_fields(),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Registered {patient.full_name}.")
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "patients/form.html", {"form": form, "patient": None})


@role_required(Role.NURSE)
def patient_edit_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    patient = get_patient_for_user(request.user, pk)
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        try:
            patient = patient_update(
                actor=request.user,
                patient=patient,
                audit=AuditContext.from_request(request),
                **fields,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Patient details saved.")
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "patients/form.html", {"form": form, "patient": patient})
