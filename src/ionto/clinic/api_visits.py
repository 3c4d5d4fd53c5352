"""The JSON API for chairs and booked visits: book, move, cancel, and the day's list by date
and chair. Bookings go through ``workflow.book_visit``, which refuses a visit before funding,
past the funded sessions, on a busy chair or against a frequency cap."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import P, QueryEx, Router, Status

from ionto.clinic import workflow
from ionto.clinic.api_access import get_scoped, require, scoped
from ionto.clinic.api_errors import CREATE_ERRORS, LIST_ERRORS, PLAIN_ERRORS, READ_ERRORS, responses
from ionto.clinic.api_referrals import Limit, Offset, RecordId, patient_brief
from ionto.clinic.api_schemas import (
    MAX_ID,
    ChairOut,
    ClinicDate,
    VisitCancelIn,
    VisitIn,
    VisitMoveIn,
    VisitOut,
    VisitPage,
    VisitStatusName,
)
from ionto.clinic.models import Chair, Course, TreatmentSession, Visit
from ionto.clinic.pages.lists import day_bounds

router = Router(tags=["visits"])

_TO_PATIENT = "course__referral__patient"


def chair_json(chair: Chair) -> dict[str, Any]:
    return {
        "id": chair.pk,
        "name": chair.name,
        "device": chair.device,
        "in_service": chair.in_service,
    }


def _session_id(visit: Visit) -> int | None:
    try:
        session: TreatmentSession = visit.session
    except ObjectDoesNotExist:
        return None
    return session.pk


def visit_json(visit: Visit) -> dict[str, Any]:
    course = visit.course
    return {
        "id": visit.pk,
        "course_id": course.pk,
        "referral_id": course.referral_id,
        "patient": patient_brief(course.referral.patient),
        "region": course.region,
        "solution": course.solution,
        "chair": {"id": visit.chair.pk, "name": visit.chair.name} if visit.chair else None,
        "starts_at": timezone.localtime(visit.starts_at),
        "status": visit.status,
        "session_id": _session_id(visit),
    }


def visits() -> QuerySet[Visit]:
    return Visit.objects.select_related("course__referral__patient", "chair", "session")


def _chair(chair_id: int | None) -> Chair | None:
    if chair_id is None:
        return None
    chair = Chair.objects.filter(pk=chair_id).first()
    if chair is None:
        raise workflow.WorkflowError(f"no chair {chair_id}", "chair_id")
    return chair


@router.get(
    "/chairs",
    response=responses(200, list[ChairOut], PLAIN_ERRORS),
    tags=["visits"],
    summary="The treatment chairs and their stations",
)
def list_chairs(request: HttpRequest) -> list[dict[str, Any]]:
    require(request, "view_chair")
    return [chair_json(c) for c in Chair.objects.all()]


@router.get(
    "/visits",
    response=responses(200, VisitPage, LIST_ERRORS),
    summary="Visits, by day, chair, course or referral",
)
def list_visits(
    request: HttpRequest,
    date: QueryEx[ClinicDate | None, P(description="Visits on this day (clinic time)")] = None,
    chair_id: QueryEx[int | None, P(ge=1, le=MAX_ID)] = None,
    course_id: QueryEx[int | None, P(ge=1, le=MAX_ID)] = None,
    referral_id: QueryEx[int | None, P(ge=1, le=MAX_ID)] = None,
    status: QueryEx[VisitStatusName | None, P(description="Only visits in this state")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    require(request, "view_visit")
    rows = scoped(request, visits(), _TO_PATIENT)
    if date is not None:
        start, end = day_bounds(date)
        rows = rows.filter(starts_at__gte=start, starts_at__lt=end)
    if chair_id is not None:
        rows = rows.filter(chair_id=chair_id)
    if course_id is not None:
        rows = rows.filter(course_id=course_id)
    if referral_id is not None:
        rows = rows.filter(course__referral_id=referral_id)
    if status is not None:
        rows = rows.filter(status=status)
    rows = rows.order_by("starts_at", "id")
    return {"count": rows.count(), "items": [visit_json(v) for v in rows[offset : offset + limit]]}


@router.get("/visits/{visit_id}", response=responses(200, VisitOut, READ_ERRORS), summary="A visit")
def get_visit(request: HttpRequest, visit_id: RecordId) -> dict[str, Any]:
    require(request, "view_visit")
    return visit_json(get_scoped(request, visits(), _TO_PATIENT, visit_id, "visit"))


@router.post(
    "/visits",
    response=responses(201, VisitOut, CREATE_ERRORS),
    summary="Book a visit (refused before funding is approved)",
)
def book_visit(request: HttpRequest, payload: VisitIn) -> Status[dict[str, Any]]:
    require(request, "add_visit")
    courses = scoped(request, Course.objects.select_related("referral"), "referral__patient")
    course = courses.filter(pk=payload.course_id).first()
    if course is None:
        raise workflow.WorkflowError(f"no course {payload.course_id}", "course_id")
    visit = workflow.book_visit(course, starts_at=payload.starts_at, chair=_chair(payload.chair_id))
    return Status(201, visit_json(visits().get(pk=visit.pk)))


@router.post(
    "/visits/{visit_id}/move", response=responses(200, VisitOut), summary="Move a booked visit"
)
def move_visit(request: HttpRequest, visit_id: RecordId, payload: VisitMoveIn) -> dict[str, Any]:
    require(request, "change_visit")
    visit = get_scoped(request, visits(), _TO_PATIENT, visit_id, "visit")
    chair = _chair(payload.chair_id)
    # A visit no longer booked, or with a session given, is refused by the workflow (409).
    workflow.book_visit(visit.course, starts_at=payload.starts_at, chair=chair, visit=visit)
    return visit_json(visits().get(pk=visit.pk))


@router.post(
    "/visits/{visit_id}/cancel",
    response=responses(200, VisitOut),
    summary="Cancel a visit, or mark it not attended",
)
def cancel_visit(
    request: HttpRequest, visit_id: RecordId, payload: VisitCancelIn
) -> dict[str, Any]:
    require(request, "change_visit")
    visit = get_scoped(request, visits(), _TO_PATIENT, visit_id, "visit")
    workflow.cancel_visit(visit, did_not_attend=payload.did_not_attend)
    return visit_json(visits().get(pk=visit.pk))
