"""Live sessions: the session controller paced by the wall clock, with people pressing buttons.

The wall-clock tests run on the real clock (pacing must really pace; a stop must really be
acted on within 100 ms). The equality tests use a fake clock that jumps by random amounts, so
that device time is cut into slices at random places without anyone waiting for it.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.device.controller import Phase
from ionto.device.live import (
    LiveOutcome,
    LiveSample,
    LiveSession,
    LiveUpdate,
    PacedLink,
    simulated_session,
)
from ionto.device.patients import VirtualPatient
from ionto.device.session import SessionRequest, build_plan, run_session
from ionto.device.simulator import SimulatedDevice
from ionto.therapy.vocabulary import Region

#: A short session (0.5 min at the target; ~2 min of device time with its four 30 s ramps).
SHORT = SessionRequest(region=Region.SOLES, seed=1, minutes=0.5)
#: A patient whose skin lets the current reach the target soon (a phase at the target).
WET = SessionRequest(region=Region.PALMS, seed=3, minutes=1)
#: A patient who says "ouch" by themself three times (found by search; see the equality test).
SENSITIVE = SessionRequest(region=Region.PALMS, seed=15, minutes=0.5)


class JumpyClock:
    """A fake wall clock: every reading moves it on by a random step, and a sleep passes at
    once (a set wake event ends it as on the real clock)."""

    def __init__(self, seed: int, max_step_s: float) -> None:
        self._rng = random.Random(seed)
        self._max_step_s = max_step_s
        self.t = 0.0
        self.sleeps = 0

    def now(self) -> float:
        self.t += self._rng.uniform(0, self._max_step_s)
        return self.t

    def sleep(self, seconds: float, wake: threading.Event) -> None:
        self.sleeps += 1
        if not wake.is_set():
            self.t += seconds


def run_in_thread(session: LiveSession) -> threading.Thread:
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Wait until ``condition()`` is true; the wall time it took."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout_s:
            raise AssertionError("timed out")
        time.sleep(0.0005)
    return time.perf_counter() - start


# --- The same session as the simulator ------------------------------------------------------
@pytest.mark.parametrize("request_", [SHORT, SENSITIVE], ids=["short", "self-reported-pain"])
def test_unpaced_it_is_the_simulators_session(request_: SessionRequest) -> None:
    reference = run_session(replace(request_, trace_hz=10))
    outcome = simulated_session(request_, speed=None).run()
    assert outcome.record == reference.record
    assert outcome.samples == reference.samples
    assert outcome.state == reference.state == "completed"


@settings(max_examples=12, deadline=None)
@given(
    seed=st.sampled_from([1, 15, 35]),
    region=st.sampled_from([Region.PALMS, Region.SOLES]),
    speed=st.sampled_from([1.0, 7.0, 60.0, 1000.0]),
    clock_seed=st.integers(0, 1000),
    max_step_s=st.sampled_from([0.001, 0.05, 0.7]),
)
def test_paced_and_sliced_anywhere_dose_and_events_are_the_simulators(
    seed: int, region: Region, speed: float, clock_seed: int, max_step_s: float
) -> None:
    """Exact equality, including the patient's own pain reports, however the wall clock cuts
    device time: the slices fall on sample ticks, where the simulator cuts anyway."""
    request = SessionRequest(region=region, seed=seed, minutes=0.5)
    reference = run_session(replace(request, trace_hz=10))
    clock = JumpyClock(clock_seed, max_step_s)
    outcome = simulated_session(request, speed=speed, clock=clock).run()
    assert outcome.record == reference.record
    assert outcome.samples == reference.samples
    # Paced: the (fake) wall clock let that much device time pass, no less.
    assert clock.t >= reference.record.ended_s / speed


def test_at_another_trace_rate_only_the_last_few_uA_ms_differ() -> None:
    """The tightest true relation with the default ``run_session`` (no trace): the simulator
    cuts its stretches at other ticks, and each stretch's charge is rounded to whole µA·ms."""
    reference = run_session(SHORT).record
    record = simulated_session(SHORT, speed=None).run().record
    assert record.events == reference.events
    assert record.transitions == reference.transitions
    assert record.treated_ms == reference.treated_ms
    for got, want in (
        (record.forward_uA_ms, reference.forward_uA_ms),
        (record.reverse_uA_ms, reference.reverse_uA_ms),
    ):
        assert abs(got - want) <= 1e-6 * want


# --- Pacing -------------------------------------------------------------------------------
def test_pacing_really_paces() -> None:
    speed = 400.0
    session = simulated_session(SHORT, speed=speed)
    start = time.perf_counter()
    outcome = session.run()
    wall_s = time.perf_counter() - start
    device_s = outcome.record.ended_s
    assert device_s > 100  # the short session's ramps alone are 2 minutes
    # Never ahead of the wall clock; behind it by no more than the machine's own work.
    assert device_s / speed <= wall_s < device_s / speed + 0.5


def test_a_paced_link_never_runs_ahead_of_the_wall_clock() -> None:
    _protocol, _plan, _ = build_plan(SHORT)
    device = SimulatedDevice(VirtualPatient.from_seed(1, Region.SOLES, 34.0), sample_hz=10)
    clock = JumpyClock(3, 0.01)
    link = PacedLink(device, speed=100.0, period_ticks=100, wake=threading.Event(), clock=clock)
    first = clock.t
    link.run_until(5_000)
    assert device.tick == 5_000
    assert (clock.t - first) * 100 * 1000 >= 5_000 - 100  # at most one sample period early


