"""The service's rules, one function per step of the way of a treatment (shared/DESIGN.md).

Pages and the JSON API both call these, so a rule holds whichever door a request comes in by:
nothing is booked before funding is approved, screening and verdicts come from the therapy
core (through the contract's JSON, as ``ionto screen`` and ``ionto course verdict`` give them),
every booking is checked against the frequency caps, a course never runs past what was funded.

A step that cannot be taken raises :class:`WorkflowError` naming the field and why; callers
answer it with HTTP 409 (the record's state forbids it) or 422 (the input is wrong). Each
function runs in one transaction: it either does all it says, with its audit entries, or
nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ionto.clinic import audit
from ionto.clinic.models import (
    INFORMATION_SHEET_VERSION,
    Assessment,
    AssessmentKind,
    Chair,
    Consent,
    Consultation,
    Course,
    CourseStatus,
    FundingRequest,
    FundingStatus,
    Patient,
    Practice,
    Referral,
    SessionStatus,
    Stage,
    Timepoint,
    TreatmentSession,
    Verdict,
    Visit,
    VisitStatus,
)
from ionto.contract.errors import InputError
from ionto.therapy.frequency import SessionDate, check_frequency, sessions_per_day_cap
from ionto.therapy.regions import age_group
from ionto.therapy.vocabulary import AgeGroup, Region, Solution


class WorkflowError(Exception):
    """A step refused: which field (dotted path, may be empty) and why, and the HTTP status
    that fits (409: the record's state forbids it; 422: the input is wrong)."""

    def __init__(self, message: str, field: str = "", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"detail": [{"field": self.field, "message": self.message}]}


def _conflict(message: str, field: str = "") -> WorkflowError:
    return WorkflowError(message, field, status=409)


def _one_at_a_time() -> None:
    """Every step below checks the records, then changes them: two requests taking the same
    step at the same moment (a double click, two nurses) must not both pass the check. The
    lock is the audit chain's, which the change would take anyway; taken first, the second
    request waits for the first to commit and then checks what it saved."""
    audit.lock_for_writing()


# --- Safety information and the pre-session checklist -----------------------------------------
#: What the nurse explains before consent (clinical-reference §4 "Safety"; NHS patient
#: information leaflets on tap-water iontophoresis). Code → text shown and printed.
SAFETY_INFORMATION: dict[str, str] = {
    "sensation": "A tingling, pins-and-needles feeling is expected; say at once if it hurts.",
    "no_metal": "Take off rings, watches and jewellery from the treated area.",
    "cover_cuts": "Cuts and scratches sting: cover them with petroleum jelly or a plaster.",
    "no_lifting": "Keep hands or feet in the water until the machine has stopped: lifting "
    "them out during treatment can give a small shock.",
    "skin_care": "Dry, red or irritated skin afterwards is common and settles; moisturise.",
    "contraindications": "Tell us about a pacemaker, metal implants, pregnancy, epilepsy or "
    "heart problems: some of them mean iontophoresis is not safe.",
    "results": "It usually takes several treatments before you notice less sweating.",
}

#: The nurse's checks before every session (clinical-reference §4; Hidrex and Fischer
#: instructions for use). Every one must be ticked before a session can start.
PRE_SESSION_CHECKS: dict[str, str] = {
    "jewellery_off": "Jewellery and watches off the treated limbs",
    "cuts_covered": "Cuts and scratches covered with petroleum jelly",
    "no_new_contraindication": "Asked about new implants, pregnancy or heart problems: none",
    "skin_intact": "Skin checked: no open wound, infection or active eczema",
    "trays_ready": "Trays filled with tap water to cover the electrodes, electrodes covered",
    "patient_briefed": "Patient knows to keep still and to say at once if it hurts",
}


# --- Referral -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientDetails:
    given_name: str
    family_name: str
    date_of_birth: dt.date
    nhs_number: str | None = None
    sex: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    guardian_name: str = ""


#: The oldest age the therapy core screens (CONTRACT.md, ``ionto screen``'s ``age_years``).
MAX_AGE_YEARS = 130


def normalise_nhs_number(value: str | None) -> str | None:
    """Digits only, or None; a number that is not 10 digits with a valid check digit is
    refused (NHS Data Dictionary, "NHS Number": modulus 11)."""
    if value is None:
        return None
    # Digits of other scripts (full-width, Arabic-Indic: pasted from another system) are the
    # same number: stored as typed, they would slip past the duplicate check.
    digits = "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in value if not ch.isspace()
    )
    if not digits:
        return None
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        raise WorkflowError("an NHS number has 10 digits", "patient.nhs_number")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise WorkflowError("this NHS number's check digit is wrong", "patient.nhs_number")
    return digits


def find_duplicates(details: PatientDetails) -> list[Patient]:
    """Patients already on record who are probably this person: the same NHS number, or the
    same name (case-insensitive) and date of birth."""
    same_person = Q(
        given_name__iexact=details.given_name.strip(),
        family_name__iexact=details.family_name.strip(),
        date_of_birth=details.date_of_birth,
    )
    if details.nhs_number:
        same_person |= Q(nhs_number=details.nhs_number)
    return list(Patient.objects.filter(same_person).order_by("id"))


