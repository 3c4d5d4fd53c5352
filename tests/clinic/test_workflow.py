"""The service's rules, called directly (the pages and the API call the same functions)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import FACTS, book_days
from django.db import connections, transaction
from django.utils import timezone

from ionto.clinic import workflow
from ionto.clinic.models import (
    Chair,
    Consultation,
    Course,
    CourseStatus,
    FundingRequest,
    Letter,
    Referral,
    SessionStatus,
    Stage,
    TreatmentSession,
    Verdict,
    VisitStatus,
)


def test_nothing_is_booked_before_funding(make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("received")
    assert referral.stage == Stage.WAITING_FUNDING
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.require_funding(referral)
    assert refused.value.status == 409
    assert "funding" in refused.value.message


def test_a_referral_walks_to_in_course(make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("planned")
    assert referral.stage == Stage.WAITING_TO_START
    courses = list(referral.courses.all())
    assert {c.region for c in courses} == {"palms", "soles"}
    assert all(c.protocol["target_current_mA"] > 0 for c in courses)
    monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    visits = book_days(courses[0], monday, [0, 2, 4])
    assert len(visits) == 3


def test_booking_twice_a_day_is_refused(make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("planned")
    course = referral.courses.first()
    day = timezone.localdate() + dt.timedelta(days=3)
    book_days(course, day, [0])
    tz = timezone.get_current_timezone()
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.book_visit(course, starts_at=dt.datetime.combine(day, dt.time(15), tzinfo=tz))
    assert refused.value.field == "starts_at"


def test_a_duplicate_patient_is_caught(make_referral: Callable[..., Referral]) -> None:
    first = make_referral("received")
    details = workflow.PatientDetails(
        given_name=first.patient.given_name.upper(),
        family_name=first.patient.family_name,
        date_of_birth=first.patient.date_of_birth,
    )
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.create_referral(
            patient=details,
            practice=first.practice,
            gp_name="Dr Jones",
            received_on=timezone.localdate(),
            sites=["palms"],
            hdss=2,
        )
    assert refused.value.status == 409
    assert f"#{first.patient.pk}" in refused.value.message


def test_funding_declined_needs_a_reason(make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("received")
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.decide_funding(referral, status="declined", decided_on=timezone.localdate())
    assert refused.value.field == "decline_reason"
    assert FundingRequest.objects.get(referral=referral).status == "pending"


def test_a_cancelled_visit_cannot_be_moved_back_to_life(
    make_referral: Callable[..., Referral],
) -> None:
    referral = make_referral("planned")
    course = referral.courses.first()
    day = timezone.localdate() + dt.timedelta(days=3)
    (visit,) = book_days(course, day, [0])
    workflow.cancel_visit(visit)
    tz = timezone.get_current_timezone()
    later = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(10), tzinfo=tz)
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.book_visit(course, starts_at=later, visit=visit)
    assert refused.value.status == 409
    visit.refresh_from_db()
    assert visit.status == "cancelled"


def test_glycopyrronium_waits_for_a_verdict_that_says_so(
    make_referral: Callable[..., Referral],
) -> None:
    referral = make_referral("planned")
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.plan_courses(referral, solution="glycopyrronium")
    assert refused.value.field == "solution"
    assert "tap water" in refused.value.message


def test_a_different_person_with_the_same_name_and_birthday(
    make_referral: Callable[..., Referral],
) -> None:
    first = make_referral("received")
    twin = workflow.PatientDetails(
        given_name=first.patient.given_name,
        family_name=first.patient.family_name,
        date_of_birth=first.patient.date_of_birth,
    )
    second = workflow.create_referral(
        patient=twin,
        practice=first.practice,
        gp_name="Dr Jones",
        received_on=timezone.localdate(),
        sites=["soles"],
        hdss=2,
        not_a_duplicate=True,
    )
    assert second.patient != first.patient


# --- Review (patient safety): what must still hold when a session is given --------------------
def _checks() -> list[str]:
    return list(workflow.PRE_SESSION_CHECKS)


def _facts(onset_age_years: float = 12, **changes: Any) -> dict[str, Any]:
    """conftest's facts without an age (the one on record is screened)."""
    facts = {key: value for key, value in FACTS.items() if key != "age_years"}
    facts["history"] = {**FACTS["history"], "onset_age_years": onset_age_years}
    return {**facts, **changes}


def _given(session: TreatmentSession, *, sensation: int = 3, effects: tuple[str, ...] = ()) -> None:
    """A session as the station records it when it ran to its end."""
    assert session.visit is not None
    session.status = SessionStatus.COMPLETED
    session.started_at = session.visit.starts_at
    session.ended_at = session.visit.starts_at + dt.timedelta(minutes=25)
    session.treated_s = 20 * 60
    session.save()
    workflow.record_after_session(session, sensation_score=sensation, side_effects=list(effects))


