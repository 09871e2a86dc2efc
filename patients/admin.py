from django.contrib import admin
from django.http import HttpRequest

from patients.models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth", "site"]
    list_filter = ["site", "diabetes_type"]
    search_fields = ["mrn", "family_name", "given_name"]
    list_select_related = ["site"]

    def has_delete_permission(self, request: HttpRequest, obj: Patient | None = None) -> bool:
        return False