def _check_sites(sites: Sequence[str]) -> list[str]:
    if not sites:
        raise WorkflowError("choose at least one site to treat", "sites")
    valid = {r.value for r in Region}
    out: list[str] = []
    for i, site in enumerate(sites):
        if site not in valid:
            raise WorkflowError(
                f"{site!r} is not a treatable region ({', '.join(sorted(valid))})", f"sites[{i}]"
            )
        if site in out:
            raise WorkflowError(f"{site} is listed twice", f"sites[{i}]")
        out.append(site)
    return out


@transaction.atomic
def create_referral(
    *,
    patient: PatientDetails,
    practice: Practice,
    gp_name: str,
    received_on: dt.date,
    sites: Sequence[str],
    hdss: int,
    treatments_tried: Sequence[str] = (),
    generalised: bool = False,
    clinical_notes: str = "",
    existing_patient: Patient | None = None,
    not_a_duplicate: bool = False,
    user: User | None = None,
) -> Referral:
    """Record a GP's referral. A patient already on record is found, not duplicated: unless
    ``existing_patient`` names them, a probable duplicate refuses the referral (409) with the
    matching record named, so that reception can attach it to the right person, or say
    ``not_a_duplicate`` after checking (the same NHS number is always the same person)."""
    _one_at_a_time()
    sites = _check_sites(sites)
    if not 1 <= hdss <= 4:
        raise WorkflowError("HDSS is 1 to 4", "hdss")
    if received_on > timezone.localdate():
        raise WorkflowError("a referral cannot be received in the future", "received_on")
    if patient.date_of_birth > received_on:
        raise WorkflowError("date of birth is after the referral", "patient.date_of_birth")
    if (received_on - patient.date_of_birth).days / 365.25 > MAX_AGE_YEARS:
        # The screening takes ages up to 130 (CONTRACT.md): a typing slip, caught here.
        raise WorkflowError(
            f"date of birth is more than {MAX_AGE_YEARS} years ago", "patient.date_of_birth"
        )
    nhs = normalise_nhs_number(patient.nhs_number)
    details = PatientDetails(**{**patient.__dict__, "nhs_number": nhs})
    if existing_patient is None:
        duplicates = find_duplicates(details)
        if not_a_duplicate:
            # Reception checked: a different person with the same name and birthday. The same
            # NHS number is never a different person.
            duplicates = [p for p in duplicates if nhs and p.nhs_number == nhs]
        if duplicates:
            names = "; ".join(f"#{p.pk} {p.full_name}, born {p.date_of_birth}" for p in duplicates)
            raise _conflict(
                f"this patient may already be on record ({names}): attach the referral to "
                "that record instead",
                "patient",
            )
        record = Patient(**details.__dict__)
        record.full_clean()
        record.save()
    else:
        record = existing_patient
        if nhs and record.nhs_number and nhs != record.nhs_number:
            raise _conflict("the NHS number differs from the patient on record", "patient")
    referral = Referral(
        patient=record,
        practice=practice,
        gp_name=gp_name.strip(),
        received_on=received_on,
        sites=sites,
        hdss=hdss,
        treatments_tried=list(dict.fromkeys(treatments_tried)),
        generalised=generalised,
        clinical_notes=clinical_notes,
        stage=Stage.WAITING_FUNDING,
        created_by=user,
    )
    referral.full_clean(exclude=["created_by"])
    referral.save()
    FundingRequest.objects.create(referral=referral, requested_on=received_on)
    return referral


# --- Funding ------------------------------------------------------------------------------
@transaction.atomic
def decide_funding(
    referral: Referral,
    *,
    status: str,
    decided_on: dt.date,
    sessions_funded: int | None = None,
    solutions_funded: Sequence[str] = (),
    decline_reason: str = "",
    reference: str = "",
    user: User | None = None,
) -> FundingRequest:
    """Record the funding decision. Approval names how many sessions and which solutions;
    a decline says why. A decision is final once sessions have been booked against it."""
    _one_at_a_time()
    funding = FundingRequest.objects.select_for_update().get(referral=referral)
    if status not in {FundingStatus.APPROVED, FundingStatus.DECLINED}:
        raise WorkflowError("the decision is 'approved' or 'declined'", "status")
    if Visit.objects.filter(course__referral=referral).exists():
        raise _conflict("visits are already booked against this funding", "status")
    if decided_on < funding.requested_on:
        raise WorkflowError("the decision cannot come before the request", "decided_on")
    if decided_on > timezone.localdate():
        raise WorkflowError("a decision cannot be dated in the future", "decided_on")
    if status == FundingStatus.APPROVED:
        if sessions_funded is None or not 1 <= sessions_funded <= 30:
            raise WorkflowError("say how many sessions are funded (1 to 30)", "sessions_funded")
        valid = {s.value for s in Solution}
        solutions = list(dict.fromkeys(solutions_funded))
        if not solutions:
            raise WorkflowError("say which solutions are funded", "solutions_funded")
        for i, solution in enumerate(solutions):
            if solution not in valid:
                raise WorkflowError(f"{solution!r} is not a solution", f"solutions_funded[{i}]")
        if Solution.TAP_WATER.value not in solutions:
            raise WorkflowError(
                "tap water comes first: glycopyrronium is funded only with it "
                "(clinical-reference §1, the trial service)",
                "solutions_funded",
            )
        funding.sessions_funded = sessions_funded
        funding.solutions_funded = solutions
        funding.decline_reason = ""
    else:
        if not decline_reason.strip():
            raise WorkflowError("say why funding was declined", "decline_reason")
        funding.sessions_funded = None
        funding.solutions_funded = []
        funding.decline_reason = decline_reason.strip()
    funding.status = status
    funding.decided_on = decided_on
    funding.reference = reference.strip() or funding.reference
    funding.decided_by = user
    funding.save()
    refresh_stage(referral)
    return funding


