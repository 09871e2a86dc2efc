from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from accounts.models import Site, User
from audit.admin import AuditedModelAdmin


@admin.register(Site)
class SiteAdmin(AuditedModelAdmin):
    list_display = ["name", "code", "is_active"]
    search_fields = ["name", "code"]


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    fieldsets = [
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]  # a tuple; the stubs keep ModelAdmin's Optional
        ("DR Portal", {"fields": ["sites", "professional_id"]}),
    ]
    filter_horizontal = ["groups", "user_permissions", "sites"]
    list_display = ["username", "first_name", "last_name", "is_active"]

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Deactivate instead: clinical records stay attributed to their authors.
        return False
