"""The session pages and the station's API, with Django's test client: who may start, watch,
stop and record a session; the start form's refusals; the live JSON; and one whole session
started from the page, followed live and stopped through the API while a station runs it."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import PASSWORD, book_days
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from test_stations import sqlite_on_a_file  # noqa: F401 (a fixture, used by name below)

from ionto.clinic import stations, workflow
from ionto.clinic.models import (
    Chair,
    Referral,
    SessionStatus,
    TraceChunk,
    TreatmentSession,
    Visit,
)
from ionto.device.live import simulated_session

CHECKS = list(workflow.PRE_SESSION_CHECKS)
CLINICAL = ["nurse", "clinician", "admin"]


def login(role: str, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    assert client.login(username=role, password=PASSWORD)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def field_error(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="field-errors" id="{field_id}_error">(.*?)</ul>', html, re.S)
    assert match, f"no error shown next to {field_id}"
    return re.sub(r"<[^>]+>", "", match.group(1))


@pytest.fixture
def visit(make_referral: Callable[..., Referral], chair: Chair) -> Visit:
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    (booked,) = book_days(course, timezone.localdate(), [0], chair)
    return booked


def prepare(visit: Visit, chair: Chair, users: dict[str, User]) -> TreatmentSession:
    return workflow.prepare_session(visit, chair=chair, checklist=CHECKS, user=users["nurse"])


def run_to_end(session: TreatmentSession) -> TreatmentSession:
    """What a station does, in this thread and unpaced: its own writer, the simulator."""
    writer = stations.SessionWriter(session.pk)
    writer.begin()
    live = simulated_session(stations.session_request(session), speed=None, observer=writer)
    writer.finish(live.run())
    session.refresh_from_db()
    return session


def own(visit: Visit, users: dict[str, User]) -> None:
    """The patient login becomes this visit's patient's."""
    patient = visit.course.referral.patient
    patient.user = users["patient"]
    patient.save()


# --- Who may do what ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", CLINICAL)
def test_clinical_staff_open_the_start_page(role: str, visit: Visit) -> None:
    response = login(role).get(f"/sessions/visit/{visit.pk}/start/")
    assert response.status_code == 200
    html = text(response)
    for label in workflow.PRE_SESSION_CHECKS.values():
        assert label in html
    assert "Chair 1" in html


def test_reception_and_patients_cannot_start_sessions(visit: Visit, users: dict[str, User]) -> None:
    url = f"/sessions/visit/{visit.pk}/start/"
    assert login("reception").get(url).status_code == 403
    assert login("patient").get(url).status_code == 404  # not their visit: not even shown
    own(visit, users)
    assert login("patient").get(url).status_code == 403
    form = {"chair": visit.chair_id, "checklist": CHECKS}
    assert login("patient").post(url, form).status_code == 403
    assert not TreatmentSession.objects.exists()


def test_who_sees_a_session(visit: Visit, chair: Chair, users: dict[str, User]) -> None:
    session = prepare(visit, chair, users)
    page, live = f"/sessions/{session.pk}/", f"/api/sessions/{session.pk}/live"
    for role in CLINICAL:
        assert login(role).get(page).status_code == 200
        assert login(role).get(live).status_code == 200
    assert login("reception").get(page).status_code == 403
    assert login("reception").get(live).status_code == 403
    assert login("patient").get(page).status_code == 404  # another patient's
    assert login("patient").get(live).status_code == 404
    own(visit, users)
    # Their own, but not finished: not yet.
    assert login("patient").get(page).status_code == 403
    assert login("patient").get(live).status_code == 403
    run_to_end(session)
    response = login("patient").get(page)
    assert response.status_code == 200
    html = text(response)
    assert 'data-testid="stop-button"' not in html
    assert "Save the record" not in html  # the record is the nurse's
    assert login("patient").get(live).status_code == 200
    assert login("patient").post(page, {"notes": "fine"}).status_code == 403
    assert Client().get(page).status_code == 302  # to the login page


# --- Starting -----------------------------------------------------------------------------------
def test_an_unticked_checklist_is_refused_naming_the_field(visit: Visit) -> None:
    ticked = CHECKS[:-2]
    response = login("nurse").post(
        f"/sessions/visit/{visit.pk}/start/", {"chair": visit.chair_id, "checklist": ticked}
    )
    assert response.status_code == 422
    error = field_error(text(response), "id_checklist")
    assert "Tick every safety check" in error
    for missing in CHECKS[-2:]:  # said in the form's words
        assert workflow.PRE_SESSION_CHECKS[missing] in error
    for done in ticked:
        assert workflow.PRE_SESSION_CHECKS[done] not in error
    assert not TreatmentSession.objects.exists()
    # What was ticked stays ticked.
    assert text(response).count("checked") >= len(ticked)


def test_a_current_above_the_protocols_is_refused(visit: Visit) -> None:
    protocol_mA = workflow.session_plan(visit.course)["current_mA"]
    response = login("nurse").post(
        f"/sessions/visit/{visit.pk}/start/",
        {"chair": visit.chair_id, "checklist": CHECKS, "current_mA": str(protocol_mA + 5)},
    )
    assert response.status_code == 422
    assert "at most the protocol" in field_error(text(response), "id_current_mA")
    response = login("nurse").post(
        f"/sessions/visit/{visit.pk}/start/",
        {"chair": visit.chair_id, "checklist": CHECKS, "current_mA": "lots"},
    )
    assert response.status_code == 422
    assert field_error(text(response), "id_current_mA")
    assert not TreatmentSession.objects.exists()


def test_no_chair_is_refused(visit: Visit) -> None:
    response = login("nurse").post(f"/sessions/visit/{visit.pk}/start/", {"checklist": CHECKS})
    assert response.status_code == 422
    assert "Choose the chair" in field_error(text(response), "id_chair")


def test_a_busy_chair_is_a_conflict(
    make_referral: Callable[..., Referral], visit: Visit, chair: Chair, users: dict[str, User]
) -> None:
    prepare(visit, chair, users)
    other_course = make_referral("planned").courses.order_by("pk").first()
    (other,) = book_days(other_course, timezone.localdate(), [0], None)
    response = login("nurse").post(
        f"/sessions/visit/{other.pk}/start/", {"chair": chair.pk, "checklist": CHECKS}
    )
    assert response.status_code == 409
    assert "busy" in field_error(text(response), "id_chair")


@pytest.mark.parametrize("days", [-1, 2])
def test_a_session_is_started_only_at_todays_visit(
    make_referral: Callable[..., Referral], chair: Chair, days: int
) -> None:
    """Started at another day's visit, a session would be given on a day the frequency caps
    were not checked for (a second treatment the same day): refused, nothing prepared, and
    the visits page offers "Start session" only for today's visits."""
    course = make_referral("planned").courses.order_by("pk").first()
    assert course is not None
    (today,) = book_days(course, timezone.localdate(), [0], chair)
    (other,) = book_days(course, timezone.localdate() + dt.timedelta(days=days), [0], None)
    client = login("nurse")
    page = text(client.get(f"/courses/{course.pk}/visits/"))
    assert f"/sessions/visit/{today.pk}/start/" in page
    assert f"/sessions/visit/{other.pk}/start/" not in page
    shown = client.get(f"/sessions/visit/{other.pk}/start/")
    assert "its session is given on that day" in text(shown)
    response = client.post(
        f"/sessions/visit/{other.pk}/start/", {"chair": chair.pk, "checklist": CHECKS}
    )
    assert response.status_code == 409
    assert "its session is given on that day" in text(response)
    assert not TreatmentSession.objects.exists()


