"""Each role against each endpoint of the JSON API (roles.MATRIX): what it may read, what it
may change, and the patient rule — a patient reaches their own record, and another
patient's answers 404, exactly like a record that does not exist."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone
from test_api import Clinic, at, build_clinic, call, next_monday, referral_body

from ionto.clinic import booking, workflow
from ionto.clinic.models import Chair, Referral, Visit
from ionto.clinic.roles import ROLES

ALL = dict.fromkeys(ROLES, 200)
STAFF = ("admin", "clinician", "nurse", "reception")
CLINICAL = ("admin", "clinician", "nurse")


def only(roles: tuple[str, ...], status: int = 200, **others: int) -> dict[str, int]:
    return {**dict.fromkeys(roles, status), **others}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: Callable[[Clinic], str]
    #: role → the status it gets; a role not named gets 403, an anonymous caller 401.
    allowed: dict[str, int]
    body: Callable[[Clinic], Any] | None = None


def own(c: Clinic) -> Referral:
    """The referral of the patient who has a login (see the fixture)."""
    return c.referrals["treated"]


def other(c: Clinic) -> Referral:
    return c.referrals["planned"]


def _course(referral: Referral) -> int:
    course = referral.courses.order_by("id").first()
    assert course is not None
    return course.pk


def _visit_ahead(c: Clinic, n: int) -> int:
    rows = Visit.objects.filter(course_id=_course(own(c)), status="booked").order_by("starts_at")
    return rows[n].pk


def _visit_today(c: Clinic) -> int:
    """A visit booked today (a session is prepared at its visit's day)."""
    starts = dt.datetime.combine(
        timezone.localdate(), dt.time(16), tzinfo=timezone.get_current_timezone()
    )
    course = own(c).courses.order_by("id").first()
    assert course is not None
    return workflow.book_visit(course, starts_at=starts).pk


def _proposed(c: Clinic) -> list[dict[str, Any]]:
    """The solver's visits for the rest of the patient's course, as the API takes them."""
    course = own(c).courses.order_by("id").first()
    assert course is not None
    proposal = booking.propose(course, solver="greedy")
    return [
        {"date": s.on.isoformat(), "start": booking.clock_text(s.start_min), "chair_id": s.chair_id}
        for s in proposal.slots()
    ]


def _chair_one(_c: Clinic) -> int:
    return Chair.objects.get(name="Chair 1").pk


READS: dict[str, Endpoint] = {
    "practices": Endpoint("GET", lambda _: "/api/practices", only(STAFF)),
    "patients": Endpoint("GET", lambda _: "/api/patients", ALL),
    "own patient": Endpoint("GET", lambda c: f"/api/patients/{own(c).patient_id}", ALL),
    "other patient": Endpoint(
        "GET", lambda c: f"/api/patients/{other(c).patient_id}", only(STAFF, patient=404)
    ),
    "referrals": Endpoint("GET", lambda _: "/api/referrals", ALL),
    "own referral": Endpoint("GET", lambda c: f"/api/referrals/{own(c).pk}", ALL),
    "other referral": Endpoint(
        "GET", lambda c: f"/api/referrals/{other(c).pk}", only(STAFF, patient=404)
    ),
    "own assessments": Endpoint(
        "GET", lambda c: f"/api/referrals/{own(c).pk}/assessments", only((*CLINICAL, "patient"))
    ),
    "other assessments": Endpoint(
        "GET", lambda c: f"/api/referrals/{other(c).pk}/assessments", only(CLINICAL, patient=404)
    ),
    "own courses": Endpoint("GET", lambda c: f"/api/referrals/{own(c).pk}/courses", ALL),
    "other courses": Endpoint(
        "GET", lambda c: f"/api/referrals/{other(c).pk}/courses", only(STAFF, patient=404)
    ),
    "own course": Endpoint("GET", lambda c: f"/api/courses/{_course(own(c))}", ALL),
    "other course": Endpoint(
        "GET", lambda c: f"/api/courses/{_course(other(c))}", only(STAFF, patient=404)
    ),
    "chairs": Endpoint("GET", lambda _: "/api/chairs", only(STAFF)),
    "visits": Endpoint("GET", lambda _: "/api/visits", ALL),
    "own visit": Endpoint("GET", lambda c: f"/api/visits/{_visit_ahead(c, 0)}", ALL),
    "other visit": Endpoint("GET", lambda c: f"/api/visits/{c.visit.pk}", only(STAFF, patient=404)),
    "own session": Endpoint(
        "GET", lambda c: f"/api/sessions/{c.finished.pk}", only((*CLINICAL, "patient"))
    ),
    "other session": Endpoint(
        "GET", lambda c: f"/api/sessions/{c.prepared.pk}", only(CLINICAL, patient=404)
    ),
    "today": Endpoint("GET", lambda _: "/api/lists/today", only(STAFF)),
    "stages": Endpoint("GET", lambda _: "/api/lists/stages", only(STAFF)),
    "outcomes": Endpoint("GET", lambda _: "/api/lists/outcomes", only(CLINICAL)),
    "audit": Endpoint("GET", lambda _: "/api/audit/verify", only(("admin",))),
    "safety information": Endpoint("GET", lambda _: "/api/reference/safety-information", ALL),
    "pre-session checks": Endpoint("GET", lambda _: "/api/reference/pre-session-checks", ALL),
}

WRITES: dict[str, Endpoint] = {
    "add practice": Endpoint(
        "POST",
        lambda _: "/api/practices",
        only(("admin", "clinician", "reception"), 201),
        lambda _: {"code": "P99001", "name": "Hillside"},
    ),
    "add referral": Endpoint(
        "POST",
        lambda _: "/api/referrals",
        only(STAFF, 201),
        lambda c: referral_body(own(c).practice_id),
    ),
    "decide funding": Endpoint(
        "POST",
        lambda c: f"/api/referrals/{c.referrals['received'].pk}/funding",
        only(("admin", "clinician", "nurse", "reception")),
        lambda _: {
            "status": "declined",
            "decided_on": str(dt.date.today()),
            "decline_reason": "No",
        },
    ),
    "consultation": Endpoint(
        "POST",
        lambda c: f"/api/referrals/{c.referrals['funded'].pk}/consultation",
        only(CLINICAL),
        lambda _: {"facts": {"history": {"duration_months": 60}}},
    ),
    "consent": Endpoint(
        "POST",
        lambda c: f"/api/referrals/{c.referrals['funded'].pk}/consent",
        only(CLINICAL, 201),
        lambda _: {"given_by": "Alex Morgan", "safety_items": list(workflow.SAFETY_INFORMATION)},
    ),
    "assessment": Endpoint(
        "POST",
        lambda c: f"/api/referrals/{c.referrals['consented'].pk}/assessments",
        only(CLINICAL, 201),
        lambda _: {"kind": "hdss", "timepoint": "baseline", "score": 3},
    ),
    "plan courses": Endpoint(
        "POST",
        lambda c: f"/api/referrals/{c.referrals['consented'].pk}/courses",
        only(CLINICAL, 201),
        lambda _: {},
    ),
    "book visit": Endpoint(
        "POST",
        lambda _: "/api/visits",
        only(STAFF, 201),
        lambda c: {
            "course_id": _course(own(c)),
            "starts_at": at(next_monday() + dt.timedelta(days=4)),
        },
    ),
    "move visit": Endpoint(
        "POST",
        lambda c: f"/api/visits/{_visit_ahead(c, 0)}/move",
        only(STAFF),
        lambda _: {"starts_at": at(next_monday() + dt.timedelta(days=1))},
    ),
    "cancel visit": Endpoint(
        "POST", lambda c: f"/api/visits/{_visit_ahead(c, 1)}/cancel", only(STAFF), lambda _: {}
    ),
    "booking proposal": Endpoint(
        "POST",
        lambda c: f"/api/courses/{_course(own(c))}/booking/proposal",
        only(STAFF),
        lambda _: {"solver": "greedy"},
    ),
    "booking check": Endpoint(
        "POST",
        lambda c: f"/api/courses/{_course(own(c))}/booking/check",
        only(STAFF),
        lambda c: {"visits": _proposed(c)},
    ),
    "booking accept": Endpoint(
        "POST",
        lambda c: f"/api/courses/{_course(own(c))}/booking",
        only(STAFF, 201),
        lambda c: {"visits": _proposed(c)},
    ),
    "prepare session": Endpoint(
        "POST",
        lambda _: "/api/sessions",
        only(CLINICAL, 201),
        lambda c: {
            "visit_id": _visit_today(c),
            "chair_id": _chair_one(c),
            "checklist": list(workflow.PRE_SESSION_CHECKS),
        },
    ),
    "record after session": Endpoint(
        "POST",
        lambda c: f"/api/sessions/{c.finished.pk}/record",
        only(CLINICAL),
        lambda _: {"sensation_score": 4, "side_effects": ["tingling"]},
    ),
    "verdict": Endpoint(
        "POST",
        lambda c: f"/api/courses/{c.finished.course_id}/verdict",
        only(CLINICAL, 201),
        lambda _: {"followup_hdss": 1},
    ),
}


@pytest.fixture
def clinic(make_referral: Callable[..., Referral], users: dict[str, User], chair: Chair) -> Clinic:
    built = build_clinic(make_referral, users, chair)
    patient = own(built).patient
    patient.user = users["patient"]
    patient.save()
    return built


def _each_role(client: Client, clinic: Clinic, endpoint: Endpoint) -> dict[str | None, int]:
    """The status each role (and an anonymous caller) gets, every call on the same records:
    a change is rolled back before the next role tries."""
    got: dict[str | None, int] = {}
    for role in (*ROLES, None):
        with transaction.atomic():
            body = endpoint.body(clinic) if endpoint.body else None
            response = call(client, endpoint.method, endpoint.path(clinic), body, as_user=role)
            got[role] = response.status_code
            if response.status_code >= 400:
                assert set(response.data) == {"detail"}, response.data
            transaction.set_rollback(True)
    return got


def _expected(endpoint: Endpoint) -> dict[str | None, int]:
    return {**{role: endpoint.allowed.get(role, 403) for role in ROLES}, None: 401}


@pytest.mark.parametrize("name", list(READS))
def test_each_role_reads_what_it_may(client: Client, clinic: Clinic, name: str) -> None:
    endpoint = READS[name]
    assert _each_role(client, clinic, endpoint) == _expected(endpoint)


@pytest.mark.parametrize("name", list(WRITES))
def test_each_role_changes_what_it_may(client: Client, clinic: Clinic, name: str) -> None:
    endpoint = WRITES[name]
    assert _each_role(client, clinic, endpoint) == _expected(endpoint)


def test_a_patient_lists_only_their_own_records(client: Client, clinic: Clinic) -> None:
    mine = own(clinic)
    referrals = call(client, "GET", "/api/referrals", as_user="patient")
    assert [r["id"] for r in referrals.data["items"]] == [mine.pk]
    patients = call(client, "GET", "/api/patients", as_user="patient")
    assert [p["id"] for p in patients.data["items"]] == [mine.patient_id]
    visits = call(client, "GET", "/api/visits", as_user="patient")
    assert visits.data["count"] == Visit.objects.filter(course__referral=mine).count() > 0
    assert {v["referral_id"] for v in visits.data["items"]} == {mine.pk}
    # Filtering by another patient's id finds nothing rather than their records.
    theirs = call(client, "GET", f"/api/visits?referral_id={other(clinic).pk}", as_user="patient")
    assert theirs.data == {"count": 0, "items": []}


def test_a_patient_sees_their_own_clinical_record(client: Client, clinic: Clinic) -> None:
    response = call(client, "GET", f"/api/referrals/{own(clinic).pk}", as_user="patient")
    assert response.data["clinical"]["consultation"]["screening"]["eligible"] is True


def test_guessing_ids_reveals_nothing_to_a_patient(client: Client, clinic: Clinic) -> None:
    """Another patient's record and a record that does not exist answer alike."""
    theirs = call(client, "GET", f"/api/referrals/{other(clinic).pk}", as_user="patient")
    missing = call(client, "GET", "/api/referrals/987654321", as_user="patient")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.data["detail"][0]["message"].replace(str(other(clinic).pk), "N") == missing.data[
        "detail"
    ][0]["message"].replace("987654321", "N")


def test_a_login_without_a_role_may_do_nothing(client: Client, clinic: Clinic) -> None:
    User.objects.create_user("visitor", password="correct horse battery staple")
    assert call(client, "GET", "/api/referrals", as_user="visitor").status_code == 403
    response = call(client, "GET", f"/api/referrals/{own(clinic).pk}", as_user="visitor")
    assert response.status_code == 403
    assert "without a role" in response.data["detail"][0]["message"]