# --- People pressing buttons ---------------------------------------------------------------
def test_a_stop_ends_the_session_within_100_ms_of_wall_time() -> None:
    speed = 100.0
    session = simulated_session(WET, speed=speed)
    thread = run_in_thread(session)
    wait_for(lambda: session.status.phase is Phase.TREAT)
    pressed_at_s = session.status.elapsed_s
    assert session.press_stop()
    took_s = wait_for(lambda: session.status.phase is Phase.STOPPED)
    assert took_s < 0.1
    thread.join(5)
    assert not thread.is_alive()
    assert session.ended
    stop = next(e for e in session.controller.record.events if e.code == "patient_stop")
    # Acted on at the device time of the press, give or take 100 ms of wall time.
    assert abs(stop.t_s - pressed_at_s) <= 0.1 * speed
    assert session.controller.record.phase is Phase.STOPPED
    assert session.link.last_sample.current_uA == 0  # ramped down before the end
    assert not session.press_stop()  # nothing left to stop


def test_pain_reported_by_the_nurse_steps_the_current_down() -> None:
    session = simulated_session(WET, speed=200.0)
    thread = run_in_thread(session)
    wait_for(lambda: session.status.phase is Phase.TREAT)
    before_mA = session.status.target_mA
    assert session.report_pain()
    wait_for(lambda: session.status.pain_reports == 1)
    assert session.status.target_mA < before_mA
    thread.join(10)
    codes = [e.code for e in session.controller.record.events]
    assert "pain_step_down" in codes
    assert session.controller.record.phase is Phase.COMPLETED


def test_shutdown_ramps_down_at_once_and_ends_interrupted() -> None:
    session = simulated_session(SHORT, speed=1.0)  # a real-time session: minutes to go
    outcome_box: list[object] = []
    thread = threading.Thread(target=lambda: outcome_box.append(session.run()), daemon=True)
    thread.start()
    wait_for(lambda: session.status.elapsed_s > 0.3)
    start = time.perf_counter()
    session.shut_down()
    thread.join(2)
    assert not thread.is_alive()
    assert time.perf_counter() - start < 1.0  # the ramp down ran unpaced
    outcome = outcome_box[0]
    assert isinstance(outcome, LiveOutcome)
    assert outcome.interrupted
    assert outcome.state == "interrupted"
    codes = [e.code for e in outcome.record.events]
    assert "station_shutdown" in codes
    assert session.link.last_sample.current_uA == 0


def test_a_session_that_ended_by_itself_is_not_interrupted_by_a_late_shutdown() -> None:
    session = simulated_session(SHORT, speed=None)
    outcome = session.run()
    session.shut_down()
    assert outcome.state == "completed"
    assert not session.report_pain()


# --- What the observer sees ----------------------------------------------------------------
def test_the_observer_sees_the_chart_events_and_dose_as_they_happen() -> None:
    updates: list[LiveUpdate] = []
    session = simulated_session(SENSITIVE, speed=2000.0, observer=updates.append)
    outcome = session.run()
    samples: list[LiveSample] = [s for u in updates for s in u.samples]
    # 10 Hz: every simulator sample, once, in order; then the very last reading (at zero).
    *regular, end = samples
    assert len(regular) == len(outcome.samples)
    assert all(b.t_s - a.t_s == pytest.approx(0.1) for a, b in itertools.pairwise(regular))
    assert [s.current_mA for s in regular] == [x.current_uA / 1000 for x in outcome.samples]
    assert 0 < end.t_s - regular[-1].t_s < 0.1
    assert end.t_s == pytest.approx(outcome.record.ended_s, abs=0.0015)  # its last tick
    assert end.current_mA == 0
    # Every event, once, in order, as the record has them.
    assert [e for u in updates for e in u.events] == outcome.record.events
    # The dose so far only grows, and the last status is the record's.
    doses = [u.status.delivered_mA_min for u in updates]
    assert doses == sorted(doses)
    last = updates[-1].status
    assert last.phase is Phase.COMPLETED
    assert last.finished
    assert last.remaining_s == 0
    forward, reverse = outcome.record.delivered_mA_min()
    assert (last.forward_mA_min, last.reverse_mA_min) == (forward, reverse)
    assert last.pain_reports == 3
    # Events arrive while the session runs, not all at the end.
    first_event_update = next(i for i, u in enumerate(updates) if u.events)
    assert first_event_update < len(updates) // 10
    # The remaining time counts down (an estimate, but never up by more than a ramp's worth).
    remaining = [u.status.remaining_s for u in updates]
    assert remaining[0] > remaining[len(remaining) // 2] > remaining[-1] == 0


def test_the_remaining_time_is_about_right_at_the_start() -> None:
    updates: list[LiveUpdate] = []
    outcome = simulated_session(replace(WET, minutes=3), speed=None, observer=updates.append).run()
    started = next(u for u in updates if u.status.phase is Phase.RAMP_UP)
    estimate = started.status.elapsed_s + started.status.remaining_s
    assert abs(estimate - outcome.record.ended_s) < 0.15 * outcome.record.ended_s


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="speed"):
        simulated_session(SHORT, speed=0.0)
    with pytest.raises(ValueError, match="sample rate"):
        simulated_session(SHORT, speed=1.0, sample_hz=0)
    session = simulated_session(SHORT, speed=None)
    session.run()
    with pytest.raises(RuntimeError):
        session.run()
