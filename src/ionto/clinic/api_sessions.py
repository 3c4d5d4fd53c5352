"""The station's part of the JSON API, mounted at /api/sessions/: start a ready session on its
chair's station, stop it, report pain, and follow it live.

The live chart polls ``GET /api/sessions/{id}/live?after=SEQ&events_after=ID`` about twice a
second: plain JSON over any WSGI server and any proxy, with nothing held open — a browser
that closes simply stops asking (server-sent events would hold a server thread per open page).
Each answer carries the trace chunks saved after ``SEQ``, the samples the station has not saved
yet (``tail``, replaced at every poll), the events after ``ID``, and the status and dose so
far — from the station itself while it runs here, from the database otherwise.

The clinic's own session endpoints (prepare, detail, the record after) are ``api_treatment``'s.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import P, PathEx, QueryEx, Router, Status
from ninja.errors import HttpError
from pydantic import Field

from ionto.clinic import roles, stations
from ionto.clinic.api_access import get_scoped, require
from ionto.clinic.api_errors import READ_ERRORS, WRITE_ERRORS, responses
from ionto.clinic.api_schemas import MAX_ID, Out, SessionStatusName
from ionto.clinic.api_treatment import sessions
from ionto.clinic.models import SessionEventRow, SessionStatus, TraceChunk, TreatmentSession

router = Router(tags=["sessions"])

SessionId = PathEx[int, P(ge=1, le=MAX_ID)]
#: The most trace chunks one answer carries (an hour of chunks at one a second); the chart
#: asks again at once when ``more`` is true.
MAX_CHUNKS = 3600
_TO_PATIENT = "course__referral__patient"


# --- Shapes ---------------------------------------------------------------------------------
class LiveDoseOut(Out):
    forward_mA_min: float
    reverse_mA_min: float
    total_mA_min: float
    planned_mA_min: float | None = Field(description="The plan's dose, both polarities.")


class LiveEventOut(Out):
    id: int
    t_s: float = Field(description="Session time (s) when it happened.")
    code: str
    text: str


class LiveChunkOut(Out):
    seq: int
    samples: list[list[float | str]] = Field(
        description="`[t_s, current_mA, voltage_V, state]` at 10 Hz of session time."
    )


class LiveOut(Out):
    id: int
    status: SessionStatusName
    status_text: str
    finished: bool
    on_station: bool = Field(description="A station of this server is running it now.")
    station: str
    phase: str | None = Field(description="The controller's phase while it runs here.")
    phase_text: str
    elapsed_s: float = Field(description="Session time so far (s).")
    remaining_s: float | None = Field(description="About how long is left (s).")
    target_mA: float | None
    current_mA: float | None
    voltage_V: float | None
    dose: LiveDoseOut
    peak_current_mA: float
    treated_s: float
    pain_reports: int
    shutting_down: bool
    chunks: list[LiveChunkOut] = Field(description="Trace chunks saved after `?after=`.")
    last_seq: int = Field(description="Ask again with `?after=` this (-1: none yet).")
    more: bool = Field(description="More chunks are waiting: ask again at once.")
    tail_seq: int | None = Field(
        description="The chunk the `tail` samples will be saved as: show them only when it "
        "is `last_seq + 1`."
    )
    tail: list[list[float | str]]
    events: list[LiveEventOut] = Field(description="Events after `?events_after=`.")
    last_event_id: int


class StationOrderOut(Out):
    id: int
    status: SessionStatusName
    station: str
    message: str


# --- Helpers --------------------------------------------------------------------------------
def _operable(request: HttpRequest, session_id: int) -> TreatmentSession:
    """A session the caller may run: clinical staff allowed to change sessions."""
    require(request, "change_treatmentsession")
    if not roles.is_staff_role(request.user):
        raise HttpError(403, "only the clinic's staff run sessions")
    session: TreatmentSession = get_scoped(request, sessions(), _TO_PATIENT, session_id, "session")
    return session


def _refused(error: stations.StationError) -> HttpError:
    return HttpError(409, error.message)


def live_json(session: TreatmentSession, after: int, events_after: int) -> dict[str, Any]:
    """The session as the live chart needs it (see the module docstring)."""
    # The database first, the station's unsaved tail second: a chunk saved in between is
    # then missing from this answer (and in the next), never shown twice.
    chunks = list(
        TraceChunk.objects.filter(session=session, seq__gt=after).order_by("seq")[: MAX_CHUNKS + 1]
    )
    more = len(chunks) > MAX_CHUNKS
    chunks = chunks[:MAX_CHUNKS]
    events = list(
        SessionEventRow.objects.filter(session=session, pk__gt=events_after).order_by("pk")
    )
    view = stations.live_view(session.pk) if session.status == SessionStatus.RUNNING else None
    live = view.status if view is not None else None
    finished = session.finished
    planned = stations.planned_mA_min(session)
    out: dict[str, Any] = {
        "id": session.pk,
        "status": session.status,
        "status_text": stations.STATUS_WORDS.get(session.status, session.status),
        "finished": finished,
        "on_station": view is not None,
        "station": session.chair.name,
        "phase": None,
        "phase_text": stations.STATUS_WORDS.get(session.status, session.status),
        "elapsed_s": session.device_time_s,
        "remaining_s": 0.0 if finished else None,
        "target_mA": None,
        "current_mA": None,
        "voltage_V": None,
        "dose": {
            "forward_mA_min": session.forward_mA_min,
            "reverse_mA_min": session.reverse_mA_min,
            "total_mA_min": session.delivered_mA_min,
            "planned_mA_min": planned if planned is None else round(planned, 3),
        },
        "peak_current_mA": session.peak_current_mA,
        "treated_s": session.treated_s,
        "pain_reports": session.pain_reports,
        "shutting_down": False,
        "chunks": [{"seq": c.seq, "samples": c.samples} for c in chunks],
        "last_seq": chunks[-1].seq if chunks else after,
        "more": more,
        "tail_seq": None,
        "tail": [],
        "events": [{"id": e.pk, "t_s": e.t_s, "code": e.code, "text": e.text} for e in events],
        "last_event_id": events[-1].pk if events else events_after,
    }
    if view is not None and not more:
        out["tail_seq"] = view.tail_seq
        out["tail"] = view.tail
    if live is not None:
        phase_text = stations.PHASE_WORDS.get(live.phase, str(live.phase))
        if live.shutting_down and not live.finished:
            phase_text += " (the station is shutting down)"
        out.update(
            phase=str(live.phase),
            phase_text=phase_text,
            elapsed_s=round(live.elapsed_s, 3),
            remaining_s=round(live.remaining_s, 1),
            target_mA=round(live.target_mA, 3),
            current_mA=round(live.current_mA, 3),
            voltage_V=round(live.voltage_V, 2),
            dose={
                "forward_mA_min": round(live.forward_mA_min, 4),
                "reverse_mA_min": round(live.reverse_mA_min, 4),
                "total_mA_min": round(live.delivered_mA_min, 4),
                "planned_mA_min": round(live.planned_mA_min, 3),
            },
            peak_current_mA=round(live.peak_current_mA, 3),
            treated_s=round(live.treated_s, 3),
            pain_reports=live.pain_reports,
            shutting_down=live.shutting_down,
        )
    return out


def _order_json(session: TreatmentSession, message: str) -> dict[str, Any]:
    session.refresh_from_db(fields=["status"])
    return {
        "id": session.pk,
        "status": session.status,
        "station": session.chair.name,
        "message": message,
    }


# --- Endpoints ------------------------------------------------------------------------------
@router.get(
    "/{session_id}/live",
    response=responses(200, LiveOut, READ_ERRORS),
    summary="Follow a session: status, dose so far, new trace chunks and events",
)
def live(
    request: HttpRequest,
    session_id: SessionId,
    after: QueryEx[int, P(ge=-1, le=MAX_ID, description="Trace chunks after this seq")] = -1,
    events_after: QueryEx[int, P(ge=0, le=MAX_ID, description="Events after this id")] = 0,
) -> dict[str, Any]:
    require(request, "view_treatmentsession")
    session: TreatmentSession = get_scoped(request, sessions(), _TO_PATIENT, session_id, "session")
    if roles.is_patient(request.user) and not session.finished:
        raise HttpError(403, "you can see this session once it has finished")
    return live_json(session, after, events_after)


@router.post(
    "/{session_id}/start",
    response=responses(202, StationOrderOut, WRITE_ERRORS),
    summary="Start a ready session on its chair's station",
)
def start(request: HttpRequest, session_id: SessionId) -> Status[dict[str, Any]]:
    session = _operable(request, session_id)
    try:
        station = stations.start_session(session.pk)
    except stations.StationError as error:
        raise _refused(error) from None
    return Status(202, _order_json(session, f"Starting on {station.name}."))


@router.post(
    "/{session_id}/stop",
    response=responses(202, StationOrderOut, WRITE_ERRORS),
    summary="Stop a running session: the current ramps down to zero; it ends stopped. A "
    "session still ready (not started) is withdrawn: its visit is free for another session",
)
def stop(request: HttpRequest, session_id: SessionId) -> Status[dict[str, Any]]:
    session = _operable(request, session_id)
    try:
        done = stations.stop_session(session.pk)
    except stations.StationError as error:
        raise _refused(error) from None
    if done == stations.WITHDRAWN:
        message = "Withdrawn before it started: the visit is free for another session."
    else:
        message = "Stopping: the current is ramping down to zero."
    return Status(202, _order_json(session, message))


@router.post(
    "/{session_id}/pain",
    response=responses(202, StationOrderOut, WRITE_ERRORS),
    summary="The patient reports pain: the current steps down (or the session stops)",
)
def pain(request: HttpRequest, session_id: SessionId) -> Status[dict[str, Any]]:
    session = _operable(request, session_id)
    try:
        stations.report_pain(session.pk)
    except stations.StationError as error:
        raise _refused(error) from None
    return Status(202, _order_json(session, "Pain reported: the current is stepped down."))
