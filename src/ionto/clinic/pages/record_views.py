"""The patient's record hub (one referral, start to finish) and the first-visit steps: funding,
consultation and screening, consent, baseline measures, planning the courses.

Reception sees the hub's administrative parts only (funding, courses and bookings); the
clinical parts are not rendered for them at all, not merely hidden.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from ionto.clinic import roles, workflow
from ionto.clinic.models import (
    INFORMATION_SHEET_VERSION,
    Assessment,
    Consultation,
    Course,
    CourseStatus,
    FundingRequest,
    FundingStatus,
    Referral,
    Stage,
    Timepoint,
    TreatmentSession,
    Verdict,
    Visit,
    VisitStatus,
)
from ionto.clinic.pages import lists, words
from ionto.clinic.pages.access import (
    page,
    referral_for,
    require,
    require_clinical,
    require_staff,
    user_of,
)
from ionto.clinic.pages.forms import (
    ConsentForm,
    ConsultationForm,
    FundingForm,
    OutcomesForm,
    put_error,
)
from ionto.therapy import outcomes
from ionto.therapy.vocabulary import NextStep, Solution

#: What the clinic does next, by stage (shown at the top of the record, after the stage's own
#: tag: so it does not say the stage again).
NEXT_ACTION: dict[str, str] = {
    Stage.WAITING_FUNDING: "Next: record the funding decision when it arrives.",
    Stage.DECLINED: "Nothing can be booked: let the GP and the patient know.",
    Stage.WAITING_FIRST_VISIT: "Next: consultation and screening, safety information and "
    "consent, baseline measures.",
    Stage.WAITING_TO_START: "Next: plan the course, book the visits, give the first session.",
    Stage.IN_COURSE: "Next: the visits booked, then follow-up measures and the verdict.",
    Stage.AWAITING_VERDICT: "Next: follow-up measures and the verdict on each course.",
    Stage.TO_DISCHARGE: "Next: write the discharge letters to the GP and the patient.",
    Stage.DISCHARGED: "The discharge letters to the GP and the patient are written.",
    Stage.NOT_SUITABLE: "The screening found a reason not to treat: see the first visit.",
}


# --- How results are shown ----------------------------------------------------------------------


def screening_view(screening: dict[str, Any]) -> dict[str, Any]:
    """The screening as the template shows it: every reason, precaution and source kept."""
    regions = []
    for code, answer in screening.get("regions", {}).items():
        protocol = answer.get("protocol")
        regions.append(
            {
                "name": words.region(code),
                "allowed": answer.get("allowed", False),
                "temporary": answer.get("temporary", False),
                "reasons": answer.get("reasons", []),
                "precautions": answer.get("precautions", []),
                "protocol": protocol_view(protocol) if protocol else None,
            }
        )
    diagnosis = screening.get("diagnosis", "")
    return {
        "eligible": screening.get("eligible", False),
        "diagnosis": words.DIAGNOSIS_WORDS.get(diagnosis, words.plain(diagnosis)),
        "diagnosis_reasons": screening.get("diagnosis_reasons", []),
        "blocking": screening.get("blocking", []),
        "refer": screening.get("refer", []),
        "regions": regions,
    }


def protocol_view(protocol: dict[str, Any]) -> dict[str, Any]:
    return {
        "solution": words.solution(protocol.get("solution", "")),
        "waveform": words.waveform(protocol.get("waveform", "")),
        "target_current_mA": protocol.get("target_current_mA"),
        "max_current_mA": protocol.get("max_current_mA"),
        "minutes": protocol.get("minutes"),
        "reversal": (
            "reverse polarity once, half way"
            if protocol.get("reversal") == "halfway"
            else "one polarity per session, alternating between sessions"
        ),
        "preset": protocol.get("preset", ""),
        "source": protocol.get("source", ""),
        "limits": protocol.get("limits", []),
    }


def verdict_view(result: dict[str, Any]) -> dict[str, Any]:
    plan = result.get("home_plan")
    return {
        "code": result.get("verdict", ""),
        "words": words.VERDICT_WORDS.get(result.get("verdict", ""), result.get("verdict", "")),
        "next_code": result.get("next", ""),
        "next": words.NEXT_STEP_WORDS.get(result.get("next", ""), result.get("next", "")),
        "reasons": result.get("reasons", []),
        "home_plan": (
            {
                **plan,
                "waveform_words": words.waveform(plan["waveform"]),
            }
            if plan
            else None
        ),
    }


def course_context(course: Course) -> dict[str, Any]:
    """What every page of one course shows at its top: the course, its referral and patient,
    and the course in words."""
    return {
        "course": course,
        "referral": course.referral,
        "patient": course.referral.patient,
        "title": words.course_words(course.region, course.solution),
    }


def _course_rows(referral: Referral, *, clinical: bool) -> list[dict[str, Any]]:
    """One row per course; its visits, sessions and verdict come with the courses (a fixed
    number of queries however many courses)."""
    rows = []
    courses = referral.courses.select_related("verdict").prefetch_related("visits__chair")
    if clinical:
        sessions = TreatmentSession.objects.select_related("chair")
        courses = courses.prefetch_related(Prefetch("sessions", queryset=sessions))
    for course in courses.order_by("created_at", "id"):
        verdict: Verdict | None = getattr(course, "verdict", None)
        visits = [v for v in course.visits.all() if v.status != VisitStatus.CANCELLED]
        rows.append(
            {
                "course": course,
                "title": words.course_words(course.region, course.solution),
                "booked": sum(1 for v in visits if v.status == VisitStatus.BOOKED),
                "attended": sum(1 for v in visits if v.status == VisitStatus.ATTENDED),
                "visits": visits,
                "protocol": protocol_view(course.protocol) if clinical else None,
                "sessions": list(course.sessions.all()) if clinical else [],
                "verdict": verdict_view(verdict.result) if clinical and verdict else None,
                "judged": verdict is not None,
                "open": course.status in {CourseStatus.PLANNED, CourseStatus.ACTIVE},
            }
        )
    return rows


def _escalation_open(referral: Referral, funding: FundingRequest | None) -> bool:
    """A verdict said "try glycopyrronium", it is funded, and no such course exists yet."""
    said = any(
        v.next_step == NextStep.ESCALATE_GLYCOPYRRONIUM
        for v in Verdict.objects.filter(course__referral=referral)
    )
    funded = bool(
        funding and funding.approved and Solution.GLYCOPYRRONIUM in funding.solutions_funded
    )
    planned = referral.courses.filter(solution=Solution.GLYCOPYRRONIUM).exists()
    discharged = referral.letters.exists()  # no course after the letters (workflow.plan_courses)
    return said and funded and not planned and not discharged


# --- The record hub -----------------------------------------------------------------------------


@page
def referral_detail(request: HttpRequest, pk: int) -> HttpResponse:
    referral = referral_for(request, pk)
    user = request.user
    staff = roles.is_staff_role(user)
    clinical = roles.sees_clinical(user)
    # Read through the referral, so that its timeline below finds them already loaded.
    funding: FundingRequest | None = getattr(referral, "funding", None)
    consultation: Consultation | None = (
        getattr(referral, "consultation", None) if clinical else None
    )
    consent = (
        referral.consents.filter(withdrawn_at__isnull=True).order_by("-recorded_at").first()
        if clinical
        else None
    )
    baseline = (
        list(Assessment.objects.filter(referral=referral, timepoint=Timepoint.BASELINE))
        if clinical
        else []
    )
    followup = (
        list(Assessment.objects.filter(referral=referral, timepoint=Timepoint.FOLLOWUP))
        if clinical
        else []
    )
    has_tap_course = referral.courses.filter(solution=Solution.TAP_WATER).exists()

    def may(perm: str) -> bool:
        return staff and user.has_perm(f"clinic.{perm}")

    can = {
        "funding": may("change_fundingrequest"),
        "consult": clinical and may("add_consultation"),
        "consent": clinical and may("add_consent"),
        "assess": clinical and may("add_assessment"),
        "plan": clinical and may("add_course"),
        "book": may("add_visit"),
        "verdict": clinical and may("add_verdict"),
        "letters": clinical and user.has_perm("clinic.view_letter"),
        "sessions": clinical and staff,
    }
    context = {
        "referral": referral,
        "patient": referral.patient,
        "staff": staff,
        "clinical": clinical,
        "next_action": NEXT_ACTION.get(referral.stage, ""),
        "timeline": lists.timeline(referral, clinical=clinical),
        "sites": words.regions(referral.sites),
        "treatments": [words.TREATMENT_WORDS.get(t, t) for t in referral.treatments_tried],
        "funding": funding,
        "solutions_funded": [
            words.solution(s) for s in (funding.solutions_funded if funding else [])
        ],
        "consultation": consultation,
        "screening": screening_view(consultation.screening) if consultation else None,
        "consent": consent,
        "baseline": baseline,
        "followup": followup,
        "courses": _course_rows(referral, clinical=clinical),
        "can_plan_tap_water": can["plan"]
        and consultation is not None
        and consent is not None
        and not has_tap_course,
        "can_escalate": can["plan"] and _escalation_open(referral, funding),
        "can": can,
        # The page does not offer steps the workflow would refuse (it still checks them): a
        # funding decision is final once visits are booked, the screening once treatment began.
        "funding_final": Visit.objects.filter(course__referral=referral).exists(),
        "treatment_started": TreatmentSession.objects.filter(course__referral=referral).exists(),
        # Screened not eligible: no consent, measures or course to offer (the consultation
        # may still be repeated, e.g. once the GP has ruled out a cause).
        "screened_out": consultation is not None
        and not consultation.screening.get("eligible", False),
        "dlqi_copyright": outcomes.DLQI_COPYRIGHT,
    }
    return render(request, "clinic/referral.html", context)


# --- Funding ------------------------------------------------------------------------------------


@page
def funding_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """The individual funding request's decision: approved (sessions, solutions) or declined."""
    referral = referral_for(request, pk)
    require_staff(request)
    require(request, "change_fundingrequest", "record funding decisions")
    funding = FundingRequest.objects.filter(referral=referral).first()
    status = 200
    if request.method == "POST":
        form = FundingForm(request.POST)
        status = 422
        if form.is_valid():
            d = form.cleaned_data
            try:
                workflow.decide_funding(
                    referral,
                    status=d["status"],
                    decided_on=d["decided_on"],
                    sessions_funded=d["sessions_funded"],
                    solutions_funded=d["solutions_funded"],
                    decline_reason=d["decline_reason"],
                    reference=d["reference"],
                    user=user_of(request),
                )
            except workflow.WorkflowError as error:
                put_error(form, error, {})
                status = error.status
            else:
                messages.success(request, f"Funding {d['status']}.")
                return redirect("referral", pk=referral.pk)
    else:
        initial: dict[str, Any] = {}
        if funding is not None and funding.status != FundingStatus.PENDING:
            initial = {
                "status": funding.status,
                "decided_on": funding.decided_on,
                "reference": funding.reference,
                "sessions_funded": funding.sessions_funded,
                "solutions_funded": funding.solutions_funded,
                "decline_reason": funding.decline_reason,
            }
        elif funding is not None:
            initial = {"reference": funding.reference}
        form = FundingForm(initial=initial)
    context = {"referral": referral, "funding": funding, "form": form}
    return render(request, "clinic/funding.html", context, status=status)


