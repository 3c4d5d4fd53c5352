"""A treatment session in real time, on a station: the same controller, paced by the wall clock.

``ionto session simulate`` (``ionto.device.session``) runs device time as fast as the machine
allows. A station in the clinic runs a session while a nurse and a patient watch it, so here:

* :class:`PacedLink` wraps any :class:`~ionto.device.link.DeviceLink` and lets device time run
  no faster than the wall clock × ``speed`` (1 for a real treatment; 60 for a demonstration;
  ``None``: as fast as it can). A link that waits in real time by itself (a board on a serial
  port) is given ``speed=None`` and is only cut into short slices. Its ``run_until`` returns
  early when an outside input arrives (the nurse's stop, the patient's pain, a shutdown), so
  the controller acts on it within one slice of wall time (tens of milliseconds).
* :class:`LiveSession` runs :meth:`SessionController.run` on such a link, with a thread-safe
  input queue feeding the controller's :class:`~ionto.device.controller.InputSource`, and
  publishes its progress to an observer as it goes: the chart's samples (downsampled, 10 Hz by
  default), the events as they are logged, the phase, the dose per polarity so far, the
  elapsed and (estimated) remaining time.

**Same session as the simulator.** With no outside input, a paced simulated session is the very
session ``run_session`` gives for the same request at the same trace rate: the link cuts device
time only at sample ticks, where the simulator cuts its stretches anyway, and hands the
controller each wake's progress whole, so the firmware and the patient see the same steps and
the controller the same wakes. (At another trace rate, ``run_session``'s default of none
included, the simulator cuts its stretches at other ticks, and a stretch's closed-form step and
whole-µA·ms charge come out a little differently: the dose then differs by about a millionth.)

**Shutdown** (the server stops): the controller is asked to stop, the device ramps down, and
the session ends *interrupted*. The simulated ramp down then runs unpaced — nobody watches it
and the server should exit at once; a board ramps down in its own time regardless.

Thread model: :meth:`LiveSession.run` runs in the station's thread, which owns the device; the
observer is called from that thread. :meth:`~LiveSession.press_stop`,
:meth:`~LiveSession.report_pain`, :meth:`~LiveSession.shut_down` and
:attr:`~LiveSession.status` may be called from any thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from ionto.device.controller import (
    ENDS,
    UA_MS_PER_MA_MIN,
    InputSource,
    PainSource,
    Phase,
    ScheduledInput,
    SessionController,
    SessionEvent,
    SessionInput,
    SessionPlan,
    SessionRecord,
)
from ionto.device.link import DeviceLink, DeviceSample, Progress, Reply
from ionto.device.session import SessionRequest, build_plan, end_state, simulated_device
from ionto.device.wire import DeviceState, FaultCode, HostMessage, Polarity

#: Chart samples per second (derived: smooth to the eye, and a 20-minute session is ~13,000
#: points, which a browser chart draws at once).
DEFAULT_SAMPLE_HZ = 10
#: A paced link lets device time catch up at most this often (s of wall time; derived: fewer,
#: larger slices at high speeds, still well inside the ~100 ms in which an input is acted on).
MIN_SLICE_S = 0.02
#: The longest single sleep of a paced link (s; derived): a bound on any missed wake-up.
MAX_SLEEP_S = 0.25


# --- Wall time ---------------------------------------------------------------------------------
class WallClock(Protocol):
    """Where a paced link reads the time and sleeps (a fake in the tests)."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        """Sleep ``seconds``, or less when ``wake`` is set."""
        ...


class MonotonicClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        wake.wait(seconds)


class LiveLink(DeviceLink, Protocol):
    """A link whose last reading can be asked for (both the simulator and the serial link)."""

    @property
    def last_sample(self) -> DeviceSample: ...


def _state_key(sample: DeviceSample) -> tuple[DeviceState, Polarity, FaultCode]:
    return (sample.state, sample.polarity, sample.fault)


class _Tally:
    """The progress of several slices, added up as one (what the inner link would have said
    for the whole stretch)."""

    def __init__(self, last: DeviceSample) -> None:
        self.last = last
        self.forward_uA_ms = 0
        self.reverse_uA_ms = 0
        self.peak_uA = 0
        self.samples: list[DeviceSample] = []

    def add(self, progress: Progress) -> None:
        self.last = progress.last
        self.forward_uA_ms += progress.forward_uA_ms
        self.reverse_uA_ms += progress.reverse_uA_ms
        self.peak_uA = max(self.peak_uA, progress.peak_uA)
        self.samples.extend(progress.samples)

    def progress(self) -> Progress:
        return Progress(
            last=self.last,
            forward_uA_ms=self.forward_uA_ms,
            reverse_uA_ms=self.reverse_uA_ms,
            peak_uA=self.peak_uA,
            samples=tuple(self.samples),
        )


class PacedLink:
    """A :class:`DeviceLink` whose device time runs no faster than wall time × ``speed``.

    Device time is cut only at multiples of ``period_ticks`` (the sample period) or at the tick
    the caller asked for, and the slices of one ``run_until`` are handed back as one
    :class:`Progress`, ending early — as the inner link does — at a change of state, polarity
    or fault; and also when ``wake`` is set (an outside input waits: ``wake`` is cleared and
    what ran so far is returned).

    ``on_slice`` is called with each slice's samples as soon as it has run, and with none when
    ``run_until`` begins (the caller may have logged something since the last slice).

    ``realtime``: the inner link waits in real time by itself (a board on a serial port); it
    is not paced (``speed`` must be None) but still cut at every sample period, so that an
    outside input is seen within one period.
    """

    def __init__(
        self,
        inner: LiveLink,
        *,
        speed: float | None,
        period_ticks: int,
        wake: threading.Event,
        on_slice: Callable[[Sequence[DeviceSample]], None] | None = None,
        clock: WallClock | None = None,
        realtime: bool = False,
    ) -> None:
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be above 0 (or None: unpaced), got {speed}")
        if realtime and speed is not None:
            raise ValueError("a link that runs in real time by itself is not paced: speed None")
        if period_ticks < 1:
            raise ValueError(f"the slice period must be at least 1 tick, got {period_ticks}")
        self.inner = inner
        self._speed = speed
        self._period = period_ticks
        self._wake = wake
        self._on_slice = on_slice
        self._clock = clock or MonotonicClock()
        self._realtime = realtime
        self._anchor: tuple[float, int] | None = None  # (wall s, device tick) when pacing began
        self._key = _state_key(inner.last_sample)
        self._tally: _Tally | None = None

    @property
    def speed(self) -> float | None:
        return self._speed

    def unpace(self) -> None:
        """From now on, run device time as fast as the machine allows (shutdown)."""
        self._speed = None

    # --- DeviceLink --------------------------------------------------------------------------
    @property
    def tick(self) -> int:
        return self.inner.tick

    @property
    def last_sample(self) -> DeviceSample:
        return self.inner.last_sample

    def send(self, message: HostMessage) -> Reply:
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()

    @property
    def in_flight_uA_ms(self) -> tuple[int, int]:
        """Charge (forward, reverse) run in the current ``run_until`` and not yet handed to the
        caller: the dose so far is the caller's count plus this."""
        tally = self._tally
        return (tally.forward_uA_ms, tally.reverse_uA_ms) if tally else (0, 0)

    def run_until(self, tick: int) -> Progress:
        inner = self.inner
        tally = _Tally(inner.last_sample)
        self._tally = tally
        try:
            if self._on_slice is not None:
                self._on_slice(())
            while inner.tick < tick:
                if self._wake.is_set():
                    self._wake.clear()
                    break
                stop = self._next_stop(tick)
                if stop is None:
                    continue
                progress = inner.run_until(stop)
                tally.add(progress)
                if self._on_slice is not None:
                    self._on_slice(progress.samples)
                key = _state_key(progress.last)
                if key != self._key:
                    self._key = key
                    break
            return tally.progress()
        finally:
            self._tally = None

    # --- pacing --------------------------------------------------------------------------------
    def _next_stop(self, tick: int) -> int | None:
        """The tick to run to now, or None after waiting for wall time to allow more."""
        speed = self._speed
        now_tick = self.inner.tick
        if speed is None:
            self._anchor = None
            if self._realtime:
                return min(tick, (now_tick // self._period + 1) * self._period)
            return tick
        if self._anchor is None:
            self._anchor = (self._clock.now(), now_tick)
        wall0, tick0 = self._anchor
        allowed = tick0 + math.floor((self._clock.now() - wall0) * speed * 1000)
        if allowed >= tick:
            return tick
        boundary = allowed // self._period * self._period
        if boundary > now_tick:
            return boundary
        next_boundary = (now_tick // self._period + 1) * self._period
        want = min(tick, max(next_boundary, now_tick + math.ceil(MIN_SLICE_S * speed * 1000)))
        delay = wall0 + (want - tick0) / (speed * 1000) - self._clock.now()
        if delay > 0:
            self._clock.sleep(min(delay, MAX_SLEEP_S), self._wake)
        return None


# --- What a live session publishes ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiveSample:
    """One point of the chart: session time, current (signed: negative in reverse polarity),
    voltage, and the device's state."""

    t_s: float
    current_mA: float
    voltage_V: float
    state: str


@dataclass(frozen=True)
class LiveStatus:
    """Where the session stands (times in s of session time, from its start)."""

    phase: Phase
    elapsed_s: float
    #: An estimate: the time at the target still planned plus the ramps still to come (the
    #: controller may stretch the time at the target to deliver the dose; clinical-reference §2).
    remaining_s: float
    target_mA: float
    current_mA: float
    voltage_V: float
    forward_mA_min: float
    reverse_mA_min: float
    planned_mA_min: float
    peak_current_mA: float
    treated_s: float
    pain_reports: int
    #: The station is shutting down: the session will end interrupted.
    shutting_down: bool = False

    @property
    def finished(self) -> bool:
        return self.phase in ENDS

    @property
    def delivered_mA_min(self) -> float:
        return self.forward_mA_min + self.reverse_mA_min


@dataclass(frozen=True)
class LiveUpdate:
    """What happened since the last update: new chart samples, new events, the status now."""

    status: LiveStatus
    samples: tuple[LiveSample, ...] = ()
    events: tuple[SessionEvent, ...] = ()


LiveObserver = Callable[[LiveUpdate], None]


@dataclass(frozen=True)
class LiveOutcome:
    plan: SessionPlan
    record: SessionRecord
    #: Every device sample the session produced (the chart's, before downsampling).
    samples: tuple[DeviceSample, ...]
    #: The station shut down during the session: it was ramped down and ended early.
    interrupted: bool

    @property
    def state(self) -> str:
        """completed, stopped, aborted, fault — or interrupted."""
        return "interrupted" if self.interrupted else end_state(self.record.phase)


class _Order(StrEnum):
    PAIN = "pain"
    STOP = "stop"
    SHUTDOWN = "shutdown"


class _OutsideInputs(InputSource):
    """The scripted inputs, plus what people press while the session runs (any thread): each
    is taken at the device tick at which the controller next looks, which the paced link makes
    come at once."""

    def __init__(
        self,
        scripted: Iterable[ScheduledInput],
        wake: threading.Event,
        on_shutdown: Callable[[], None],
    ) -> None:
        super().__init__(scripted)
        self._lock = threading.Lock()
        self._orders: list[_Order] = []
        self._wake = wake
        self._on_shutdown = on_shutdown

    def put(self, order: _Order) -> None:
        with self._lock:
            self._orders.append(order)
        self._wake.set()  # after the order is queued: the link returns, the controller finds it

    def due(self, tick: int) -> list[ScheduledInput]:
        with self._lock:
            orders, self._orders = self._orders, []
        outside: list[ScheduledInput] = []
        for order in orders:
            if order is _Order.PAIN:
                outside.append(ScheduledInput(tick, SessionInput.PAIN))
                continue
            if order is _Order.SHUTDOWN:
                self._on_shutdown()
            outside.append(ScheduledInput(tick, SessionInput.STOP))
            break  # a stop ends the session: anything pressed after it has nothing to act on
        return [*super().due(tick), *outside]


class LiveSession:
    """One session on a link, in real time (see the module docstring).

    ``speed`` paces a link that runs as fast as it can (the simulator; None: unpaced). A link
    that waits in real time by itself (a board on a serial port) is given ``speed=None`` and
    ``realtime=True``. ``pain_source``: a simulated patient who reports pain by themself.
    """

    def __init__(
        self,
        link: LiveLink,
        plan: SessionPlan,
        *,
        speed: float | None,
        sample_hz: int = DEFAULT_SAMPLE_HZ,
        pain_source: PainSource | None = None,
        scripted: Iterable[ScheduledInput] = (),
        observer: LiveObserver | None = None,
        clock: WallClock | None = None,
        realtime: bool = False,
    ) -> None:
        if not 1 <= sample_hz <= 1000:
            raise ValueError(f"the chart's sample rate is 1 to 1000 Hz, got {sample_hz}")
        self.plan = plan
        self._period = 1000 // sample_hz
        self._wake = threading.Event()
        self.link = PacedLink(
            link,
            speed=speed,
            period_ticks=self._period,
            wake=self._wake,
            on_slice=self._on_slice,
            clock=clock,
            realtime=realtime,
        )
        self.controller = SessionController(self.link, plan)
        self._pain_source = pain_source
        self._inputs = _OutsideInputs(scripted, self._wake, self._on_shutdown_taken)
        self._observer = observer
        self._t0_tick = link.tick
        self._last_bucket = -1
        self._last_chart_tick = -1
        self._events_sent = 0
        self._phase_sent: Phase | None = None
        self._shutdown_asked = False
        self._interrupted = False
        self._lock = threading.Lock()
        self._running = False
        self._ended = False
        self._status = self._snapshot()

    # --- any thread ------------------------------------------------------------------------
    @property
    def status(self) -> LiveStatus:
        """The latest published status."""
        return self._status

    @property
    def ended(self) -> bool:
        return self._ended

    def press_stop(self) -> bool:
        """The nurse (or patient) presses stop: ramp down and end *stopped*. False when the
        session has already ended."""
        return self._order(_Order.STOP)

    def report_pain(self) -> bool:
        """The patient says it hurts: the controller steps the current down (or stops after
        too many reports). False when the session has already ended."""
        return self._order(_Order.PAIN)

    def shut_down(self) -> None:
        """The station is going away: ramp down now, unpaced, and end *interrupted*."""
        with self._lock:
            self._shutdown_asked = True
        self.link.unpace()
        self._order(_Order.SHUTDOWN)

    def _order(self, order: _Order) -> bool:
        with self._lock:
            if self._ended:
                return False
        self._inputs.put(order)
        return True

    # --- the station's thread ------------------------------------------------------------------
    def run(self) -> LiveOutcome:
        """Run the session to its end (blocks; call it in the thread that owns the device)."""
        with self._lock:
            if self._running or self._ended:
                raise RuntimeError("a live session runs once")
            self._running = True
        try:
            record = self.controller.run(self._inputs, pain_source=self._pain_source)
        finally:
            with self._lock:
                self._ended = True
        # The chart ends where the device ended (at zero after a ramp down), between ticks.
        self._publish((), last=self.link.last_sample)
        return LiveOutcome(
            plan=self.plan,
            record=record,
            samples=tuple(self.controller.samples),
            interrupted=self._interrupted,
        )

    def _on_shutdown_taken(self) -> None:
        self._interrupted = True
        self.controller.log(
            "station_shutdown",
            "The station is shutting down (the server was stopped): ramping the current down "
            "to zero; the session is kept as interrupted.",
        )

    def _on_slice(self, samples: Sequence[DeviceSample]) -> None:
        self._publish(samples)

    def _publish(
        self, samples: Sequence[DeviceSample], *, last: DeviceSample | None = None
    ) -> None:
        chart = tuple(self._chart(samples, last))
        events = self.controller.record.events
        new_events = tuple(
            replace(e, t_s=round(e.t_s - self._t0_tick / 1000, 3))
            for e in events[self._events_sent :]
        )
        self._events_sent = len(events)
        status = self._snapshot()
        self._status = status
        changed = bool(chart or new_events) or status.phase is not self._phase_sent
        self._phase_sent = status.phase
        if self._observer is not None and (changed or self._ended):
            self._observer(LiveUpdate(status=status, samples=chart, events=new_events))

    def _chart(
        self, samples: Sequence[DeviceSample], last: DeviceSample | None
    ) -> Iterable[LiveSample]:
        """One sample per chart period: a link that samples faster (a board sends 100 a second)
        is thinned, the simulator's own rate passes whole. ``last`` (the session's very last
        reading) is kept whatever its period."""
        final = () if last is None or last.tick <= self._last_chart_tick else (last,)
        for sample in (*samples, *final):
            bucket = sample.tick // self._period
            if bucket <= self._last_bucket and sample is not last:
                continue
            self._last_bucket = bucket
            self._last_chart_tick = sample.tick
            yield LiveSample(
                t_s=round((sample.tick - self._t0_tick) / 1000, 3),
                current_mA=sample.current_uA / 1000,
                voltage_V=sample.voltage_mV / 1000,
                state=sample.state.name.lower(),
            )

    def _snapshot(self) -> LiveStatus:
        controller = self.controller
        rec = controller.record
        plan = self.plan
        forward, reverse = self.link.in_flight_uA_ms
        last = self.link.last_sample
        return LiveStatus(
            phase=rec.phase,
            elapsed_s=(self.link.tick - self._t0_tick) / 1000,
            remaining_s=self._remaining_s(last),
            target_mA=controller.target_uA / 1000,
            current_mA=last.current_uA / 1000,
            voltage_V=last.voltage_mV / 1000,
            forward_mA_min=(rec.forward_uA_ms + forward) / UA_MS_PER_MA_MIN,
            reverse_mA_min=(rec.reverse_uA_ms + reverse) / UA_MS_PER_MA_MIN,
            planned_mA_min=plan.planned_mA_min,
            peak_current_mA=rec.peak_uA / 1000,
            treated_s=rec.treated_ms / 1000,
            pain_reports=rec.pain_reports,
            shutting_down=self._shutdown_asked,
        )

    def _remaining_s(self, last: DeviceSample) -> float:
        controller = self.controller
        phase = controller.record.phase
        if phase in ENDS:
            return 0.0
        plan = self.plan
        slew = plan.slew_uA_per_s
        level = abs(last.current_uA)
        target = controller.target_uA
        if phase is Phase.RAMP_DOWN:
            return level / slew
        at_target_s = max(0, plan.treat_ms - controller.record.treated_ms) / 1000
        reversals_to_come = plan.phases - 1 - controller.phase_index
        ramps_s = reversals_to_come * (plan.ramp_down_s + plan.ramp_up_s) + plan.ramp_down_s
        if phase is Phase.REVERSING and last.polarity is not controller.polarity:
            ramps_s += (level + target) / slew  # down in the old polarity, up in the new
        elif phase in (
            Phase.IDLE,
            Phase.CHECK_CONTACT,
            Phase.PAUSED,
            Phase.RAMP_UP,
            Phase.REVERSING,
        ):
            ramps_s += max(0, target - level) / slew
        return at_target_s + ramps_s


# --- A simulated session -------------------------------------------------------------------------
def simulated_session(
    request: SessionRequest,
    *,
    speed: float | None,
    sample_hz: int = DEFAULT_SAMPLE_HZ,
    observer: LiveObserver | None = None,
    clock: WallClock | None = None,
) -> LiveSession:
    """A live session on the simulated device, with the virtual patient of ``request.seed``
    (who reports pain by themself when the current hurts), planned as ``run_session`` plans it
    (the therapy core's caps apply again to the requested current). ``request.trace_hz`` is
    ignored: the chart's rate is ``sample_hz``."""
    protocol, plan, _limits = build_plan(request)
    device, scripted = simulated_device(request, protocol, plan, sample_hz)
    return LiveSession(
        device,
        plan,
        speed=speed,
        sample_hz=sample_hz,
        pain_source=device,
        scripted=scripted,
        observer=observer,
        clock=clock,
    )
