from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from screening.models import Addendum, EyeReading, FundusImage, Review, SignOff, Visit


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical records are changed through the application's services, never here."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
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


class EyeReadingInline(admin.TabularInline):
    model = EyeReading
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Readings are written by the review services only; signed ones are locked everywhere."""

    list_display = ["pk", "visit", "round", "reader", "submitted_at", "overall_grade", "outcome"]
    list_filter = ["round"]
    list_select_related = ["visit__patient", "reader", "outcome"]
    inlines = [EyeReadingInline]


@admin.register(SignOff)
class SignOffAdmin(ReadOnlyAdmin):
    list_display = ["visit", "signed_by", "signed_at"]
    list_select_related = ["visit__patient", "signed_by"]


@admin.register(Addendum)
class AddendumAdmin(ReadOnlyAdmin):
    list_display = ["visit", "author", "created_at", "reason"]
    list_select_related = ["visit__patient", "author"]