def require_funding(referral: Referral) -> FundingRequest:
    """The approved funding of a referral, or a 409 saying why nothing can be booked yet."""
    funding = FundingRequest.objects.filter(referral=referral).first()
    if funding is None or funding.status == FundingStatus.PENDING:
        raise _conflict("funding is not approved yet: nothing can be booked before it", "funding")
    if funding.status == FundingStatus.DECLINED:
        raise _conflict("funding was declined: nothing can be booked", "funding")
    return funding


# --- First visit ----------------------------------------------------------------------------
def screen_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """``ionto screen`` on facts given as JSON; bad facts raise a 422 naming the field."""
    from ionto.contract.screen import screen_json

    try:
        return screen_json(json.dumps(facts).encode())
    except InputError as error:
        field = f"facts.{error.field}" if error.field else "facts"
        raise WorkflowError(error.message, field) from None


@transaction.atomic
def record_consultation(
    referral: Referral,
    *,
    facts: dict[str, Any],
    history_notes: str = "",
    user: User | None = None,
) -> Consultation:
    """The first visit's consultation: screen the facts with the therapy core and keep both.
    A repeat consultation (facts corrected, a contraindication found) replaces the screening
    until treatment starts; the protocols of courses already planned follow it, and a region
    it no longer allows gets no session (:func:`check_may_treat`).

    The age screened is the patient's on record today: the therapy core's limits and its
    minimum age go by it, so an age typed in the facts may only round it (whole years)."""
    _one_at_a_time()
    if referral.courses.filter(sessions__isnull=False).exists():
        raise _conflict("treatment has started: the screening can no longer change", "facts")
    facts = {**facts, "age_years": _age_screened(referral.patient, facts.get("age_years"))}
    screening = screen_facts(facts)
    consultation, _ = Consultation.objects.update_or_create(
        referral=referral,
        defaults={
            "facts": facts,
            "screening": screening,
            "history_notes": history_notes,
            "seen_by": user,
            "seen_at": timezone.now(),
        },
    )
    for course in referral.courses.all():
        answer = _screen_course(facts, course)
        if answer["allowed"] and answer["protocol"] and answer["protocol"] != course.protocol:
            course.protocol = answer["protocol"]
            course.save()
    refresh_stage(referral)
    return consultation


def _age_screened(patient: Patient, given: Any) -> float:
    """The patient's age today, as screened; an age given that is not it (to within the
    rounding of whole years) is refused rather than screened."""
    age = round(patient.age_years(timezone.localdate()), 2)
    if given is not None:
        try:
            off = abs(float(given) - age)
        except (TypeError, ValueError):
            off = float("inf")
        if not off < 1:
            raise WorkflowError(
                f"the patient is {int(age)} on record (born {patient.date_of_birth:%d %B %Y}): "
                "the screening goes by that age",
                "facts.age_years",
            )
    return age


def _screen_course(facts: dict[str, Any], course: Course) -> dict[str, Any]:
    """The screening's answer for a course's region with the course's solution."""
    answer: dict[str, Any] | None = screen_facts({**facts, "solution": course.solution})[
        "regions"
    ].get(course.region)
    return answer or {"allowed": False, "reasons": [], "protocol": None}


@transaction.atomic
def record_consent(
    referral: Referral,
    *,
    given_by: str,
    relationship: str,
    safety_items: Iterable[str],
    information_sheet_version: str = INFORMATION_SHEET_VERSION,
    user: User | None = None,
) -> Consent:
    """Consent, once every point of the safety information was explained. A child's consent
    is given by a parent or guardian (GMC, "0–18 years"; therapy.regions child = under 16)."""
    _one_at_a_time()
    items = list(dict.fromkeys(safety_items))
    missing = [code for code in SAFETY_INFORMATION if code not in items]
    if missing:
        raise WorkflowError(
            "explain every safety point before consent: " + ", ".join(missing), "safety_items"
        )
    unknown = [code for code in items if code not in SAFETY_INFORMATION]
    if unknown:
        raise WorkflowError("unknown safety point: " + ", ".join(unknown), "safety_items")
    if not given_by.strip():
        raise WorkflowError("say who gives consent", "given_by")
    if relationship not in {"self", "parent", "guardian"}:
        raise WorkflowError("relationship is self, parent or guardian", "relationship")
    if information_sheet_version != INFORMATION_SHEET_VERSION:
        raise WorkflowError(
            f"the current information sheet is version {INFORMATION_SHEET_VERSION}",
            "information_sheet_version",
        )
    age = referral.patient.age_years(timezone.localdate())
    # One definition of "child" for limits and consent alike: the therapy core's.
    if age_group(age) is AgeGroup.CHILD and relationship == "self":
        raise WorkflowError(
            "the patient is a child: a parent or guardian gives consent", "relationship"
        )
    consent = Consent.objects.create(
        referral=referral,
        given_by=given_by.strip(),
        relationship=relationship,
        information_sheet_version=information_sheet_version,
        safety_items=items,
        recorded_by=user,
        recorded_at=timezone.now(),
    )
    refresh_stage(referral)
    return consent


