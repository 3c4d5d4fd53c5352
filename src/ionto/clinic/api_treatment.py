"""The JSON API around a treatment session and the course's verdict: prepare a session (the
pre-session safety checks), read it back while it runs or after (status, dose, events, trace
since a sequence number), the nurse's record afterwards, and the verdict after the course.

Starting, stopping and reporting pain are the station's (``api_sessions``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import P, QueryEx, Router, Status

from ionto.clinic import workflow
from ionto.clinic.api_access import get_scoped, require, scoped, username
from ionto.clinic.api_errors import CREATE_ERRORS, READ_ERRORS, responses
from ionto.clinic.api_referrals import RecordId
from ionto.clinic.api_schemas import (
    MAX_ID,
    SessionOut,
    SessionPrepareIn,
    SessionRecordIn,
    VerdictIn,
    VerdictOut,
)
from ionto.clinic.models import (
    Chair,
    Course,
    SessionEventRow,
    TraceChunk,
    TreatmentSession,
    Verdict,
    Visit,
)

router = Router()

_TO_PATIENT = "course__referral__patient"


def session_json(session: TreatmentSession, after: int | None = None) -> dict[str, Any]:
    """A session as the nurse's screen shows it; the trace from chunk ``after`` + 1 on."""
    chunks = TraceChunk.objects.filter(session=session).order_by("seq")
    if after is not None:
        chunks = chunks.filter(seq__gt=after)
    trace = [{"seq": c.seq, "samples": c.samples} for c in chunks]
    last_seq = (
        trace[-1]["seq"]
        if trace
        else TraceChunk.objects.filter(session=session)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    events = SessionEventRow.objects.filter(session=session).order_by("t_s", "id")
    return {
        "id": session.pk,
        "course_id": session.course_id,
        "visit_id": session.visit_id,
        "referral_id": session.course.referral_id,
        "chair": {"id": session.chair.pk, "name": session.chair.name},
        "status": session.status,
        "plan": session.plan,
        "checklist": list(session.checklist),
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "device_time_s": session.device_time_s,
        "treated_s": session.treated_s,
        "dose": {
            "forward_mA_min": session.forward_mA_min,
            "reverse_mA_min": session.reverse_mA_min,
            "total_mA_min": session.delivered_mA_min,
        },
        "peak_current_mA": session.peak_current_mA,
        "pain_reports": session.pain_reports,
        "sensation_score": session.sensation_score,
        "side_effects": list(session.side_effects),
        "notes": session.notes,
        "given_by": username(session.given_by),
        "events": [{"t_s": e.t_s, "code": e.code, "text": e.text} for e in events],
        "trace": trace,
        "last_seq": last_seq,
    }


def sessions() -> QuerySet[TreatmentSession]:
    return TreatmentSession.objects.select_related("course", "chair", "given_by")


@router.post(
    "/sessions",
    response=responses(201, SessionOut, CREATE_ERRORS),
    tags=["sessions"],
    summary="Prepare a session at a visit: every pre-session check ticked, the chair free",
)
def prepare_session(request: HttpRequest, payload: SessionPrepareIn) -> Status[dict[str, Any]]:
    user = require(request, "add_treatmentsession")
    visit_rows = scoped(request, Visit.objects.select_related("course__referral"), _TO_PATIENT)
    visit = visit_rows.filter(pk=payload.visit_id).first()
    if visit is None:
        raise workflow.WorkflowError(f"no visit {payload.visit_id}", "visit_id")
    chair = Chair.objects.filter(pk=payload.chair_id).first()
    if chair is None:
        raise workflow.WorkflowError(f"no chair {payload.chair_id}", "chair_id")
    workflow.check_visit_day(visit)  # prepared here to start now: today's visits only
    session = workflow.prepare_session(
        visit,
        chair=chair,
        checklist=list(payload.checklist),
        current_mA=payload.current_mA,
        user=user,
    )
    return Status(201, session_json(sessions().get(pk=session.pk)))


@router.get(
    "/sessions/{session_id}",
    response=responses(200, SessionOut, READ_ERRORS),
    tags=["sessions"],
    summary="A session: status, dose so far, events, trace chunks after ?after=SEQ",
)
def get_session(
    request: HttpRequest,
    session_id: RecordId,
    after: QueryEx[
        int | None, P(ge=-1, le=MAX_ID, description="Only trace chunks after this sequence")
    ] = None,
) -> dict[str, Any]:
    require(request, "view_treatmentsession")
    session = get_scoped(request, sessions(), _TO_PATIENT, session_id, "session")
    return session_json(session, after)


@router.post(
    "/sessions/{session_id}/record",
    response=responses(200, SessionOut),
    tags=["sessions"],
    summary="The nurse's record after the session: sensation, side effects, notes",
)
def record_after_session(
    request: HttpRequest, session_id: RecordId, payload: SessionRecordIn
) -> dict[str, Any]:
    require(request, "change_treatmentsession")
    session = get_scoped(request, sessions(), _TO_PATIENT, session_id, "session")
    workflow.record_after_session(
        session,
        sensation_score=payload.sensation_score,
        side_effects=list(payload.side_effects),
        notes=payload.notes,
    )
    return session_json(sessions().get(pk=session.pk))


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "course_id": verdict.course_id,
        "saved": verdict.pk is not None,
        "followup_hdss": verdict.followup_hdss,
        "notes": verdict.notes,
        "decided_by": username(verdict.decided_by),
        "decided_at": verdict.decided_at,
        "result": verdict.result,
    }


@router.post(
    "/courses/{course_id}/verdict",
    response={**responses(201, VerdictOut), 200: VerdictOut},
    tags=["courses"],
    summary="The verdict after the course (201 kept; 200 `continue`: too early, nothing kept)",
)
def judge_course(
    request: HttpRequest, course_id: RecordId, payload: VerdictIn
) -> Status[dict[str, Any]]:
    user = require(request, "add_verdict")
    rows = Course.objects.select_related("referral")
    course = get_scoped(request, rows, "referral__patient", course_id, "course")
    verdict = workflow.judge_course(
        course, followup_hdss=payload.followup_hdss, notes=payload.notes, user=user
    )
    return Status(201 if verdict.pk is not None else 200, verdict_json(verdict))
