"""Shared fixtures of the clinic tests: a user per role and patients at each stage, built by
the same workflow functions the pages and the API call (no hand-made rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from ionto.clinic import audit_triggers, workflow
from ionto.clinic.models import Chair, Practice, Referral, Visit
from ionto.clinic.roles import ROLES

PASSWORD = "correct horse battery staple"

#: Screening facts of an adult with primary focal palmar and plantar hyperhidrosis.
FACTS: dict[str, Any] = {
    "age_years": 34,
    "treat": ["palms", "soles"],
    "sites": ["palms", "soles"],
    "history": {
        "duration_months": 60,
        "onset_age_years": 12,
        "bilateral_symmetric": True,
        "impairs_daily_activities": True,
        "episodes_per_week": 7,
        "family_history": True,
        "stops_during_sleep": True,
        "night_sweats": False,
        "generalised": False,
        "systemic_symptoms": False,
    },
    "hdss": 3,
}


@pytest.fixture
def users(db: None) -> dict[str, User]:
    """One user per role (admin is a member of the admin group, not a superuser)."""
    out = {}
    for role in ROLES:
        user = User.objects.create_user(role, password=PASSWORD, is_staff=role == "admin")
        user.groups.add(Group.objects.get(name=role))
        out[role] = user
    return out


@pytest.fixture
def practice(db: None) -> Practice:
    return Practice.objects.create(code="P81001", name="Riverside Surgery")


@pytest.fixture
def chair(db: None) -> Chair:
    return Chair.objects.create(name="Chair 1")


def _details(n: int, born: dt.date) -> workflow.PatientDetails:
    return workflow.PatientDetails(given_name=f"Alex{n}", family_name="Morgan", date_of_birth=born)


@pytest.fixture
def make_referral(practice: Practice, users: dict[str, User]) -> Callable[..., Referral]:
    """A referral taken as far as ``stage``: received, funded, screened (consented),
    planned, booked."""
    counter = iter(range(1, 10_000))

    def make(stage: str = "received", *, born: dt.date = dt.date(1990, 5, 1)) -> Referral:
        today = timezone.localdate()
        referral = workflow.create_referral(
            patient=_details(next(counter), born),
            practice=practice,
            gp_name="Dr Patel",
            received_on=today - dt.timedelta(days=30),
            sites=["palms", "soles"],
            hdss=3,
            treatments_tried=["aluminium_chloride"],
            user=users["reception"],
        )
        if stage == "received":
            return referral
        workflow.decide_funding(
            referral,
            status="approved",
            decided_on=today - dt.timedelta(days=20),
            sessions_funded=10,
            solutions_funded=["tap_water", "glycopyrronium"],
            user=users["clinician"],
        )
        if stage == "funded":
            return referral
        age = round(referral.patient.age_years(today))
        workflow.record_consultation(
            referral, facts={**FACTS, "age_years": age}, user=users["nurse"]
        )
        workflow.record_consent(
            referral,
            given_by=referral.patient.full_name if age >= 16 else "Parent Morgan",
            relationship="self" if age >= 16 else "parent",
            safety_items=list(workflow.SAFETY_INFORMATION),
            user=users["nurse"],
        )
        workflow.record_assessment(
            referral, kind="hdss", timepoint="baseline", score=3, user=users["nurse"]
        )
        if stage == "consented":
            return referral
        workflow.plan_courses(referral)
        referral.refresh_from_db()
        return referral

    return make


def book_days(
    course: Any, first: dt.date, days: list[int], chair: Chair | None = None
) -> list[Visit]:
    """Book a course's visits at 10:00 on ``first`` + each offset in days."""
    tz = timezone.get_current_timezone()
    return [
        workflow.book_visit(
            course,
            starts_at=dt.datetime.combine(first + dt.timedelta(days=d), dt.time(10), tzinfo=tz),
            chair=chair,
        )
        for d in days
    ]


@pytest.fixture(autouse=True)
def _audit_triggers(request: pytest.FixtureRequest) -> Iterator[None]:
    """The audit table refuses DELETE (migration 0002); a transactional test's database is
    emptied afterwards, so lift the refusal just for that, and put it back for each test."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or bool(
        marker and marker.kwargs.get("transaction")
    )
    if not (transactional or "db" in request.fixturenames or marker):
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    audit_triggers.install(connection)
    yield
    if transactional:
        audit_triggers.remove(connection)