def has_consent(referral: Referral) -> bool:
    return referral.consents.filter(withdrawn_at__isnull=True).exists()


_SCORE_RANGE = {
    AssessmentKind.HDSS: (1, 4),
    AssessmentKind.DLQI: (0, 30),
    AssessmentKind.CDLQI: (0, 30),
    AssessmentKind.GRAVIMETRY: (0, 10_000),
    AssessmentKind.STARCH_IODINE: (0, 10),
}


@transaction.atomic
def record_assessment(
    referral: Referral,
    *,
    kind: str,
    timepoint: str,
    score: float | None = None,
    answers: Sequence[int] = (),
    region: str = "",
    user: User | None = None,
) -> Assessment:
    """One outcome measure. DLQI may be given as its 10 answers (0–3 each; the score is their
    sum, Finlay & Khan 1994) or as the score."""
    _one_at_a_time()
    if kind not in AssessmentKind.values:
        raise WorkflowError(f"{kind!r} is not a measure", "kind")
    if timepoint not in Timepoint.values:
        raise WorkflowError(f"{timepoint!r} is not a time point", "timepoint")
    if region and region not in {r.value for r in Region}:
        raise WorkflowError(f"{region!r} is not a region", "region")
    answer_list = list(answers)
    if answer_list:
        if kind not in {AssessmentKind.DLQI, AssessmentKind.CDLQI}:
            raise WorkflowError("answers are given for the DLQI only", "answers")
        if len(answer_list) != 10 or any(a not in (0, 1, 2, 3) for a in answer_list):
            raise WorkflowError("the DLQI has 10 answers, each 0 to 3", "answers")
        total = float(sum(answer_list))
        if score is not None and score != total:
            raise WorkflowError("the score is not the sum of the answers", "score")
        score = total
    if score is None:
        raise WorkflowError("give the score", "score")
    low, high = _SCORE_RANGE[AssessmentKind(kind)]
    if not (low <= score <= high) or score != score:
        raise WorkflowError(f"the {kind} score is {low} to {high}", "score")
    if kind == AssessmentKind.HDSS and score != int(score):
        raise WorkflowError("HDSS is a whole number 1 to 4", "score")
    return Assessment.objects.create(
        referral=referral,
        kind=kind,
        timepoint=timepoint,
        region=region,
        score=score,
        answers=answer_list,
        recorded_by=user,
        recorded_at=timezone.now(),
    )


# --- Course ---------------------------------------------------------------------------------
@transaction.atomic
def plan_courses(referral: Referral, *, solution: str = Solution.TAP_WATER) -> list[Course]:
    """A course per region the screening allows, with the therapy core's protocol for it.

    Needs approved funding for the solution, a consultation that found the patient eligible
    and consent. The funded sessions are the course's length (clinical-reference §1: up to 10
    in 3–4 weeks)."""
    _one_at_a_time()
    if referral.letters.exists():
        raise _conflict(
            "the patient was discharged (the letters are written): a new course needs a new "
            "referral",
            "referral",
        )
    funding = require_funding(referral)
    if solution not in funding.solutions_funded:
        raise _conflict(f"{solution.replace('_', ' ')} is not funded for this referral", "solution")
    consultation = Consultation.objects.filter(referral=referral).first()
    if consultation is None:
        raise _conflict("screen the patient at a first visit before planning a course", "referral")
    screening = consultation.screening
    if not screening.get("eligible"):
        raise _conflict("the screening did not find the patient eligible", "referral")
    if not has_consent(referral):
        raise _conflict("record consent before planning a course", "consent")
    if (
        solution == Solution.GLYCOPYRRONIUM
        and not Verdict.objects.filter(
            course__referral=referral, result__next="escalate_glycopyrronium"
        ).exists()
    ):
        raise _conflict(
            "glycopyrronium comes after tap water: plan it when a tap-water verdict says "
            "to escalate (clinical-reference §1)",
            "solution",
        )
    if referral.courses.filter(solution=solution).exists():
        raise _conflict(f"a {solution.replace('_', ' ')} course is already planned", "solution")
    facts = dict(consultation.facts)
    facts["solution"] = solution
    regions = screen_facts(facts)["regions"]
    courses: list[Course] = []
    for region in referral.sites:
        answer = regions.get(region)
        if not answer or not answer["allowed"] or not answer["protocol"]:
            continue
        course = Course.objects.create(
            referral=referral,
            region=region,
            solution=solution,
            protocol=answer["protocol"],
            sessions_planned=funding.sessions_funded or 10,
            status=CourseStatus.PLANNED,
        )
        courses.append(course)
    if not courses:
        raise _conflict(
            f"no region the GP referred can be treated with {solution.replace('_', ' ')}",
            "solution",
        )
    refresh_stage(referral)
    return courses


