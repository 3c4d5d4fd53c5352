"""The JSON API from GP referral to the planned course: practices, patients, referrals,
funding, the first visit (consultation, consent, assessments) and course planning. Every
step calls its ``workflow`` function; nothing here decides a clinical question."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import P, PathEx, QueryEx, Router, Status

from ionto.clinic import workflow
from ionto.clinic.api_access import get_scoped, require, scoped, username
from ionto.clinic.api_errors import CREATE_ERRORS, LIST_ERRORS, READ_ERRORS, responses
from ionto.clinic.api_schemas import (
    MAX_ID,
    AssessmentIn,
    AssessmentOut,
    ClinicDate,
    ConsentIn,
    ConsentOut,
    ConsultationIn,
    ConsultationOut,
    CourseOut,
    FundingIn,
    FundingOut,
    PatientOut,
    PatientPage,
    PlanIn,
    PracticeIn,
    PracticeOut,
    QueryText,
    ReferralIn,
    ReferralOut,
    ReferralPage,
    StageName,
)
from ionto.clinic.models import (
    INFORMATION_SHEET_VERSION,
    Assessment,
    Consent,
    Consultation,
    Course,
    FundingRequest,
    Patient,
    Practice,
    Referral,
    Stage,
    VisitStatus,
)
from ionto.clinic.roles import sees_clinical

router = Router()

RecordId = PathEx[int, P(ge=1, le=MAX_ID)]
Limit = QueryEx[int, P(ge=1, le=500, description="At most this many rows.")]
Offset = QueryEx[int, P(ge=0, le=10**9, description="Skip this many rows first.")]

_PATIENT_FIELDS = frozenset(f.name for f in Patient._meta.get_fields())


# --- How records are shown ------------------------------------------------------------------
def practice_brief(practice: Practice) -> dict[str, Any]:
    return {"id": practice.pk, "code": practice.code, "name": practice.name}


def practice_json(practice: Practice) -> dict[str, Any]:
    return {**practice_brief(practice), "address": practice.address, "email": practice.email}


def patient_brief(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.pk,
        "given_name": patient.given_name,
        "family_name": patient.family_name,
        "date_of_birth": patient.date_of_birth,
        "nhs_number": patient.nhs_number,
    }


def stage_of(referral: Referral) -> dict[str, Any]:
    return {"stage": referral.stage, "stage_label": str(Stage(referral.stage).label)}


def patient_json(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    referrals = scoped(request, patient.referrals.all(), "patient").order_by("received_on", "id")
    return {
        **patient_brief(patient),
        "sex": patient.sex,
        "email": patient.email,
        "phone": patient.phone,
        "address": patient.address,
        "guardian_name": patient.guardian_name,
        "referrals": [{"id": r.pk, "received_on": r.received_on, **stage_of(r)} for r in referrals],
    }


def _funding(referral: Referral) -> FundingRequest:
    try:
        return referral.funding
    except ObjectDoesNotExist:  # every referral gets one when it is created; a safe stand-in
        return FundingRequest(referral=referral, requested_on=referral.received_on)


def funding_json(funding: FundingRequest) -> dict[str, Any]:
    return {
        "status": funding.status,
        "reference": funding.reference,
        "requested_on": funding.requested_on,
        "decided_on": funding.decided_on,
        "sessions_funded": funding.sessions_funded,
        "solutions_funded": list(funding.solutions_funded),
        "decline_reason": funding.decline_reason,
    }


def referral_summary(referral: Referral) -> dict[str, Any]:
    return {
        "id": referral.pk,
        "patient": patient_brief(referral.patient),
        "practice": practice_brief(referral.practice),
        "gp_name": referral.gp_name,
        "received_on": referral.received_on,
        "sites": list(referral.sites),
        **stage_of(referral),
        "funding_status": _funding(referral).status,
    }


def consultation_json(consultation: Consultation) -> dict[str, Any]:
    return {
        "facts": consultation.facts,
        "screening": consultation.screening,
        "history_notes": consultation.history_notes,
        "seen_by": username(consultation.seen_by),
        "seen_at": consultation.seen_at,
    }


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.pk,
        "given_by": consent.given_by,
        "relationship": consent.relationship,
        "information_sheet_version": consent.information_sheet_version,
        "safety_items": list(consent.safety_items),
        "recorded_by": username(consent.recorded_by),
        "recorded_at": consent.recorded_at,
        "withdrawn_at": consent.withdrawn_at,
    }


def courses() -> QuerySet[Course]:
    """Courses with all that :func:`course_json` shows, in one query however many."""
    booked = Q(visits__status__in=[VisitStatus.BOOKED, VisitStatus.ATTENDED])
    given = Q(sessions__started_at__isnull=False)
    return Course.objects.select_related("verdict").annotate(
        visits_booked=Count("visits", filter=booked, distinct=True),
        sessions_given=Count("sessions", filter=given, distinct=True),
    )


def course_json(course: Course, user: User) -> dict[str, Any]:
    """A course read through :func:`courses`; its protocol and verdict only for those who see
    clinical records."""
    clinical = sees_clinical(user)
    verdict = None
    if clinical and user.has_perm("clinic.view_verdict"):
        try:
            verdict = course.verdict.result
        except ObjectDoesNotExist:
            verdict = None
    return {
        "id": course.pk,
        "referral_id": course.referral_id,
        "region": course.region,
        "solution": course.solution,
        "sessions_planned": course.sessions_planned,
        "status": course.status,
        "visits_booked": course.visits_booked,  # type: ignore[attr-defined]  # courses()
        "sessions_given": course.sessions_given,  # type: ignore[attr-defined]  # courses()
        "protocol": course.protocol if clinical else None,
        "verdict": verdict,
    }


def referral_json(referral: Referral, user: User) -> dict[str, Any]:
    clinical = None
    consents = None
    if sees_clinical(user):
        consultation = (
            Consultation.objects.filter(referral=referral).select_related("seen_by").first()
        )
        clinical = {
            "clinical_notes": referral.clinical_notes,
            "consultation": consultation_json(consultation) if consultation else None,
        }
        # Consent is part of the first visit: reception's role holds no permission on it.
        consents = [
            consent_json(c)
            for c in referral.consents.select_related("recorded_by").order_by("recorded_at", "id")
        ]
    return {
        **referral_summary(referral),
        "hdss": referral.hdss,
        "generalised": referral.generalised,
        "treatments_tried": list(referral.treatments_tried),
        "funding": funding_json(_funding(referral)),
        "consents": consents,
        "courses": [course_json(c, user) for c in courses().filter(referral=referral)],
        "clinical": clinical,
    }


def assessment_json(assessment: Assessment) -> dict[str, Any]:
    return {
        "id": assessment.pk,
        "kind": assessment.kind,
        "timepoint": assessment.timepoint,
        "region": assessment.region,
        "score": assessment.score,
        "answers": list(assessment.answers),
        "recorded_by": username(assessment.recorded_by),
        "recorded_at": assessment.recorded_at,
    }


def _referrals() -> QuerySet[Referral]:
    return Referral.objects.select_related("patient", "practice", "funding")


def referral_for(request: HttpRequest, referral_id: int) -> Referral:
    return get_scoped(request, _referrals(), "patient", referral_id, "referral")


# --- Practices ------------------------------------------------------------------------------
@router.get(
    "/practices",
    response=responses(200, list[PracticeOut], LIST_ERRORS),
    tags=["practices"],
    summary="GP practices",
)
def list_practices(
    request: HttpRequest,
    q: QueryEx[QueryText, P(default="", max_length=100, description="Name or code")] = "",
) -> list[dict[str, Any]]:
    require(request, "view_practice")
    rows = Practice.objects.all()
    if q:
        rows = rows.filter(Q(name__icontains=q) | Q(code__iexact=q))
    return [practice_json(p) for p in rows]


@router.post(
    "/practices",
    response=responses(201, PracticeOut, CREATE_ERRORS),
    tags=["practices"],
    summary="Add a practice",
)
def create_practice(request: HttpRequest, payload: PracticeIn) -> Status[dict[str, Any]]:
    require(request, "add_practice")
    practice = Practice(**payload.model_dump())
    practice.full_clean()  # the practice code is unique: a second one is a 422 on "code"
    practice.save()
    return Status(201, practice_json(practice))


# --- Patients -------------------------------------------------------------------------------
@router.get(
    "/patients",
    response=responses(200, PatientPage, LIST_ERRORS),
    tags=["patients"],
    summary="Find patients by name, NHS number or date of birth",
)
def list_patients(
    request: HttpRequest,
    q: QueryEx[QueryText, P(default="", max_length=100, description="Words of the name")] = "",
    nhs_number: QueryEx[
        QueryText, P(default="", max_length=20, description="NHS number (spaces ignored)")
    ] = "",
    date_of_birth: QueryEx[ClinicDate | None, P(description="Date of birth")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    require(request, "view_patient")
    rows = scoped(request, Patient.objects.all(), "")
    for word in q.split():
        rows = rows.filter(Q(given_name__icontains=word) | Q(family_name__icontains=word))
    if nhs_number:
        rows = rows.filter(nhs_number="".join(nhs_number.split()))
    if date_of_birth is not None:
        rows = rows.filter(date_of_birth=date_of_birth)
    rows = rows.order_by("family_name", "given_name", "id")
    return {
        "count": rows.count(),
        "items": [patient_brief(p) for p in rows[offset : offset + limit]],
    }


@router.get(
    "/patients/{patient_id}",
    response=responses(200, PatientOut, READ_ERRORS),
    tags=["patients"],
    summary="A patient and their referrals",
)
def get_patient(request: HttpRequest, patient_id: RecordId) -> dict[str, Any]:
    require(request, "view_patient")
    patient = get_scoped(request, Patient.objects.all(), "", patient_id, "patient")
    return patient_json(request, patient)


# --- Referrals ------------------------------------------------------------------------------
@router.get(
    "/referrals",
    response=responses(200, ReferralPage, LIST_ERRORS),
    tags=["referrals"],
    summary="Referrals, by stage or patient",
)
def list_referrals(
    request: HttpRequest,
    stage: QueryEx[StageName | None, P(description="Only referrals at this stage")] = None,
    patient_id: QueryEx[int | None, P(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    require(request, "view_referral")
    rows = scoped(request, _referrals(), "patient")
    if stage is not None:
        rows = rows.filter(stage=stage)
    if patient_id is not None:
        rows = rows.filter(patient_id=patient_id)
    rows = rows.order_by("received_on", "id")
    return {
        "count": rows.count(),
        "items": [referral_summary(r) for r in rows[offset : offset + limit]],
    }


@router.post(
    "/referrals",
    response=responses(201, ReferralOut, CREATE_ERRORS),
    tags=["referrals"],
    summary="Record a GP's referral (a new patient, or one on record)",
)
def create_referral(request: HttpRequest, payload: ReferralIn) -> Status[dict[str, Any]]:
    user = require(request, "add_referral")
    if (payload.patient is None) == (payload.existing_patient_id is None):
        raise workflow.WorkflowError(
            "give the patient's details or existing_patient_id (one of them)", "patient"
        )
    practice = Practice.objects.filter(pk=payload.practice_id).first()
    if practice is None:
        raise workflow.WorkflowError(f"no practice {payload.practice_id}", "practice_id")
    existing = None
    if payload.existing_patient_id is not None:
        existing = (
            scoped(request, Patient.objects.all(), "")
            .filter(pk=payload.existing_patient_id)
            .first()
        )
        if existing is None:
            raise workflow.WorkflowError(
                f"no patient {payload.existing_patient_id} on record", "existing_patient_id"
            )
    else:
        require(request, "add_patient")
    source = payload.patient.model_dump() if payload.patient is not None else None
    if source is None:
        assert existing is not None
        source = {
            "given_name": existing.given_name,
            "family_name": existing.family_name,
            "date_of_birth": existing.date_of_birth,
            "nhs_number": existing.nhs_number,
        }
    try:
        referral = workflow.create_referral(
            patient=workflow.PatientDetails(**source),
            practice=practice,
            gp_name=payload.gp_name,
            received_on=payload.received_on,
            sites=list(payload.sites),
            hdss=payload.hdss,
            treatments_tried=list(payload.treatments_tried),
            generalised=payload.generalised,
            clinical_notes=payload.clinical_notes,
            existing_patient=existing,
            not_a_duplicate=payload.not_a_duplicate,
            user=user,
        )
    except DjangoValidationError as error:
        raise _patient_fields(error) from None
    return Status(201, referral_json(referral_for(request, referral.pk), user))


def _patient_fields(error: DjangoValidationError) -> DjangoValidationError:
    """``create_referral`` checks the patient record and the referral record: name the
    patient's fields as they are sent (``patient.email``)."""
    if not hasattr(error, "error_dict"):
        return error
    return DjangoValidationError(
        {
            (f"patient.{name}" if name in _PATIENT_FIELDS else name): messages
            for name, messages in error.error_dict.items()
        }
    )


