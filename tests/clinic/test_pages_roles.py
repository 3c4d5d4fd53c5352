"""Every page × every role: the status each answers (200, 302 to the login page, 403, 404),
for GET and for POST; a patient guessing another patient's addresses gets 404; reception's pages
never carry clinical notes, screening or session data.

A POST a role may make is sent empty: it must be refused as bad input (422) or as forbidden by
the record's state (409) — proof the door was open, without changing anything."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import FACTS, PASSWORD, book_days
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ionto.clinic import workflow
from ionto.clinic.models import Chair, Consultation, Referral, SessionStatus

ANON = "anonymous"
STAFF = ("admin", "clinician", "nurse", "reception")
CLINICAL = ("admin", "clinician", "nurse")
EVERYONE = (*STAFF, "patient")


def expect(ok: tuple[str, ...], *, ok_status: int = 200, patient: int = 403) -> dict[str, int]:
    """Roles in ``ok`` get ``ok_status``; other staff 403; the patient ``patient``; anonymous
    users are sent to log in (302)."""
    table = {role: (ok_status if role in ok else 403) for role in STAFF}
    table["patient"] = ok_status if "patient" in ok else patient
    table[ANON] = 302
    return table


# (name, method, url key, expected status per role). "own" pages belong to the patient user's
# record; "other" pages to another patient's.
PAGES: list[tuple[str, str, str, dict[str, int]]] = [
    ("home", "GET", "/", {**expect(STAFF), "patient": 302}),
    ("search", "GET", "/patients/?q=morgan", expect(STAFF)),
    ("information sheet", "GET", "/information-sheet/", expect(EVERYONE)),
    ("own patient", "GET", "/patients/{own_patient}/", expect(EVERYONE)),
    ("other patient", "GET", "/patients/{other_patient}/", expect(STAFF, patient=404)),
    ("new referral", "GET", "/referrals/new/", expect(STAFF)),
    ("new referral", "POST", "/referrals/new/", expect(STAFF, ok_status=422)),
    (
        "new practice",
        "GET",
        "/practices/new/",
        expect(("admin", "clinician", "reception")),
    ),
    (
        "new practice",
        "POST",
        "/practices/new/",
        expect(("admin", "clinician", "reception"), ok_status=422),
    ),
    ("own referral", "GET", "/referrals/{own}/", expect(EVERYONE)),
    ("other referral", "GET", "/referrals/{other}/", expect(STAFF, patient=404)),
    (
        "funding",
        "GET",
        "/referrals/{own}/funding/",
        expect(("admin", "clinician", "nurse", "reception")),
    ),
    (
        "funding",
        "POST",
        "/referrals/{own}/funding/",
        expect(("admin", "clinician", "nurse", "reception"), ok_status=422),
    ),
    (
        "other's funding",
        "POST",
        "/referrals/{other}/funding/",
        expect(("admin", "clinician", "nurse", "reception"), ok_status=422, patient=404),
    ),
    ("consultation", "GET", "/referrals/{own}/consultation/", expect(CLINICAL)),
    ("consultation", "POST", "/referrals/{own}/consultation/", expect(CLINICAL, ok_status=422)),
    (
        "other's consultation",
        "GET",
        "/referrals/{other}/consultation/",
        expect(CLINICAL, patient=404),
    ),
    ("consent", "GET", "/referrals/{own}/consent/", expect(CLINICAL)),
    ("consent", "POST", "/referrals/{own}/consent/", expect(CLINICAL, ok_status=422)),
    (
        "other's consent",
        "POST",
        "/referrals/{other}/consent/",
        expect(CLINICAL, ok_status=422, patient=404),
    ),
    ("baseline", "GET", "/referrals/{own}/baseline/", expect(CLINICAL)),
    ("baseline", "POST", "/referrals/{own}/baseline/", expect(CLINICAL, ok_status=422)),
    ("other's baseline", "GET", "/referrals/{other}/baseline/", expect(CLINICAL, patient=404)),
    ("plan", "GET", "/referrals/{own}/plan/", expect(CLINICAL)),
    # Already planned: the state forbids planning again (409).
    ("plan", "POST", "/referrals/{own}/plan/", expect(CLINICAL, ok_status=409)),
    (
        "other's plan",
        "POST",
        "/referrals/{other}/plan/",
        expect(CLINICAL, ok_status=409, patient=404),
    ),
    ("own visits", "GET", "/courses/{own_course}/visits/", expect(EVERYONE)),
    ("own visits", "POST", "/courses/{own_course}/visits/", expect(STAFF, ok_status=422)),
    ("other's visits", "GET", "/courses/{other_course}/visits/", expect(STAFF, patient=404)),
    (
        "other's visits",
        "POST",
        "/courses/{other_course}/visits/",
        expect(STAFF, ok_status=422, patient=404),
    ),
    # "Book this course" with the solver: whoever books visits; an empty POST ticks no day.
    ("book course", "GET", "/courses/{own_course}/book/", expect(STAFF)),
    ("book course", "POST", "/courses/{own_course}/book/", expect(STAFF, ok_status=422)),
    ("other's book course", "GET", "/courses/{other_course}/book/", expect(STAFF, patient=404)),
    (
        "other's book course",
        "POST",
        "/courses/{other_course}/book/",
        expect(STAFF, ok_status=422, patient=404),
    ),
    ("verdict", "GET", "/courses/{own_course}/verdict/", expect(CLINICAL)),
    ("verdict", "POST", "/courses/{own_course}/verdict/", expect(CLINICAL, ok_status=422)),
    ("other's verdict", "GET", "/courses/{other_course}/verdict/", expect(CLINICAL, patient=404)),
    ("move", "GET", "/visits/{own_visit}/move/", expect(STAFF)),
    ("move", "POST", "/visits/{own_visit}/move/", expect(STAFF, ok_status=422)),
    ("other's move", "GET", "/visits/{other_visit}/move/", expect(STAFF, patient=404)),
    ("cancel", "GET", "/visits/{own_visit}/cancel/", expect(STAFF)),
    ("cancel", "POST", "/visits/{own_visit}/cancel/", expect(STAFF, ok_status=422)),
    (
        "other's cancel",
        "POST",
        "/visits/{other_visit}/cancel/",
        expect(STAFF, ok_status=422, patient=404),
    ),
    ("no such referral", "GET", "/referrals/999999/", {**expect(EVERYONE, ok_status=404)}),
]

#: Written into the records so that a test can look for it in reception's pages.
REFERRAL_NOTE = "REFERRAL-LETTER-NOTE-7741"
HISTORY_NOTE = "HISTORY-NOTE-2290"
SESSION_NOTE = "SESSION-NOTE-5518"


@pytest.fixture
def world(
    make_referral: Callable[..., Referral], users: dict[str, User], chair: Chair
) -> dict[str, Any]:
    """Two patients with planned courses and a booked visit each; the first is the patient
    user's own record and has clinical notes, a screening and a finished session."""
    own = make_referral("planned")
    other = make_referral("planned")
    own.clinical_notes = REFERRAL_NOTE
    own.save()
    own.patient.user = users["patient"]
    own.patient.save()
    age = round(own.patient.age_years(timezone.localdate()))
    workflow.record_consultation(
        own, facts={**FACTS, "age_years": age}, history_notes=HISTORY_NOTE, user=users["nurse"]
    )
    ids: dict[str, Any] = {"own": own.pk, "other": other.pk}
    for key, referral in (("own", own), ("other", other)):
        course = referral.courses.order_by("id").first()
        assert course is not None
        visit = book_days(course, timezone.localdate(), [0], chair if key == "own" else None)[0]
        ids[f"{key}_patient"] = referral.patient.pk
        ids[f"{key}_course"] = course.pk
        ids[f"{key}_visit"] = visit.pk
    given = book_days(
        own.courses.order_by("id").last(), timezone.localdate() - dt.timedelta(days=2), [0], chair
    )[0]
    session = workflow.prepare_session(
        given, chair=chair, checklist=list(workflow.PRE_SESSION_CHECKS), user=users["nurse"]
    )
    session.status = SessionStatus.COMPLETED
    session.started_at = given.starts_at
    session.treated_s = 600
    session.save()
    workflow.record_after_session(session, sensation_score=4, side_effects=[], notes=SESSION_NOTE)
    ids["session"] = session.pk
    return ids


