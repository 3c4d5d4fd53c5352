"""A treatment session at a visit: the start (chair, pre-session safety checks, an optional
lower current), the live page (chart, state, times, dose, events; stop and pain), and the
nurse's record afterwards.

The rules are ``workflow``'s (``prepare_session``, ``record_after_session``); the running is
the station's (``ionto.clinic.stations``). The live page reads the session through the JSON API
(``api_sessions``: ``/api/sessions/<id>/live``); stop and pain are posted there by its script,
and to the small page views here when the browser runs no script.

Who: clinical staff (nurse, clinician, admin) run sessions; a patient sees their own finished
sessions; reception sees none.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ionto.clinic import roles, stations, workflow
from ionto.clinic.models import (
    SIDE_EFFECT_CHOICES,
    Chair,
    SessionEventRow,
    SessionStatus,
    TreatmentSession,
    VisitStatus,
)
from ionto.clinic.pages import words
from ionto.clinic.pages.access import (
    Refused,
    page,
    require,
    require_clinical,
    user_of,
    visit_for,
)
from ionto.clinic.pages.forms import put_error
from ionto.clinic.pages.record_views import course_context

START_ALIASES = {"checklist": "checklist", "chair": "chair", "current_mA": "current_mA"}
RECORD_ALIASES = {"sensation_score": "sensation_score", "side_effects": "side_effects"}
NOT_ASKED = "not_asked"
SENSATION_CHOICES = [
    (str(n), f"{n}{' — nothing' if n == 0 else ' — worst imaginable' if n == 10 else ''}")
    for n in range(11)
] + [(NOT_ASKED, "not asked")]


def _sensation(value: str) -> int | None:
    return None if value == NOT_ASKED else int(value)


def clock(seconds: float) -> str:
    """Session time as the live page's script writes it: m:ss, or h:mm:ss."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# --- Forms ------------------------------------------------------------------------------------
class SessionStartForm(forms.Form):
    chair = forms.ModelChoiceField(
        label="Chair",
        queryset=Chair.objects.filter(in_service=True).order_by("name"),
        empty_label="— choose the chair —",
        error_messages={"required": "Choose the chair the patient sits at."},
    )
    checklist = forms.MultipleChoiceField(
        label="Safety checks before the session (tick each one)",
        choices=list(workflow.PRE_SESSION_CHECKS.items()),
        widget=forms.CheckboxSelectMultiple,
        # Unticked boxes are the workflow's refusal, which names the checks still missing.
        required=False,
    )
    current_mA = forms.FloatField(
        label="Lower current (mA), optional",
        required=False,
        help_text="Leave empty for the protocol's current. It can be lowered, never raised.",
        widget=forms.NumberInput(attrs={"step": "0.5", "min": "0.5", "inputmode": "decimal"}),
    )