def _sittings(
    patient: Patient, *, without: Visit | None = None
) -> dict[tuple[dt.date, str], set[int]]:
    """Every live visit of a patient, across courses, grouped into sittings: one day, one
    solution, the courses (regions) treated in it."""
    visits = Visit.objects.filter(
        course__referral__patient=patient,
        status__in=[VisitStatus.BOOKED, VisitStatus.ATTENDED],
    ).select_related("course")
    if without is not None and without.pk:
        visits = visits.exclude(pk=without.pk)
    sittings: dict[tuple[dt.date, str], set[int]] = {}
    for visit in visits:
        key = (timezone.localdate(visit.starts_at), visit.course.solution)
        sittings.setdefault(key, set()).add(visit.course_id)
    return sittings


#: How far ahead a visit may be booked (days): a course lasts weeks.
MAX_DAYS_AHEAD = 366


@transaction.atomic
def book_visit(
    course: Course,
    *,
    starts_at: dt.datetime,
    chair: Chair | None = None,
    visit: Visit | None = None,
) -> Visit:
    """Book a visit, or move ``visit``: refused before funding, past the funded sessions, on
    a chair out of service or already taken, or against a frequency cap (≤ 1 a day,
    ≤ 5 in 7 days, glycopyrronium ≥ 7 days apart; therapy.frequency)."""
    _one_at_a_time()
    course.refresh_from_db()
    if visit is not None:
        visit.refresh_from_db()
    referral = course.referral
    funding = require_funding(referral)
    if course.solution not in funding.solutions_funded:
        raise _conflict(f"{course.solution} is not funded", "course")
    if course.status in {CourseStatus.FINISHED, CourseStatus.STOPPED}:
        raise _conflict("the course is over", "course")
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at)
    if funding.decided_on and timezone.localdate(starts_at) < funding.decided_on:
        raise WorkflowError("a visit cannot come before funding was approved", "starts_at")
    last_day = timezone.localdate() + dt.timedelta(days=MAX_DAYS_AHEAD)
    if timezone.localdate(starts_at) > last_day:
        # A course lasts weeks: a date further off is a slip of the finger (and the
        # frequency caps cannot count a week past the end of the calendar).
        raise WorkflowError(
            f"a visit is booked at most a year ahead (by {last_day:%d %B %Y})", "starts_at"
        )
    live = course.visits.filter(status__in=[VisitStatus.BOOKED, VisitStatus.ATTENDED])
    # What is funded now: the funding may have been decided again, for fewer sessions, after
    # the course was planned (a decision is final only once visits are booked).
    funded = min(course.sessions_planned, funding.sessions_funded or course.sessions_planned)
    if visit is not None:
        if visit.status != VisitStatus.BOOKED:
            raise _conflict(f"the visit is {visit.get_status_display()}: book a new one", "visit")
        if TreatmentSession.objects.filter(visit=visit).exists():
            raise _conflict("a session was given at this visit: it cannot move", "visit")
    if visit is None and live.count() >= funded:
        raise _conflict(f"all {funded} funded sessions of this course are booked", "course")
    if chair is not None:
        if not chair.in_service:
            raise _conflict(f"{chair.name} is out of service", "chair")
        clash = Visit.objects.filter(
            chair=chair, status=VisitStatus.BOOKED, starts_at=starts_at
        ).exclude(pk=visit.pk if visit and visit.pk else 0)
        if clash.exists():
            raise _conflict(f"{chair.name} is already booked at that time", "chair")
    # One visit treats all of the day's regions with one solution in one sitting: the caps
    # count sittings (and, for glycopyrronium, the sites in each).
    sittings = _sittings(referral.patient, without=visit)
    key = (timezone.localdate(starts_at), course.solution)
    if course.pk in sittings.get(key, set()):
        raise _conflict(sessions_per_day_cap().text, "starts_at")
    sittings.setdefault(key, set()).add(course.pk)
    sessions = [
        SessionDate(on=day, solution=Solution(solution), sites=len(courses))
        for (day, solution), courses in sittings.items()
    ]
    violations = check_frequency(sessions)
    if violations:
        raise _conflict(violations[0].reason.text, "starts_at")
    if visit is None:
        visit = Visit(course=course)
    visit.starts_at = starts_at
    visit.chair = chair
    visit.status = VisitStatus.BOOKED
    visit.save()
    if course.status == CourseStatus.PLANNED:
        course.status = CourseStatus.ACTIVE
        course.save()
    refresh_stage(referral)
    return visit