@router.get(
    "/referrals/{referral_id}",
    response=responses(200, ReferralOut, READ_ERRORS),
    tags=["referrals"],
    summary="A referral: funding, consent, courses; clinical notes and screening for "
    "clinical staff",
)
def get_referral(request: HttpRequest, referral_id: RecordId) -> dict[str, Any]:
    user = require(request, "view_referral")
    return referral_json(referral_for(request, referral_id), user)


@router.post(
    "/referrals/{referral_id}/funding",
    response=responses(200, FundingOut),
    tags=["referrals"],
    summary="Record the funding decision",
)
def decide_funding(
    request: HttpRequest, referral_id: RecordId, payload: FundingIn
) -> dict[str, Any]:
    user = require(request, "change_fundingrequest")
    referral = referral_for(request, referral_id)
    funding = workflow.decide_funding(
        referral,
        status=payload.status,
        decided_on=payload.decided_on,
        sessions_funded=payload.sessions_funded,
        solutions_funded=list(payload.solutions_funded),
        decline_reason=payload.decline_reason,
        reference=payload.reference,
        user=user,
    )
    return funding_json(funding)


# --- First visit ----------------------------------------------------------------------------
@router.post(
    "/referrals/{referral_id}/consultation",
    response=responses(200, ConsultationOut),
    tags=["first visit"],
    summary="The consultation: the facts screened by the therapy core",
)
def record_consultation(
    request: HttpRequest, referral_id: RecordId, payload: ConsultationIn
) -> dict[str, Any]:
    user = require(request, "add_consultation", "change_consultation")
    referral = referral_for(request, referral_id)
    facts = payload.facts.model_dump(mode="json", exclude_none=True)
    # Filled from the record when left out: the age today and the sites the GP referred.
    facts.setdefault("age_years", round(referral.patient.age_years(timezone.localdate()), 2))
    facts.setdefault("treat", list(referral.sites))
    consultation = workflow.record_consultation(
        referral, facts=facts, history_notes=payload.history_notes, user=user
    )
    return consultation_json(consultation)


