"""The "Book this course" page: the solver proposes the visits, the nurse moves any of them,
every version is checked, and Accept books them all at once (``ionto.clinic.booking``).

The proposal is kept between requests in the page's own form: one row per visit (date, time,
chair), which is all a booking needs and which every check re-reads against the records, so
no table holds half-made bookings. Beside it travels the solver's original proposal, signed,
only so that the page can say which visits the nurse moved and what the solver said; a row's
rules never depend on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ionto.clinic import booking, workflow
from ionto.clinic.models import WEEKDAY_CHOICES, Chair, Course
from ionto.clinic.pages import words
from ionto.clinic.pages.access import course_for, page, require, require_staff
from ionto.clinic.pages.forms import DateInput, TimeInput
from ionto.clinic.pages.record_views import course_context
from ionto.clinic.scheduling.problem import clock_text

#: What the signature of the solver's original proposal is for (never valid elsewhere).
SIGNING_SALT = "ionto.clinic.booking.proposal"
#: A proposal's signature is good for a day: the next day, propose again.
SIGNATURE_SECONDS = 24 * 3600
SOLVER_CHOICES = [
    ("cp-sat", "CP-SAT: the best plan it finds in a few seconds"),
    ("greedy", "First fit: at once, the earliest free slots"),
]


class AvailabilityForm(forms.Form):
    """When the patient can come (kept on the referral), and which solver to ask."""

    weekdays = forms.TypedMultipleChoiceField(
        label="Days the patient can come",
        choices=[(str(n), name) for n, name in WEEKDAY_CHOICES],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one day."},
    )
    earliest = forms.TimeField(
        label="Earliest start", required=False, widget=TimeInput(), help_text="Empty: opening."
    )
    latest = forms.TimeField(
        label="Latest end", required=False, widget=TimeInput(), help_text="Empty: closing."
    )
    solver = forms.ChoiceField(
        label="Solver", choices=SOLVER_CHOICES, initial="cp-sat", widget=forms.RadioSelect
    )

    def availability(self) -> booking.Availability:
        d = self.cleaned_data
        return booking.Availability(frozenset(d["weekdays"]), d["earliest"], d["latest"])


class VisitRowForm(forms.Form):
    """One proposed visit as the nurse leaves it."""

    day = forms.DateField(label="Date", widget=DateInput())
    time = forms.TimeField(label="Time", widget=TimeInput())
    chair = forms.ModelChoiceField(label="Chair", queryset=Chair.objects.filter(in_service=True))

    def slot(self) -> booking.Slot:
        d = self.cleaned_data
        return booking.Slot(d["day"], d["time"].hour * 60 + d["time"].minute, d["chair"].pk)


VisitRows = forms.formset_factory(
    VisitRowForm, extra=0, max_num=30, validate_max=True, absolute_max=30
)


def _rows_initial(slots: tuple[booking.Slot, ...]) -> list[dict[str, Any]]:
    return [
        {"day": s.on, "time": dt.time(s.start_min // 60, s.start_min % 60), "chair": s.chair_id}
        for s in slots
    ]


def _sign(course: Course, proposal: booking.Proposal) -> str:
    return signing.dumps(
        {
            "course": course.pk,
            "solver": proposal.solver,
            "status": proposal.status,
            "seconds": round(proposal.seconds, 2),
            "note": proposal.note,
            "slots": [[s.on.isoformat(), s.start_min, s.chair_id] for s in proposal.slots()],
        },
        salt=SIGNING_SALT,
    )


def _original(course: Course, token: str) -> dict[str, Any] | None:
    """The solver's signed proposal, or ``None`` (missing, altered, stale or another course's)."""
    try:
        data = signing.loads(token, salt=SIGNING_SALT, max_age=SIGNATURE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("course") != course.pk:
        return None
    return data


def _rows_view(checked: booking.Checked, original: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per visit: its nurse, end, the courses it books, its problems, and whether it moved."""
    first = original["slots"] if original else []
    out = []
    for v in checked.visits:
        was = first[v.index] if v.index < len(first) else None
        now = [v.slot.on.isoformat(), v.slot.start_min, v.slot.chair_id]
        out.append(
            {
                "visit": v,
                "end": clock_text(v.end_min),
                "moved": was is not None and list(was) != now,
                "was": (
                    f"{dt.date.fromisoformat(was[0]):%a %d %b}, {clock_text(int(was[1]))}"
                    if was
                    else ""
                ),
            }
        )
    return out