@transaction.atomic
def cancel_visit(visit: Visit, *, did_not_attend: bool = False) -> Visit:
    _one_at_a_time()
    visit.refresh_from_db()
    if visit.status != VisitStatus.BOOKED:
        raise _conflict(f"the visit is {visit.status}, not booked", "status")
    if TreatmentSession.objects.filter(visit=visit).exists():
        raise _conflict("a session was given at this visit", "status")
    visit.status = VisitStatus.DID_NOT_ATTEND if did_not_attend else VisitStatus.CANCELLED
    visit.save()
    refresh_stage(visit.course.referral)
    return visit


# --- Treatment session ----------------------------------------------------------------------
def session_plan(course: Course) -> dict[str, Any]:
    """What the station is told to give: the course's protocol (already capped by the therapy
    core for this patient, region and solution), alternating polarity where the protocol says
    so, and the patient's age for the device-side limits."""
    protocol = dict(course.protocol)
    patient = course.referral.patient
    return {
        "region": course.region,
        "solution": course.solution,
        "age_years": round(patient.age_years(timezone.localdate()), 2),
        "current_mA": protocol["target_current_mA"],
        "max_current_mA": protocol["max_current_mA"],
        "minutes": protocol["minutes"],
        "waveform": protocol["waveform"],
        "reversal": protocol["reversal"],
        "preset": protocol.get("preset", ""),
        "limits": protocol.get("limits", []),
    }


def check_may_treat(course: Course) -> None:
    """What must still hold, whenever a session of a course is prepared or started, for the
    patient to be treated: the funding approved for the course's solution, consent given and
    not withdrawn, the course not over (a verdict ends it), and the latest screening (the
    consultation may be repeated after the course was planned) still finding the patient
    eligible and the region allowed with this solution. 409 saying which does not."""
    referral = course.referral
    funding = require_funding(referral)
    if course.solution not in funding.solutions_funded:
        raise _conflict(f"{course.solution.replace('_', ' ')} is not funded", "course")
    if not has_consent(referral):
        raise _conflict("no consent on record", "consent")
    if course.status in {CourseStatus.FINISHED, CourseStatus.STOPPED}:
        raise _conflict(f"the course is {course.status}: no more sessions are given", "course")
    consultation = Consultation.objects.filter(referral=referral).first()
    if consultation is None:
        raise _conflict("the patient has not been screened", "consultation")
    if not consultation.screening.get("eligible"):
        raise _conflict(
            "the latest screening did not find the patient eligible: no session is given",
            "consultation",
        )
    # Screened again as the patient is today (the age too: the limits and the minimum age
    # go by it), with the course's solution.
    age = round(referral.patient.age_years(timezone.localdate()), 2)
    answer = _screen_course({**consultation.facts, "age_years": age}, course)
    if not answer["allowed"]:
        why = "; ".join(str(r.get("text", "")) for r in answer.get("reasons", []))
        region = course.region.replace("_", " ")
        raise _conflict(
            f"the latest screening does not allow treating the {region}"
            + (f": {why}" if why else ""),
            "consultation",
        )


def check_visit_day(visit: Visit | None) -> None:
    """A session is given on its visit's day: the day the frequency caps were checked for.
    The pages and the API check it before preparing a session to start now."""
    if visit is None:
        return
    day = timezone.localdate(visit.starts_at)
    if day != timezone.localdate():
        raise _conflict(
            f"this visit is booked for {day:%A %d %B %Y}: its session is given on that day "
            "(the limits on how often treatment is given were checked for it)",
            "visit",
        )


def check_session_start(session: TreatmentSession) -> None:
    """Just before a prepared session is handed to its station: it is ready, everything of
    :func:`check_may_treat` still holds, and its visit is today (a session prepared another
    day, or left ready overnight, would give a second treatment on a day or one no cap was
    checked for). 409 saying why not."""
    if session.status != SessionStatus.READY:
        raise _conflict(f"the session is {session.status}: only a ready session can start")
    check_may_treat(session.course)
    check_visit_day(session.visit)