def test_a_prepared_session_waits_ready_when_no_station_runs(visit: Visit) -> None:
    client = login("nurse")
    response = client.post(
        f"/sessions/visit/{visit.pk}/start/", {"chair": visit.chair_id, "checklist": CHECKS}
    )
    session = TreatmentSession.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/sessions/{session.pk}/"
    assert session.status == SessionStatus.READY
    page = client.get(response["Location"])
    html = text(page)
    assert "did not start" in html  # and why
    assert 'data-testid="run-button"' in html  # start it again from here
    # The start page of a visit that has its session leads to it.
    again = client.get(f"/sessions/visit/{visit.pk}/start/")
    assert again["Location"] == f"/sessions/{session.pk}/"


def test_a_session_left_ready_is_withdrawn_from_its_page(visit: Visit) -> None:
    client = login("nurse")
    client.post(
        f"/sessions/visit/{visit.pk}/start/", {"chair": visit.chair_id, "checklist": CHECKS}
    )
    session = TreatmentSession.objects.get()
    page = text(client.get(f"/sessions/{session.pk}/"))
    assert 'data-testid="withdraw-button"' in page
    withdrawn = client.post(f"/sessions/{session.pk}/stop/")
    assert withdrawn.status_code == 302
    assert "withdrawn before it started" in text(client.get(withdrawn["Location"]))
    session.refresh_from_db()
    assert (session.status, session.visit_id, session.started_at) == ("stopped", None, None)
    # The visit is free: its start page offers the form again (another chair, say).
    again = client.get(f"/sessions/visit/{visit.pk}/start/")
    assert again.status_code == 200
    assert 'data-testid="start-session"' in text(again)