def _propose(course: Course, availability: AvailabilityForm, context: dict[str, Any]) -> int:
    """Keep the patient's availability and ask the solver; the status to answer with."""
    if not availability.is_valid():
        return 422
    booking.save_availability(course.referral, availability.availability())
    proposal = booking.propose(course, solver=availability.cleaned_data["solver"])
    context["unscheduled"] = proposal.unscheduled
    if proposal.checked is not None:
        context["checked"] = proposal.checked
        context["signed"] = _sign(course, proposal)
        context["original"] = _original(course, context["signed"])
        context["formset"] = VisitRows(initial=_rows_initial(proposal.slots()))
    return 200


def _check_or_accept(
    request: HttpRequest, course: Course, action: str, context: dict[str, Any]
) -> tuple[int, HttpResponse | None]:
    """Check the visits as the nurse left them, or book them all: (status, redirect)."""
    formset = VisitRows(request.POST)
    context["formset"] = formset
    context["signed"] = request.POST.get("proposal", "")
    context["original"] = _original(course, context["signed"])
    if not formset.is_valid():
        return 422, None
    slots = [form.slot() for form in formset]
    if action == "check":
        context["checked"] = booking.check(course, slots)
        return 200, None
    try:
        visits = booking.accept(course, slots)
    except booking.BookingRefused as refused:
        context["checked"] = refused.checked
        return refused.status, None
    sittings = "" if len(visits) == len(slots) else f" in {len(slots)} sittings"
    messages.success(request, f"{len(visits)} visits booked{sittings}, every rule kept.")
    return 302, redirect("course_visits", pk=course.pk)


@page
def course_book(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose, check and book a course's remaining funded sessions with the solver."""
    course = course_for(request, pk)
    require_staff(request)
    require(request, "add_visit", "book visits")
    saved = booking.availability_of(course.referral)
    context: dict[str, Any] = {
        **course_context(course),
        "refusal": None,
        "defaults": (),
        "checked": None,
        "rows": [],
        "formset": None,
        "signed": "",
        "original": None,
        "unscheduled": None,
        "together": (),
    }
    availability = AvailabilityForm(
        initial={
            "weekdays": [str(d) for d in sorted(saved.weekdays or range(5))],
            "earliest": saved.earliest,
            "latest": saved.latest,
            "solver": "cp-sat",
        }
    )
    action = request.POST.get("action", "propose") if request.method == "POST" else ""
    status = 200
    try:
        refusal = booking.why_not_bookable(course)
        if refusal is not None:
            raise refusal
        context["defaults"] = booking.centre_records().defaults
        context["together"] = [
            words.region(c.region) for c in booking.courses_booked_together(course)
        ]
        if action in {"check", "accept"}:
            status, done = _check_or_accept(request, course, action, context)
            if done is not None:
                return done
        elif action:
            availability = AvailabilityForm(request.POST)
            status = _propose(course, availability, context)
    except workflow.WorkflowError as error:
        context["refusal"] = error
        status = error.status if action else 200
    formset = context["formset"]
    checked = context["checked"]
    if formset is not None:
        views = _rows_view(checked, context["original"]) if checked else [None] * len(formset.forms)
        context["rows"] = list(zip(formset.forms, views, strict=True))
    context["availability"] = availability
    return render(request, "clinic/course_book.html", context, status=status)