def test_no_session_after_the_course_has_its_verdict(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    """A verdict ends the course (here: a burn, so "stop"): the visits booked after it are
    cancelled and no session can be given at them."""
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    first, ahead = book_days(course, timezone.localdate() - dt.timedelta(days=4), [0, 5], chair)
    _given(
        workflow.prepare_session(first, chair=chair, checklist=_checks()),
        sensation=9,
        effects=("burn",),
    )
    verdict = workflow.judge_course(course, followup_hdss=3)
    assert verdict.next_step == "stop"
    ahead.refresh_from_db()
    assert ahead.status == VisitStatus.CANCELLED
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.prepare_session(ahead, chair=chair, checklist=_checks())
    assert refused.value.status == 409
    assert not TreatmentSession.objects.filter(visit=ahead).exists()


def test_no_session_when_a_new_screening_finds_a_contraindication(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    """The consultation may be repeated until treatment starts; a pacemaker found then stops
    the sessions of the courses already planned and booked."""
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    (visit,) = book_days(course, timezone.localdate(), [0], chair)
    consultation = workflow.record_consultation(referral, facts=_facts(conditions=["pacemaker"]))
    assert consultation.screening["eligible"] is False
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.prepare_session(visit, chair=chair, checklist=_checks())
    assert refused.value.status == 409
    assert "screening" in refused.value.message
    assert not TreatmentSession.objects.filter(visit=visit).exists()


def test_no_session_on_a_region_a_new_screening_forbids(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    referral = make_referral("planned")
    palms = referral.courses.get(region="palms")
    soles = referral.courses.get(region="soles")
    (on_palms,) = book_days(palms, timezone.localdate(), [0], chair)
    (on_soles,) = book_days(soles, timezone.localdate(), [0])  # the same sitting
    plate = [{"kind": "metal_plate", "location": "left_forearm"}]  # in the hands' current path
    workflow.record_consultation(referral, facts=_facts(implants=plate))
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.prepare_session(on_palms, chair=chair, checklist=_checks())
    assert refused.value.status == 409
    # The feet are not in that path: their sessions go on.
    assert workflow.prepare_session(on_soles, chair=chair, checklist=_checks()).pk


def test_the_screening_goes_by_the_age_on_record(
    make_referral: Callable[..., Referral],
) -> None:
    """A child's facts sent with an adult's age would be screened with adult limits (and a
    4-year-old found eligible): the age screened is the one on record."""
    today = timezone.localdate()
    child = make_referral("funded", born=today - dt.timedelta(days=round(10.5 * 365.25)))
    facts = _facts(onset_age_years=2)
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.record_consultation(child, facts={**facts, "age_years": 30})
    assert refused.value.field == "facts.age_years"
    assert not Consultation.objects.filter(referral=child).exists()
    # Whole years, as a nurse says an age, are accepted; the exact age is what is screened.
    consultation = workflow.record_consultation(child, facts={**facts, "age_years": 10})
    assert consultation.facts["age_years"] == round(child.patient.age_years(today), 2)
    adult = make_referral("funded")
    adult_palms = workflow.record_consultation(adult, facts=facts).screening["regions"]["palms"]
    child_palms = consultation.screening["regions"]["palms"]
    assert (
        child_palms["protocol"]["target_current_mA"] < adult_palms["protocol"]["target_current_mA"]
    )
    toddler = make_referral("funded", born=today - dt.timedelta(days=4 * 365))
    with pytest.raises(workflow.WorkflowError):
        workflow.record_consultation(toddler, facts={**facts, "age_years": 30})
    assert workflow.record_consultation(toddler, facts=facts).screening["eligible"] is False


def test_bookings_stop_at_the_sessions_funded_now(
    make_referral: Callable[..., Referral],
) -> None:
    """Funding changed to fewer sessions after the courses were planned (nothing booked yet):
    the visits stop at what is funded now, not at what was funded when they were planned."""
    referral = make_referral("planned")
    workflow.decide_funding(
        referral,
        status="approved",
        decided_on=timezone.localdate() - dt.timedelta(days=10),
        sessions_funded=2,
        solutions_funded=["tap_water"],
    )
    course = referral.courses.order_by("pk").first()
    assert course is not None
    monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    book_days(course, monday, [0, 2])
    with pytest.raises(workflow.WorkflowError) as refused:
        book_days(course, monday, [4])
    assert refused.value.status == 409
    assert "2 funded sessions" in refused.value.message
    assert course.visits.count() == 2


def test_no_verdict_while_a_session_of_the_course_is_under_way(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    first, today = book_days(course, timezone.localdate() - dt.timedelta(days=3), [0, 3], chair)
    _given(workflow.prepare_session(first, chair=chair, checklist=_checks()))
    running = workflow.prepare_session(today, chair=chair, checklist=_checks())
    running.status = SessionStatus.RUNNING
    running.started_at = timezone.now()
    running.save()
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.judge_course(course, followup_hdss=1)
    assert refused.value.status == 409
    assert not Verdict.objects.filter(course=course).exists()
    course.refresh_from_db()
    assert course.status == CourseStatus.ACTIVE


def test_no_new_course_once_the_patient_is_discharged(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    """Courses planned after the letters would run on a referral that says "discharged" and
    whose letters can never be written again."""
    referral = make_referral("planned")
    month_ago = timezone.localdate() - dt.timedelta(days=30)
    workflow.decide_funding(
        referral,
        status="approved",
        decided_on=month_ago,
        sessions_funded=10,
        solutions_funded=["tap_water", "glycopyrronium"],
    )
    for course in referral.courses.all():
        # A month of tolerated sessions without any change: escalate to glycopyrronium.
        for visit in book_days(course, month_ago, [0, 29]):
            _given(workflow.prepare_session(visit, chair=chair, checklist=_checks()))
        verdict = workflow.judge_course(course, followup_hdss=3)
        assert verdict.next_step == "escalate_glycopyrronium", verdict.result
    Letter.objects.create(referral=referral, kind="gp", pdf=b"%PDF", text="letter")
    workflow.refresh_stage(referral)
    assert referral.stage == Stage.DISCHARGED
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.plan_courses(referral, solution="glycopyrronium")
    assert refused.value.status == 409
    assert "discharged" in refused.value.message
    assert not referral.courses.filter(solution="glycopyrronium").exists()


# --- Review (concurrency): two requests at once -----------------------------------------------
def _in_thread(work: Callable[[], object], hold: threading.Event | None = None) -> dict[str, Any]:
    """Run ``work`` in its own transaction on its own connection, as a second request would;
    with ``hold``, keep the transaction open (uncommitted) until it is set."""
    out: dict[str, Any] = {"done": threading.Event()}

    def run() -> None:
        try:
            with transaction.atomic():
                out["result"] = work()
                out["done"].set()
                if hold is not None:
                    hold.wait(10)
        except Exception as error:  # handed to the test
            out["error"] = error
        finally:
            out["done"].set()
            connections.close_all()

    out["thread"] = threading.Thread(target=run)
    out["thread"].start()
    return out


@pytest.mark.django_db(transaction=True)
def test_two_bookings_at_once_never_pass_the_funded_sessions(
    make_referral: Callable[..., Referral],
) -> None:
    """Two nurses book the last funded session at the same moment (a double-click does the
    same): the second sees the first's visit and is refused, on SQLite and on PostgreSQL."""
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    days = [0, 2, 4, 7, 9, 11, 14, 16, 18]
    book_days(course, monday, days)
    tz = timezone.get_current_timezone()

    def book(offset: int) -> Callable[[], object]:
        at = dt.datetime.combine(monday + dt.timedelta(days=offset), dt.time(10), tzinfo=tz)
        return lambda: workflow.book_visit(Course.objects.get(pk=course.pk), starts_at=at)

    release = threading.Event()
    first = _in_thread(book(21), hold=release)
    assert first["done"].wait(10)
    second = _in_thread(book(23))
    time.sleep(0.5)  # the second request runs as far as it can while the first is open
    release.set()
    for request in (first, second):
        request["thread"].join(20)
    assert "error" not in first, first.get("error")
    assert isinstance(second.get("error"), workflow.WorkflowError), second
    assert course.visits.count() == course.sessions_planned == 10


def test_an_nhs_number_in_other_digits_is_the_same_number(
    make_referral: Callable[..., Referral],
) -> None:
    """Full-width or Arabic-Indic digits (pasted from another system) pass ``isdigit`` and
    the check digit: stored as they came, the same NHS number would make a second patient."""
    first = make_referral("received")
    first.patient.nhs_number = "9434765919"
    first.patient.save()
    for typed in ("９４３４７６５９１９", "٩٤٣ ٤٧٦ ٥٩١٩"):
        other = workflow.PatientDetails(
            given_name="Sam",
            family_name="Other",
            date_of_birth=dt.date(1970, 1, 1),
            nhs_number=typed,
        )
        with pytest.raises(workflow.WorkflowError) as refused:
            workflow.create_referral(
                patient=other,
                practice=first.practice,
                gp_name="Dr Jones",
                received_on=timezone.localdate(),
                sites=["palms"],
                hdss=3,
                not_a_duplicate=True,
            )
        assert refused.value.status == 409, refused.value.message
        assert f"#{first.patient.pk}" in refused.value.message
    assert workflow.normalise_nhs_number("٩٤٣٤٧٦٥٩١٩") == "9434765919"
    with pytest.raises(workflow.WorkflowError):
        workflow.normalise_nhs_number("943476591²")


def test_a_repeat_consultation_before_treatment_gives_the_courses_its_protocol(
    make_referral: Callable[..., Referral], chair: Chair
) -> None:
    """Sensitive to electricity, found at a repeat consultation after the courses were
    planned: the sessions follow the new screening's protocol (pulsed current), not the one
    planned before."""
    referral = make_referral("planned")
    palms = referral.courses.get(region="palms")
    assert palms.protocol["waveform"] == "dc"
    consultation = workflow.record_consultation(
        referral, facts=_facts(conditions=["electrical_sensitivity"])
    )
    screened = consultation.screening["regions"]["palms"]["protocol"]
    assert screened["waveform"] == "pulsed_dc"
    palms.refresh_from_db()
    assert palms.protocol == screened
    (visit,) = book_days(palms, timezone.localdate(), [0], chair)
    session = workflow.prepare_session(visit, chair=chair, checklist=_checks())
    assert session.plan["waveform"] == "pulsed_dc"