def _answer(client: Client, method: str, url: str) -> int:
    response = client.get(url) if method == "GET" else client.post(url, {})
    return response.status_code


@pytest.mark.parametrize("role", [ANON, *EVERYONE])
def test_every_page_answers_each_role_as_the_role_matrix_says(
    client: Client, world: dict[str, Any], role: str
) -> None:
    if role != ANON:
        assert client.login(username=role, password=PASSWORD)
    wrong = []
    for name, method, pattern, table in PAGES:
        url = pattern.format(**world)
        status = _answer(client, method, url)
        if status != table[role]:
            wrong.append(f"{method} {url} ({name}): {status}, expected {table[role]}")
    assert not wrong, "\n".join(wrong)


def test_anonymous_users_are_sent_to_log_in(client: Client, world: dict[str, Any]) -> None:
    response = client.get(f"/referrals/{world['own']}/")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/referrals/{world['own']}/"


def test_a_refusal_says_why(client: Client, world: dict[str, Any]) -> None:
    client.login(username="reception", password=PASSWORD)
    response = client.get(f"/referrals/{world['own']}/consultation/")
    assert response.status_code == 403
    assert "Your role (reception) cannot take a consultation." in response.content.decode()


def test_a_patient_sees_their_own_record_without_forms(
    client: Client, world: dict[str, Any]
) -> None:
    client.login(username="patient", password=PASSWORD)
    html = client.get(f"/referrals/{world['own']}/").content.decode()
    assert "My treatment" in html
    assert '<form method="post" action="/referrals/' not in html
    assert "Record the funding decision" not in html
    assert "Book visits" not in html
    assert f"/referrals/{world['other']}/" not in html