class AfterSessionForm(forms.Form):
    # Asked for explicitly ("not asked" is an answer): a record saved without looking at it
    # would wipe what was there.
    sensation_score = forms.TypedChoiceField(
        label="What the patient felt at worst (0 nothing – 10 worst imaginable)",
        choices=SENSATION_CHOICES,
        coerce=_sensation,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what the patient felt, or “not asked”."},
    )
    side_effects = forms.MultipleChoiceField(
        label="Side effects seen or reported",
        choices=SIDE_EFFECT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    notes = forms.CharField(
        label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000
    )


# --- Access -----------------------------------------------------------------------------------
def _operator(request: HttpRequest) -> bool:
    """Clinical staff who may run sessions (nurse, clinician, admin)."""
    user = request.user
    return (
        roles.is_staff_role(user)
        and roles.sees_clinical(user)
        and user.has_perm("clinic.change_treatmentsession")
    )


def _session_for(request: HttpRequest, pk: int) -> TreatmentSession:
    """The session if this user may see it: clinical staff any; a patient their own finished
    ones (another patient's is a 404); reception none."""
    rows = TreatmentSession.objects.select_related(
        "chair", "course__referral__patient", "visit", "given_by"
    )
    session: TreatmentSession = get_object_or_404(
        roles.scope_by_patient(request.user, rows, "course__referral__patient"), pk=pk
    )
    if roles.is_patient(request.user):
        if not session.finished:
            raise Refused("You can see this session once it has finished.")
        return session
    require_clinical(request, "see treatment sessions")
    require(request, "view_treatmentsession", "see treatment sessions")
    return session


def _require_operator(request: HttpRequest) -> None:
    require_clinical(request, "run treatment sessions")
    require(request, "change_treatmentsession", "run treatment sessions")


# --- Start ------------------------------------------------------------------------------------
@page
def session_start(request: HttpRequest, visit_id: int) -> HttpResponse:
    """The chair, the pre-session safety checks and an optional lower current; then the
    session is prepared (``workflow.prepare_session``) and handed to the chair's station."""
    visit = visit_for(request, visit_id)
    require_clinical(request, "start treatment sessions")
    require(request, "add_treatmentsession", "start treatment sessions")
    existing = TreatmentSession.objects.filter(visit=visit).first()
    if existing is not None:
        return redirect("session_live", pk=existing.pk)
    plan = workflow.session_plan(visit.course)
    status = 200
    if request.method == "POST":
        form = SessionStartForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                workflow.check_visit_day(visit)
                session = workflow.prepare_session(
                    visit,
                    chair=form.cleaned_data["chair"],
                    checklist=form.cleaned_data["checklist"],
                    current_mA=form.cleaned_data["current_mA"],
                    user=user_of(request),
                )
            except workflow.WorkflowError as error:
                put_error(form, _in_words(error, form.cleaned_data["checklist"]), START_ALIASES)
                status = error.status
            else:
                _hand_to_station(request, session)
                return redirect("session_live", pk=session.pk)
    else:
        form = SessionStartForm(initial={"chair": visit.chair})
    try:
        workflow.check_visit_day(visit)
        not_today = ""
    except workflow.WorkflowError as error:
        not_today = error.message
    context = {
        "visit": visit,
        **course_context(visit.course),
        "form": form,
        "plan": plan,
        "plan_words": _plan_words(plan),
        "visit_booked": visit.status == VisitStatus.BOOKED,
        "not_today": not_today,
    }
    return render(request, "clinic/session_start.html", context, status=status)


def _in_words(error: workflow.WorkflowError, ticked: list[str]) -> workflow.WorkflowError:
    """The checks still to tick by their words on the form, not their codes."""
    missing = [label for code, label in workflow.PRE_SESSION_CHECKS.items() if code not in ticked]
    if error.field != "checklist" or not missing:
        return error
    message = "Tick every safety check before starting. Not yet ticked: " + "; ".join(missing)
    return workflow.WorkflowError(message + ".", error.field, error.status)


def _hand_to_station(request: HttpRequest, session: TreatmentSession) -> None:
    try:
        station = stations.start_session(session.pk)
    except stations.StationError as error:
        messages.error(
            request, f"The session is ready but did not start: {error.message}. Try again."
        )
    else:
        messages.success(request, f"Session starting on {station.name}.")


def _plan_words(plan: dict[str, Any]) -> list[tuple[str, str]]:
    reversal = str(plan.get("reversal", ""))
    return [
        (
            "Current",
            f"{plan.get('current_mA', '?')} mA (at most {plan.get('max_current_mA', '?')})",
        ),
        ("Time at the current", f"{plan.get('minutes', '?')} minutes"),
        ("Waveform", words.waveform(str(plan.get("waveform", "")))),
        (
            "Polarity",
            "reversed halfway" if reversal == "halfway" else "one polarity, alternating by session",
        ),
    ]


# --- The live page ----------------------------------------------------------------------------
@page
def session_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The session as it runs (the chart moving), or as it ran, and the record afterwards."""
    session = _session_for(request, pk)
    operator = _operator(request)
    status = 200
    form: AfterSessionForm | None = None
    if request.method == "POST":
        if not operator:
            raise Refused("Your role cannot record treatment sessions.")
        form = AfterSessionForm(request.POST)
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                workflow.record_after_session(
                    session,
                    sensation_score=data["sensation_score"],
                    side_effects=data["side_effects"],
                    notes=data["notes"],
                )
            except workflow.WorkflowError as error:
                put_error(form, error, RECORD_ALIASES)
                if not session.finished:  # no record form on the page yet: say it above
                    messages.error(request, f"Not saved: {error.message}.")
                status = error.status
            else:
                messages.success(request, "The record after the session is saved.")
                return redirect("session_live", pk=session.pk)
    elif operator and session.finished:
        score = session.sensation_score
        form = AfterSessionForm(
            initial={
                "sensation_score": str(score)
                if score is not None
                else NOT_ASKED
                if _recorded(session)
                else None,
                "side_effects": list(session.side_effects),
                "notes": session.notes,
            }
        )
    events = list(SessionEventRow.objects.filter(session=session).order_by("pk"))
    context = {
        "session": session,
        **course_context(session.course),
        "plan_words": _plan_words(session.plan),
        "status_text": stations.STATUS_WORDS.get(session.status, session.status),
        "events": [(clock(e.t_s), e) for e in events],
        "elapsed": clock(session.device_time_s) if session.started_at else "—",
        "planned_mA_min": stations.planned_mA_min(session),
        "last_event_id": events[-1].pk if events else 0,
        "operator": operator,
        "running": session.status == SessionStatus.RUNNING,
        "ready": session.status == SessionStatus.READY,
        "form": form if operator and session.finished else None,
        "recorded": _recorded(session),
        "side_effect_words": [words.plain(e) for e in session.side_effects],
    }
    return render(request, "clinic/session_live.html", context, status=status)


def _recorded(session: TreatmentSession) -> bool:
    """The nurse's record after the session has been saved (any part of it)."""
    return session.sensation_score is not None or bool(session.side_effects or session.notes)


# --- Orders without the page's script -----------------------------------------------------------
@page
@require_POST
def session_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a session left ready (its station was busy, or the server restarted)."""
    session = _session_for(request, pk)
    _require_operator(request)
    if session.status != SessionStatus.READY:
        messages.error(request, f"The session is {session.get_status_display()}: not started.")
    else:
        _hand_to_station(request, session)
    return redirect("session_live", pk=session.pk)


@page
@require_POST
def session_stop(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_for(request, pk)
    _require_operator(request)
    try:
        done = stations.stop_session(session.pk)
    except stations.StationError as error:
        messages.error(request, f"Not stopped: {error.message}.")
    else:
        if done == stations.WITHDRAWN:
            messages.success(
                request, "The session was withdrawn before it started: the visit is free again."
            )
        else:
            messages.success(request, "Stopping: the current is ramping down to zero.")
    return redirect("session_live", pk=session.pk)


@page
@require_POST
def session_pain(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session_for(request, pk)
    _require_operator(request)
    try:
        stations.report_pain(session.pk)
    except stations.StationError as error:
        messages.error(request, f"Not passed on: {error.message}.")
    else:
        messages.success(request, "Pain reported: the current is stepped down.")
    return redirect("session_live", pk=session.pk)
