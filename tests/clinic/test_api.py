"""The JSON API, endpoint by endpoint: each step's happy path and its refusals, in the one
error shape, through both ways in (HTTP Basic and the browser session with its CSRF token)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args

import pytest
from conftest import FACTS, PASSWORD, book_days
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ionto.clinic import api_schemas, workflow
from ionto.clinic.models import (
    TREATMENTS_TRIED,
    AssessmentKind,
    AuditEntry,
    Chair,
    Course,
    Referral,
    SessionEventRow,
    SessionStatus,
    Stage,
    Timepoint,
    TraceChunk,
    TreatmentSession,
    Verdict,
    Visit,
    VisitStatus,
)
from ionto.therapy import vocabulary


# --- Helpers shared with the role and schemathesis tests ------------------------------------
def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def call(
    client: Client, method: str, path: str, body: Any = None, *, as_user: str | None = None
) -> Any:
    """One API call; returns the response with its JSON body as ``.data``."""
    headers = basic(as_user) if as_user else {}
    if method == "GET":
        response = client.get(path, **headers)
    else:
        payload = body if isinstance(body, str | bytes) else json.dumps(body)
        response = client.generic(method, path, payload, content_type="application/json", **headers)
    response.data = json.loads(response.content) if response.content else None
    return response


def fields_of(response: Any) -> list[str]:
    return [item["field"] for item in response.data["detail"]]


def next_monday() -> dt.date:
    today = timezone.localdate()
    return today + dt.timedelta(days=7 - today.weekday())


def at(day: dt.date, hour: int = 10) -> str:
    return dt.datetime.combine(
        day, dt.time(hour), tzinfo=timezone.get_current_timezone()
    ).isoformat()


def finish_session(
    session: TreatmentSession, *, started: dt.datetime, record: bool = True
) -> TreatmentSession:
    """Write what a station writes when a session completes (the station is another module's;
    here its record is written as it would leave it)."""
    minutes = float(session.plan["minutes"])
    current = float(session.plan["current_mA"])
    session.status = SessionStatus.COMPLETED
    session.started_at = started
    session.ended_at = started + dt.timedelta(minutes=minutes)
    session.device_time_s = session.treated_s = minutes * 60
    session.forward_mA_min = session.reverse_mA_min = current * minutes / 2
    session.peak_current_mA = current
    session.save()
    SessionEventRow.objects.create(session=session, t_s=0.0, code="started", text="Started")
    for seq in range(3):
        TraceChunk.objects.create(
            session=session,
            seq=seq,
            samples=[[seq + i / 10, current, 12.0, "treating"] for i in range(10)],
        )
    if session.visit is not None:
        session.visit.status = VisitStatus.ATTENDED
        session.visit.save()
    if record:
        workflow.record_after_session(session, sensation_score=3, side_effects=[])
    return session


@dataclass
class Clinic:
    """A small clinic with a record at every step, for role and schemathesis tests."""

    referrals: dict[str, Referral]
    visit: Visit
    prepared: TreatmentSession
    finished: TreatmentSession
    ids: dict[str, list[int]] = field(default_factory=dict)


def build_clinic(
    make_referral: Callable[..., Referral], users: dict[str, User], chair: Chair
) -> Clinic:
    referrals = {stage: make_referral(stage) for stage in ("received", "funded", "consented")}
    referrals["planned"] = make_referral("planned")
    referrals["treated"] = make_referral("planned")
    # The treated patient came two days ago and had a session; more visits are booked ahead.
    course = referrals["treated"].courses.order_by("id").first()
    assert course is not None
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    past = workflow.book_visit(
        course,
        starts_at=dt.datetime.combine(today - dt.timedelta(days=2), dt.time(9), tz),
        chair=chair,
    )
    session = workflow.prepare_session(
        past, chair=chair, checklist=list(workflow.PRE_SESSION_CHECKS), user=users["nurse"]
    )
    finished = finish_session(session, started=past.starts_at)
    book_days(course, next_monday(), [0, 2])
    # The planned patient's first visit is today, with a session prepared on a second chair.
    planned_course = referrals["planned"].courses.order_by("id").first()
    assert planned_course is not None
    second = Chair.objects.create(name="Chair 2")
    visit = workflow.book_visit(
        planned_course, starts_at=dt.datetime.combine(today, dt.time(14), tz), chair=second
    )
    prepared = workflow.prepare_session(
        visit, chair=second, checklist=list(workflow.PRE_SESSION_CHECKS), user=users["nurse"]
    )
    for referral in referrals.values():
        referral.refresh_from_db()
    ids = {
        "referral": [r.pk for r in referrals.values()],
        "patient": [r.patient_id for r in referrals.values()],
        "course": list(Course.objects.values_list("id", flat=True)),
        "visit": list(Visit.objects.values_list("id", flat=True)),
        "session": [prepared.pk, finished.pk],
        "chair": list(Chair.objects.values_list("id", flat=True)),
    }
    return Clinic(referrals, visit, prepared, finished, ids)


@pytest.fixture
def clinic(make_referral: Callable[..., Referral], users: dict[str, User], chair: Chair) -> Clinic:
    return build_clinic(make_referral, users, chair)


def referral_body(practice_id: int, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {
            "given_name": "Sam",
            "family_name": "Okafor",
            "date_of_birth": "1988-03-14",
            "nhs_number": "943 476 5919",
        },
        "practice_id": practice_id,
        "gp_name": "Dr Patel",
        "received_on": str(timezone.localdate() - dt.timedelta(days=3)),
        "sites": ["palms", "axillae"],
        "hdss": 3,
        "treatments_tried": ["aluminium_chloride"],
        "clinical_notes": "Palmar sweating since age 12.",
    }
    body.update(changes or {})
    return body


# --- The schema -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "words"),
    [
        (api_schemas.RegionName, [r.value for r in vocabulary.Region]),
        (api_schemas.SolutionName, [s.value for s in vocabulary.Solution]),
        (api_schemas.SideEffectName, [s.value for s in vocabulary.SideEffect]),
        (api_schemas.TreatmentTriedName, [code for code, _ in TREATMENTS_TRIED]),
        (api_schemas.StageName, list(Stage.values)),
        (api_schemas.SafetyItemName, list(workflow.SAFETY_INFORMATION)),
        (api_schemas.PreSessionCheckName, list(workflow.PRE_SESSION_CHECKS)),
        (api_schemas.AssessmentKindName, list(AssessmentKind.values)),
        (api_schemas.TimepointName, list(Timepoint.values)),
        (api_schemas.VisitStatusName, list(VisitStatus.values)),
        (api_schemas.SessionStatusName, list(SessionStatus.values)),
    ],
)
def test_the_schema_speaks_the_contract_words(literal: Any, words: list[str]) -> None:
    assert list(get_args(literal)) == words


def test_facts_take_the_fields_ionto_screen_takes() -> None:
    from ionto.contract.screen import ScreenIn

    assert set(api_schemas.FactsIn.model_fields) == set(ScreenIn.model_fields)


@pytest.mark.usefixtures("db")
def test_openapi_schema_is_served_with_the_error_shape(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operation = schema["paths"]["/api/referrals"]["post"]
    for status in ("201", "401", "403", "409", "422"):
        assert status in operation["responses"]
    error = operation["responses"]["422"]["content"]["application/json"]["schema"]
    assert error["$ref"].endswith("/ErrorOut")
    schemes = schema["components"]["securitySchemes"]
    assert schemes["BasicAuth"] == {"type": "http", "scheme": "basic"}
    assert schemes["SessionAuth"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    assert operation["security"] == [{"BasicAuth": []}, {"SessionAuth": []}]


# --- Authentication and the error shape ------------------------------------------------------
def test_unauthenticated_is_401_in_the_error_shape(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["planned"]
    for path in ("/api/referrals", f"/api/referrals/{referral.pk}", "/api/lists/today"):
        response = call(client, "GET", path)
        assert response.status_code == 401
        assert response.data["detail"][0]["field"] == ""
        assert "log in" in response.data["detail"][0]["message"]
    refused = call(client, "POST", "/api/practices", {"code": "X1", "name": "X"})
    assert refused.status_code == 401


@pytest.mark.usefixtures("users")
def test_wrong_password_is_401(client: Client) -> None:
    assert call(client, "GET", "/api/referrals", as_user="nurse").status_code == 200
    response = client.get("/api/referrals", **basic("nurse", "not the password"))
    assert response.status_code == 401
    response = client.get("/api/referrals", HTTP_AUTHORIZATION="Basic !!!not-base64")
    assert response.status_code == 401


@pytest.mark.usefixtures("practice")
def test_browser_session_needs_the_csrf_token_to_change_anything(
    users: dict[str, User],
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users["reception"])
    assert browser.get("/api/practices").status_code == 200  # reading needs no token
    body = json.dumps({"code": "P99999", "name": "Hillside"})
    refused = browser.post("/api/practices", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"][0]["message"]
    browser.get("/login/")  # the page sets the csrftoken cookie, as every page does
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/api/practices", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201


@pytest.mark.usefixtures("users")
def test_a_change_by_http_basic_is_audited_as_its_caller(client: Client) -> None:
    response = call(
        client,
        "POST",
        "/api/practices",
        {"code": "P12345", "name": "Hillside"},
        as_user="reception",
    )
    assert response.status_code == 201
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None
    assert (entry.actor, entry.model, entry.object_pk) == (
        "reception",
        "clinic.Practice",
        str(response.data["id"]),
    )


@pytest.mark.usefixtures("users")
def test_malformed_json_is_400(client: Client) -> None:
    response = call(client, "POST", "/api/practices", '{"code": "P1", ', as_user="admin")
    assert response.status_code == 400
    assert response.data == {
        "detail": [{"field": "", "message": "the request body is not valid JSON"}]
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "P1\u0000", "name": "Nul Surgery"}, "code"),
        ('{"code": "P1", "name": "\\ud800 broken"}', "name"),
        ({"code": "P1", "name": "Too long" * 100}, "name"),
        ({"code": "P1"}, "name"),
        ({"code": "P1", "name": "X", "colour": "blue"}, "colour"),
        ([1, 2], ""),
        ("", ""),
    ],
)
@pytest.mark.usefixtures("users")
def test_bad_text_is_refused_with_its_field(client: Client, body: Any, field: str) -> None:
    response = call(client, "POST", "/api/practices", body, as_user="admin")
    assert response.status_code == 422
    assert fields_of(response)[0] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hdss": 2**70}, "hdss"),
        ({"hdss": "NaN"}, "hdss"),
        ({"practice_id": 2**64}, "practice_id"),
        ({"received_on": "0001-01-01"}, "received_on"),
        ({"received_on": "9999-12-31"}, "received_on"),
        ({"received_on": "2026-02-30"}, "received_on"),
        ({"sites": ["palms", "knees"]}, "sites[1]"),
        ({"treatments_tried": ["prayer"]}, "treatments_tried[0]"),
    ],
)
@pytest.mark.usefixtures("users")
def test_out_of_range_values_are_422_with_their_path(
    client: Client, practice: Any, change: dict[str, Any], field: str
) -> None:
    response = call(
        client, "POST", "/api/referrals", referral_body(practice.pk, change), as_user="reception"
    )
    assert response.status_code == 422
    assert field in fields_of(response)
    assert not Referral.objects.exists()


def test_nan_and_huge_numbers_in_json_are_refused(client: Client, clinic: Clinic) -> None:
    course = clinic.finished.course
    for raw in (
        '{"followup_hdss": NaN}',
        '{"followup_hdss": 1e999}',
        '{"followup_hdss": 1' + "0" * 5000 + "}",
    ):
        response = call(client, "POST", f"/api/courses/{course.pk}/verdict", raw, as_user="nurse")
        assert response.status_code in (400, 422), raw
    assert not Verdict.objects.exists()


@pytest.mark.usefixtures("clinic")
def test_ids_past_64_bits_and_not_numbers_are_422(client: Client) -> None:
    for path in (
        "/api/referrals/99999999999999999999999",
        "/api/referrals/abc",
        "/api/referrals/0",
    ):
        response = call(client, "GET", path, as_user="nurse")
        assert response.status_code == 422
        assert fields_of(response) == ["referral_id"]
    assert call(client, "GET", "/api/referrals/987654321", as_user="nurse").status_code == 404


@pytest.mark.usefixtures("clinic")
def test_nul_in_a_query_is_refused(client: Client) -> None:
    response = call(client, "GET", "/api/patients?q=Al%00ex", as_user="nurse")
    assert response.status_code == 422
    assert fields_of(response) == ["q"]


# --- Practices and patients -----------------------------------------------------------------
@pytest.mark.usefixtures("practice", "users")
def test_practices_are_listed_and_added(client: Client) -> None:
    listed = call(client, "GET", "/api/practices?q=riverside", as_user="reception")
    assert [p["code"] for p in listed.data] == ["P81001"]
    added = call(
        client,
        "POST",
        "/api/practices",
        {"code": "P82002", "name": " Hillside Medical Centre ", "email": "hillside@nhs.net"},
        as_user="reception",
    )
    assert added.status_code == 201
    assert added.data["name"] == "Hillside Medical Centre"  # trimmed, as a nurse types it
    again = call(client, "POST", "/api/practices", {"code": "P82002", "name": "X"}, as_user="admin")
    assert again.status_code == 422
    assert fields_of(again) == ["code"]
    bad_email = call(
        client,
        "POST",
        "/api/practices",
        {"code": "P3", "name": "X", "email": "nope"},
        as_user="admin",
    )
    assert (bad_email.status_code, fields_of(bad_email)) == (422, ["email"])


@pytest.mark.usefixtures("users")
def test_patients_are_found_by_name_nhs_number_and_birth_date(
    client: Client, practice: Any
) -> None:
    created = call(
        client, "POST", "/api/referrals", referral_body(practice.pk), as_user="reception"
    )
    assert created.status_code == 201
    patient_id = created.data["patient"]["id"]
    for query in (
        "q=sam+okaf",
        "nhs_number=9434765919",
        "nhs_number=943+476+5919",
        "date_of_birth=1988-03-14",
    ):
        found = call(client, "GET", f"/api/patients?{query}", as_user="reception")
        assert found.status_code == 200, query
        assert [p["id"] for p in found.data["items"]] == [patient_id], query
    assert call(client, "GET", "/api/patients?q=nobody", as_user="nurse").data["count"] == 0
    one = call(client, "GET", f"/api/patients/{patient_id}", as_user="nurse")
    assert one.data["nhs_number"] == "9434765919"
    assert [r["id"] for r in one.data["referrals"]] == [created.data["id"]]
    assert one.data["referrals"][0]["stage"] == "waiting_funding"


# --- Referrals ------------------------------------------------------------------------------
def test_a_referral_is_created_and_read_back(
    client: Client, practice: Any, users: dict[str, User]
) -> None:
    created = call(
        client, "POST", "/api/referrals", referral_body(practice.pk), as_user="reception"
    )
    assert created.status_code == 201
    data = created.data
    assert data["stage"] == "waiting_funding"
    assert data["sites"] == ["palms", "axillae"]
    assert data["funding"]["status"] == "pending"
    assert data["clinical"] is None  # reception created it, and reception sees no notes
    read = call(client, "GET", f"/api/referrals/{data['id']}", as_user="nurse")
    assert read.data["clinical"] == {
        "clinical_notes": "Palmar sweating since age 12.",
        "consultation": None,
    }
    referral = Referral.objects.get(pk=data["id"])
    assert referral.created_by == users["reception"]


@pytest.mark.usefixtures("users")
def test_a_duplicate_patient_is_409_and_can_be_attached(client: Client, practice: Any) -> None:
    first = call(client, "POST", "/api/referrals", referral_body(practice.pk), as_user="reception")
    body = referral_body(practice.pk, {"received_on": str(timezone.localdate())})
    body["patient"]["nhs_number"] = None
    again = call(client, "POST", "/api/referrals", body, as_user="reception")
    assert again.status_code == 409
    assert fields_of(again) == ["patient"]
    assert f"#{first.data['patient']['id']}" in again.data["detail"][0]["message"]
    attached = call(
        client,
        "POST",
        "/api/referrals",
        {**body, "patient": None, "existing_patient_id": first.data["patient"]["id"]},
        as_user="reception",
    )
    assert attached.status_code == 201
    assert attached.data["patient"]["id"] == first.data["patient"]["id"]
    # Reception checked: another person with the same name and birthday.
    namesake = call(
        client, "POST", "/api/referrals", {**body, "not_a_duplicate": True}, as_user="reception"
    )
    assert namesake.status_code == 201
    assert namesake.data["patient"]["id"] != first.data["patient"]["id"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"patient": None}, 422, "patient"),
        ({"existing_patient_id": 1}, 422, "patient"),
        ({"practice_id": 999_999}, 422, "practice_id"),
        ({"received_on": "2199-01-01"}, 422, "received_on"),
        ({"sites": []}, 422, "sites"),
        ({"sites": ["palms", "palms"]}, 422, "sites[1]"),
        (
            {
                "patient": {
                    "given_name": "A",
                    "family_name": "B",
                    "date_of_birth": "1990-01-01",
                    "nhs_number": "1234567890",
                }
            },
            422,
            "patient.nhs_number",
        ),
        (
            {
                "patient": {
                    "given_name": "A",
                    "family_name": "B",
                    "date_of_birth": "1990-01-01",
                    "email": "not-an-address",
                }
            },
            422,
            "patient.email",
        ),
        (
            {"patient": {"given_name": " ", "family_name": "B", "date_of_birth": "1990-01-01"}},
            422,
            "patient.given_name",
        ),
        (
            {"patient": {"given_name": "A", "family_name": "B", "date_of_birth": "2199-01-01"}},
            422,
            "patient.date_of_birth",
        ),
    ],
)
@pytest.mark.usefixtures("users")
def test_a_wrong_referral_names_its_field(
    client: Client,
    practice: Any,
    change: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = call(
        client, "POST", "/api/referrals", referral_body(practice.pk, change), as_user="reception"
    )
    assert response.status_code == status, response.data
    assert field in fields_of(response)
    assert not Referral.objects.exists()


def test_referrals_are_listed_by_stage(client: Client, clinic: Clinic) -> None:
    everything = call(client, "GET", "/api/referrals", as_user="reception")
    assert everything.data["count"] == len(clinic.referrals)
    waiting = call(client, "GET", "/api/referrals?stage=waiting_funding", as_user="reception")
    assert [r["id"] for r in waiting.data["items"]] == [clinic.referrals["received"].pk]
    page = call(client, "GET", "/api/referrals?limit=2&offset=1", as_user="reception")
    assert (page.data["count"], len(page.data["items"])) == (len(clinic.referrals), 2)
    wrong = call(client, "GET", "/api/referrals?stage=lost", as_user="reception")
    assert (wrong.status_code, fields_of(wrong)) == (422, ["stage"])


def test_reception_never_gets_clinical_notes_or_the_screening(
    client: Client, clinic: Clinic
) -> None:
    referral = clinic.referrals["planned"]
    referral.clinical_notes = "Anxiety about shaking hands at work."
    referral.save()
    nurse = call(client, "GET", f"/api/referrals/{referral.pk}", as_user="nurse")
    assert nurse.data["clinical"]["clinical_notes"].startswith("Anxiety")
    assert nurse.data["clinical"]["consultation"]["screening"]["eligible"] is True
    assert nurse.data["courses"][0]["protocol"]["target_current_mA"] > 0
    reception = call(client, "GET", f"/api/referrals/{referral.pk}", as_user="reception")
    assert reception.status_code == 200
    assert reception.data["clinical"] is None
    assert all(c["protocol"] is None and c["verdict"] is None for c in reception.data["courses"])
    # Consent is recorded at the first visit, with the safety information: reception's role
    # holds no permission on it, and its pages do not show it.
    assert [c["given_by"] for c in nurse.data["consents"]] == [referral.patient.full_name]
    assert reception.data["consents"] is None
    text = reception.content.decode()
    assert "Anxiety" not in text
    assert "screening" not in text
    assert "clinical_notes" not in text
    assert "safety_items" not in text


# --- Funding and the first visit ------------------------------------------------------------
def test_funding_is_decided(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["received"]
    today = str(timezone.localdate())
    declined = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/funding",
        {"status": "declined", "decided_on": today},
        as_user="reception",
    )
    assert (declined.status_code, fields_of(declined)) == (422, ["decline_reason"])
    approved = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/funding",
        {
            "status": "approved",
            "decided_on": today,
            "sessions_funded": 8,
            "solutions_funded": ["tap_water"],
            "reference": "IFR-2026-77",
        },
        as_user="reception",
    )
    assert approved.status_code == 200
    assert approved.data["sessions_funded"] == 8
    assert approved.data["reference"] == "IFR-2026-77"
    referral.refresh_from_db()
    assert referral.stage == Stage.WAITING_FIRST_VISIT
    unknown = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/funding",
        {
            "status": "approved",
            "decided_on": today,
            "sessions_funded": 8,
            "solutions_funded": ["holy_water"],
        },
        as_user="reception",
    )
    assert (unknown.status_code, fields_of(unknown)) == (422, ["solutions_funded[0]"])


def test_nothing_is_booked_before_funding(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["planned"]
    course = referral.courses.order_by("id").first()
    assert course is not None
    funding = referral.funding
    funding.status = "pending"  # as if the decision had been withdrawn before any booking
    funding.save()
    visits_before = Visit.objects.count()
    response = call(
        client,
        "POST",
        "/api/visits",
        {"course_id": course.pk, "starts_at": at(next_monday())},
        as_user="reception",
    )
    assert response.status_code == 409
    assert fields_of(response) == ["funding"]
    assert "funding" in response.data["detail"][0]["message"]
    assert Visit.objects.count() == visits_before


def test_the_consultation_screens_the_facts(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["funded"]
    facts = {key: value for key, value in FACTS.items() if key not in ("age_years", "treat")}
    response = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/consultation",
        {"facts": facts, "history_notes": "Worse in summer."},
        as_user="nurse",
    )
    assert response.status_code == 200
    screening = response.data["screening"]
    assert screening["eligible"] is True
    assert set(screening["regions"]) == {"palms", "soles"}
    assert screening["regions"]["palms"]["protocol"]["minutes"] > 0
    # Left out, the age on record and the referred sites were screened.
    assert response.data["facts"]["treat"] == ["palms", "soles"]
    assert round(response.data["facts"]["age_years"]) == round(
        referral.patient.age_years(timezone.localdate())
    )
    implant = {**facts, "implants": [{"kind": "metal_plate", "location": "left_forearm"}]}
    with_plate = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/consultation",
        {"facts": implant},
        as_user="nurse",
    )
    assert with_plate.data["screening"]["regions"]["palms"]["allowed"] is False
    wrong = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/consultation",
        {"facts": {**facts, "conditions": ["gout"]}},
        as_user="nurse",
    )
    assert (wrong.status_code, fields_of(wrong)) == (422, ["facts.conditions[0]"])
    late_onset = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/consultation",
        {"facts": {**facts, "history": {"onset_age_years": 90}}},
        as_user="nurse",
    )
    assert (late_onset.status_code, fields_of(late_onset)) == (
        422,
        ["facts.history.onset_age_years"],
    )
    # The age screened is the one on record: another age is refused, not screened.
    younger = call(
        client,
        "POST",
        f"/api/referrals/{referral.pk}/consultation",
        {"facts": {**facts, "age_years": 20}},
        as_user="nurse",
    )
    assert (younger.status_code, fields_of(younger)) == (422, ["facts.age_years"])


def test_consent_needs_every_safety_point(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["funded"]
    items = list(workflow.SAFETY_INFORMATION)
    body = {"given_by": referral.patient.full_name, "safety_items": items[:-1]}
    short = call(client, "POST", f"/api/referrals/{referral.pk}/consent", body, as_user="nurse")
    assert (short.status_code, fields_of(short)) == (422, ["safety_items"])
    body["safety_items"] = items
    given = call(client, "POST", f"/api/referrals/{referral.pk}/consent", body, as_user="nurse")
    assert given.status_code == 201
    assert given.data["recorded_by"] == "nurse"
    assert given.data["information_sheet_version"]
    old_sheet = {**body, "information_sheet_version": "2019-v0"}
    stale = call(
        client, "POST", f"/api/referrals/{referral.pk}/consent", old_sheet, as_user="nurse"
    )
    assert (stale.status_code, fields_of(stale)) == (422, ["information_sheet_version"])
    read = call(client, "GET", f"/api/referrals/{referral.pk}", as_user="nurse")
    assert [c["id"] for c in read.data["consents"]] == [given.data["id"]]


def test_assessments_are_recorded_and_listed(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["consented"]
    path = f"/api/referrals/{referral.pk}/assessments"
    dlqi = call(
        client,
        "POST",
        path,
        {"kind": "dlqi", "timepoint": "baseline", "answers": [1, 2, 3, 0, 1, 2, 3, 0, 1, 2]},
        as_user="nurse",
    )
    assert dlqi.status_code == 201
    assert dlqi.data["score"] == 15
    hdss = call(
        client, "POST", path, {"kind": "hdss", "timepoint": "baseline", "score": 5}, as_user="nurse"
    )
    assert (hdss.status_code, fields_of(hdss)) == (422, ["score"])
    answers = call(
        client,
        "POST",
        path,
        {"kind": "dlqi", "timepoint": "baseline", "answers": [1, 2]},
        as_user="nurse",
    )
    assert (answers.status_code, fields_of(answers)) == (422, ["answers"])
    listed = call(client, "GET", path, as_user="clinician")
    assert [(a["kind"], a["score"]) for a in listed.data] == [("hdss", 3.0), ("dlqi", 15.0)]


def test_courses_are_planned_once(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["consented"]
    path = f"/api/referrals/{referral.pk}/courses"
    planned = call(client, "POST", path, {}, as_user="nurse")
    assert planned.status_code == 201
    assert {c["region"] for c in planned.data} == {"palms", "soles"}
    assert all(c["sessions_planned"] == 10 and c["status"] == "planned" for c in planned.data)
    again = call(client, "POST", path, {"solution": "tap_water"}, as_user="nurse")
    assert (again.status_code, fields_of(again)) == (409, ["solution"])
    funded = clinic.referrals["funded"].pk
    not_screened = call(client, "POST", f"/api/referrals/{funded}/courses", {}, as_user="nurse")
    assert (not_screened.status_code, fields_of(not_screened)) == (409, ["referral"])
    received = clinic.referrals["received"].pk
    not_funded = call(client, "POST", f"/api/referrals/{received}/courses", {}, as_user="nurse")
    assert (not_funded.status_code, fields_of(not_funded)) == (409, ["funding"])
    listed = call(client, "GET", path, as_user="reception")
    assert len(listed.data) == 2
    one = call(client, "GET", f"/api/courses/{planned.data[0]['id']}", as_user="nurse")
    assert one.data["protocol"] == planned.data[0]["protocol"]


def test_courses_are_read_in_the_same_queries_however_many(client: Client, clinic: Clinic) -> None:
    referral = clinic.referrals["consented"]

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert call(client, "GET", path, as_user="clinician").status_code == 200
        return len(captured.captured_queries)

    paths = [f"/api/referrals/{referral.pk}/courses", f"/api/referrals/{referral.pk}"]
    before = [queries(path) for path in paths]
    assert call(client, "POST", paths[0], {}, as_user="nurse").status_code == 201
    assert referral.courses.count() == 2
    assert [queries(path) for path in paths] == before


# --- Chairs and visits ----------------------------------------------------------------------
def test_visits_are_booked_moved_and_cancelled(client: Client, clinic: Clinic) -> None:
    course = clinic.referrals["planned"].courses.order_by("id").last()
    assert course is not None
    chair = Chair.objects.get(name="Chair 1")
    monday = next_monday()
    booked = call(
        client,
        "POST",
        "/api/visits",
        {"course_id": course.pk, "starts_at": at(monday), "chair_id": chair.pk},
        as_user="reception",
    )
    assert booked.status_code == 201
    assert booked.data["chair"] == {"id": chair.pk, "name": "Chair 1"}
    assert booked.data["status"] == "booked"
    twice = call(
        client,
        "POST",
        "/api/visits",
        {"course_id": course.pk, "starts_at": at(monday, 15)},
        as_user="reception",
    )
    assert (twice.status_code, fields_of(twice)) == (409, ["starts_at"])
    no_chair = call(
        client,
        "POST",
        "/api/visits",
        {"course_id": course.pk, "starts_at": at(monday, 15), "chair_id": 999_999},
        as_user="reception",
    )
    assert (no_chair.status_code, fields_of(no_chair)) == (422, ["chair_id"])
    visit_id = booked.data["id"]
    moved = call(
        client,
        "POST",
        f"/api/visits/{visit_id}/move",
        {"starts_at": at(monday + dt.timedelta(days=1), 11), "chair_id": chair.pk},
        as_user="reception",
    )
    assert moved.status_code == 200
    assert moved.data["starts_at"].startswith(str(monday + dt.timedelta(days=1)))
    day = call(
        client,
        "GET",
        f"/api/visits?date={monday + dt.timedelta(days=1)}&chair_id={chair.pk}",
        as_user="nurse",
    )
    assert [v["id"] for v in day.data["items"]] == [visit_id]
    cancelled = call(client, "POST", f"/api/visits/{visit_id}/cancel", {}, as_user="reception")
    assert (cancelled.status_code, cancelled.data["status"]) == (200, "cancelled")
    again = call(client, "POST", f"/api/visits/{visit_id}/cancel", {}, as_user="reception")
    assert again.status_code == 409
    revived = call(
        client,
        "POST",
        f"/api/visits/{visit_id}/move",
        {"starts_at": at(monday)},
        as_user="reception",
    )
    assert (revived.status_code, fields_of(revived)) == (409, ["visit"])
    assert Visit.objects.get(pk=visit_id).status == VisitStatus.CANCELLED


def test_did_not_attend_is_recorded(client: Client, clinic: Clinic) -> None:
    visit = Visit.objects.filter(course=clinic.finished.course, status="booked").first()
    assert visit is not None
    response = call(
        client, "POST", f"/api/visits/{visit.pk}/cancel", {"did_not_attend": True}, as_user="nurse"
    )
    assert (response.status_code, response.data["status"]) == (200, "did_not_attend")


@pytest.mark.usefixtures("clinic")
def test_chairs_are_listed(client: Client) -> None:
    chairs = call(client, "GET", "/api/chairs", as_user="reception")
    assert [c["name"] for c in chairs.data] == ["Chair 1", "Chair 2"]
    assert all(c["device"] == "simulated" and c["in_service"] for c in chairs.data)


# --- Sessions and the verdict ---------------------------------------------------------------
def test_a_session_is_prepared_only_with_every_check(client: Client, clinic: Clinic) -> None:
    ahead = Visit.objects.filter(course=clinic.finished.course, status="booked").first()
    assert ahead is not None
    tz = timezone.get_current_timezone()
    visit = workflow.book_visit(
        clinic.finished.course,
        starts_at=dt.datetime.combine(timezone.localdate(), dt.time(16), tz),
    )
    chair = Chair.objects.get(name="Chair 1")
    checks = list(workflow.PRE_SESSION_CHECKS)
    body: dict[str, Any] = {"visit_id": visit.pk, "chair_id": chair.pk, "checklist": checks[1:]}
    missing = call(client, "POST", "/api/sessions", body, as_user="nurse")
    assert (missing.status_code, fields_of(missing)) == (422, ["checklist"])
    assert checks[0] in missing.data["detail"][0]["message"]
    higher = call(
        client,
        "POST",
        "/api/sessions",
        {**body, "checklist": checks, "current_mA": 29.5},
        as_user="nurse",
    )
    assert (higher.status_code, fields_of(higher)) == (422, ["current_mA"])
    busy_chair = Chair.objects.get(name="Chair 2")
    busy = call(
        client,
        "POST",
        "/api/sessions",
        {**body, "checklist": checks, "chair_id": busy_chair.pk},
        as_user="nurse",
    )
    assert (busy.status_code, fields_of(busy)) == (409, ["chair"])
    ready = call(
        client,
        "POST",
        "/api/sessions",
        {**body, "checklist": checks, "current_mA": 10},
        as_user="nurse",
    )
    assert ready.status_code == 201
    assert ready.data["status"] == "ready"
    assert ready.data["plan"]["current_mA"] == 10
    assert ready.data["given_by"] == "nurse"
    assert ready.data["visit_id"] == visit.pk
    # A session is given on its visit's day, not days before it.
    early = call(
        client,
        "POST",
        "/api/sessions",
        {**body, "visit_id": ahead.pk, "checklist": checks},
        as_user="nurse",
    )
    assert (early.status_code, fields_of(early)) == (409, ["visit"])
    missed = workflow.book_visit(
        clinic.finished.course,
        starts_at=dt.datetime.combine(timezone.localdate() - dt.timedelta(days=1), dt.time(9), tz),
    )
    late = call(
        client,
        "POST",
        "/api/sessions",
        {**body, "visit_id": missed.pk, "checklist": checks},
        as_user="nurse",
    )
    assert (late.status_code, fields_of(late)) == (409, ["visit"])
    assert not TreatmentSession.objects.filter(visit=missed).exists()


def test_a_session_is_read_with_its_trace_since_a_sequence(client: Client, clinic: Clinic) -> None:
    path = f"/api/sessions/{clinic.finished.pk}"
    whole = call(client, "GET", path, as_user="nurse")
    assert whole.status_code == 200
    data = whole.data
    assert data["status"] == "completed"
    assert data["dose"]["total_mA_min"] == pytest.approx(
        data["dose"]["forward_mA_min"] + data["dose"]["reverse_mA_min"]
    )
    assert [c["seq"] for c in data["trace"]] == [0, 1, 2]
    assert data["last_seq"] == 2
    assert data["events"][0]["code"] == "started"
    since = call(client, "GET", f"{path}?after=1", as_user="nurse")
    assert [c["seq"] for c in since.data["trace"]] == [2]
    nothing_new = call(client, "GET", f"{path}?after=2", as_user="nurse")
    assert (nothing_new.data["trace"], nothing_new.data["last_seq"]) == ([], 2)


def test_the_record_after_a_session(client: Client, clinic: Clinic) -> None:
    unfinished = call(
        client,
        "POST",
        f"/api/sessions/{clinic.prepared.pk}/record",
        {"sensation_score": 3},
        as_user="nurse",
    )
    assert (unfinished.status_code, fields_of(unfinished)) == (409, ["status"])
    path = f"/api/sessions/{clinic.finished.pk}/record"
    unknown = call(client, "POST", path, {"side_effects": ["redness", "hiccups"]}, as_user="nurse")
    assert (unknown.status_code, fields_of(unknown)) == (422, ["side_effects[1]"])
    too_much = call(client, "POST", path, {"sensation_score": 11}, as_user="nurse")
    assert (too_much.status_code, fields_of(too_much)) == (422, ["sensation_score"])
    recorded = call(
        client,
        "POST",
        path,
        {"sensation_score": 4, "side_effects": ["tingling", "redness"], "notes": "Fine."},
        as_user="nurse",
    )
    assert recorded.status_code == 200
    assert (recorded.data["sensation_score"], recorded.data["side_effects"]) == (
        4,
        ["tingling", "redness"],
    )
    clinic.finished.refresh_from_db()
    assert clinic.finished.notes == "Fine."


def test_a_verdict_too_early_is_shown_but_not_kept(client: Client, clinic: Clinic) -> None:
    course = clinic.finished.course
    early = call(
        client,
        "POST",
        f"/api/courses/{course.pk}/verdict",
        {"followup_hdss": 3},
        as_user="clinician",
    )
    assert early.status_code == 200
    assert early.data["saved"] is False
    assert early.data["result"]["verdict"] == "continue"
    assert early.data["result"]["reasons"]
    assert not Verdict.objects.filter(course=course).exists()


def test_no_verdict_before_every_session_is_recorded(client: Client, clinic: Clinic) -> None:
    course = clinic.finished.course
    session = TreatmentSession.objects.get(pk=clinic.finished.pk)
    session.recorded_at = None
    session.save()
    refused = call(
        client, "POST", f"/api/courses/{course.pk}/verdict", {"followup_hdss": 1}, as_user="nurse"
    )
    assert refused.status_code == 409
    assert "record how every session went" in refused.data["detail"][0]["message"]
    assert not Verdict.objects.filter(course=course).exists()


def test_a_verdict_is_kept_and_given_once(client: Client, clinic: Clinic) -> None:
    course = clinic.finished.course
    path = f"/api/courses/{course.pk}/verdict"
    kept = call(
        client, "POST", path, {"followup_hdss": 1, "notes": "Dry now."}, as_user="clinician"
    )
    assert kept.status_code == 201
    assert kept.data["saved"] is True
    assert kept.data["result"]["verdict"] == "works"
    assert kept.data["result"]["home_plan"]["interval_days"] > 0
    assert kept.data["decided_by"] == "clinician"
    assert Verdict.objects.get(course=course).followup_hdss == 1
    again = call(client, "POST", path, {"followup_hdss": 1}, as_user="clinician")
    assert (again.status_code, fields_of(again)) == (409, ["course"])
    course_now = call(client, "GET", f"/api/courses/{course.pk}", as_user="nurse")
    assert (course_now.data["status"], course_now.data["verdict"]["verdict"]) == (
        "finished",
        "works",
    )
    no_sessions = clinic.referrals["planned"].courses.order_by("id").first()
    assert no_sessions is not None
    refused = call(
        client,
        "POST",
        f"/api/courses/{no_sessions.pk}/verdict",
        {"followup_hdss": 1},
        as_user="clinician",
    )
    assert (refused.status_code, fields_of(refused)) == (409, ["course"])


# --- Lists, audit, reference ----------------------------------------------------------------
def test_today_lists_the_chairs_and_their_visits(client: Client, clinic: Clinic) -> None:
    today = call(client, "GET", "/api/lists/today", as_user="reception")
    assert today.status_code == 200
    assert today.data["date"] == str(timezone.localdate())
    by_chair = {row["chair"]["name"]: row["visits"] for row in today.data["chairs"]}
    assert [v["id"] for v in by_chair["Chair 2"]] == [clinic.visit.pk]
    assert by_chair["Chair 2"][0]["session_id"] == clinic.prepared.pk
    assert by_chair["Chair 1"] == []
    two_days_ago = timezone.localdate() - dt.timedelta(days=2)
    earlier = call(client, "GET", f"/api/lists/today?date={two_days_ago}", as_user="nurse")
    chair_one = next(r for r in earlier.data["chairs"] if r["chair"]["name"] == "Chair 1")
    assert [v["status"] for v in chair_one["visits"]] == ["attended"]


def test_stages_are_counted_and_listed(client: Client, clinic: Clinic) -> None:
    stages = call(client, "GET", "/api/lists/stages", as_user="reception")
    rows = {row["stage"]: row for row in stages.data["stages"]}
    assert list(rows) == list(Stage.values)
    assert sum(row["count"] for row in rows.values()) == len(clinic.referrals)
    assert rows["waiting_funding"]["count"] == 1
    assert [r["id"] for r in rows["waiting_funding"]["referrals"]] == [
        clinic.referrals["received"].pk
    ]
    for referral in clinic.referrals.values():
        assert referral.pk in [r["id"] for r in rows[referral.stage]["referrals"]]
    one = call(client, "GET", "/api/lists/stages?stage=in_course", as_user="nurse")
    listed = [row for row in one.data["stages"] if row["referrals"]]
    assert [row["stage"] for row in listed] == ["in_course"]


def test_outcomes_count_responders_by_region_and_solution(client: Client, clinic: Clinic) -> None:
    empty = call(client, "GET", "/api/lists/outcomes", as_user="clinician")
    assert empty.data == {"rows": []}
    course = clinic.finished.course
    call(
        client,
        "POST",
        f"/api/courses/{course.pk}/verdict",
        {"followup_hdss": 1},
        as_user="clinician",
    )
    outcomes = call(client, "GET", "/api/lists/outcomes", as_user="clinician")
    assert outcomes.data["rows"] == [
        {
            "region": course.region,
            "solution": "tap_water",
            "courses": 1,
            "works": 1,
            "does_not_work": 0,
            "responders": 1.0,
        }
    ]


@pytest.mark.usefixtures("clinic")
def test_the_audit_chain_is_verified_by_an_admin(client: Client) -> None:
    response = call(client, "GET", "/api/audit/verify", as_user="admin")
    assert response.status_code == 200
    assert response.data["ok"] is True
    assert response.data["entries"] == AuditEntry.objects.count() > 0
    assert call(client, "GET", "/api/audit/verify", as_user="clinician").status_code == 403


@pytest.mark.usefixtures("users")
def test_reference_lists_match_the_workflow(client: Client) -> None:
    safety = call(client, "GET", "/api/reference/safety-information", as_user="patient")
    assert {i["code"]: i["text"] for i in safety.data} == workflow.SAFETY_INFORMATION
    checks = call(client, "GET", "/api/reference/pre-session-checks", as_user="nurse")
    assert {i["code"]: i["text"] for i in checks.data} == workflow.PRE_SESSION_CHECKS