# --- Consultation and screening -----------------------------------------------------------------


@page
def consultation(request: HttpRequest, pk: int) -> HttpResponse:
    """The first visit's history and examination, screened by the therapy core."""
    referral = referral_for(request, pk)
    require_clinical(request, "take a consultation")
    require(request, "add_consultation", "take a consultation")
    previous = Consultation.objects.filter(referral=referral).first()
    status = 200
    if request.method == "POST":
        form = ConsultationForm(request.POST)
        status = 422
        if form.is_valid():
            age = referral.patient.age_years(timezone.localdate())
            try:
                workflow.record_consultation(
                    referral,
                    facts=form.facts(age),
                    history_notes=form.cleaned_data["history_notes"],
                    user=user_of(request),
                )
            except workflow.WorkflowError as error:
                put_error(form, error, {})
                status = error.status
            else:
                messages.success(request, "Consultation recorded and screened.")
                return redirect(f"{_hub(referral)}#screening")
    elif previous is not None:
        initial = ConsultationForm.initial_from(previous.facts)
        initial["history_notes"] = previous.history_notes
        form = ConsultationForm(initial=initial)
    else:
        form = ConsultationForm(
            initial={
                "sites": referral.sites,
                "treat": referral.sites,
                "solution": Solution.TAP_WATER.value,
                "hdss": referral.hdss,
                "generalised": referral.generalised,
            }
        )
    context = {
        "referral": referral,
        "patient": referral.patient,
        "form": form,
        "previous": previous,
        "age": int(referral.patient.age_years(timezone.localdate())),
    }
    return render(request, "clinic/consultation.html", context, status=status)


