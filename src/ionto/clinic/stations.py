"""Stations: the treatment chairs' devices, each driven by a thread of the server that owns it.

One :class:`Station` per chair in service. A session prepared at a visit (``workflow.
prepare_session``: status ``ready``) is handed to its chair's station, whose thread runs it on
the device — the simulated device (a virtual patient; ``Chair.device == "simulated"``) paced at
``settings.STATION_SPEED`` × real time, or a board on the serial port the chair names — with
the session controller of ``ionto.device`` (``ionto.device.live``). Nothing of it depends on a
web request: a browser that closes, or never opens, changes nothing.

**What reaches the database, as it happens** (each write its own short transaction, by the
station's thread, in the audit log as ``station:<chair>``):

* at the start: status ``running``, ``started_at``, the visit ``attended``;
* each event as it is logged (``SessionEventRow``);
* the chart's samples about once a wall second (``TraceChunk``: ``[t_s, current_mA,
  voltage_V, state]`` at 10 Hz of session time);
* dose, peak, device time, time at the target and pain reports every :data:`ROW_SAVE_S`
  (each save of the session row writes an audit entry: not more often);
* at the end: everything left, then the final status and ``ended_at``.

So a crash loses at most the last second of trace. :func:`recover_interrupted` (at server
start) closes every session left ``running`` — its station died with the process — as
``interrupted``, keeping its trace and events. :func:`stop_stations` (a clean shutdown) ramps
running sessions down and saves them ``interrupted``.

The stations live in the server's process: ``ionto serve`` runs the web server and the
stations together, and the pages reach a station through this module (stop, pain, the live
status). Run exactly one such process per database.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from ionto.clinic import audit, workflow
from ionto.clinic.models import (
    Chair,
    SessionEventRow,
    SessionStatus,
    TraceChunk,
    TreatmentSession,
    VisitStatus,
)
from ionto.device.controller import UA_MS_PER_MA_MIN, Phase, SessionEvent
from ionto.device.live import (
    DEFAULT_SAMPLE_HZ,
    LiveObserver,
    LiveOutcome,
    LiveSession,
    LiveStatus,
    LiveUpdate,
    simulated_session,
)
from ionto.device.session import SessionRequest, build_plan
from ionto.therapy.vocabulary import Region, Reversal, Solution, Waveform

log = logging.getLogger(__name__)

SIMULATED = "simulated"
#: The trace reaches the database about this often (s of wall time): a crash loses no more.
TRACE_FLUSH_S = 1.0
#: The session row (dose so far, …) is saved this often while running (s of wall time): each
#: save writes an audit entry, so not at every chunk.
ROW_SAVE_S = 5.0
#: How long a station waits for a handed-over session to be visible (s): the request that
#: prepared it commits when its page is answered, just after handing it over.
READY_WAIT_S = 10.0
#: How long :func:`stop_stations` waits for each station to save its session (s): a board ramps
#: down in its own real time (the protocol's ramp, 30 s, and the controller's 5 s margin).
STOP_WAIT_S = 45.0
#: Tries of a final write before the station gives up (the session is then left ``running``
#: and closed as interrupted at the next start, with everything written before).
FINAL_WRITE_TRIES = 5

#: The controller's phases in a nurse's words (the live page and the API).
PHASE_WORDS: dict[str, str] = {
    Phase.IDLE: "Getting ready",
    Phase.CHECK_CONTACT: "Waiting for contact: hands or feet in the water",
    Phase.RAMP_UP: "Ramping up the current",
    Phase.TREAT: "Treating at the set current",
    Phase.REVERSING: "Reversing the polarity (through zero)",
    Phase.PAUSED: "Paused: contact lost, the timer is held",
    Phase.RAMP_DOWN: "Ramping down to zero",
    Phase.COMPLETED: "Completed",
    Phase.STOPPED: "Stopped",
    Phase.ABORTED: "Ended by a safety rule",
    Phase.FAULT: "Ended by a device fault",
}

#: A session's status in a nurse's words.
STATUS_WORDS: dict[str, str] = {
    SessionStatus.READY: "Ready to start",
    SessionStatus.RUNNING: "Running",
    SessionStatus.COMPLETED: "Completed",
    SessionStatus.STOPPED: "Stopped early",
    SessionStatus.ABORTED: "Ended by a safety rule",
    SessionStatus.FAULT: "Ended by a device fault",
    SessionStatus.INTERRUPTED: "Interrupted: the station stopped",
}

_FINAL = {
    "completed": SessionStatus.COMPLETED,
    "stopped": SessionStatus.STOPPED,
    "aborted": SessionStatus.ABORTED,
    "fault": SessionStatus.FAULT,
    "interrupted": SessionStatus.INTERRUPTED,
}

#: The device states during which current is treatment (for the dose of a lost last second).
_TREATING_STATES = frozenset({"ramp_up", "on", "ramp_down", "reversing"})


class StationError(Exception):
    """A station cannot do what was asked (answered 409 with ``message``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DeviceUnreachableError(StationError):
    """The chair's device cannot be reached (a board unplugged, switched off)."""


# =============================================================================================
# The plan, as the session engine takes it
# =============================================================================================
def session_request(session: TreatmentSession) -> SessionRequest:
    """The session engine's request for a prepared session: its plan and, on a simulated
    station, its virtual patient. The therapy core's caps are applied again by the engine."""
    plan = session.plan
    try:
        return SessionRequest(
            region=Region(plan["region"]),
            age_years=float(plan["age_years"]),
            solution=Solution(plan["solution"]),
            current_mA=float(plan["current_mA"]),
            minutes=float(plan["minutes"]),
            waveform=Waveform(plan["waveform"]),
            reversal=Reversal(plan["reversal"]),
            seed=session.simulator_seed or 0,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise StationError(f"the session's plan cannot be run: {error}") from None


def planned_mA_min(session: TreatmentSession) -> float | None:
    """The dose the session engine plans for this session, both polarities (the ramps counted
    as the controller counts them); None when its plan cannot be run."""
    try:
        _protocol, plan, _limits = build_plan(session_request(session))
    except (StationError, ValueError):
        return None
    return plan.planned_uA_ms() * plan.phases / UA_MS_PER_MA_MIN


def station_speed() -> float:
    """``settings.STATION_SPEED``: how much faster than real time simulated devices run."""
    speed = float(getattr(settings, "STATION_SPEED", 1.0))
    if not speed > 0 or speed == float("inf"):
        log.warning("STATION_SPEED %r is not a positive number: running at real time", speed)
        return 1.0
    return speed


# =============================================================================================
# Writing a running session to the database
# =============================================================================================
def _row(sample: Any) -> list[Any]:
    return [sample.t_s, round(sample.current_mA, 3), round(sample.voltage_V, 2), sample.state]


class SessionWriter:
    """The observer of one live session: keeps the database up to date from the station's
    thread (see the module docstring), and the latest status and unsaved samples for the live
    page (read from the web's threads).

    A database error while running is logged and the data kept for the next try: the device
    is never held up by the database.
    """

    def __init__(self, session_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.session_id = session_id
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: list[list[Any]] = []
        self._events: list[SessionEvent] = []
        self._next_seq = 0
        self._status: LiveStatus | None = None
        self._last_trace = clock()
        self._last_row = clock()

    # --- read by the web ----------------------------------------------------------------------
    @property
    def status(self) -> LiveStatus | None:
        return self._status

    def tail(self) -> tuple[int, list[list[Any]]]:
        """The samples not yet in the database, and the sequence number they will be saved
        under: the live chart shows them at once, and drops them when that chunk arrives."""
        with self._lock:
            return self._next_seq, list(self._samples)

    # --- the station's thread ----------------------------------------------------------------
    def begin(self) -> TreatmentSession:
        """Mark the session running (and the visit attended). StationError if it is not ready."""
        with transaction.atomic():
            session = TreatmentSession.objects.select_for_update().get(pk=self.session_id)
            if session.status != SessionStatus.READY:
                raise StationError(f"session {session.pk} is {session.status}, not ready")
            session.status = SessionStatus.RUNNING
            session.started_at = timezone.now()
            session.save(update_fields=["status", "started_at"])
            visit = session.visit
            if visit is not None and visit.status == VisitStatus.BOOKED:
                visit.status = VisitStatus.ATTENDED
                visit.save(update_fields=["status"])
            workflow.refresh_stage(session.course.referral)
        last = TraceChunk.objects.filter(session_id=self.session_id).order_by("-seq").first()
        self._next_seq = last.seq + 1 if last else 0
        return session

    def __call__(self, update: LiveUpdate) -> None:
        with self._lock:
            self._samples.extend(_row(s) for s in update.samples)
            self._status = update.status
        if update.events:
            self._events.extend(update.events)
            self._try(self._write_events)
        now = self._clock()
        if now - self._last_trace >= TRACE_FLUSH_S:
            self._last_trace = now
            self._try(self._write_trace)
        if now - self._last_row >= ROW_SAVE_S:
            self._last_row = now
            self._try(lambda: self._save_progress(update.status))

    def finish(self, outcome: LiveOutcome) -> None:
        """Everything left, then the final status: retried, as this is the record's end."""
        status = _FINAL.get(outcome.state, SessionStatus.ABORTED)
        for attempt in range(FINAL_WRITE_TRIES):
            try:
                self._write_events()
                self._write_trace()
                self._close(status)
                return
            except DatabaseError:
                log.exception(
                    "session %s: saving its end failed (try %d)", self.session_id, attempt
                )
                time.sleep(1.0 + attempt)
        log.error("session %s: its end could not be saved; left running", self.session_id)

    def crashed(self, error: BaseException) -> None:
        """The station's own code failed mid-session: keep what there is, as interrupted."""
        self._events.append(
            SessionEvent(
                self._status.elapsed_s if self._status else 0.0,
                "station_error",
                f"The station failed during the session ({type(error).__name__}): the record "
                "ends here. A device left running ramps down by its own watchdog.",
            )
        )
        try:
            self._write_events()
            self._write_trace()
            self._close(SessionStatus.INTERRUPTED)
        except DatabaseError:
            log.exception("session %s: saving it as interrupted failed", self.session_id)

    def refuse(self, message: str, *, for_good: bool) -> None:
        """The session could not be started, said as an event on it. ``for_good`` (its plan
        can never run): aborted. Otherwise (the device did not answer) it stays ready, to be
        started again once the device is put right."""
        text = message[:1].upper() + message[1:]
        self._events.append(SessionEvent(0.0, "station_refused", text))
        try:
            with transaction.atomic():
                session = TreatmentSession.objects.select_for_update().get(pk=self.session_id)
                if session.status != SessionStatus.READY:
                    return
                self._write_events()
                if for_good:
                    session.status = SessionStatus.ABORTED
                    session.ended_at = timezone.now()
                    session.save(update_fields=["status", "ended_at"])
        except DatabaseError:
            log.exception("session %s: saving the refusal failed", self.session_id)

    # --- the writes --------------------------------------------------------------------------
    def _try(self, write: Callable[[], None]) -> None:
        try:
            write()
        except DatabaseError:
            # The device goes on whatever the database does; the data waits for the next try.
            log.exception("session %s: a write to the database failed", self.session_id)

    def _write_events(self) -> None:
        if not self._events:
            return
        events = list(self._events)
        with transaction.atomic():
            for event in events:
                SessionEventRow.objects.create(
                    session_id=self.session_id, t_s=event.t_s, code=event.code, text=event.text
                )
        del self._events[: len(events)]

    def _write_trace(self) -> None:
        with self._lock:
            seq, rows = self._next_seq, list(self._samples)
        if not rows:
            return
        with transaction.atomic():
            TraceChunk.objects.create(session_id=self.session_id, seq=seq, samples=rows)
        with self._lock:
            del self._samples[: len(rows)]
            self._next_seq = seq + 1

    def _save_progress(self, status: LiveStatus) -> None:
        with transaction.atomic():
            session = TreatmentSession.objects.select_for_update().get(pk=self.session_id)
            _put_status(session, status)
            session.save(update_fields=_PROGRESS_FIELDS)

    def _close(self, status: str) -> None:
        """The final status, with the final dose (the last status published is the record's:
        it is published after the controller has returned)."""
        with transaction.atomic():
            session = TreatmentSession.objects.select_for_update().get(pk=self.session_id)
            fields = ["status", "ended_at"]
            if self._status is not None:
                _put_status(session, self._status)
                fields += _PROGRESS_FIELDS
            session.status = status
            session.ended_at = timezone.now()
            session.save(update_fields=fields)
            workflow.refresh_stage(session.course.referral)


_PROGRESS_FIELDS = [
    "device_time_s",
    "treated_s",
    "forward_mA_min",
    "reverse_mA_min",
    "peak_current_mA",
    "pain_reports",
]


def _put_status(session: TreatmentSession, status: LiveStatus) -> None:
    session.device_time_s = round(status.elapsed_s, 3)
    session.treated_s = round(status.treated_s, 3)
    session.forward_mA_min = round(status.forward_mA_min, 4)
    session.reverse_mA_min = round(status.reverse_mA_min, 4)
    session.peak_current_mA = round(status.peak_current_mA, 3)
    session.pain_reports = status.pain_reports


# =============================================================================================
# A station
# =============================================================================================
class Station:
    """A chair's device and the thread that owns it; runs one session at a time."""

    def __init__(self, chair: Chair, *, speed: float | None = None) -> None:
        self.chair_id = chair.pk
        self.name = chair.name
        self.device = chair.device
        self._speed = speed
        self._orders: queue.Queue[int | None] = queue.Queue()
        self._lock = threading.Lock()
        self._session_id: int | None = None  # handed over, starting or running
        self._live: LiveSession | None = None
        self._writer: SessionWriter | None = None
        self._early_orders: list[str] = []  # stop/pain pressed before the device started
        self._closing = False
        self._thread = threading.Thread(
            target=self._serve, name=f"ionto-station-{self.name}", daemon=True
        )

    @property
    def simulated(self) -> bool:
        return self.device == SIMULATED

    @property
    def session_id(self) -> int | None:
        return self._session_id

    def start(self) -> None:
        self._thread.start()

    # --- orders from the web (any thread) -----------------------------------------------------
    def submit(self, session_id: int) -> None:
        with self._lock:
            if self._closing:
                raise StationError(f"{self.name}'s station is shutting down")
            if self._session_id is not None:
                raise StationError(f"{self.name} is busy with session {self._session_id}")
            self._session_id = session_id
            self._early_orders = []
        self._orders.put(session_id)

    def order(self, session_id: int, what: str) -> None:
        """``stop`` or ``pain`` for the session this station runs; StationError otherwise."""
        with self._lock:
            if self._session_id != session_id:
                raise StationError(f"session {session_id} is not running on {self.name}")
            live = self._live
            if live is None:
                self._early_orders.append(what)
                return
        done = live.press_stop() if what == "stop" else live.report_pain()
        if not done:
            raise StationError(f"session {session_id} has already ended")

    def view(self, session_id: int) -> SessionWriter | None:
        with self._lock:
            return self._writer if self._session_id == session_id else None

    def shut_down(self) -> None:
        """Ramp the running session down (saved interrupted), then end the thread."""
        with self._lock:
            self._closing = True
            live = self._live
        if live is not None:
            live.shut_down()
        self._orders.put(None)

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # --- the station's thread ----------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            session_id = self._orders.get()
            if session_id is None:
                return
            try:
                with audit.acting_as(f"station:{self.name}"):
                    self._run(session_id)
            except Exception:
                log.exception("%s: session %s failed", self.name, session_id)
            finally:
                with self._lock:
                    self._session_id = None
                    self._live = None
                    self._writer = None
                # This thread's database connections: not kept between sessions.
                connections.close_all()

    def _run(self, session_id: int) -> None:
        if not self._await_ready(session_id):
            log.warning("%s: session %s never became ready to start", self.name, session_id)
            return
        writer = SessionWriter(session_id)
        try:
            session = TreatmentSession.objects.get(pk=session_id)
            live, link_close = self._live_session(session_request(session), writer)
        except DeviceUnreachableError as refusal:
            writer.refuse(refusal.message, for_good=False)
            return
        except StationError as refusal:
            writer.refuse(refusal.message, for_good=True)
            return
        except ValueError as refusal:  # the session engine's own checks of the plan
            writer.refuse(f"the session's plan cannot be run: {refusal}", for_good=True)
            return
        try:
            with self._lock:
                if self._closing:
                    return  # shutting down before it started: left ready for next time
            writer.begin()
            with self._lock:
                self._live = live
                self._writer = writer
                early, self._early_orders = self._early_orders, []
                closing = self._closing
            if closing:
                live.shut_down()
            for what in early:
                if what == "stop":
                    live.press_stop()
                else:
                    live.report_pain()
            try:
                outcome = live.run()
            except Exception as error:
                log.exception("%s: session %s crashed", self.name, session_id)
                writer.crashed(error)
                return
            writer.finish(outcome)
        finally:
            link_close()

    def _await_ready(self, session_id: int) -> bool:
        deadline = time.monotonic() + READY_WAIT_S
        while time.monotonic() < deadline:
            status = (
                TreatmentSession.objects.filter(pk=session_id)
                .values_list("status", flat=True)
                .first()
            )
            if status == SessionStatus.READY:
                return True
            if status is not None:
                return False  # started or ended elsewhere: not this station's to run
            with self._lock:
                if self._closing:
                    return False
            time.sleep(0.02)
        return False

    def _live_session(
        self, request: SessionRequest, observer: LiveObserver
    ) -> tuple[LiveSession, Callable[[], None]]:
        if self.simulated:
            speed = self._speed if self._speed is not None else station_speed()
            live = simulated_session(request, speed=speed, observer=observer)
            return live, live.link.close
        return _serial_session(self.name, self.device, request, observer)


def _serial_session(
    name: str, port: str, request: SessionRequest, observer: LiveObserver
) -> tuple[LiveSession, Callable[[], None]]:
    """A board on a serial port: the same controller, in the board's own real time."""
    from ionto.device.serial_link import SerialLink, SerialLinkError

    _protocol, plan, _limits = build_plan(request)
    try:
        link = SerialLink(port)
    except SerialLinkError as error:
        raise DeviceUnreachableError(
            f"{name}: the device on {port} does not answer: {error}"
        ) from None
    live = LiveSession(
        link, plan, speed=None, realtime=True, sample_hz=DEFAULT_SAMPLE_HZ, observer=observer
    )
    return live, link.close


# =============================================================================================
# The stations of this server
# =============================================================================================
_registry_lock = threading.Lock()
_stations: dict[int, Station] = {}
_running = False
_speed: float | None = None  # start_stations' override of settings.STATION_SPEED


def start_stations(*, speed: float | None = None) -> list[Station]:
    """Start one station per chair in service (again: a no-op). ``speed`` overrides
    ``settings.STATION_SPEED`` for the simulated ones (tests)."""
    global _running, _speed
    with _registry_lock:
        if not _running:
            _speed = speed
            for chair in Chair.objects.filter(in_service=True).order_by("name"):
                _add(chair)
            _running = True
        return list(_stations.values())


def _add(chair: Chair) -> Station:
    station = Station(chair, speed=_speed)
    station.start()
    _stations[chair.pk] = station
    return station


def stop_stations(timeout_s: float = STOP_WAIT_S) -> None:
    """Shut every station down: running sessions ramp down and are saved interrupted."""
    global _running
    with _registry_lock:
        stations = list(_stations.values())
        _stations.clear()
        _running = False
    for station in stations:
        station.shut_down()
    for station in stations:
        if not station.join(timeout_s):
            log.error("%s: its station did not stop within %s s", station.name, timeout_s)


def stations() -> list[Station]:
    with _registry_lock:
        return list(_stations.values())


def _station_of(chair: Chair) -> Station:
    with _registry_lock:
        if not _running:
            raise StationError(
                "no stations are running in this server: sessions run under `ionto serve`"
            )
        station = _stations.get(chair.pk)
        if station is None or (station.device, station.name) != (chair.device, chair.name):
            if not chair.in_service:
                raise StationError(f"{chair.name} is out of service")
            if station is not None:
                if station.session_id is not None:
                    raise StationError(f"{chair.name} is busy with session {station.session_id}")
                station.shut_down()  # idle: its thread ends at once
            # A chair added, renamed or given another device while the server runs.
            station = _add(chair)
        return station


def _running_station(session_id: int) -> Station | None:
    return next((s for s in stations() if s.session_id == session_id), None)


def start_session(session_id: int) -> Station:
    """Hand a ``ready`` session to its chair's station, which starts it as soon as the
    caller's transaction is committed. StationError (409) says why it cannot."""
    session = TreatmentSession.objects.select_related(
        "chair", "visit", "course__referral__patient"
    ).get(pk=session_id)
    if session.status != SessionStatus.READY:
        raise StationError(f"the session is {session.status}: only a ready session can start")
    try:
        # Prepared earlier: what allowed it then must still hold now, on the visit's day.
        workflow.check_session_start(session)
    except workflow.WorkflowError as refusal:
        raise StationError(refusal.message) from None
    station = _station_of(session.chair)
    station.submit(session_id)
    return station


#: What :func:`stop_session` did.
STOPPING = "stopping"
WITHDRAWN = "withdrawn"


def stop_session(session_id: int) -> str:
    """The nurse presses stop: the station ramps the current down; the session ends stopped
    (:data:`STOPPING`). A session still ready and on no station (its device did not answer,
    or it was prepared on the wrong chair) is withdrawn (:data:`WITHDRAWN`): it ends stopped
    without having started, and lets go of its chair and its visit, at which the patient's
    session can then be prepared again."""
    if _running_station(session_id) is None and _withdraw(session_id):
        return WITHDRAWN
    _order(session_id, "stop")
    return STOPPING


def _withdraw(session_id: int) -> bool:
    # The row lock first, then the save (the audit chain's lock): the order a station's
    # thread takes them in, so that the two never wait for each other.
    with transaction.atomic():
        session = TreatmentSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None or session.status != SessionStatus.READY:
            return False
        if _running_station(session_id) is not None:  # handed to a station meanwhile
            return False
        visit = session.visit
        when = f" of {timezone.localtime(visit.starts_at):%d %B %Y, %H:%M}" if visit else ""
        SessionEventRow.objects.create(
            session=session,
            t_s=0.0,
            code="withdrawn",
            text=f"Withdrawn before it started: the visit{when} is free for another session.",
        )
        session.status = SessionStatus.STOPPED
        session.ended_at = timezone.now()
        session.visit = None
        session.save()
        workflow.refresh_stage(session.course.referral)
    return True


def report_pain(session_id: int) -> None:
    """The patient says it hurts: the station steps the current down (or stops)."""
    _order(session_id, "pain")


def _order(session_id: int, what: str) -> None:
    station = _running_station(session_id)
    if station is None:
        raise StationError(f"session {session_id} is not running on a station of this server")
    station.order(session_id, what)


@dataclass(frozen=True)
class LiveView:
    """A running session as its station sees it now (fresher than the database)."""

    status: LiveStatus | None
    tail_seq: int
    tail: list[list[Any]]
    station: str


def live_view(session_id: int) -> LiveView | None:
    """The live status and unsaved samples of a session running here; None otherwise."""
    station = _running_station(session_id)
    writer = station.view(session_id) if station is not None else None
    if station is None or writer is None:
        return None
    seq, tail = writer.tail()
    return LiveView(status=writer.status, tail_seq=seq, tail=tail, station=station.name)


# =============================================================================================
# After a crash
# =============================================================================================
def recover_interrupted() -> list[int]:
    """Close every session left ``running`` by a station that died with its process as
    ``interrupted``, keeping its trace and events (run at server start, before the stations).
    Sessions running on a station of this process are left alone. Returns the ids closed."""
    mine = {s.session_id for s in stations()}
    ids = [
        pk
        for pk in TreatmentSession.objects.filter(status=SessionStatus.RUNNING)
        .order_by("pk")
        .values_list("pk", flat=True)
        if pk not in mine
    ]
    with audit.acting_as("system:recovery"):
        for pk in ids:
            _close_interrupted(pk)
    return ids


def _close_interrupted(session_id: int) -> None:
    with transaction.atomic():
        session = TreatmentSession.objects.select_for_update().get(pk=session_id)
        if session.status != SessionStatus.RUNNING:
            return
        samples = _stored_samples(session)
        last_event_t = (
            SessionEventRow.objects.filter(session=session)
            .order_by("-t_s")
            .values_list("t_s", flat=True)
            .first()
        )
        last_t = max([session.device_time_s, *(s[0] for s in samples[-1:]), last_event_t or 0.0])
        # The dose of the seconds after the row's last save, from the trace (10 Hz).
        forward, reverse = _trace_dose_mA_min(samples, after_s=session.device_time_s)
        session.forward_mA_min = round(session.forward_mA_min + forward, 4)
        session.reverse_mA_min = round(session.reverse_mA_min + reverse, 4)
        session.peak_current_mA = max(
            [session.peak_current_mA, *(abs(float(s[1])) for s in samples)]
        )
        session.device_time_s = round(last_t, 3)
        SessionEventRow.objects.create(
            session=session,
            t_s=last_t,
            code="station_lost",
            text="The station stopped during the session (the server crashed or was killed): "
            "the record ends at the last second saved. A device left running ramps down by "
            "its own watchdog when the station goes quiet.",
        )
        session.status = SessionStatus.INTERRUPTED
        started = session.started_at or timezone.now()
        session.ended_at = min(timezone.now(), started + dt.timedelta(seconds=last_t))
        session.save()
        workflow.refresh_stage(session.course.referral)


def _stored_samples(session: TreatmentSession) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for chunk in TraceChunk.objects.filter(session=session).order_by("seq"):
        rows.extend(s for s in chunk.samples if isinstance(s, list) and len(s) >= 4)
    return rows


def _trace_dose_mA_min(samples: Iterable[list[Any]], *, after_s: float) -> tuple[float, float]:
    """Charge per polarity (mA·min) between trace samples later than ``after_s`` (trapezoids;
    treatment states only, as the device counts)."""
    forward = reverse = 0.0
    before: list[Any] | None = None
    for sample in samples:
        if before is not None and float(sample[0]) > after_s and sample[3] in _TREATING_STATES:
            dt_min = (float(sample[0]) - max(float(before[0]), after_s)) / 60
            mean_mA = (float(before[1]) + float(sample[1])) / 2
            if mean_mA >= 0:
                forward += mean_mA * dt_min
            else:
                reverse -= mean_mA * dt_min
        before = sample
    return forward, reverse