def test_reception_never_sees_clinical_notes_screening_or_sessions(
    client: Client, world: dict[str, Any]
) -> None:
    consultation = Consultation.objects.get(referral_id=world["own"])
    screening_texts = [
        reason["text"]
        for answer in consultation.screening["regions"].values()
        for reason in answer["reasons"] + answer["precautions"]
    ] + [r["text"] for r in consultation.screening.get("diagnosis_reasons", [])]
    assert screening_texts, "the screening should have reasons to look for"
    client.login(username="reception", password=PASSWORD)
    pages = [
        "/",
        "/patients/?q=morgan",
        "/patients/{own_patient}/",
        "/referrals/{own}/",
        "/referrals/{own}/funding/",
        "/courses/{own_course}/visits/",
        "/courses/{own_course}/book/",
        "/visits/{own_visit}/move/",
        "/visits/{own_visit}/cancel/",
    ]
    for pattern in pages:
        response = client.get(pattern.format(**world))
        assert response.status_code == 200, pattern
        html = response.content.decode()
        for secret in (REFERRAL_NOTE, HISTORY_NOTE, SESSION_NOTE):
            assert secret not in html, (pattern, secret)
        for reason in screening_texts:
            assert reason.replace("'", "&#x27;") not in html, (pattern, reason)
        assert "/sessions/" not in html, pattern
        assert 'class="screening"' not in html, pattern
        assert "eligible" not in html, pattern
    # The same pages do show them to a nurse, so the test above can fail.
    client.login(username="nurse", password=PASSWORD)
    html = client.get(f"/referrals/{world['own']}/").content.decode()
    assert REFERRAL_NOTE in html
    assert HISTORY_NOTE in html
    assert f"/sessions/{world['session']}/" in html
    assert 'class="screening"' in html
    assert "Eligible for iontophoresis" in html