# --- The live JSON ------------------------------------------------------------------------------
def test_the_live_json_of_a_finished_session(
    visit: Visit, chair: Chair, users: dict[str, User]
) -> None:
    session = run_to_end(prepare(visit, chair, users))
    assert session.status == SessionStatus.COMPLETED
    client = login("nurse")
    data = client.get(f"/api/sessions/{session.pk}/live").json()
    assert data["id"] == session.pk
    assert data["status"] == "completed"
    assert data["finished"] is True
    assert data["on_station"] is False
    assert data["station"] == "Chair 1"
    assert data["remaining_s"] == 0
    assert data["dose"]["total_mA_min"] == pytest.approx(session.delivered_mA_min)
    assert data["dose"]["planned_mA_min"] > 0
    chunks = data["chunks"]
    seqs = [c["seq"] for c in chunks]
    assert seqs == sorted(seqs)
    assert data["last_seq"] == seqs[-1]
    sample = chunks[0]["samples"][0]
    assert isinstance(sample[0], float | int)
    assert isinstance(sample[3], str)
    samples = sum(len(c["samples"]) for c in chunks)
    assert samples == pytest.approx(10 * session.device_time_s, abs=2)
    codes = [e["code"] for e in data["events"]]
    assert codes[0] == "session_started"
    assert codes[-1] == "session_completed"
    assert data["tail"] == []
    # Only what is new after what the chart already has.
    newer = client.get(
        f"/api/sessions/{session.pk}/live",
        {"after": seqs[0], "events_after": data["events"][0]["id"]},
    ).json()
    assert [c["seq"] for c in newer["chunks"]] == seqs[1:]
    assert [e["code"] for e in newer["events"]] == codes[1:]
    nothing = client.get(
        f"/api/sessions/{session.pk}/live",
        {"after": data["last_seq"], "events_after": data["last_event_id"]},
    ).json()
    assert nothing["chunks"] == []
    assert nothing["events"] == []
    assert nothing["last_seq"] == data["last_seq"]


def test_the_live_json_refuses_bad_input(
    visit: Visit, chair: Chair, users: dict[str, User]
) -> None:
    session = prepare(visit, chair, users)
    client = login("nurse")
    for query in ({"after": "x"}, {"after": "-5"}, {"events_after": "-1"}):
        response = client.get(f"/api/sessions/{session.pk}/live", query)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] in {"after", "events_after"}
    assert client.get("/api/sessions/999999/live").status_code == 404
    ready = client.get(f"/api/sessions/{session.pk}/live").json()
    assert ready["status"] == "ready"
    assert ready["finished"] is False
    assert ready["chunks"] == []
    assert ready["last_seq"] == -1


# --- Orders -------------------------------------------------------------------------------------
def test_orders_need_a_running_session_a_clinical_role_and_the_csrf_token(
    visit: Visit, chair: Chair, users: dict[str, User]
) -> None:
    session = prepare(visit, chair, users)
    for order in ("stop", "pain"):
        url = f"/api/sessions/{session.pk}/{order}"
        if order == "pain":
            response = login("nurse").post(url)
            assert response.status_code == 409
            assert "not running" in response.json()["detail"][0]["message"]
        assert login("reception").post(url).status_code == 403
        assert login("patient").post(url).status_code == 403
        assert login("nurse", csrf=True).post(url).status_code == 403  # no token
    response = login("nurse").post(f"/api/sessions/{session.pk}/start")
    assert response.status_code == 409
    assert "no stations are running" in response.json()["detail"][0]["message"]
    # Stop on a session that never started withdraws it (see the test above); then it is
    # not running: without the page's script, the refusal is said on the page.
    withdrawn = login("nurse").post(f"/api/sessions/{session.pk}/stop")
    assert withdrawn.status_code == 202
    assert "Withdrawn" in withdrawn.json()["message"]
    page = login("nurse").post(f"/sessions/{session.pk}/stop/", follow=True)
    assert "Not stopped" in text(page)


