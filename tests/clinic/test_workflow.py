"""The service's rules, called directly (the pages and the API call the same functions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from conftest import book_days
from django.utils import timezone

from ionto.clinic import workflow
from ionto.clinic.models import FundingRequest, Referral, Stage


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