def _hub(referral: Referral) -> str:
    return reverse("referral", kwargs={"pk": referral.pk})


# --- Consent ------------------------------------------------------------------------------------


@page
def consent(request: HttpRequest, pk: int) -> HttpResponse:
    """Safety information explained point by point, then consent (who, relationship, sheet)."""
    referral = referral_for(request, pk)
    require_clinical(request, "record consent")
    require(request, "add_consent", "record consent")
    patient = referral.patient
    status = 200
    if request.method == "POST":
        form = ConsentForm(request.POST)
        status = 422
        if form.is_valid():
            d = form.cleaned_data
            try:
                workflow.record_consent(
                    referral,
                    given_by=d["given_by"],
                    relationship=d["relationship"],
                    safety_items=d["safety_items"],
                    information_sheet_version=d["information_sheet_version"],
                    user=user_of(request),
                )
            except workflow.WorkflowError as error:
                put_error(form, error, {})
                status = error.status
            else:
                messages.success(request, "Consent recorded.")
                return redirect("referral", pk=referral.pk)
    else:
        guardian = patient.guardian_name.strip()
        form = ConsentForm(
            initial={
                "given_by": guardian or patient.full_name,
                "relationship": "parent" if guardian else "self",
                "information_sheet_version": INFORMATION_SHEET_VERSION,
            }
        )
    context = {
        "referral": referral,
        "patient": patient,
        "form": form,
        "version": INFORMATION_SHEET_VERSION,
    }
    return render(request, "clinic/consent.html", context, status=status)


