from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db.models import Model
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import audit_record


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, even for superusers."""

    list_display = ["created_at", "actor", "action", "object_type", "object_repr", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["action", "object_repr", "object_id", "actor__username"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


class AuditedModelAdmin(admin.ModelAdmin):
    """Django admin changes bypass the services, so record them in the audit trail here too."""

    def log_addition(self, request: HttpRequest, obj: Model, message: object) -> LogEntry:
        self._audit(request, obj, "create", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: object) -> LogEntry:
        self._audit(request, obj, "update", message)
        return super().log_change(request, obj, message)

    def _audit(self, request: HttpRequest, obj: Model, verb: str, message: object) -> None:
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{verb}",
            obj=obj,
            changes={"django_admin": message},
            request=request,
        )