# --- The record after ---------------------------------------------------------------------------
def test_the_record_after_the_session(visit: Visit, chair: Chair, users: dict[str, User]) -> None:
    session = prepare(visit, chair, users)
    client = login("nurse")
    page = f"/sessions/{session.pk}/"
    early = client.post(page, {"sensation_score": "3"})
    assert early.status_code == 409
    assert "has not finished" in text(early)
    run_to_end(session)
    html = text(client.get(page))
    assert "Save the record" in html
    bad = client.post(page, {"sensation_score": "11", "side_effects": ["tingling"]})
    assert bad.status_code == 422
    assert field_error(text(bad), "id_sensation_score")
    assert re.search(r'value="tingling"[^>]*checked', text(bad))  # what was ticked stays so
    bad = client.post(page, {"sensation_score": "not_asked", "side_effects": ["glowing"]})
    assert bad.status_code == 422
    assert field_error(text(bad), "id_side_effects")
    empty = client.post(page, {})
    assert empty.status_code == 422
    assert "not asked" in field_error(text(empty), "id_sensation_score")
    done = client.post(
        page, {"sensation_score": "4", "side_effects": ["tingling", "redness"], "notes": "Fine."}
    )
    assert done.status_code == 302
    session.refresh_from_db()
    assert session.sensation_score == 4
    assert session.side_effects == ["tingling", "redness"]
    assert session.notes == "Fine."
    shown = text(client.get(page))
    assert "4 of 10" in shown
    assert "Update the record" in shown
    assert re.search(r'value="4"[^>]*checked', shown)  # the form shows what was recorded
    client.post(page, {"sensation_score": "not_asked", "notes": "Fine."})
    session.refresh_from_db()
    assert session.sensation_score is None
    assert session.side_effects == []


# --- A whole session through the pages, with a station running -------------------------------
@pytest.fixture
def running_stations(sqlite_on_a_file: None) -> Iterator[None]:  # noqa: ARG001, F811
    stations.start_stations(speed=40.0)
    yield
    stations.stop_stations(timeout_s=10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("running_stations")
def test_a_session_started_from_the_page_is_followed_live_and_stopped(visit: Visit) -> None:
    client = login("nurse", csrf=True)
    start_url = f"/sessions/visit/{visit.pk}/start/"
    client.get(start_url)
    token = client.cookies["csrftoken"].value
    response = client.post(
        start_url, {"chair": visit.chair_id, "checklist": CHECKS, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    session = TreatmentSession.objects.get()
    page = text(client.get(response["Location"]))
    assert 'data-testid="samples-count"' in page
    assert "live-session.js" in page
    assert "uPlot.iife.min.js" in page

    # Poll as the page's script does until the chart has something to draw.
    seen = 0
    after, events_after = -1, 0
    data: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while seen < 50:
        assert time.monotonic() < deadline, "the chart never moved"
        data = client.get(
            f"/api/sessions/{session.pk}/live", {"after": after, "events_after": events_after}
        ).json()
        seen += sum(len(c["samples"]) for c in data["chunks"])
        after, events_after = data["last_seq"], data["last_event_id"]
        time.sleep(0.1)
    assert data["status"] == "running"
    assert data["on_station"] is True
    assert data["phase"] in {"check_contact", "ramp_up", "treat", "reversing"}
    assert data["phase_text"]
    assert data["elapsed_s"] > 4
    assert data["remaining_s"] > 0
    assert data["tail_seq"] is None or data["tail_seq"] == after + 1

    closed_browser = Client()  # a browser that goes away changes nothing: the session runs on
    del closed_browser

    stop = client.post(f"/api/sessions/{session.pk}/stop", HTTP_X_CSRFTOKEN=token)
    assert stop.status_code == 202
    assert "ramping down" in stop.json()["message"]
    deadline = time.monotonic() + 20
    while TreatmentSession.objects.get(pk=session.pk).status == SessionStatus.RUNNING:
        assert time.monotonic() < deadline, "the stop was not acted on"
        time.sleep(0.05)
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    final = client.get(f"/api/sessions/{session.pk}/live").json()
    assert final["finished"] is True
    assert "patient_stop" in [e["code"] for e in final["events"]]
    assert TraceChunk.objects.filter(session=session).exists()
