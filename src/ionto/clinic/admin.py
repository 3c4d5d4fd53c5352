"""The admin site's pages for the back office: the centre's booking set-up (issue 5).

Every change goes through the models' own ``save`` and ``delete``, so it is written to the
audit log like any other: the admin's bulk delete, which would bypass them, deletes one record
at a time here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ionto.clinic.models import BookingSetup, ClosedDay, OpeningHours, RosteredNurse

if TYPE_CHECKING:  # django-stubs' generics; plain classes at run time
    _Inline = admin.TabularInline[Any, BookingSetup]
    _Admin = admin.ModelAdmin[BookingSetup]
else:
    _Inline = admin.TabularInline
    _Admin = admin.ModelAdmin


class _AuditedDeletes:
    """Bulk deletes one record at a time, through ``Audited.delete``."""

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:  # noqa: ARG002 - Django's signature
        for record in queryset:
            record.delete()


class OpeningHoursInline(_Inline):
    model = OpeningHours
    extra = 0


class RosteredNurseInline(_Inline):
    model = RosteredNurse
    extra = 0
    verbose_name = "nurse on the roster"


class ClosedDayInline(_Inline):
    model = ClosedDay
    extra = 0


@admin.register(BookingSetup)
class BookingSetupAdmin(_AuditedDeletes, _Admin):
    """One page for the booking office: chairs per nurse, set-up minutes, the opening hours,
    the nurses' roster and the closed days. Chairs are the treatment chairs in service."""

    list_display = ("__str__", "chairs_per_nurse", "setup_minutes")
    inlines = (OpeningHoursInline, RosteredNurseInline, ClosedDayInline)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One set-up for the centre: add it once, then change it.
        return super().has_add_permission(request) and not BookingSetup.objects.exists()