@transaction.atomic
def prepare_session(
    visit: Visit,
    *,
    chair: Chair,
    checklist: Iterable[str],
    current_mA: float | None = None,
    user: User | None = None,
) -> TreatmentSession:
    """A session ready to start on a station: every pre-session check ticked, consent given,
    the chair free. The nurse may lower the current (never raise it above the protocol's).

    Refused (409) when the patient may no longer be treated (:func:`check_may_treat`) and for
    a visit on a later day. A past visit is allowed: a session given on the day and recorded
    afterwards (the station refuses to *start* a session on any other day than its visit's:
    :func:`check_session_start`)."""
    _one_at_a_time()
    visit.refresh_from_db()
    course = Course.objects.select_related("referral__patient").get(pk=visit.course_id)
    referral = course.referral
    check_may_treat(course)
    if visit.status != VisitStatus.BOOKED:
        raise _conflict(f"the visit is {visit.status}", "visit")
    if timezone.localdate(visit.starts_at) > timezone.localdate():
        check_visit_day(visit)
    if TreatmentSession.objects.filter(visit=visit).exists():
        raise _conflict("this visit already has a session", "visit")
    ticked = list(dict.fromkeys(checklist))
    missing = [code for code in PRE_SESSION_CHECKS if code not in ticked]
    if missing:
        raise WorkflowError("tick every safety check first: " + ", ".join(missing), "checklist")
    unknown = [code for code in ticked if code not in PRE_SESSION_CHECKS]
    if unknown:
        raise WorkflowError("unknown check: " + ", ".join(unknown), "checklist")
    if not chair.in_service:
        raise _conflict(f"{chair.name} is out of service", "chair")
    # A session left ready at an earlier day's visit can never start (check_session_start):
    # it does not hold the chair.
    today_starts = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
    busy = TreatmentSession.objects.filter(chair=chair).filter(
        Q(status=SessionStatus.RUNNING)
        | (
            Q(status=SessionStatus.READY)
            & (Q(visit__isnull=True) | Q(visit__starts_at__gte=today_starts))
        )
    )
    if busy.exists():
        raise _conflict(f"{chair.name} is busy with another session", "chair")
    plan = session_plan(course)
    if current_mA is not None:
        if not (0 < current_mA <= plan["current_mA"]):
            raise WorkflowError(
                f"the current is above 0 and at most the protocol's {plan['current_mA']} mA",
                "current_mA",
            )
        plan["current_mA"] = current_mA
    given = TreatmentSession.objects.filter(course=course).count()
    return TreatmentSession.objects.create(
        course=course,
        visit=visit,
        chair=chair,
        plan=plan,
        checklist=ticked,
        status=SessionStatus.READY,
        simulator_seed=(referral.patient.pk * 1000 + given)
        if chair.device == "simulated"
        else None,
        given_by=user,
    )


@transaction.atomic
def record_after_session(
    session: TreatmentSession,
    *,
    sensation_score: int | None,
    side_effects: Sequence[str],
    notes: str = "",
) -> TreatmentSession:
    """The nurse's record after a session: how it felt (0–10), side effects, notes."""
    _one_at_a_time()
    session.refresh_from_db()
    if not session.finished:
        raise _conflict("the session has not finished", "status")
    if sensation_score is not None and not 0 <= sensation_score <= 10:
        raise WorkflowError("sensation is 0 to 10", "sensation_score")
    from ionto.clinic.models import SIDE_EFFECT_CHOICES

    valid = {code for code, _ in SIDE_EFFECT_CHOICES}
    effects = list(dict.fromkeys(side_effects))
    for i, effect in enumerate(effects):
        if effect not in valid:
            raise WorkflowError(f"{effect!r} is not a side effect", f"side_effects[{i}]")
    session.recorded_at = timezone.now()
    session.sensation_score = sensation_score
    session.side_effects = effects
    session.notes = notes
    session.save()
    return session


# --- Verdict and escalation ------------------------------------------------------------------
def _latest_score(referral: Referral, kind: str, timepoint: str, region: str = "") -> float | None:
    """The latest score of a measure: the region's own if it has one (gravimetry is per
    region), else one recorded for the whole patient (HDSS, DLQI)."""
    rows = Assessment.objects.filter(referral=referral, kind=kind, timepoint=timepoint)
    for scope in ({"region": region}, {"region": ""}) if region else ({"region": ""},):
        row = rows.filter(**scope).order_by("-recorded_at", "-id").first()
        if row is not None:
            return row.score
    if not region:
        row = rows.order_by("-recorded_at", "-id").first()
        return row.score if row else None
    return None


def course_record(course: Course, followup_hdss: int) -> dict[str, Any]:
    """The course as ``ionto course verdict`` takes it, from what was recorded."""
    referral = course.referral
    consultation = Consultation.objects.filter(referral=referral).first()
    baseline_hdss = _latest_score(referral, AssessmentKind.HDSS, Timepoint.BASELINE)
    baseline: dict[str, Any] = {"hdss": int(baseline_hdss or referral.hdss)}
    followup: dict[str, Any] = {"hdss": followup_hdss}
    for kind, key in (
        (AssessmentKind.GRAVIMETRY, "gravimetry_mg_min"),
        (AssessmentKind.DLQI, "dlqi"),
    ):
        before = _latest_score(referral, kind, Timepoint.BASELINE, course.region)
        after = _latest_score(referral, kind, Timepoint.FOLLOWUP, course.region)
        if before is not None:
            baseline[key] = int(before) if key == "dlqi" else before
        if after is not None:
            followup[key] = int(after) if key == "dlqi" else after
    sessions = list(course.sessions.filter(started_at__isnull=False).order_by("started_at"))
    first_day = timezone.localdate(sessions[0].started_at) if sessions else None
    funding = FundingRequest.objects.filter(referral=referral).first()
    facts = consultation.facts if consultation else {}
    return {
        "age_years": round(referral.patient.age_years(timezone.localdate()), 2),
        "region": course.region,
        "solution": course.solution,
        "baseline": baseline,
        "sessions": [
            {
                "day": (timezone.localdate(s.started_at) - first_day).days if first_day else 0,
                "current_mA": min(float(s.plan.get("current_mA", 0.0)), 30.0),
                "minutes": max(float(s.treated_s) / 60, 0.01),
                "waveform": s.plan.get("waveform", "dc"),
                "completed": s.status == SessionStatus.COMPLETED,
                "max_sensation": s.sensation_score,
                "pain_reports": s.pain_reports,
                "side_effects": list(s.side_effects),
            }
            for s in sessions
            if s.started_at is not None
        ],
        "followup": followup,
        "conditions": list(facts.get("conditions", [])),
        "funded": list(funding.solutions_funded) if funding and funding.approved else [],
    }