@router.post(
    "/referrals/{referral_id}/consent",
    response=responses(201, ConsentOut),
    tags=["first visit"],
    summary="Record consent after the safety information",
)
def record_consent(
    request: HttpRequest, referral_id: RecordId, payload: ConsentIn
) -> Status[dict[str, Any]]:
    user = require(request, "add_consent")
    referral = referral_for(request, referral_id)
    consent = workflow.record_consent(
        referral,
        given_by=payload.given_by,
        relationship=payload.relationship,
        safety_items=list(payload.safety_items),
        information_sheet_version=payload.information_sheet_version or INFORMATION_SHEET_VERSION,
        user=user,
    )
    return Status(201, consent_json(consent))


@router.get(
    "/referrals/{referral_id}/assessments",
    response=responses(200, list[AssessmentOut], READ_ERRORS),
    tags=["first visit"],
    summary="Outcome measures recorded (HDSS, DLQI, gravimetry…)",
)
def list_assessments(request: HttpRequest, referral_id: RecordId) -> list[dict[str, Any]]:
    require(request, "view_assessment")
    referral = referral_for(request, referral_id)
    rows = Assessment.objects.filter(referral=referral).select_related("recorded_by")
    return [assessment_json(a) for a in rows]


@router.post(
    "/referrals/{referral_id}/assessments",
    response=responses(201, AssessmentOut),
    tags=["first visit"],
    summary="Record an outcome measure",
)
def record_assessment(
    request: HttpRequest, referral_id: RecordId, payload: AssessmentIn
) -> Status[dict[str, Any]]:
    user = require(request, "add_assessment")
    referral = referral_for(request, referral_id)
    assessment = workflow.record_assessment(
        referral,
        kind=payload.kind,
        timepoint=payload.timepoint,
        score=payload.score,
        answers=list(payload.answers),
        region=payload.region,
        user=user,
    )
    return Status(201, assessment_json(assessment))


