"""Stations on the real database: a simulated session run by a station's thread to its end,
stopped by the nurse, lost in a crash, and ramped down at shutdown.

The stations write from their own threads, so these tests use ``transactional_db`` (each
thread sees what the others committed), except the crash test, which runs the station's
writer in the test's own thread and "crashes" it there.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import book_days
from django.contrib.auth.models import User
from django.db import connection, connections
from django.utils import timezone

from ionto.clinic import stations, workflow
from ionto.clinic.models import (
    AuditEntry,
    Chair,
    Referral,
    SessionEventRow,
    SessionStatus,
    TraceChunk,
    TreatmentSession,
    VisitStatus,
)
from ionto.device.controller import Phase
from ionto.device.live import LiveUpdate, simulated_session
from ionto.device.patients import VirtualPatient
from ionto.device.pty_device import PtyDevice
from ionto.therapy.vocabulary import Region

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def sqlite_on_a_file(
    django_db_setup: None,  # noqa: ARG001 (the test database must exist first)
    django_db_blocker: Any,
) -> Iterator[None]:
    """On SQLite, the test database moves from memory to a file for these tests.

    Django's SQLite test database lives in shared-cache memory, where connections lock
    whole tables and a locked table fails at once instead of waiting: a station's thread and
    the test's would trip on each other. The service runs SQLite on a file in WAL mode
    (``ionto.clinic.database``), where readers never wait for a writer; so do these tests.
    (Better done once in ``settings_test`` with ``DATABASES["default"]["TEST"]["NAME"]``.)
    """
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():
        yield
        return
    settings_dict = connection.settings_dict
    memory_name = settings_dict["NAME"]
    path = Path(os.environ["IONTO_DATA_DIR"]) / f"stations-{os.getpid()}.sqlite3"
    with django_db_blocker.unblock():
        # Keeps the in-memory database alive while no Django connection holds it.
        keeper = sqlite3.connect(memory_name, uri=True)
        target = sqlite3.connect(path)
        keeper.backup(target)
        target.close()
        settings_dict["NAME"] = str(path)  # the dict every thread's connection is made from
        connection.close()
        try:
            yield
        finally:
            connections.close_all()
            settings_dict["NAME"] = memory_name
            connection.ensure_connection()
            keeper.close()
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()


@pytest.fixture(autouse=True)
def _no_stations_left(sqlite_on_a_file: None) -> Iterator[None]:  # noqa: ARG001
    """Every station a test starts is stopped, whatever the test did."""
    yield
    stations.stop_stations(timeout_s=10)


def prepared(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> TreatmentSession:
    """A session ready on ``chair`` at today's visit, as the start page prepares it."""
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    (visit,) = book_days(course, timezone.localdate(), [0], chair)
    return workflow.prepare_session(
        visit, chair=chair, checklist=list(workflow.PRE_SESSION_CHECKS), user=users["nurse"]
    )