# --- Measures (baseline) ------------------------------------------------------------------------


def record_measures(
    referral: Referral, form: OutcomesForm, timepoint: str, request: HttpRequest
) -> workflow.WorkflowError | None:
    """Record every measure on the form in one transaction: all of them, or none with the
    refusal put on the form."""
    try:
        with transaction.atomic():
            for measure in form.measures():
                args = {k: v for k, v in measure.items() if k != "field"}
                try:
                    workflow.record_assessment(
                        referral,
                        timepoint=timepoint,
                        user=user_of(request),
                        **args,
                    )
                except workflow.WorkflowError as error:
                    form.add_error(measure["field"], error.message)
                    raise
    except workflow.WorkflowError as error:
        return error
    return None


@page
def baseline(request: HttpRequest, pk: int) -> HttpResponse:
    """Baseline HDSS, DLQI (with its copyright line) and optional gravimetry."""
    referral = referral_for(request, pk)
    require_clinical(request, "record measures")
    require(request, "add_assessment", "record measures")
    age = referral.patient.age_years(timezone.localdate())
    form_args: dict[str, Any] = {"hdss_field": "hdss", "age_years": age, "regions": referral.sites}
    status = 200
    if request.method == "POST":
        form = OutcomesForm(request.POST, **form_args)
        status = 422
        if form.is_valid():
            error = record_measures(referral, form, Timepoint.BASELINE, request)
            if error is None:
                messages.success(request, "Baseline measures recorded.")
                return redirect("referral", pk=referral.pk)
            status = error.status
    else:
        form = OutcomesForm(initial={"hdss": referral.hdss}, **form_args)
    context = {
        "referral": referral,
        "patient": referral.patient,
        "form": form,
        "title": "Baseline measures",
        "dlqi_copyright": outcomes.DLQI_COPYRIGHT,
        "submit": "Save baseline measures",
    }
    return render(request, "clinic/measures.html", context, status=status)


# --- Planning the courses -----------------------------------------------------------------------


@page
def plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Plan a course per region the screening allows, with the therapy core's protocol."""
    referral = referral_for(request, pk)
    require_clinical(request, "plan courses")
    require(request, "add_course", "plan courses")
    solution = request.POST.get("solution") or request.GET.get("solution") or Solution.TAP_WATER
    error: workflow.WorkflowError | None = None
    if request.method == "POST":
        try:
            courses = workflow.plan_courses(referral, solution=solution)
        except workflow.WorkflowError as refused:
            error = refused
        else:
            planned = ", ".join(words.region(c.region) for c in courses)
            messages.success(request, f"Courses planned: {planned}. Now book the visits.")
            return redirect("referral", pk=referral.pk)
    consultation_row = Consultation.objects.filter(referral=referral).first()
    context = {
        "referral": referral,
        "patient": referral.patient,
        "solution": solution,
        "solution_words": words.solution(str(solution)),
        "screening": screening_view(consultation_row.screening) if consultation_row else None,
        "error": error,
        "existing": [
            words.course_words(c.region, c.solution)
            for c in Course.objects.filter(referral=referral)
        ],
    }
    return render(request, "clinic/plan.html", context, status=error.status if error else 200)