# --- Courses --------------------------------------------------------------------------------
@router.get(
    "/referrals/{referral_id}/courses",
    response=responses(200, list[CourseOut], READ_ERRORS),
    tags=["courses"],
    summary="The referral's courses",
)
def list_courses(request: HttpRequest, referral_id: RecordId) -> list[dict[str, Any]]:
    user = require(request, "view_course")
    referral = referral_for(request, referral_id)
    return [course_json(c, user) for c in courses().filter(referral=referral)]


@router.post(
    "/referrals/{referral_id}/courses",
    response=responses(201, list[CourseOut]),
    tags=["courses"],
    summary="Plan a course per region the screening allows",
)
def plan_courses(
    request: HttpRequest, referral_id: RecordId, payload: PlanIn
) -> Status[list[dict[str, Any]]]:
    user = require(request, "add_course")
    referral = referral_for(request, referral_id)
    planned = workflow.plan_courses(referral, solution=payload.solution)
    rows = courses().filter(pk__in=[c.pk for c in planned])
    return Status(201, [course_json(c, user) for c in rows])


@router.get(
    "/courses/{course_id}",
    response=responses(200, CourseOut, READ_ERRORS),
    tags=["courses"],
    summary="A course: protocol, visits booked, sessions given, verdict",
)
def get_course(request: HttpRequest, course_id: RecordId) -> dict[str, Any]:
    user = require(request, "view_course")
    course = get_scoped(request, courses(), "referral__patient", course_id, "course")
    return course_json(course, user)