def wait_for(condition: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    start = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() - start > timeout_s:
            raise AssertionError("timed out")
        time.sleep(0.02)


def status_of(session: TreatmentSession) -> str:
    return TreatmentSession.objects.values_list("status", flat=True).get(pk=session.pk)


def samples_of(session: TreatmentSession) -> list[list[Any]]:
    chunks = TraceChunk.objects.filter(session=session).order_by("seq")
    return [s for c in chunks for s in c.samples]


@pytest.fixture
def session(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> TreatmentSession:
    return prepared(make_referral, chair, users)


# --- A whole session ---------------------------------------------------------------------------
def test_a_station_runs_a_session_to_completion(session: TreatmentSession) -> None:
    # The virtual patient comes from the seed, made of record ids that PostgreSQL does not
    # reset between tests: some (high skin resistance) cannot take the full current, and the
    # dose check below would then depend on how many patients earlier tests created.
    session.simulator_seed = 0
    session.save()
    speed = 600.0  # a 20-minute session in about 2.4 s
    stations.start_stations(speed=speed)
    began = time.monotonic()
    station = stations.start_session(session.pk)
    assert station.name == "Chair 1"
    wait_for(lambda: status_of(session) == SessionStatus.RUNNING)
    # While it runs: the trace reaches the database, and the live view is fresher still.
    wait_for(lambda: TraceChunk.objects.filter(session=session).exists())
    view = stations.live_view(session.pk)
    assert view is not None
    assert view.status is not None
    assert view.status.phase not in {Phase.COMPLETED}
    wait_for(lambda: status_of(session) in {"completed", "stopped", "aborted", "fault"})
    wall_s = time.monotonic() - began
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.started_at is not None
    assert session.ended_at is not None
    assert session.started_at < session.ended_at
    # Paced: device time ran no faster than the wall clock × speed.
    assert session.device_time_s / speed <= wall_s + 0.2
    assert session.device_time_s > 60 * session.plan["minutes"]
    # The dose is the protocol's (the controller delivers the planned dose per polarity).
    assert session.delivered_mA_min > 0.9 * session.plan["current_mA"] * session.plan["minutes"]
    assert session.peak_current_mA <= session.plan["max_current_mA"]
    # Events as the controller logged them, and the trace at 10 Hz of session time.
    codes = list(SessionEventRow.objects.filter(session=session).values_list("code", flat=True))
    assert codes[0] == "session_started"
    assert codes[-1] == "session_completed"
    samples = samples_of(session)
    assert [len(s) for s in samples[:1]] == [4]
    times = [s[0] for s in samples]
    assert times == sorted(times)
    assert len(samples) == pytest.approx(10 * session.device_time_s, abs=2)
    seqs = list(TraceChunk.objects.filter(session=session).values_list("seq", flat=True))
    assert seqs == list(range(len(seqs)))
    assert len(seqs) >= 2  # written as it went, about once a wall second
    # The visit is attended; the referral is in course.
    assert session.visit is not None
    session.visit.refresh_from_db()
    assert session.visit.status == VisitStatus.ATTENDED
    # The station's writes are the station's in the audit log, and the session row was not
    # saved more often than every few seconds.
    entries = AuditEntry.objects.filter(model="clinic.TreatmentSession", object_pk=str(session.pk))
    actors = set(entries.values_list("actor", flat=True))
    assert "station:Chair 1" in actors
    station_saves = entries.filter(actor="station:Chair 1").count()
    assert 2 <= station_saves <= 2 + wall_s / stations.ROW_SAVE_S + 1
    assert stations.live_view(session.pk) is None  # the station is free again
    # The nurse's record afterwards.
    workflow.record_after_session(session, sensation_score=3, side_effects=["tingling"])


def test_a_stop_order_ends_the_session_stopped(session: TreatmentSession) -> None:
    stations.start_stations(speed=60.0)
    stations.start_session(session.pk)
    wait_for(lambda: TraceChunk.objects.filter(session=session).exists())
    stations.stop_session(session.pk)
    wait_for(lambda: status_of(session) == SessionStatus.STOPPED, timeout_s=10)
    session.refresh_from_db()
    codes = list(SessionEventRow.objects.filter(session=session).values_list("code", flat=True))
    assert "patient_stop" in codes
    assert samples_of(session)[-1][1] == 0  # ramped down to zero before the end
    assert session.device_time_s < 60 * session.plan["minutes"]
    with pytest.raises(stations.StationError, match="not running"):
        stations.stop_session(session.pk)


def test_pain_steps_the_current_down(session: TreatmentSession) -> None:
    stations.start_stations(speed=100.0)
    stations.start_session(session.pk)
    wait_for(lambda: SessionEventRow.objects.filter(session=session, code="contact_made").exists())
    stations.report_pain(session.pk)
    wait_for(
        lambda: SessionEventRow.objects.filter(session=session, code="pain_step_down").exists(),
        timeout_s=5,
    )
    view = stations.live_view(session.pk)
    assert view is not None
    assert view.status is not None
    assert view.status.target_mA < session.plan["current_mA"]
    stations.stop_session(session.pk)
    wait_for(lambda: status_of(session) == SessionStatus.STOPPED, timeout_s=10)
    session.refresh_from_db()
    assert session.pain_reports == 1


def test_one_session_at_a_time_and_only_a_ready_one(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    first = prepared(make_referral, chair, users)
    with pytest.raises(stations.StationError, match="no stations"):
        stations.start_session(first.pk)
    stations.start_stations(speed=20.0)
    station = stations.start_session(first.pk)
    with pytest.raises(stations.StationError, match="busy"):
        station.submit(first.pk + 1000)
    wait_for(lambda: status_of(first) == SessionStatus.RUNNING)
    with pytest.raises(stations.StationError, match="running"):
        stations.start_session(first.pk)
    stations.stop_session(first.pk)
    wait_for(lambda: status_of(first) == SessionStatus.STOPPED, timeout_s=10)


def test_a_station_drives_a_board_on_a_serial_port(
    make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    """A chair whose device is a serial port: the same station and controller over the wire
    protocol (the simulated board on a pty, 50× real time, as tests/device/test_serial_link)."""
    stations.start_stations()
    with PtyDevice(VirtualPatient.from_seed(7, Region.PALMS, 34.0), speed=50.0) as board:
        # A chair put in service while the server runs gets its station when first used.
        chair = Chair.objects.create(name="Chair 2", device=board.port_name)
        session = prepared(make_referral, chair, users)
        assert session.simulator_seed is None
        station = stations.start_session(session.pk)
        assert station.device == board.port_name
        wait_for(lambda: SessionEventRow.objects.filter(session=session, code="contact_made"))
        wait_for(lambda: TraceChunk.objects.filter(session=session).exists())
        stations.stop_session(session.pk)
        wait_for(lambda: status_of(session) == SessionStatus.STOPPED, timeout_s=30)
    session.refresh_from_db()
    assert session.delivered_mA_min > 0
    samples = samples_of(session)
    times = [s[0] for s in samples]
    assert times == sorted(times)
    # A board sends 100 samples a second; the chart keeps 10.
    assert len(samples) <= 10 * session.device_time_s + 2
    assert samples[-1][1] == pytest.approx(0, abs=0.05)


def test_an_unreachable_board_leaves_the_session_ready_saying_why(
    make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    chair = Chair.objects.create(name="Chair 3", device="/dev/ionto-no-such-port")
    session = prepared(make_referral, chair, users)
    stations.start_stations()
    stations.start_session(session.pk)
    refusal = wait_for(
        lambda: SessionEventRow.objects.filter(session=session, code="station_refused").first()
    )
    assert "does not answer" in refusal.text
    wait_for(
        lambda: (
            stations.live_view(session.pk) is None
            and all(s.session_id is None for s in stations.stations())
        )
    )
    assert status_of(session) == SessionStatus.READY  # to start again once it is plugged in


def test_a_session_left_ready_can_be_withdrawn_and_the_patient_treated_on_another_chair(
    make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    """The board of the chair does not answer: the session stays ready, holding the chair and
    the visit. The nurse withdraws it (stop, before it started) and gives the patient's
    session on another chair."""
    broken = Chair.objects.create(name="Chair 3", device="/dev/ionto-no-such-port")
    session = prepared(make_referral, broken, users)
    stations.start_stations(speed=600.0)
    stations.start_session(session.pk)
    wait_for(lambda: SessionEventRow.objects.filter(session=session, code="station_refused"))
    wait_for(lambda: all(s.session_id is None for s in stations.stations()))
    assert stations.stop_session(session.pk) == stations.WITHDRAWN
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert session.started_at is None
    assert session.visit is None
    assert "withdrawn" in SessionEventRow.objects.filter(session=session).values_list(
        "code", flat=True
    )
    with pytest.raises(stations.StationError):
        stations.stop_session(session.pk)  # once
    visit = session.course.visits.get()
    assert visit.status == VisitStatus.BOOKED
    working = Chair.objects.create(name="Chair 4")
    again = workflow.prepare_session(
        visit, chair=working, checklist=list(workflow.PRE_SESSION_CHECKS), user=users["nurse"]
    )
    stations.start_session(again.pk)
    wait_for(lambda: status_of(again) == SessionStatus.RUNNING)
    entry = AuditEntry.objects.filter(
        model="clinic.TreatmentSession", object_pk=str(session.pk)
    ).last()
    assert entry is not None
    assert entry.data["status"] == "stopped"


# --- Shutdown and crashes ---------------------------------------------------------------------
def test_shutdown_ramps_running_sessions_down_and_saves_them_interrupted(
    session: TreatmentSession,
) -> None:
    stations.start_stations(speed=1.0)  # real time: the session would run for half an hour
    stations.start_session(session.pk)
    wait_for(lambda: SessionEventRow.objects.filter(session=session, code="contact_made").exists())
    wait_for(lambda: TraceChunk.objects.filter(session=session).exists())
    time.sleep(1.5)  # well into the ramp up
    began = time.monotonic()
    stations.stop_stations()
    assert time.monotonic() - began < 5  # the ramp down runs unpaced: nobody waits for it
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.ended_at is not None
    codes = list(SessionEventRow.objects.filter(session=session).values_list("code", flat=True))
    assert "station_shutdown" in codes
    samples = samples_of(session)
    assert max(abs(s[1]) for s in samples) > 0  # current had flowed …
    assert samples[-1][1] == 0  # … and was ramped down to zero
    assert stations.stations() == []


class StationCrash(BaseException):
    """The station's thread dies (as a killed process would take it): nothing is caught."""


def test_a_crashed_station_leaves_an_interrupted_session_with_its_trace(
    session: TreatmentSession,
) -> None:
    """The station's own writer, run in this thread, and killed mid-session: then the next
    server start finds the session still 'running' and closes it as interrupted."""
    # A session run unpaced still writes its trace "about once a wall second": on this clock
    # every update comes two seconds after the last.
    writer = stations.SessionWriter(session.pk, clock=itertools.count(0, 2).__next__)
    seen: list[LiveUpdate] = []

    def observer(update: LiveUpdate) -> None:
        writer(update)
        seen.append(update)
        if update.status.elapsed_s > 200 and TraceChunk.objects.filter(session=session).count():
            raise StationCrash

    writer.begin()
    live = simulated_session(stations.session_request(session), speed=None, observer=observer)
    with pytest.raises(StationCrash):
        live.run()
    assert status_of(session) == SessionStatus.RUNNING
    kept = samples_of(session)
    events = SessionEventRow.objects.filter(session=session).count()
    assert kept
    assert events

    closed = stations.recover_interrupted()

    assert closed == [session.pk]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert samples_of(session) == kept  # the trace so far, intact
    codes = list(SessionEventRow.objects.filter(session=session).values_list("code", flat=True))
    assert len(codes) == events + 1
    assert codes[-1] == "station_lost"
    assert session.device_time_s == pytest.approx(max(kept[-1][0], session.device_time_s))
    assert session.device_time_s >= kept[-1][0]
    assert session.delivered_mA_min > 0
    assert session.ended_at is not None
    assert session.started_at is not None
    assert session.ended_at - session.started_at <= dt.timedelta(seconds=session.device_time_s)
    assert stations.recover_interrupted() == []  # once


def test_a_session_starts_only_on_its_visits_day(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    """The frequency caps were checked for the visit's day: a session prepared at another
    day's visit (or left ready overnight) must not start today, or a patient could be treated
    twice in a day. Left ready, it no longer holds the chair."""
    referral = make_referral("planned")
    course = referral.courses.order_by("pk").first()
    assert course is not None
    yesterday, ahead = book_days(course, timezone.localdate() - dt.timedelta(days=1), [0, 2])
    checks = list(workflow.PRE_SESSION_CHECKS)
    with pytest.raises(workflow.WorkflowError, match="booked for") as refused:
        workflow.prepare_session(ahead, chair=chair, checklist=checks, user=users["nurse"])
    assert refused.value.status == 409
    stale = workflow.prepare_session(yesterday, chair=chair, checklist=checks, user=users["nurse"])
    stations.start_stations(speed=600.0)
    with pytest.raises(stations.StationError, match="booked for"):
        stations.start_session(stale.pk)
    assert status_of(stale) == SessionStatus.READY
    # Today's patient on the same chair is not kept waiting by yesterday's session.
    today = prepared(make_referral, chair, users)
    stations.start_session(today.pk)
    wait_for(lambda: status_of(today) == SessionStatus.RUNNING)
