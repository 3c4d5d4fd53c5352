"""A course's visits (book, move, cancel) and its verdict.

Booking refusals — before funding, past the funded sessions, a frequency cap, a chair taken —
are ``workflow.book_visit``'s, shown in its words next to the field they concern.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from ionto.clinic import booking, roles, workflow
from ionto.clinic.models import (
    Course,
    CourseStatus,
    Timepoint,
    TreatmentSession,
    Verdict,
    VisitStatus,
)
from ionto.clinic.pages.access import (
    course_for,
    page,
    require,
    require_clinical,
    require_staff,
    user_of,
    visit_for,
)
from ionto.clinic.pages.forms import BookingForm, CancelForm, OutcomesForm, put_error
from ionto.clinic.pages.record_views import course_context, record_measures, verdict_view
from ionto.therapy import outcomes

BOOKING_ALIASES = {"starts_at": "day", "course": "day", "funding": "day", "chair": "chair"}


def _visits_context(
    request: HttpRequest, course: Course, form: BookingForm | None
) -> dict[str, Any]:
    clinical = roles.sees_clinical(request.user) and roles.is_staff_role(request.user)
    visits = course.visits.select_related("chair").order_by("starts_at", "id")
    sessions = (
        {s.visit_id: s for s in TreatmentSession.objects.filter(course=course)} if clinical else {}
    )
    rows = [{"visit": v, "session": sessions.get(v.pk)} for v in visits]
    live = sum(1 for v in visits if v.status in {VisitStatus.BOOKED, VisitStatus.ATTENDED})
    can_book = roles.is_staff_role(request.user) and request.user.has_perm("clinic.add_visit")
    return {
        **course_context(course),
        "rows": rows,
        "live": live,
        "form": form,
        "clinical": clinical,
        "course_open": course.status in {CourseStatus.PLANNED, CourseStatus.ACTIVE},
        # A session is started at today's visits only (workflow.check_visit_day).
        "today": timezone.localdate(),
        "can_book": can_book,
        # "Book this course": the solver proposes the rest of the funded sessions.
        "solver_refusal": booking.why_not_bookable(course) if can_book else None,
        "can_change": roles.is_staff_role(request.user)
        and request.user.has_perm("clinic.change_visit"),
    }


@page
def course_visits(request: HttpRequest, pk: int) -> HttpResponse:
    """The course's visits, and a form to book the next one."""
    course = course_for(request, pk)
    require(request, "view_visit", "see bookings")
    status = 200
    if request.method == "POST":
        require_staff(request)
        require(request, "add_visit", "book visits")
        form = BookingForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                visit = workflow.book_visit(
                    course, starts_at=form.starts_at(), chair=form.cleaned_data["chair"]
                )
            except workflow.WorkflowError as error:
                put_error(form, error, BOOKING_ALIASES)
                status = error.status
            else:
                when = timezone.localtime(visit.starts_at).strftime("%A %d %B %Y, %H:%M")
                messages.success(request, f"Visit booked: {when}.")
                return redirect("course_visits", pk=course.pk)
    else:
        form = BookingForm()
    context = _visits_context(request, course, form)
    return render(request, "clinic/course_visits.html", context, status=status)


@page
def visit_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a booked visit to another day, time or chair (the same checks as booking)."""
    visit = visit_for(request, pk)
    require_staff(request)
    require(request, "change_visit", "move visits")
    status = 200
    if request.method == "POST":
        form = BookingForm(request.POST)
        status = 422
        if form.is_valid():
            # A visit no longer booked is the workflow's refusal (409), like every other.
            try:
                workflow.book_visit(
                    visit.course,
                    starts_at=form.starts_at(),
                    chair=form.cleaned_data["chair"],
                    visit=visit,
                )
            except workflow.WorkflowError as error:
                put_error(form, error, BOOKING_ALIASES)
                status = error.status
            else:
                messages.success(request, "Visit moved.")
                return redirect("course_visits", pk=visit.course_id)
    else:
        local = timezone.localtime(visit.starts_at)
        form = BookingForm(
            initial={"day": local.date(), "time": local.time(), "chair": visit.chair}
        )
    context = {"visit": visit, **course_context(visit.course), "form": form}
    return render(request, "clinic/visit_move.html", context, status=status)


@page
def visit_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a booked visit, or mark that the patient did not attend."""
    visit = visit_for(request, pk)
    require_staff(request)
    require(request, "change_visit", "cancel visits")
    status = 200
    form = CancelForm(request.POST or None)
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                workflow.cancel_visit(
                    visit, did_not_attend=form.cleaned_data["outcome"] == "did_not_attend"
                )
            except workflow.WorkflowError as error:
                form.add_error(None, error.message)
                status = error.status
            else:
                messages.success(request, "Visit cancelled.")
                return redirect("course_visits", pk=visit.course_id)
    context = {"visit": visit, **course_context(visit.course), "form": form}
    return render(request, "clinic/visit_cancel.html", context, status=status)


# --- Verdict ------------------------------------------------------------------------------------


class _VerdictNotKeptError(Exception):
    """A "continue" verdict: shown, and everything recorded for it rolled back."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("continue")
        self.verdict = verdict


@page
def verdict(request: HttpRequest, pk: int) -> HttpResponse:
    """Follow-up HDSS, DLQI and gravimetry, then the therapy core's verdict on the course.

    The follow-up measures and the verdict are kept together or not at all: a refused verdict
    keeps nothing, and a "continue" verdict (too early to judge) is shown but not kept, so
    the course goes on as if the form had not been sent."""
    course = course_for(request, pk)
    referral = course.referral
    require_clinical(request, "give verdicts")
    require(request, "add_verdict", "give verdicts")
    existing = Verdict.objects.filter(course=course).first()
    age = referral.patient.age_years(timezone.localdate())
    form_args: dict[str, Any] = {
        "hdss_field": "followup_hdss",
        "age_years": age,
        "regions": [course.region],
        "with_notes": True,
    }
    status = 200
    shown: Verdict | None = None
    if request.method == "POST":
        form = OutcomesForm(request.POST, **form_args)
        status = 422
        if form.is_valid():
            try:
                with transaction.atomic():
                    error = record_measures(referral, form, Timepoint.FOLLOWUP, request)
                    if error is not None:
                        raise error
                    result = workflow.judge_course(
                        course,
                        followup_hdss=form.cleaned_data["followup_hdss"],
                        notes=form.cleaned_data["notes"],
                        user=user_of(request),
                    )
                    if result.pk is None:
                        raise _VerdictNotKeptError(result)
            except _VerdictNotKeptError as not_kept:
                shown = not_kept.verdict
                status = 200
            except workflow.WorkflowError as error:
                if not form.errors:
                    put_error(form, error, {"course": "followup_hdss"})
                status = error.status
            else:
                messages.success(request, "Verdict recorded.")
                hub = reverse("referral", kwargs={"pk": referral.pk})
                return redirect(f"{hub}#course-{course.pk}")
    else:
        form = OutcomesForm(**form_args)
    context = {
        **course_context(course),
        "form": form,
        "existing": verdict_view(existing.result) if existing else None,
        "shown": verdict_view(shown.result) if shown else None,
        "dlqi_copyright": outcomes.DLQI_COPYRIGHT,
        "sessions": TreatmentSession.objects.filter(
            course=course, started_at__isnull=False
        ).count(),
    }
    return render(request, "clinic/verdict.html", context, status=status)