@transaction.atomic
def judge_course(
    course: Course, *, followup_hdss: int, notes: str = "", user: User | None = None
) -> Verdict:
    """The trial verdict from the therapy core on what was recorded (dryness AND tolerance).

    ``continue`` (too early) is shown but not kept as the course's verdict: the course goes on.
    """
    from ionto.contract.verdict import verdict_json

    _one_at_a_time()
    course.refresh_from_db()
    if Verdict.objects.filter(course=course).exists():
        raise _conflict("this course already has its verdict", "course")
    if not 1 <= followup_hdss <= 4:
        raise WorkflowError("HDSS is 1 to 4", "followup_hdss")
    if not course.sessions.filter(started_at__isnull=False).exists():
        raise _conflict("no session was given in this course yet", "course")
    # A session running (or ready to start today) would be judged as not completed, and the
    # course would be over while the patient is being treated.
    today_starts = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
    under_way = course.sessions.filter(
        Q(status=SessionStatus.RUNNING)
        | (Q(status=SessionStatus.READY) & Q(visit__starts_at__gte=today_starts))
    )
    if under_way.exists():
        raise _conflict(
            "a session of this course is under way or ready to start: give the verdict when "
            "it has ended",
            "course",
        )
    # Tolerance is half the verdict: a session whose record (sensation, side effects such as
    # a burn) is not in yet would count as tolerated.
    unrecorded = course.sessions.filter(started_at__isnull=False, recorded_at__isnull=True)
    if unrecorded.exists():
        started = unrecorded.order_by("started_at").values_list("started_at", flat=True)[0]
        raise _conflict(
            "record how every session went first (sensation, side effects): the session of "
            f"{timezone.localtime(started):%-d %b %Y} has no record yet",
            "course",
        )
    try:
        result = verdict_json(json.dumps(course_record(course, followup_hdss)).encode())
    except InputError as error:
        raise WorkflowError(error.message, error.field or "course") from None
    verdict = Verdict(
        course=course,
        result=result,
        followup_hdss=followup_hdss,
        notes=notes,
        decided_by=user,
        decided_at=timezone.now(),
    )
    if result["verdict"] == "continue":
        return verdict  # not saved: nothing is decided yet
    verdict.save()
    course.status = CourseStatus.FINISHED
    course.save()
    # The course is over: the visits still booked for it are freed (their chairs too).
    for visit in course.visits.filter(status=VisitStatus.BOOKED, session__isnull=True):
        visit.status = VisitStatus.CANCELLED
        visit.save()
    refresh_stage(course.referral)
    return verdict


# --- Stage --------------------------------------------------------------------------------
def compute_stage(referral: Referral) -> Stage:
    """Where the referral stands, from its records (the lists of issue 4 §8)."""
    funding = FundingRequest.objects.filter(referral=referral).first()
    if funding is None or funding.status == FundingStatus.PENDING:
        return Stage.WAITING_FUNDING
    if funding.status == FundingStatus.DECLINED:
        return Stage.DECLINED
    if referral.letters.exists():
        return Stage.DISCHARGED
    consultation = Consultation.objects.filter(referral=referral).first()
    if consultation is None or not has_consent(referral):
        if consultation is not None and not consultation.screening.get("eligible"):
            return Stage.NOT_SUITABLE
        return Stage.WAITING_FIRST_VISIT
    if not consultation.screening.get("eligible"):
        return Stage.NOT_SUITABLE
    courses = list(referral.courses.all())
    if not courses:
        return Stage.WAITING_TO_START
    open_courses = [c for c in courses if c.status in {CourseStatus.PLANNED, CourseStatus.ACTIVE}]
    if not open_courses:
        judged = all(hasattr(c, "verdict") for c in courses)
        return Stage.TO_DISCHARGE if judged else Stage.AWAITING_VERDICT
    given = TreatmentSession.objects.filter(
        course__in=open_courses, started_at__isnull=False
    ).exists()
    if not given:
        return Stage.WAITING_TO_START
    booked_ahead = Visit.objects.filter(
        course__in=open_courses, status=VisitStatus.BOOKED, session__isnull=True
    ).exists()
    return Stage.IN_COURSE if booked_ahead else Stage.AWAITING_VERDICT


def refresh_stage(referral: Referral) -> Referral:
    stage = compute_stage(referral)
    if referral.stage != stage:
        referral.stage = stage
        referral.save(update_fields=["stage"])
    return referral
