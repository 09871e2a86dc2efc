from django.contrib import admin

from patients.models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["mrn", "family_name", "given_name", "date_of_birth", "site"]
    list_filter = ["site", "diabetes_type"]
    search_fields = ["mrn", "family_name", "given_name"]
    list_select_related = ["site"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
