"""The pages, driven as a browser would with Django's test client: each step of the way of a
treatment, its refusals (409/422 with the form re-shown and the error next to its field,
nothing saved lost), and the lists a clinic lives by."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FACTS, PASSWORD, book_days
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ionto.clinic import roles, workflow
from ionto.clinic.models import (
    INFORMATION_SHEET_VERSION,
    Assessment,
    Chair,
    Consent,
    Consultation,
    Course,
    FundingRequest,
    Patient,
    Practice,
    Referral,
    SessionStatus,
    Stage,
    TreatmentSession,
    Verdict,
    Visit,
    VisitStatus,
)
from ionto.therapy import outcomes

ROLES_DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"


@pytest.fixture(autouse=True)
def _logins(users: dict[str, User]) -> None:
    """Every test logs in as one of the roles (conftest's ``users``)."""


def login(client: Client, role: str) -> Client:
    assert client.login(username=role, password=PASSWORD)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def field_error(html: str, field_id: str) -> str:
    """The error list rendered next to a field (``<ul id="<field>_error">``), as text."""
    match = re.search(rf'<ul class="field-errors" id="{field_id}_error">(.*?)</ul>', html, re.S)
    assert match, f"no error shown next to {field_id}"
    return re.sub(r"<[^>]+>", "", match.group(1))


def give_sessions(
    course: Course, chair: Chair, first: dt.date, days: list[int], user: User, sensation: int = 3
) -> list[TreatmentSession]:
    """Book visits and give a completed session at each, as a station would record it."""
    sessions = []
    for visit in book_days(course, first, days, chair):
        session = workflow.prepare_session(
            visit, chair=chair, checklist=list(workflow.PRE_SESSION_CHECKS), user=user
        )
        # What the station writes as the session runs to its end (tests/clinic of the
        # station cover the station itself).
        minutes = float(session.plan["minutes"])
        session.status = SessionStatus.COMPLETED
        session.started_at = visit.starts_at
        session.ended_at = visit.starts_at + dt.timedelta(minutes=minutes + 2)
        session.treated_s = minutes * 60
        session.forward_mA_min = session.plan["current_mA"] * minutes / 2
        session.reverse_mA_min = session.plan["current_mA"] * minutes / 2
        session.peak_current_mA = session.plan["current_mA"]
        session.save()
        workflow.record_after_session(session, sensation_score=sensation, side_effects=[])
        sessions.append(session)
    return sessions


REFERRAL_POST: dict[str, Any] = {
    "given_name": "Robin",
    "family_name": "Ashby",
    "date_of_birth": "1988-03-14",
    "nhs_number": "943 476 5919",
    "sex": "female",
    "gp_name": "Dr Okafor",
    "sites": ["palms", "soles"],
    "hdss": "3",
    "treatments_tried": ["aluminium_chloride"],
    "clinical_notes": "Sweats through gloves since school.",
}


def referral_post(chosen: Practice, **changes: Any) -> dict[str, Any]:
    data = {**REFERRAL_POST, "practice": str(chosen.pk)}
    data["received_on"] = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- Home ---------------------------------------------------------------------------------------


def test_home_lists_today_and_the_stages(
    client: Client,
    make_referral: Callable[..., Referral],
    chair: Chair,
) -> None:
    waiting = make_referral("received")
    planned = make_referral("planned")
    course = planned.courses.first()
    assert course is not None
    visit = book_days(course, timezone.localdate(), [0], chair)[0]
    html = text(login(client, "nurse").get("/"))
    assert "Today's chairs" in html
    assert "Chair 1" in html
    assert f'href="/sessions/visit/{visit.pk}/start/"' in html
    assert planned.patient.full_name in html
    assert waiting.patient.full_name in html
    assert "Waiting for funding" in html
    assert "Awaiting a verdict" in html
    assert "Outcomes so far" in html


def test_reception_sees_administrative_lists_only(
    client: Client, make_referral: Callable[..., Referral], chair: Chair
) -> None:
    planned = make_referral("planned")
    course = planned.courses.first()
    assert course is not None
    book_days(course, timezone.localdate(), [0], chair)
    html = text(login(client, "reception").get("/"))
    assert "Waiting for funding" in html
    assert planned.patient.full_name in html  # today's chair list
    assert "Awaiting a verdict" not in html
    assert "Outcomes so far" not in html
    assert "/sessions/" not in html


def test_a_patient_goes_to_their_own_record(
    client: Client, make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    referral = make_referral("funded")
    patient = referral.patient
    patient.user = users["patient"]
    patient.save()
    response = login(client, "patient").get("/")
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    page = client.get(response["Location"])
    assert "My record" in text(page)
    assert "Find a patient" not in text(page)  # no search in a patient's navigation


def test_a_patient_with_no_record_linked_is_told_so(client: Client) -> None:
    response = login(client, "patient").get("/")
    assert response.status_code == 200
    assert "not linked to a patient record" in text(response)


# --- Referral -----------------------------------------------------------------------------------


def test_a_referral_is_recorded(client: Client, practice: Practice) -> None:
    response = login(client, "reception").post("/referrals/new/", referral_post(practice))
    assert response.status_code == 302
    referral = Referral.objects.get(patient__family_name="Ashby")
    assert response["Location"] == f"/referrals/{referral.pk}/"
    assert referral.patient.nhs_number == "9434765919"
    assert referral.sites == ["palms", "soles"]
    assert referral.stage == Stage.WAITING_FUNDING
    # Reception does not type the clinical notes (they are not shown to reception either).
    assert referral.clinical_notes == ""
    page = text(client.get(response["Location"]))
    assert "Robin Ashby" in page
    assert "Record the funding decision" in page


def test_clinical_staff_record_the_referral_letter_notes(
    client: Client, practice: Practice
) -> None:
    response = login(client, "nurse").post("/referrals/new/", referral_post(practice))
    assert response.status_code == 302
    referral = Referral.objects.get(patient__family_name="Ashby")
    assert referral.clinical_notes == "Sweats through gloves since school."
    assert "Sweats through gloves" in text(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("changes", "field_id", "words"),
    [
        ({"sites": None}, "id_sites", "required"),
        ({"nhs_number": "943 476 5918"}, "id_nhs_number", "check digit"),
        ({"nhs_number": "12345"}, "id_nhs_number", "10 digits"),
        ({"date_of_birth": "not a date"}, "id_date_of_birth", "valid date"),
        ({"hdss": "7"}, "id_hdss", "valid choice"),
        ({"received_on": "2999-01-01"}, "id_received_on", "future"),
        ({"date_of_birth": "2999-01-01"}, "id_date_of_birth", "after the referral"),
        ({"practice": None}, "id_practice", "Choose the GP practice"),
        ({"sites": ["palms", "elbows"]}, "id_sites", "valid choice"),
    ],
)
def test_bad_referral_input_is_refused_next_to_the_field(
    client: Client, practice: Practice, changes: dict[str, Any], field_id: str, words: str
) -> None:
    response = login(client, "reception").post(
        "/referrals/new/", referral_post(practice, **changes)
    )
    assert response.status_code == 422
    html = text(response)
    assert words in field_error(html, field_id)
    assert "Not saved." in html
    # What was typed is kept on the re-shown form.
    assert 'value="Ashby"' in html
    assert not Patient.objects.filter(family_name="Ashby").exists()


def test_a_new_practice_is_added_with_the_referral(client: Client, practice: Practice) -> None:
    data = referral_post(
        practice, practice="", new_practice_code="Y02001", new_practice_name="Hillside Surgery"
    )
    response = login(client, "reception").post("/referrals/new/", data)
    assert response.status_code == 302
    assert Referral.objects.get(patient__family_name="Ashby").practice.code == "Y02001"


def test_a_refused_referral_leaves_no_new_practice_behind(
    client: Client, practice: Practice
) -> None:
    data = referral_post(
        practice,
        practice="",
        new_practice_code="Y02001",
        new_practice_name="Hillside Surgery",
        received_on="2999-01-01",
    )
    response = login(client, "reception").post("/referrals/new/", data)
    assert response.status_code == 422
    assert not Practice.objects.filter(code="Y02001").exists()
    assert 'value="Y02001"' in text(response)  # still on the form, to send again


def test_a_practice_code_already_used_is_refused(client: Client, practice: Practice) -> None:
    data = referral_post(
        practice, practice="", new_practice_code=practice.code, new_practice_name="X"
    )
    response = login(client, "reception").post("/referrals/new/", data)
    assert response.status_code == 422
    assert "already exists" in field_error(text(response), "id_new_practice_code")


def test_a_nurse_cannot_add_a_practice_inline(client: Client, practice: Practice) -> None:
    html = text(login(client, "nurse").get("/referrals/new/"))
    assert "new_practice_code" not in html
    data = referral_post(practice, practice="", new_practice_code="Y1", new_practice_name="Y")
    response = client.post("/referrals/new/", data)
    assert response.status_code == 422
    assert not Practice.objects.filter(code="Y1").exists()


def test_the_practice_page_returns_to_the_referral_form(client: Client) -> None:
    login(client, "reception")
    response = client.post(
        "/practices/new/", {"code": "Z9", "name": "Meadow Practice", "next": "/referrals/new/"}
    )
    practice = Practice.objects.get(code="Z9")
    assert response["Location"] == f"/referrals/new/?practice={practice.pk}"
    html = text(client.get(response["Location"]))
    assert f'<option value="{practice.pk}" selected>' in html
    bad = client.post("/practices/new/", {"code": "", "name": ""})
    assert bad.status_code == 422
    assert "required" in field_error(text(bad), "id_code")
    offsite = client.post("/practices/new/", {"code": "Z8", "name": "N", "next": "https://evil/"})
    assert offsite["Location"] == "/referrals/new/"


def test_a_duplicate_patient_is_shown_and_can_be_attached(
    client: Client, make_referral: Callable[..., Referral], practice: Practice
) -> None:
    first = make_referral("received")
    known = first.patient
    data = referral_post(
        practice,
        given_name=known.given_name.lower(),
        family_name=known.family_name,
        date_of_birth=known.date_of_birth.isoformat(),
        nhs_number="",
    )
    response = login(client, "reception").post("/referrals/new/", data)
    assert response.status_code == 409
    html = text(response)
    assert "may already be on record" in html
    assert f'name="existing_patient" value="{known.pk}"' in html
    assert Patient.objects.count() == 1
    attach = client.post("/referrals/new/", {**data, "existing_patient": str(known.pk)})
    assert attach.status_code == 302
    assert Patient.objects.count() == 1
    assert known.referrals.count() == 2


def test_attaching_to_a_patient_with_another_nhs_number_is_refused(
    client: Client, make_referral: Callable[..., Referral], practice: Practice
) -> None:
    known = make_referral("received").patient
    known.nhs_number = "9434765919"
    known.save()
    data = referral_post(practice, nhs_number="401 023 2137", existing_patient=str(known.pk))
    response = login(client, "reception").post("/referrals/new/", data)
    assert response.status_code == 409
    assert "NHS number differs" in text(response)
    assert known.referrals.count() == 1


def test_other_http_methods_are_not_allowed(client: Client) -> None:
    assert login(client, "nurse").put("/referrals/new/").status_code == 405


# --- Funding ------------------------------------------------------------------------------------


def test_funding_approved(client: Client, make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("received")
    response = login(client, "clinician").post(
        f"/referrals/{referral.pk}/funding/",
        {
            "status": "approved",
            "decided_on": timezone.localdate().isoformat(),
            "reference": "IFR-204",
            "sessions_funded": "10",
            "solutions_funded": ["tap_water", "glycopyrronium"],
        },
    )
    assert response.status_code == 302
    funding = FundingRequest.objects.get(referral=referral)
    assert funding.approved
    assert funding.reference == "IFR-204"
    referral.refresh_from_db()
    assert referral.stage == Stage.WAITING_FIRST_VISIT
    html = text(client.get(f"/referrals/{referral.pk}/"))
    assert "tap water, glycopyrronium 0.05%" in html


@pytest.mark.parametrize(
    ("data", "field_id", "words"),
    [
        ({"status": "declined"}, "id_decline_reason", "say why"),
        ({"status": "approved", "solutions_funded": []}, "id_solutions_funded", "which solutions"),
        (
            {"status": "approved", "solutions_funded": ["glycopyrronium"]},
            "id_solutions_funded",
            "tap water comes first",
        ),
        ({"status": "approved", "sessions_funded": "99"}, "id_sessions_funded", "less than"),
        ({"status": "maybe"}, "id_status", "valid choice"),
    ],
)
def test_a_bad_funding_decision_is_refused(
    client: Client,
    make_referral: Callable[..., Referral],
    data: dict[str, Any],
    field_id: str,
    words: str,
) -> None:
    referral = make_referral("received")
    post = {
        "decided_on": timezone.localdate().isoformat(),
        "sessions_funded": "10",
        "solutions_funded": ["tap_water"],
        **data,
    }
    response = login(client, "reception").post(f"/referrals/{referral.pk}/funding/", post)
    assert response.status_code == 422
    assert words in field_error(text(response), field_id)
    assert FundingRequest.objects.get(referral=referral).status == "pending"


def test_funding_is_final_once_visits_are_booked(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.first()
    book_days(course, timezone.localdate() + dt.timedelta(days=1), [0])
    response = login(client, "clinician").post(
        f"/referrals/{referral.pk}/funding/",
        {
            "status": "declined",
            "decided_on": timezone.localdate().isoformat(),
            "decline_reason": "x",
        },
    )
    assert response.status_code == 409
    assert "already booked" in text(response)
    assert FundingRequest.objects.get(referral=referral).approved
    hub = text(client.get(f"/referrals/{referral.pk}/"))
    assert "The decision is final" in hub
    assert "Change the funding decision" not in hub


# --- First visit --------------------------------------------------------------------------------

CONSULTATION_POST: dict[str, Any] = {
    "sites": ["palms", "soles"],
    "treat": ["palms", "soles"],
    "solution": "tap_water",
    "duration_months": "60",
    "onset_age_years": "12",
    "episodes_per_week": "7",
    "bilateral_symmetric": "on",
    "impairs_daily_activities": "on",
    "family_history": "on",
    "stops_during_sleep": "on",
    "hdss": "3",
    "implant_1_kind": "metal_plate",
    "implant_1_location": "left_forearm",
    "skin_palms": ["small_cut"],
    "history_notes": "Soaks paper at school.",
}


def test_the_consultation_is_screened_with_every_reason_and_source(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    response = login(client, "nurse").post(
        f"/referrals/{referral.pk}/consultation/", CONSULTATION_POST
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/referrals/{referral.pk}/#screening")
    consultation = Consultation.objects.get(referral=referral)
    assert consultation.facts["implants"] == [{"kind": "metal_plate", "location": "left_forearm"}]
    assert consultation.facts["skin"] == [{"region": "palms", "finding": "small_cut"}]
    assert consultation.facts["history"]["night_sweats"] is False
    html = text(client.get(f"/referrals/{referral.pk}/"))
    screening = consultation.screening
    for answer in screening["regions"].values():
        for reason in answer["reasons"] + answer["precautions"]:
            assert reason["text"].replace("'", "&#x27;") in html
            assert reason["source"].replace("'", "&#x27;").replace("&", "&amp;") in html or (
                reason["source"].replace("&", "&amp;").replace("'", "&#x27;") in html
            )
    assert "Palms (hands):" in html
    # The form comes back filled with what was recorded, for a repeat consultation.
    again = text(client.get(f"/referrals/{referral.pk}/consultation/"))
    assert '<option value="left_forearm" selected>' in again
    assert "Soaks paper at school." in again


def test_bad_consultation_facts_are_refused_next_to_the_field(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    login(client, "nurse")
    url = f"/referrals/{referral.pk}/consultation/"
    later = client.post(url, {**CONSULTATION_POST, "onset_age_years": "80"})
    assert later.status_code == 422
    assert "onset is later" in field_error(text(later), "id_onset_age_years")
    no_place = client.post(url, {**CONSULTATION_POST, "implant_1_location": ""})
    assert no_place.status_code == 422
    assert "Say where" in field_error(text(no_place), "id_implant_1_location")
    nothing = client.post(url, {**CONSULTATION_POST, "treat": []})
    assert nothing.status_code == 422
    assert "required" in field_error(text(nothing), "id_treat")
    assert not Consultation.objects.filter(referral=referral).exists()


def test_consent_needs_every_safety_point(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    login(client, "nurse")
    url = f"/referrals/{referral.pk}/consent/"
    page = text(client.get(url))
    for point in workflow.SAFETY_INFORMATION.values():
        assert point.replace("'", "&#x27;") in page
    assert INFORMATION_SHEET_VERSION in page
    items = list(workflow.SAFETY_INFORMATION)
    data = {
        "safety_items": items[:-1],
        "given_by": referral.patient.full_name,
        "relationship": "self",
        "information_sheet_version": INFORMATION_SHEET_VERSION,
    }
    missing = client.post(url, data)
    assert missing.status_code == 422
    assert items[-1] in field_error(text(missing), "id_safety_items")
    old_sheet = client.post(url, {**data, "safety_items": items, "information_sheet_version": "0"})
    assert old_sheet.status_code == 422
    assert "current information sheet" in text(old_sheet)
    assert not Consent.objects.filter(referral=referral).exists()
    done = client.post(url, {**data, "safety_items": items})
    assert done.status_code == 302
    consent = Consent.objects.get(referral=referral)
    assert consent.information_sheet_version == INFORMATION_SHEET_VERSION


def test_a_child_consents_through_a_parent(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded", born=timezone.localdate() - dt.timedelta(days=365 * 10))
    response = login(client, "nurse").post(
        f"/referrals/{referral.pk}/consent/",
        {
            "safety_items": list(workflow.SAFETY_INFORMATION),
            "given_by": referral.patient.full_name,
            "relationship": "self",
            "information_sheet_version": INFORMATION_SHEET_VERSION,
        },
    )
    assert response.status_code == 422
    assert "parent or guardian" in field_error(text(response), "id_relationship")


@pytest.mark.parametrize(("years", "status"), [(15, 422), (16, 302)])
def test_consent_by_the_patient_from_16_the_therapy_cores_child_age(
    client: Client, make_referral: Callable[..., Referral], years: int, status: int
) -> None:
    """One definition of a child for limits and for consent (therapy.regions.age_group)."""
    today = timezone.localdate()
    # A 29 February birthday is kept on the 28th in other years.
    birthday = today.replace(year=today.year - years, day=min(today.day, 28))
    born = birthday - dt.timedelta(days=1)
    referral = make_referral("funded", born=born)
    response = login(client, "nurse").post(
        f"/referrals/{referral.pk}/consent/",
        {
            "safety_items": list(workflow.SAFETY_INFORMATION),
            "given_by": referral.patient.full_name,
            "relationship": "self",
            "information_sheet_version": INFORMATION_SHEET_VERSION,
        },
    )
    assert response.status_code == status
    assert Consent.objects.filter(referral=referral).exists() is (status == 302)


def _dlqi(answers: list[str]) -> dict[str, str]:
    return {f"dlqi_{n}": a for n, a in enumerate(answers, start=1)}


def test_baseline_measures_with_the_dlqi_and_its_copyright(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    login(client, "nurse")
    url = f"/referrals/{referral.pk}/baseline/"
    page = text(client.get(url))
    assert outcomes.DLQI_COPYRIGHT in page
    assert outcomes.HDSS_ANSWERS[4] in page
    answers = ["very_much", "a_lot", "a_little", "not_relevant", "not_at_all", "", "yes"]
    answers += ["a_lot", "not_at_all", "a_little"]
    response = client.post(url, {"hdss": "4", **_dlqi(answers), "gravimetry_palms": "85.5"})
    assert response.status_code == 302
    rows = {a.kind: a for a in Assessment.objects.filter(referral=referral, timepoint="baseline")}
    assert rows["dlqi"].score == 3 + 2 + 1 + 0 + 0 + 0 + 3 + 2 + 0 + 1
    assert rows["dlqi"].answers == [3, 2, 1, 0, 0, 0, 3, 2, 0, 1]
    assert rows["gravimetry"].region == "palms"
    assert rows["gravimetry"].score == 85.5
    # The referral's own fixture recorded HDSS 3 first; the latest is 4.
    assert Assessment.objects.filter(referral=referral, kind="hdss").count() == 1
    assert outcomes.DLQI_COPYRIGHT in text(client.get(f"/referrals/{referral.pk}/"))


def test_measures_are_kept_all_together_or_not_at_all(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    login(client, "nurse")
    url = f"/referrals/{referral.pk}/baseline/"
    two_blank = ["a_lot"] * 8 + ["", ""]
    response = client.post(url, {"hdss": "3", **_dlqi(two_blank)})
    assert response.status_code == 422
    assert "cannot be scored" in text(response)
    too_much = client.post(url, {"hdss": "3", "gravimetry_palms": "20000"})
    assert too_much.status_code == 422
    assert "0 to 10000" in field_error(text(too_much), "id_gravimetry_palms")
    bad_answer = client.post(url, {"hdss": "3", "dlqi_1": "not_relevant"})
    assert bad_answer.status_code == 422
    assert not Assessment.objects.filter(referral=referral).exists()


def test_a_child_gets_the_childrens_dlqi(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded", born=timezone.localdate() - dt.timedelta(days=365 * 10))
    login(client, "nurse")
    url = f"/referrals/{referral.pk}/baseline/"
    page = text(client.get(url))
    assert "Children&#x27;s DLQI total" in page
    assert 'name="dlqi_1"' not in page
    response = client.post(url, {"hdss": "3", "cdlqi_total": "12"})
    assert response.status_code == 302
    assert Assessment.objects.get(referral=referral, kind="cdlqi").score == 12


def test_information_sheet_carries_its_version(client: Client) -> None:
    html = text(login(client, "nurse").get("/information-sheet/"))
    assert INFORMATION_SHEET_VERSION in html
    for point in workflow.SAFETY_INFORMATION.values():
        assert point.replace("'", "&#x27;") in html


# --- Courses and booking ------------------------------------------------------------------------


def test_courses_are_planned_from_the_screening(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("consented")
    login(client, "nurse")
    hub = text(client.get(f"/referrals/{referral.pk}/"))
    assert "Plan the tap-water courses" in hub
    response = client.post(f"/referrals/{referral.pk}/plan/", {"solution": "tap_water"})
    assert response.status_code == 302
    assert {c.region for c in referral.courses.all()} == {"palms", "soles"}
    again = client.post(f"/referrals/{referral.pk}/plan/", {"solution": "tap_water"})
    assert again.status_code == 409
    assert "already planned" in text(again)
    assert referral.courses.count() == 2


def test_planning_before_consent_is_refused(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("funded")
    response = login(client, "nurse").post(f"/referrals/{referral.pk}/plan/", {})
    assert response.status_code == 409
    assert "screen the patient" in text(response).lower()


def test_booking_moving_and_cancelling_visits(
    client: Client, make_referral: Callable[..., Referral], chair: Chair
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    login(client, "reception")
    url = f"/courses/{course.pk}/visits/"
    day = timezone.localdate() + dt.timedelta(days=2)
    booked = client.post(url, {"day": day.isoformat(), "time": "10:30", "chair": str(chair.pk)})
    assert booked.status_code == 302
    visit = Visit.objects.get(course=course)
    assert timezone.localtime(visit.starts_at).time() == dt.time(10, 30)
    # A second visit the same day is refused by the frequency cap, in plain words.
    twice = client.post(url, {"day": day.isoformat(), "time": "15:00", "chair": ""})
    assert twice.status_code == 409
    assert field_error(text(twice), "id_day")
    assert Visit.objects.filter(course=course).count() == 1
    # The chair is taken at that time by another patient's visit.
    other = make_referral("planned").courses.first()
    taken = client.post(
        f"/courses/{other.pk}/visits/",
        {"day": day.isoformat(), "time": "10:30", "chair": str(chair.pk)},
    )
    assert taken.status_code == 409
    assert "already booked" in field_error(text(taken), "id_chair")
    bad = client.post(url, {"day": "tomorrow", "time": "25:00"})
    assert bad.status_code == 422
    assert field_error(text(bad), "id_day")
    assert field_error(text(bad), "id_time")

    moved = client.post(
        f"/visits/{visit.pk}/move/",
        {"day": (day + dt.timedelta(days=1)).isoformat(), "time": "09:00", "chair": ""},
    )
    assert moved.status_code == 302
    visit.refresh_from_db()
    assert timezone.localdate(visit.starts_at) == day + dt.timedelta(days=1)
    assert visit.chair is None

    page = text(client.get(url))
    assert "Move the visit of" in page
    cancelled = client.post(f"/visits/{visit.pk}/cancel/", {"outcome": "did_not_attend"})
    assert cancelled.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DID_NOT_ATTEND
    again = client.post(f"/visits/{visit.pk}/cancel/", {"outcome": "cancelled"})
    assert again.status_code == 409
    assert "not booked" in text(again)
    no_move = client.post(
        f"/visits/{visit.pk}/move/", {"day": day.isoformat(), "time": "09:00", "chair": ""}
    )
    assert no_move.status_code == 409
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DID_NOT_ATTEND


def test_booking_past_the_funded_sessions_is_refused(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    first = timezone.localdate() + dt.timedelta(days=1)
    book_days(course, first, [0, 2, 4, 7, 9, 11, 14, 16, 18, 21])
    response = login(client, "nurse").post(
        f"/courses/{course.pk}/visits/",
        {"day": (first + dt.timedelta(days=23)).isoformat(), "time": "10:00"},
    )
    assert response.status_code == 409
    assert "funded sessions" in text(response)


@pytest.mark.parametrize("day", ["9999-12-31", "9999-12-30", "0001-01-01"])
def test_a_visit_at_the_ends_of_the_calendar_is_refused_not_a_crash(
    client: Client, make_referral: Callable[..., Referral], day: str
) -> None:
    """A date typed with a slip of the finger: answered on the form, never a server error
    (the frequency check counted a week past 9999-12-31)."""
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    (visit,) = book_days(course, timezone.localdate() + dt.timedelta(days=3), [0])
    login(client, "nurse")
    booked = client.post(f"/courses/{course.pk}/visits/", {"day": day, "time": "23:30"})
    assert booked.status_code == 422
    assert field_error(text(booked), "id_day")
    moved = client.post(f"/visits/{visit.pk}/move/", {"day": day, "time": "10:00"})
    assert moved.status_code == 422
    assert field_error(text(moved), "id_day")
    assert Visit.objects.filter(course=course).count() == 1
    visit.refresh_from_db()
    assert timezone.localdate(visit.starts_at) == timezone.localdate() + dt.timedelta(days=3)


# --- Sessions and verdicts ----------------------------------------------------------------------


def test_sessions_are_listed_with_links_to_the_station_pages(
    client: Client, make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    first = timezone.localdate() - dt.timedelta(days=10)
    sessions = give_sessions(course, chair, first, [0, 2], users["nurse"])
    html = text(login(client, "nurse").get(f"/referrals/{referral.pk}/"))
    for session in sessions:
        assert f'href="/sessions/{session.pk}/"' in html
    assert f'href="/letters/referral/{referral.pk}/"' in html
    assert "Give the verdict" in html
    # Treatment has started: the screening can no longer change, so it is not offered.
    assert "Repeat the consultation" not in html
    refused = client.post(f"/referrals/{referral.pk}/consultation/", CONSULTATION_POST)
    assert refused.status_code == 409


def test_the_record_hub_asks_the_database_the_same_number_of_times_for_more_courses(
    client: Client, make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    """A course's verdict and sessions come with the courses, not one query per course."""
    one = make_referral("consented")
    age = round(one.patient.age_years(timezone.localdate()))
    facts = {**FACTS, "age_years": age, "treat": ["palms"]}
    workflow.record_consultation(one, facts=facts, user=users["nurse"])
    workflow.plan_courses(one)
    two = make_referral("planned")
    assert (one.courses.count(), two.courses.count()) == (1, 2)
    login(client, "nurse")

    def queries(referral: Referral) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/referrals/{referral.pk}/").status_code == 200
        return len(captured.captured_queries)

    assert queries(two) == queries(one)


def test_a_continue_verdict_is_shown_but_nothing_is_kept(
    client: Client, make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    give_sessions(course, chair, timezone.localdate() - dt.timedelta(days=3), [0], users["nurse"])
    response = login(client, "nurse").post(
        f"/courses/{course.pk}/verdict/", {"followup_hdss": "3", "gravimetry_palms": "40"}
    )
    assert response.status_code == 200
    html = text(response)
    assert "Too early to judge" in html
    assert "Nothing was saved" in html
    assert not Verdict.objects.filter(course=course).exists()
    assert not Assessment.objects.filter(referral=referral, timepoint="followup").exists()


def test_a_verdict_that_works_is_kept_with_its_home_plan(
    client: Client, make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.order_by("id").first()
    assert course is not None
    first = timezone.localdate() - dt.timedelta(days=20)
    give_sessions(course, chair, first, [0, 2, 4, 7, 9], users["nurse"])
    login(client, "clinician")
    url = f"/courses/{course.pk}/verdict/"
    assert outcomes.DLQI_COPYRIGHT in text(client.get(url))
    response = client.post(
        url, {"followup_hdss": "1", **_dlqi(["a_little"] + ["not_at_all"] * 9), "notes": "dry"}
    )
    assert response.status_code == 302
    verdict = Verdict.objects.get(course=course)
    assert verdict.outcome == "works"
    assert verdict.result["home_plan"]
    followups = Assessment.objects.filter(referral=referral, timepoint="followup")
    assert {a.kind for a in followups} == {"hdss", "dlqi"}
    hub = text(client.get(f"/referrals/{referral.pk}/"))
    assert "Iontophoresis works" in hub
    assert "Home plan" in hub
    for reason in verdict.result["reasons"]:
        assert reason["text"].replace("'", "&#x27;") in hub
    home = text(client.get("/"))
    assert re.search(
        r"<td>palms \(hands\)</td><td>tap water</td><td>1</td>\s*<td>1 \(100%\)</td>", home
    )
    visits = text(client.get(f"/courses/{course.pk}/visits/"))
    assert "Book the visit" not in visits  # the course is over
    assert "no more visits can be booked" in visits
    # A second verdict on the same course is refused.
    again = client.post(url, {"followup_hdss": "1"})
    assert again.status_code == 409
    assert "already has its verdict" in text(again)
    assert Verdict.objects.filter(course=course).count() == 1


def test_a_verdict_before_any_session_is_refused(
    client: Client, make_referral: Callable[..., Referral]
) -> None:
    referral = make_referral("planned")
    course = referral.courses.first()
    assert course is not None
    response = login(client, "nurse").post(f"/courses/{course.pk}/verdict/", {"followup_hdss": "2"})
    assert response.status_code == 409
    assert "no session was given" in text(response)
    assert not Assessment.objects.filter(referral=referral, timepoint="followup").exists()


def test_escalation_to_glycopyrronium_is_offered_after_such_a_verdict(
    client: Client, make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    palms = referral.courses.get(region="palms")
    soles = referral.courses.get(region="soles")
    first = timezone.localdate() - dt.timedelta(days=19)  # funding was approved 20 days ago
    days = [0, 2, 4, 7, 9, 11, 14, 16, 18, 19]
    give_sessions(palms, chair, first, days, users["nurse"])
    soles.status = "stopped"  # the soles course was stopped; only palms is judged here
    soles.save()
    login(client, "clinician")
    response = client.post(f"/courses/{palms.pk}/verdict/", {"followup_hdss": "3"})
    assert response.status_code == 302
    verdict = Verdict.objects.get(course=palms)
    assert verdict.next_step == "escalate_glycopyrronium", verdict.result
    hub = text(client.get(f"/referrals/{referral.pk}/"))
    assert "Plan the glycopyrronium courses" in hub
    planned = client.post(f"/referrals/{referral.pk}/plan/", {"solution": "glycopyrronium"})
    assert planned.status_code == 302
    assert referral.courses.filter(solution="glycopyrronium").exists()


# --- Search -------------------------------------------------------------------------------------


def test_patient_search(client: Client, make_referral: Callable[..., Referral]) -> None:
    one = make_referral("received").patient
    two = make_referral("received", born=dt.date(2001, 2, 3)).patient
    one.nhs_number = "9434765919"
    one.save()
    login(client, "reception")
    by_name = text(client.get("/patients/", {"q": f"{one.given_name.lower()} morgan"}))
    assert f"/patients/{one.pk}/" in by_name
    assert f"/patients/{two.pk}/" not in by_name
    by_nhs = text(client.get("/patients/", {"q": "943 476"}))
    assert f"/patients/{one.pk}/" in by_nhs
    assert f"/patients/{two.pk}/" not in by_nhs
    by_birth = text(client.get("/patients/", {"date_of_birth": "2001-02-03"}))
    assert f"/patients/{two.pk}/" in by_birth
    assert f"/patients/{one.pk}/" not in by_birth
    partial = client.get("/patients/", {"q": "morgan"}, headers={"HX-Request": "true"})
    assert "<html" not in text(partial)
    assert "2 patients found" in text(partial)
    none = text(client.get("/patients/", {"q": "nobody"}))
    assert "No patient found" in none
    bad = client.get("/patients/", {"date_of_birth": "31/31/2001"})
    assert bad.status_code == 422
    assert field_error(text(bad), "id_date_of_birth")


# --- Never a 500 --------------------------------------------------------------------------------


def test_garbage_never_gives_a_500(client: Client, make_referral: Callable[..., Referral]) -> None:
    referral = make_referral("planned")
    course = referral.courses.first()
    assert course is not None
    visit = book_days(course, timezone.localdate() + dt.timedelta(days=1), [0])[0]
    garbage = {
        name: ["\x00", "9" * 400, "-1", "nan", "<script>"]
        for name in [
            "given_name", "family_name", "date_of_birth", "nhs_number", "practice", "gp_name",
            "received_on", "sites", "hdss", "status", "decided_on", "sessions_funded",
            "solutions_funded", "treat", "solution", "duration_months", "onset_age_years",
            "implant_1_kind", "implant_1_location", "skin_palms", "conditions", "safety_items",
            "given_by", "relationship", "information_sheet_version", "dlqi_1", "cdlqi_total",
            "gravimetry_palms", "followup_hdss", "day", "time", "chair", "outcome", "q",
            "existing_patient", "code", "name",
        ]
    }  # fmt: skip
    urls = [
        "/referrals/new/",
        f"/referrals/{referral.pk}/funding/",
        f"/referrals/{referral.pk}/consultation/",
        f"/referrals/{referral.pk}/consent/",
        f"/referrals/{referral.pk}/baseline/",
        f"/referrals/{referral.pk}/plan/",
        f"/courses/{course.pk}/visits/",
        f"/courses/{course.pk}/verdict/",
        f"/visits/{visit.pk}/move/",
        f"/visits/{visit.pk}/cancel/",
    ]
    login(client, "admin")
    for url in urls:
        for value_index in range(5):
            data = {k: v[value_index] for k, v in garbage.items()}
            response = client.post(url, data)
            assert response.status_code in {409, 422}, (url, data, response.status_code)
    assert client.get("/patients/", {"q": "\x00", "date_of_birth": "x"}).status_code == 422


# --- Assets -------------------------------------------------------------------------------------

STATIC = Path(__file__).resolve().parents[2] / "src" / "ionto" / "clinic" / "static" / "clinic"
TEMPLATES = STATIC.parents[1] / "templates" / "clinic"


def test_htmx_is_vendored_with_its_version_and_licence() -> None:
    first_line = (STATIC / "htmx.min.js").read_text().splitlines()[0]
    assert "htmx 2." in first_line
    assert "0BSD" in first_line


def test_pages_load_nothing_from_another_host(client: Client) -> None:
    html = text(login(client, "nurse").get("/"))
    assert '<script src="/static/clinic/htmx.min.js"' in html
    for template in TEMPLATES.glob("*.html"):
        assert not re.search(r'(src|href)="(https?:)?//', template.read_text()), template.name


# --- docs/roles.md ------------------------------------------------------------------------------


def test_the_roles_page_in_docs_matches_the_role_matrix() -> None:
    assert ROLES_DOC.read_text() == roles.roles_markdown(), (
        "docs/roles.md is stale: regenerate it with "
        '`python -c "from ionto.clinic.roles import roles_markdown; '
        "print(roles_markdown(), end='')\" > docs/roles.md`"
    )
