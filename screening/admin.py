from django.contrib import admin

from screening.models import FundusImage, Visit


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical records are changed through the application's services, never here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = ["pk", "patient", "site", "visit_date", "status"]
    list_filter = ["site", "status"]
    list_select_related = ["patient", "site"]


@admin.register(FundusImage)
class FundusImageAdmin(ReadOnlyAdmin):
    list_display = ["id", "visit", "eye", "field", "width", "height", "uploaded_at"]
    exclude = ["file", "thumbnail"]
