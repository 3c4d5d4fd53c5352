"""The JSON API of "book this course" (issue 5): the solver's proposal for a course, a check of
an edited list of visits, and the booking of that list whole — in one transaction through
``workflow.book_visit``, or not at all (``ionto.clinic.booking``).

Who may: whoever may book visits (``add_visit``: admin, clinician, nurse, reception), as
``POST /api/visits``; a patient may not (403). Refusals have the API's one shape; a refused
booking lists every broken rule, each under its visit's field (``visits[3]``,
``visits[3].chair_id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Status
from pydantic import Field

from ionto.clinic import booking, workflow
from ionto.clinic.api_access import require, scoped
from ionto.clinic.api_errors import responses
from ionto.clinic.api_schemas import ClinicDate, Id, In, Out, VisitOut
from ionto.clinic.api_visits import visit_json, visits
from ionto.clinic.models import Course
from ionto.clinic.scheduling.problem import WEEKDAY_NAMES, clock_text

router = Router(tags=["booking"])

WeekdayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[
    str,
    Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="Clinic (UK) time, HH:MM"),
]


# --- Shapes ----------------------------------------------------------------------------------
class AvailabilityIn(In):
    weekdays: list[WeekdayName] = Field(
        default_factory=list,
        max_length=7,
        description="Days the patient can come; empty: any day the centre is open.",
    )
    earliest: Clock | None = Field(None, description="Earliest start of a visit.")
    latest: Clock | None = Field(None, description="Latest end of a visit.")


class ProposalIn(In):
    availability: AvailabilityIn | None = Field(
        None,
        description="When the patient can come; kept on the referral. Left out: the "
        "availability kept from before.",
    )
    solver: Literal["cp-sat", "greedy"] = "cp-sat"
    seconds: float = Field(
        booking.PROPOSAL_SECONDS, ge=0.5, le=10, description="CP-SAT's time limit."
    )


class SlotIn(In):
    date: ClinicDate
    start: Clock
    chair_id: Id


class SlotsIn(In):
    visits: list[SlotIn] = Field(min_length=1, max_length=30)


class RuleOut(Out):
    code: str
    text: str


class AvailabilityOut(Out):
    weekdays: list[WeekdayName]
    earliest: str | None
    latest: str | None


class CourseStartOut(Out):
    course_id: int
    region: str
    starts_at: dt.datetime


class ProposedVisitOut(Out):
    date: dt.date
    start: str
    end: str
    chair_id: int
    chair: str | None
    nurse: str
    bookings: list[CourseStartOut] = Field(
        description="The visit of each course this visit treats, one after another."
    )
    problems: list[RuleOut]


class CheckedOut(Out):
    course_ids: list[int] = Field(description="The courses booked together (one sitting).")
    regions: list[str]
    visit_minutes: int
    remaining: int = Field(description="Funded sessions still to book.")
    ok: bool
    visits: list[ProposedVisitOut]
    problems: list[RuleOut] = Field(description="The course's own, not of one visit.")


class ProposalOut(CheckedOut):
    availability: AvailabilityOut
    solver: str
    status: str
    seconds: float
    note: str
    unscheduled: RuleOut | None = Field(description="Why nothing fits, when nothing does.")
    centre_defaults: list[str] = Field(
        description="Parts of the centre's booking set-up not set, and so the defaults."
    )


class BookedOut(Out):
    visits: list[VisitOut]


# --- Helpers ---------------------------------------------------------------------------------
def _course(request: HttpRequest, course_id: int) -> Course:
    rows: QuerySet[Course] = scoped(
        request, Course.objects.select_related("referral__patient"), "referral__patient"
    )
    course = rows.filter(pk=course_id).first()
    if course is None:
        raise Http404(f"no course {course_id}")
    return course


def _clock(text: str | None) -> dt.time | None:
    return None if text is None else dt.time.fromisoformat(text)


def _slots(payload: SlotsIn) -> list[booking.Slot]:
    out = []
    for item in payload.visits:
        t = dt.time.fromisoformat(item.start)
        out.append(booking.Slot(item.date, t.hour * 60 + t.minute, item.chair_id))
    return out


def _rules(rules: tuple[booking.Rule, ...]) -> list[dict[str, str]]:
    return [{"code": r.code, "text": r.text} for r in rules]


def _context_json(ctx: booking.BookingContext) -> dict[str, Any]:
    return {
        "course_ids": [c.pk for c in ctx.courses],
        "regions": [c.region for c in ctx.courses],
        "visit_minutes": ctx.visit_minutes,
        "remaining": ctx.remaining,
    }


def checked_json(checked: booking.Checked) -> dict[str, Any]:
    return {
        **_context_json(checked.context),
        "ok": checked.ok,
        "visits": [
            {
                "date": v.slot.on,
                "start": clock_text(v.slot.start_min),
                "end": clock_text(v.end_min),
                "chair_id": v.slot.chair_id,
                "chair": v.chair.name if v.chair else None,
                "nurse": v.nurse,
                "bookings": [
                    {"course_id": c.pk, "region": c.region, "starts_at": at} for c, at in v.starts
                ],
                "problems": _rules(v.problems),
            }
            for v in checked.visits
        ],
        "problems": _rules(checked.problems),
    }


def proposal_json(proposal: booking.Proposal) -> dict[str, Any]:
    ctx = proposal.context
    a = ctx.availability
    base = (
        checked_json(proposal.checked)
        if proposal.checked
        else {**_context_json(ctx), "ok": False, "visits": [], "problems": []}
    )
    return {
        **base,
        "availability": {
            "weekdays": [WEEKDAY_NAMES[d] for d in sorted(a.weekdays)],
            "earliest": a.earliest.strftime("%H:%M") if a.earliest else None,
            "latest": a.latest.strftime("%H:%M") if a.latest else None,
        },
        "solver": proposal.solver,
        "status": proposal.status,
        "seconds": round(proposal.seconds, 3),
        "note": proposal.note,
        "unscheduled": (
            {"code": proposal.unscheduled.code, "text": proposal.unscheduled.text}
            if proposal.unscheduled
            else None
        ),
        "centre_defaults": list(ctx.records.defaults),
    }


# --- Endpoints -------------------------------------------------------------------------------
@router.post(
    "/courses/{course_id}/booking/proposal",
    response=responses(200, ProposalOut),
    summary="The solver's visits for a course's remaining funded sessions (nothing booked)",
)
def propose(request: HttpRequest, course_id: Id, payload: ProposalIn) -> dict[str, Any]:
    require(request, "add_visit")
    course = _course(request, course_id)
    refusal = booking.why_not_bookable(course)
    if refusal is not None:
        raise refusal
    if payload.availability is not None:
        given = payload.availability
        wanted = booking.Availability(
            frozenset(WEEKDAY_NAMES.index(d) for d in given.weekdays),
            _clock(given.earliest),
            _clock(given.latest),
        )
        try:
            booking.save_availability(course.referral, wanted)
        except workflow.WorkflowError as error:
            error.field = f"availability.{error.field}"
            raise
    proposal = booking.propose(course, solver=payload.solver, seconds=payload.seconds)
    return proposal_json(proposal)


@router.post(
    "/courses/{course_id}/booking/check",
    response=responses(200, CheckedOut),
    summary="Check a (possibly edited) list of visits against every rule, booking nothing",
)
def check(request: HttpRequest, course_id: Id, payload: SlotsIn) -> dict[str, Any]:
    require(request, "add_visit")
    course = _course(request, course_id)
    return checked_json(booking.check(course, _slots(payload)))


@router.post(
    "/courses/{course_id}/booking",
    response=responses(201, BookedOut),
    summary="Book a (possibly edited) list of visits whole, or nothing",
)
def accept(request: HttpRequest, course_id: Id, payload: SlotsIn) -> Status[dict[str, Any]]:
    require(request, "add_visit")
    course = _course(request, course_id)
    booked = booking.accept(course, _slots(payload))
    rows = visits().filter(pk__in=[v.pk for v in booked]).order_by("starts_at", "id")
    return Status(201, {"visits": [visit_json(v) for v in rows]})
