"""The reference firmware's hard limits: examples, then properties over random loads, host
commands and fault timings, then ``advance`` ≡ repeated ``tick``, then the anti-shock guard on
the physics' virtual patients.

The loads here are honest physics, not mocks of the firmware: a resistor that the limb can
leave (and a failed output stage that adds current, for the overcurrent trip), and a series
resistor with the skin as R ∥ C. Both implement the firmware's fast path (``SteadyLoad``). The
anti-shock guard is also tried on :class:`~ionto.device.physics.PatientLoad` — random patients,
whole sessions, and hands lifted out of the water.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ionto.device.controller import InputSource, SessionController
from ionto.device.firmware import (
    ARMED_STATES,
    DEFAULT_BUILD,
    HIDREX_FAULT_TRIP_UA,
    OUTPUT_STATES,
    SAFE_STATE,
    TRANSITIONS,
    CommandResult,
    Event,
    Firmware,
    FirmwareBuild,
    LoadStretch,
    Regime,
    ResultCode,
    Stretch,
    TickOutput,
    Trigger,
    WaveformShape,
    describe_events,
    regime_of,
    transition_rows,
    transition_table,
    transition_table_markdown,
    waveform_problem,
)
from ionto.device.load import Load, LoadReading
from ionto.device.patients import VirtualPatient
from ionto.device.physics import PatientLoad
from ionto.device.session import SessionRequest, build_plan, run_session
from ionto.device.simulator import SimulatedDevice
from ionto.device.wire import (
    ClearFault,
    DeviceState,
    FaultCode,
    Heartbeat,
    HostMessage,
    Polarity,
    Reverse,
    SetLimits,
    SetTarget,
    Start,
    Stop,
    WaveformCode,
)
from ionto.therapy.vocabulary import Region, Waveform

FWD = Polarity.FORWARD
REV = Polarity.REVERSE
State = DeviceState


# --- Honest loads ------------------------------------------------------------------------------
def _sign(value: int) -> int:
    return -1 if value < 0 else 1


@dataclass
class Resistor:
    """The patient as a resistor between the electrodes.

    ``open_spans``: ticks [start, end) with a limb out of the water (an open circuit: nothing
    flows and the terminals sit at the compliance voltage). ``steps``: (tick, ohm) changes of
    resistance (a skin defect opening, a hand dipped deeper). ``leak_uA`` from ``leak_from``:
    a failed output stage that adds current whatever is asked (for the overcurrent trip).
    """

    resistance_ohm: int
    open_spans: tuple[tuple[int, int], ...] = ()
    steps: tuple[tuple[int, int], ...] = ()
    leak_uA: int = 0
    leak_from: int = 0
    _regime: Regime = field(default=Regime.REGULATED, repr=False)

    def is_open(self, tick: int) -> bool:
        return any(start <= tick < end for start, end in self.open_spans)

    def ohm_at(self, tick: int) -> int:
        ohm = self.resistance_ohm
        for at, value in sorted(self.steps):
            if at <= tick:
                ohm = value
        return ohm

    def reading(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        sign = _sign(demand_uA)
        if self.is_open(tick):  # nothing flows, not even a leak: there is no path
            return LoadReading(0, 0 if demand_uA == 0 else sign * compliance_mV)
        leak = self.leak_uA if self.leak_uA and tick >= self.leak_from else 0
        ohm = self.ohm_at(tick)
        needed_uV = abs(demand_uA) * ohm
        if needed_uV <= compliance_mV * 1000:
            current = demand_uA
        else:
            current = sign * (compliance_mV * 1000 // ohm)
        current += leak
        voltage = _sign(current) * min(abs(current) * ohm // 1000, compliance_mV)
        return LoadReading(current, voltage)

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        reading = self.reading(tick, demand_uA, compliance_mV)
        self._regime = regime_of(demand_uA, reading.current_uA)
        return reading

    def _boundaries(self) -> list[int]:
        ticks = [t for span in self.open_spans for t in span] + [at for at, _ in self.steps]
        if self.leak_uA:
            ticks.append(self.leak_from)
        return sorted(ticks)

    def advance(
        self, start_tick: int, ticks: int, demand_uA: int, compliance_mV: int
    ) -> LoadStretch:
        """Closed form: the reading only changes at a boundary (a lift, a step, the leak), where
        the regime or the impedance may change: a stretch starting at one carries just that
        tick, any other ends just before the next one."""
        previous = self._regime
        reading = self.drive(start_tick, demand_uA, compliance_mV)
        boundaries = self._boundaries()
        if self._regime is not previous or start_tick in boundaries:
            return LoadStretch(1, reading)
        following = [b for b in boundaries if start_tick < b < start_tick + ticks]
        return LoadStretch(min([*following, start_tick + ticks]) - start_tick, reading)


@dataclass
class SkinRC:
    """Electrodes, water and body core as a series resistor; the two skin layers as one
    R ∥ C. A current source charges the capacitance; at the compliance voltage it carries only
    what the voltage allows. ``open_spans`` as for :class:`Resistor`."""

    series_ohm: int
    skin_ohm: int
    skin_uF: float
    open_spans: tuple[tuple[int, int], ...] = ()
    _skin_uV: float = field(default=0.0, repr=False)
    _regime: Regime = field(default=Regime.REGULATED, repr=False)
    _last: LoadReading = field(default=LoadReading(0, 0), repr=False)

    def is_open(self, tick: int) -> bool:
        return any(start <= tick < end for start, end in self.open_spans)

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        reading = self._step(tick, demand_uA, compliance_mV)
        self._regime = regime_of(demand_uA, reading.current_uA)
        self._last = reading
        return reading

    def advance(
        self, start_tick: int, ticks: int, demand_uA: int, compliance_mV: int
    ) -> LoadStretch:
        """Tick by tick inside (exact, not fast): the contract, not the speed, is under test.
        The skin capacitance charging makes the impedance rise tick after tick: the stretch
        ends just before such a tick (or with it, when it is the first)."""
        previous = self._regime
        for n in range(ticks):
            before, charge = self._last, self._skin_uV
            reading = self.drive(start_tick + n, demand_uA, compliance_mV)
            if self._regime is not previous:
                return LoadStretch(n + 1, reading)
            if _impedance_rises(before, reading):
                if n == 0:
                    return LoadStretch(1, reading)
                self._last, self._skin_uV = before, charge  # not carried: undo
                return LoadStretch(n, before)
        return LoadStretch(ticks, reading)

    def _step(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        decay = math.exp(-1e-3 / (self.skin_ohm * self.skin_uF * 1e-6))
        if self.is_open(tick):
            self._skin_uV *= decay  # the skin discharges through itself
            return LoadReading(0, 0 if demand_uA == 0 else _sign(demand_uA) * compliance_mV)
        sign = _sign(demand_uA)
        current = float(demand_uA)
        skin = current * self.skin_ohm + (self._skin_uV - current * self.skin_ohm) * decay
        if abs(current * self.series_ohm + skin) > compliance_mV * 1000:
            # The current that puts exactly the compliance voltage across the terminals.
            limit_uV = sign * compliance_mV * 1000
            allowed = (limit_uV - self._skin_uV * decay) / (
                self.series_ohm + self.skin_ohm * (1 - decay)
            )
            magnitude = min(abs(demand_uA), max(0, math.floor(allowed * sign)))
            current = float(sign * magnitude)
            skin = current * self.skin_ohm + (self._skin_uV - current * self.skin_ohm) * decay
        self._skin_uV = skin
        voltage_uV = current * self.series_ohm + skin
        voltage = max(-compliance_mV, min(compliance_mV, round(voltage_uV / 1000)))
        return LoadReading(int(current), voltage)


def _impedance_rises(before: LoadReading, after: LoadReading) -> bool:
    """|V|/|I| higher after than before (a reading without current counts as infinite)."""
    if after.current_uA == 0:
        return before.current_uA != 0 or abs(after.voltage_mV) > abs(before.voltage_mV)
    if before.current_uA == 0:
        return False
    return abs(after.voltage_mV) * abs(before.current_uA) > abs(before.voltage_mV) * abs(
        after.current_uA
    )


@dataclass
class PlainLoad:
    """A load without the fast path: ``advance`` must fall back to ticks."""

    inner: Resistor

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        return self.inner.drive(tick, demand_uA, compliance_mV)


# --- A build that runs fast in tests (every limit still enforced, only quicker) --------------
FAST = FirmwareBuild(
    slew_max_uA_per_s=40_000,
    safe_ramp_down_uA_per_s=80_000,
    ramp_period_ms=5,
    contact_debounce_ms=30,
    compliance_hold_ms=60,
    heartbeat_timeout_default_ms=150,
    heartbeat_timeout_max_ms=300,
)


def dc_limits(
    limit_uA: int = 20_000,
    compliance_mV: int = 60_000,
    slew_uA_per_s: int = 667,
    timeout_ms: int = 1000,
) -> SetLimits:
    return SetLimits(limit_uA, compliance_mV, slew_uA_per_s, timeout_ms, WaveformCode.DC)


def run(
    fw: Firmware,
    load: Load,
    ticks: int,
    heartbeat_every: int | None = 250,
    at: dict[int, Callable[[Firmware], object]] | None = None,
) -> list[TickOutput]:
    """Tick ``ticks`` times, feeding the watchdog and calling scripted actions on time."""
    outs = []
    actions = at or {}
    for _ in range(ticks):
        now = fw.tick_count
        if heartbeat_every and now % heartbeat_every == 0:
            fw.heartbeat()
        if now in actions:
            actions[now](fw)
        outs.append(fw.tick(load))
    return outs


def started(build: FirmwareBuild = DEFAULT_BUILD, target_uA: int = 15_000, **kw: int) -> Firmware:
    fw = Firmware(build)
    assert fw.apply(dc_limits(**kw)).accepted
    assert fw.set_target(target_uA).accepted
    assert fw.start(FWD).accepted
    return fw


def first(outs: Sequence[TickOutput], state: DeviceState) -> TickOutput:
    return next(o for o in outs if o.state is state)


# --- Examples: a whole session on the default build ------------------------------------------
def test_a_session_waits_for_contact_ramps_from_zero_holds_and_ramps_down() -> None:
    fw = started(target_uA=10_000)
    load = Resistor(4_000)  # 10 mA × 4 kΩ = 40 V, within the 60 V compliance
    outs = run(fw, load, 36_000, at={20_000: lambda f: f.stop()})
    contact = first(outs, State.RAMP_UP)
    # The sense current flowed for exactly the debounce time before any output.
    assert contact.tick == DEFAULT_BUILD.contact_debounce_ms - 1
    assert all(abs(o.demand_uA) <= DEFAULT_BUILD.sense_uA for o in outs[: contact.tick + 1])
    assert outs[contact.tick + 1].demand_uA == 0  # from zero
    on = first(outs, State.ON)
    # 10 mA at 667 µA/s: 15 s, in 20 ms steps.
    assert on.demand_uA == 10_000
    assert 14_900 <= on.tick - contact.tick <= 15_100
    assert outs[19_999].state is State.ON
    idle = first(outs[20_000:], State.IDLE)
    assert 14_900 <= idle.tick - 20_000 <= 15_100  # the same slew down
    assert idle.demand_uA == 0
    assert idle.fault is FaultCode.NONE


def test_contact_needs_an_impedance_at_or_below_the_threshold() -> None:
    too_high = started()
    outs = run(too_high, Resistor(DEFAULT_BUILD.contact_threshold_ohm + 1_000), 2_000)
    assert all(o.state is State.WAIT_CONTACT for o in outs)
    assert all(abs(o.demand_uA) <= DEFAULT_BUILD.sense_uA for o in outs)
    just_closed = started()
    outs = run(just_closed, Resistor(DEFAULT_BUILD.contact_threshold_ohm), 600)
    assert outs[-1].state is State.RAMP_UP


def test_sense_current_and_its_voltage_are_small() -> None:
    assert DEFAULT_BUILD.sense_uA <= 100
    assert DEFAULT_BUILD.sense_compliance_mV == 5_000  # 100 µA through 50 kΩ


def test_a_lifted_limb_is_cut_in_the_same_tick_and_latched_until_cleared() -> None:
    lift = 3_000
    load = Resistor(5_000, open_spans=((lift, 9_000),))
    fw = started(FAST, target_uA=12_000)
    outs = run(fw, load, 8_000, heartbeat_every=50)
    assert outs[lift - 1].state in OUTPUT_STATES
    assert abs(outs[lift - 1].current_uA) > 500
    assert outs[lift].state is State.LATCHED_FAULT
    assert outs[lift].fault is FaultCode.OPEN_CIRCUIT
    assert all(o.demand_uA == 0 and o.current_uA == 0 for o in outs[lift + 1 :])
    assert all(o.state is State.LATCHED_FAULT for o in outs[lift:])
    # Start is refused while latched (and the output stays at zero).
    assert fw.start(FWD).code is ResultCode.REFUSED_IN_STATE
    assert fw.clear_fault().accepted
    assert fw.start(FWD).accepted
    outs = run(fw, load, 3_000, heartbeat_every=50)
    # Still lifted until 9000: only the sense current, never output.
    assert all(o.state is State.WAIT_CONTACT for o in outs if o.tick < 9_000)
    back = first(outs, State.RAMP_UP)
    assert back.tick == 9_000 + FAST.contact_debounce_ms - 1
    after = [o for o in outs if o.tick > back.tick]
    slew = fw.status().slew_uA_per_s
    assert all(abs(o.demand_uA) <= slew * (o.tick - back.tick) // 1000 for o in after)


def test_the_compliance_voltage_holds_the_set_point_to_what_flows() -> None:
    # 5 kΩ at 40 V carries at most 8 mA of the 15 mA target. The host lowers the compliance to
    # 25 V (5 mA), then the hand dips onto a skin defect (1 kΩ): the current must climb from
    # what was flowing along the ramp, never jump back to 8 mA or to the target.
    lowered, defect = 3_000, 4_000
    load = Resistor(5_000, steps=((defect, 1_000),))
    fw = started(FAST, target_uA=15_000, compliance_mV=40_000, slew_uA_per_s=5_000)
    lower = dc_limits(compliance_mV=25_000, slew_uA_per_s=5_000)
    outs = run(fw, load, 7_000, heartbeat_every=50, at={lowered: lambda f: f.apply(lower)})
    assert outs[lowered - 1].fault is FaultCode.COMPLIANCE
    assert 7_900 <= outs[lowered - 1].current_uA <= 8_100
    held = outs[defect - 1]
    assert held.fault is FaultCode.COMPLIANCE
    assert 4_900 <= held.current_uA <= 5_100
    assert held.demand_uA <= 5_100  # no set point left above what flows
    step = FAST.max_step_uA(5_000)
    for before, now in itertools.pairwise(outs[lowered - 1 :]):
        assert now.current_uA - before.current_uA <= step
    assert outs[-1].demand_uA == 15_000
    assert outs[-1].state is State.ON
    assert outs[-1].fault is FaultCode.NONE


def test_an_output_stage_that_adds_current_trips_and_latches_overcurrent() -> None:
    load = Resistor(3_000, leak_uA=DEFAULT_BUILD.trip_margin_uA + 1, leak_from=2_000)
    fw = started(FAST, target_uA=10_000)
    outs = run(fw, load, 2_100, heartbeat_every=50)
    assert outs[1_999].state in OUTPUT_STATES
    trip = outs[2_000]
    assert trip.state is State.LATCHED_FAULT
    assert trip.fault is FaultCode.OVERCURRENT
    assert all(o.demand_uA == 0 for o in outs[2_001:])
    # The leak keeps flowing (a broken stage): ClearFault is refused while current flows.
    assert fw.clear_fault().code is ResultCode.OUTPUT_NOT_ZERO
    assert fw.state is State.LATCHED_FAULT


def test_a_leak_within_the_margin_does_not_trip() -> None:
    load = Resistor(3_000, leak_uA=DEFAULT_BUILD.trip_margin_uA, leak_from=2_000)
    fw = started(FAST, target_uA=10_000)
    outs = run(fw, load, 2_100, heartbeat_every=50)
    assert outs[-1].fault is not FaultCode.OVERCURRENT


def test_the_trip_never_reaches_the_35_mA_of_a_commercial_device() -> None:
    assert DEFAULT_BUILD.ceiling_uA == 30_000
    assert DEFAULT_BUILD.ceiling_uA + DEFAULT_BUILD.trip_margin_uA < HIDREX_FAULT_TRIP_UA
    with pytest.raises(ValueError, match="35 mA"):
        FirmwareBuild(ceiling_uA=33_000)
    with pytest.raises(ValueError, match="100 µA"):
        FirmwareBuild(sense_uA=500)
    with pytest.raises(ValueError, match="90 V"):
        FirmwareBuild(compliance_max_mV=120_000)


def test_the_watchdog_fires_at_the_exact_tick_and_ramps_to_zero_by_itself() -> None:
    fw = started(target_uA=20_000, timeout_ms=1_000)
    load = Resistor(2_000)
    outs = run(fw, load, 31_000, heartbeat_every=200)  # at 20 mA after ~30.5 s
    assert outs[-1].state is State.ON
    last_feed = 31_000 - 200  # the last heartbeat, at tick 30 800
    outs = run(fw, load, 8_000, heartbeat_every=None)
    fired = first(outs, State.RAMP_DOWN)
    assert fired.tick == last_feed + 1_000
    assert fired.fault is FaultCode.WATCHDOG
    zero = next(o for o in outs if o.demand_uA == 0)
    # From 20 mA at the safe 10 mA/s: two seconds, far within "a few seconds".
    assert zero.tick - last_feed <= 1_000 + 2_000 + 2 * DEFAULT_BUILD.ramp_period_ms
    assert zero.tick - last_feed <= DEFAULT_BUILD.watchdog_to_zero_ms
    assert outs[-1].state is State.LATCHED_FAULT
    assert outs[-1].fault is FaultCode.WATCHDOG
    fw.heartbeat()  # the host is back: the latch holds until it clears it
    assert run(fw, load, 10)[-1].state is State.LATCHED_FAULT
    assert fw.clear_fault().accepted
    assert fw.state is State.IDLE


def test_the_watchdog_also_drops_a_pending_start() -> None:
    fw = started(timeout_ms=1_000)
    outs = run(fw, Resistor(10**9), 1_200, heartbeat_every=None)
    assert outs[999].state is State.WAIT_CONTACT
    assert outs[1_000].state is State.LATCHED_FAULT
    assert outs[1_000].fault is FaultCode.WATCHDOG


def test_a_reversal_ramps_through_zero_switches_and_ramps_back_up() -> None:
    fw = started(FAST, target_uA=8_000, slew_uA_per_s=10_000)
    load = Resistor(3_000)
    outs = run(fw, load, 3_500, heartbeat_every=50, at={1_500: lambda f: f.reverse(REV)})
    assert outs[1_499].state is State.ON
    assert outs[1_499].demand_uA == 8_000
    switch = next(o for o in outs if o.polarity is REV)
    assert switch.demand_uA == 0
    assert switch.current_uA == 0
    assert outs[switch.tick - 1].state is State.REVERSING
    assert switch.state is State.RAMP_UP
    assert outs[-1].state is State.ON
    assert outs[-1].demand_uA == -8_000
    # A resent Reverse (same polarity) changes nothing.
    assert fw.reverse(REV).code is ResultCode.ALREADY_IN_FORCE
    assert fw.state is State.ON


def test_pulsed_dc_bounds_the_peak_by_the_ceiling() -> None:
    fw = Firmware()
    pulsed = SetLimits(25_000, 60_000, 1_000, 1_000, WaveformCode.PULSED_DC, 5_000, 500, 0)
    result = fw.apply(pulsed)
    # At 50% duty a 30 mA peak allows 15 mA on average: clamped and reported.
    assert result.code is ResultCode.CLAMPED_TO_CEILING
    assert result.value_uA == 15_000
    assert any(e.fault is FaultCode.CEILING_REQUEST and e.value == 25_000 for e in fw.events())
    assert fw.set_target(20_000).value_uA == 15_000
    ac = SetLimits(25_000, 60_000, 1_000, 1_000, WaveformCode.AC_DC_OFFSET, 100, 0, 1_000)
    assert Firmware().apply(ac).value_uA == 15_000  # offset + equal AC peak ≤ 30 mA


def test_pure_ac_and_a_start_without_a_waveform_are_refused() -> None:
    fw = Firmware()
    assert fw.start(FWD).code is ResultCode.NO_WAVEFORM
    assert fw.state is State.IDLE
    for code in (0, 4, 99):
        assert waveform_problem(code, 100, 0, 0) is not None
        assert fw.set_limits(10_000, 60_000, 500, 1_000, code, 100).code is ResultCode.BAD_VALUE
    # AC on an offset with no offset is not expressible: the amplitude is a share of it.
    assert fw.set_limits(10_000, 60_000, 500, 1_000, 3, 100, 0, 0).code is ResultCode.BAD_VALUE
    assert fw.set_limits(10_000, 60_000, 500, 1_000, 3, 100, 0, 1_001).code is (
        ResultCode.BAD_VALUE
    )
    assert fw.start(FWD).code is ResultCode.NO_WAVEFORM
    assert WaveformShape(WaveformCode.DC, 0, 0, 0).average_ceiling_uA(30_000) == 30_000


def test_limits_only_go_down_during_a_session() -> None:
    fw = started(FAST, target_uA=10_000, limit_uA=12_000, slew_uA_per_s=20_000)
    run(fw, Resistor(3_000), 1_000, heartbeat_every=50)
    assert fw.state is State.ON
    raised = fw.apply(dc_limits(limit_uA=20_000, slew_uA_per_s=20_000, timeout_ms=300))
    assert raised.accepted
    assert raised.code is ResultCode.NOT_RAISED_IN_SESSION
    assert fw.status().limit_uA == 12_000
    assert fw.set_target(20_000).value_uA == 12_000
    lowered = fw.apply(dc_limits(limit_uA=6_000, slew_uA_per_s=20_000, timeout_ms=300))
    assert lowered.value_uA == 6_000
    out = fw.tick(Resistor(3_000))
    assert out.demand_uA == 6_000  # a lowered limit holds at once
    locked = fw.apply(SetLimits(6_000, 60_000, 667, 1_000, WaveformCode.PULSED_DC, 5_000, 500))
    assert locked.code is ResultCode.WAVEFORM_LOCKED


def test_requests_above_the_hard_limits_are_clamped_and_reported() -> None:
    fw = Firmware()
    result = fw.apply(SetLimits(80_000, 90_000, 80_000, 5_000, WaveformCode.DC))
    assert result.accepted
    assert result.code is ResultCode.CLAMPED_TO_CEILING
    status = fw.status()
    assert status.limit_uA == DEFAULT_BUILD.ceiling_uA
    assert status.slew_uA_per_s == DEFAULT_BUILD.slew_max_uA_per_s
    assert status.heartbeat_timeout_ms == DEFAULT_BUILD.heartbeat_timeout_max_ms
    reported = [e.value for e in fw.events() if e.fault is FaultCode.CEILING_REQUEST]
    assert reported == [80_000, 80_000, 5_000]


def test_a_resent_start_changes_nothing_but_another_polarity_goes_safe() -> None:
    fw = started(FAST, target_uA=5_000, slew_uA_per_s=20_000)
    run(fw, Resistor(3_000), 500, heartbeat_every=50)
    assert fw.state is State.ON
    assert fw.start(FWD).code is ResultCode.ALREADY_IN_FORCE
    assert fw.state is State.ON
    refused = fw.start(REV)
    assert not refused.accepted
    assert refused.code is ResultCode.REFUSED_IN_STATE
    assert fw.state is State.RAMP_DOWN
    assert fw.events()[-1].trigger is Trigger.START


@pytest.mark.parametrize("state", list(DeviceState))
def test_every_command_outside_the_table_is_refused_and_the_output_goes_safe(
    state: DeviceState,
) -> None:
    for trigger, command in _COMMANDS.items():
        fw = _firmware_in(state)
        if (state, trigger) in TRANSITIONS:
            continue
        result = command(fw)
        if result.code is ResultCode.ALREADY_IN_FORCE:
            continue  # a resend of what is in force is not an event of the table
        assert not result.accepted, (state, trigger)
        assert result.code is ResultCode.REFUSED_IN_STATE
        assert fw.state is SAFE_STATE[state]
        assert fw.events()[-1].code is ResultCode.REFUSED_IN_STATE


_COMMANDS: dict[Trigger, Callable[[Firmware], CommandResult]] = {
    Trigger.SET_LIMITS: lambda f: f.apply(dc_limits(limit_uA=9_000)),
    Trigger.START: lambda f: f.start(REV),
    Trigger.SET_TARGET: lambda f: f.set_target(4_000),
    Trigger.REVERSE: lambda f: f.reverse(REV if f.status().polarity is FWD else FWD),
    Trigger.STOP: lambda f: f.stop(),
    Trigger.CLEAR_FAULT: lambda f: f.clear_fault(),
}


def _firmware_in(state: DeviceState) -> Firmware:
    """A firmware brought into ``state`` through the table, by honest means."""
    fw = Firmware(FAST)
    if state is State.IDLE:
        return fw
    fw.apply(dc_limits(limit_uA=10_000, slew_uA_per_s=20_000))
    fw.set_target(8_000)
    fw.start(FWD)
    if state is State.WAIT_CONTACT:
        return fw
    load = Resistor(2_000)
    run(fw, load, 40, heartbeat_every=20)
    if state is State.RAMP_UP:
        return fw
    run(fw, load, 600, heartbeat_every=20)
    assert fw.state is State.ON
    if state is State.ON:
        return fw
    if state is State.REVERSING:
        assert fw.reverse().accepted  # no polarity named: the opposite of the one in force
    elif state is State.RAMP_DOWN:
        fw.stop()
    else:
        run(fw, Resistor(2_000, open_spans=((0, 10**9),)), 2, heartbeat_every=None)
    assert fw.state is state
    return fw


def test_the_table_covers_every_state_and_prints_for_the_docs() -> None:
    table = transition_table()
    assert {state for state, _ in table} == set(DeviceState)
    for state in DeviceState:
        assert (state, Trigger.STOP) in table  # stop is never refused
        assert (state, Trigger.HEARTBEAT) in table
        assert (state, Trigger.OVERCURRENT) in table  # the trip works everywhere
    for state in ARMED_STATES:
        assert (state, Trigger.WATCHDOG) in table
    for state in OUTPUT_STATES:
        assert table[(state, Trigger.OPEN_CIRCUIT)] is State.LATCHED_FAULT
    text = transition_table_markdown()
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == (
        len(transition_rows()) + 1 + len(SAFE_STATE) + 1
    )
    assert "| on | reverse | reversing |" in text


def test_advance_falls_back_to_ticks_for_a_load_without_a_fast_path() -> None:
    fw = started(FAST, target_uA=5_000)
    stretch = fw.advance(PlainLoad(Resistor(3_000)), 10)
    assert stretch.ticks == 10
    assert stretch.last.tick == 9


def test_advance_is_fast_at_the_target_and_stops_at_the_heartbeat_deadline() -> None:
    fw = started(target_uA=15_000, slew_uA_per_s=1_000, timeout_ms=2_000)
    load = Resistor(3_000)
    calls = 0
    original = load.advance

    def counting(*args: int) -> LoadStretch:
        nonlocal calls
        calls += 1
        return original(*args)

    load.advance = counting  # type: ignore[method-assign]
    while fw.state is not State.ON:
        fw.heartbeat()
        fw.advance(load, 1_000)
    calls = 0
    fw.heartbeat()
    deadline = fw.status().heartbeat_deadline
    stretch = fw.advance(load, 600_000)
    assert calls == 1
    assert stretch.last.tick == deadline  # stops at the watchdog's tick, which fires
    assert stretch.last.state is State.RAMP_DOWN
    assert stretch.last.fault is FaultCode.WATCHDOG
    assert stretch.charge_uA_ms == 15_000 * (stretch.ticks - 1) + stretch.last.current_uA


# --- The anti-shock guard: examples --------------------------------------------------------------
def _open_circuits(fw: Firmware) -> list[Event]:
    return [e for e in fw.events() if e.trigger is Trigger.OPEN_CIRCUIT]


def _allowed_rise_permille(build: FirmwareBuild, current_uA: int) -> int:
    """The guard's allowed rise at a current, from the build's description (a test oracle)."""
    lowest = build.impedance_guard_min_uA
    rise = build.impedance_rise_permille
    for band in range(build.impedance_guard_bands - 1, 0, -1):
        if current_uA < lowest << band:
            rise *= 2
    return rise


def test_the_guard_is_2_5_percent_from_2_mA_and_wider_below() -> None:
    assert _allowed_rise_permille(DEFAULT_BUILD, 15_000) == 25
    assert _allowed_rise_permille(DEFAULT_BUILD, 2_000) == 25
    assert _allowed_rise_permille(DEFAULT_BUILD, 1_999) == 50
    assert _allowed_rise_permille(DEFAULT_BUILD, 1_000) == 50
    assert _allowed_rise_permille(DEFAULT_BUILD, 500) == 100
    assert DEFAULT_BUILD.impedance_guard_min_uA == 500
    with pytest.raises(ValueError, match="share of the reference"):
        FirmwareBuild(impedance_rise_permille=250)  # 4 × 250‰ below 1 mA: nonsense


def test_a_rising_impedance_is_cut_in_the_same_tick_and_latched() -> None:
    # A hand starting to leave the water at 8 mA: 2% more impedance is within the guard's
    # 2.5%, 6% is not. The cut comes in the tick that reads it, at 43 V of a 60 V compliance:
    # the compliance voltage alone would have let the current source push on.
    within, beyond = 2_000, 3_000
    load = Resistor(5_000, steps=((within, 5_100), (beyond, 5_400)))
    fw = started(FAST, target_uA=8_000, slew_uA_per_s=20_000)
    outs = run(fw, load, 3_100, heartbeat_every=50)
    assert all(o.state is State.ON for o in outs[within:beyond])
    cut = outs[beyond]
    assert cut.current_uA == 8_000  # what flowed in the tick that read the rise
    assert cut.voltage_mV == 43_200
    assert cut.state is State.LATCHED_FAULT
    assert cut.fault is FaultCode.OPEN_CIRCUIT
    assert all(o.demand_uA == 0 and o.current_uA == 0 for o in outs[beyond + 1 :])
    (event,) = _open_circuits(fw)
    assert (event.tick, event.before, event.value) == (beyond, State.ON, 5_400)  # Ω
    # The host's usual answer: clear, start again from zero once contact is back.
    assert fw.clear_fault().accepted
    assert fw.start(FWD).accepted
    back = run(fw, load, 600, heartbeat_every=50)
    assert back[-1].state is State.ON
    assert not _open_circuits(fw)[1:]


def test_a_half_lifted_hand_is_cut_before_the_compliance_voltage_holds_it() -> None:
    # The old firmware held the current at the compliance voltage here (5 → 8 kΩ at 40 V:
    # 8 → 5 mA) and pushed 5 mA through what was left of the hand.
    lifted = 3_000
    load = Resistor(5_000, steps=((lifted, 8_000),))
    fw = started(FAST, target_uA=8_000, compliance_mV=40_000, slew_uA_per_s=20_000)
    outs = run(fw, load, 3_050, heartbeat_every=50)
    assert outs[lifted - 1].state is State.ON
    assert outs[lifted].state is State.LATCHED_FAULT
    assert outs[lifted].fault is FaultCode.OPEN_CIRCUIT
    assert outs[lifted + 1].current_uA == 0


def test_the_guard_follows_a_falling_impedance_and_forgives_a_slow_creep() -> None:
    # A skin defect opens (5 → 2.5 kΩ): the reference follows at once. Then the impedance
    # creeps up by 0.5%/s for 8 s (4% in all, more than the 2.5% allowed at once): slower
    # than the reference may creep, so never a cut. A creep ten times faster is cut.
    fw = started(FAST, target_uA=8_000, slew_uA_per_s=20_000)
    broken, creep_from = 1_000, 2_000
    slow = tuple((creep_from + 100 * n, 2_500 + 2_500 * n // 2_000) for n in range(1, 81))
    load = Resistor(5_000, steps=((broken, 2_500), *slow))
    outs = run(fw, load, creep_from, heartbeat_every=50)
    assert outs[-1].state is State.ON
    assert fw.status().impedance_reference_mohm == 2_500_000
    outs = run(fw, load, 8_500, heartbeat_every=50)
    assert all(o.state is State.ON for o in outs)
    assert not _open_circuits(fw)

    fw = started(FAST, target_uA=8_000, slew_uA_per_s=20_000)
    fast = tuple((creep_from + 100 * n, 2_500 + 2_500 * n // 200) for n in range(1, 81))
    outs = run(fw, Resistor(2_500, steps=fast), 10_500, heartbeat_every=50)
    (event,) = _open_circuits(fw)
    assert creep_from < event.tick < creep_from + 1_000  # 2.5% + the creep: within a second


def test_below_2_mA_the_guard_allows_more_and_below_half_a_mA_it_sleeps() -> None:
    def rise_cut(target_uA: int, rise_percent: int) -> bool:
        fw = started(FAST, target_uA=target_uA, slew_uA_per_s=20_000)
        load = Resistor(10_000, steps=((1_000, 10_000 + 100 * rise_percent),))
        run(fw, load, 1_100, heartbeat_every=50)
        return bool(_open_circuits(fw))

    assert rise_cut(3_000, 3)
    assert not rise_cut(1_500, 3)
    assert rise_cut(1_500, 6)
    assert not rise_cut(800, 6)
    assert rise_cut(800, 11)
    assert not rise_cut(400, 50)  # a lift at 0.4 mA is the compliance rule's (and no shock)


def test_the_guard_leaves_a_lowered_limit_a_reversal_and_the_watchdog_ramp_alone() -> None:
    # Honest skin (τ = 8 ms) on the default build at the fastest slew: each fall of the
    # current leaves the skin's charge behind for a few ms, which reads as a higher impedance.
    load = SkinRC(series_ohm=500, skin_ohm=4_000, skin_uF=2.0)
    fw = started(target_uA=6_000, slew_uA_per_s=1_000, timeout_ms=1_000)
    lowered = dc_limits(limit_uA=2_000, slew_uA_per_s=1_000, timeout_ms=1_000)
    outs = run(fw, load, 7_000, heartbeat_every=250, at={6_600: lambda f: f.apply(lowered)})
    assert outs[6_599].demand_uA == 6_000
    assert outs[6_600].demand_uA == 2_000  # at once: the limit holds
    outs = run(fw, load, 5_000, heartbeat_every=250, at={7_000: lambda f: f.reverse()})
    assert outs[-1].state is State.ON
    assert outs[-1].demand_uA == -2_000
    outs = run(fw, load, 2_000, heartbeat_every=None)  # the host falls silent
    assert outs[-1].state is State.LATCHED_FAULT
    assert outs[-1].fault is FaultCode.WATCHDOG
    assert not _open_circuits(fw)


# --- Properties --------------------------------------------------------------------------------
HORIZON = 2_500


@st.composite
def loads(draw: st.DrawFn) -> Resistor | SkinRC:
    spans = draw(
        st.lists(st.tuples(st.integers(0, HORIZON), st.integers(1, 600)), max_size=3).map(
            lambda pairs: tuple((start, start + length) for start, length in pairs)
        )
    )
    if draw(st.booleans()):
        return SkinRC(
            series_ohm=draw(st.integers(300, 3_000)),
            skin_ohm=draw(st.integers(500, 60_000)),
            skin_uF=draw(st.floats(0.5, 20.0)),
            open_spans=spans,
        )
    ohm = draw(st.integers(300, 70_000))
    steps = draw(st.lists(st.tuples(st.integers(0, HORIZON), st.integers(300, 80_000)), max_size=2))
    if draw(st.booleans()):  # a hand half lifted (up to 1.9×), then dipped deeper again
        lifted = draw(st.integers(0, HORIZON - 1))
        back = draw(st.integers(lifted + 1, HORIZON))
        steps = [
            (lifted, ohm * draw(st.integers(11, 19)) // 10),
            (back, max(300, ohm // draw(st.integers(1, 5)))),
        ]
    leak = draw(st.sampled_from([0, 0, 0, 500, 2_500]))
    return Resistor(
        ohm,
        open_spans=spans,
        steps=tuple(steps),
        leak_uA=leak,
        leak_from=draw(st.integers(0, HORIZON)),
    )


waveforms = st.one_of(
    st.just((WaveformCode.DC, 0, 0, 0)),
    st.tuples(
        st.just(WaveformCode.PULSED_DC),
        st.integers(1, 20_000),
        st.integers(1, 999),
        st.just(0),
    ),
    st.tuples(
        st.just(WaveformCode.AC_DC_OFFSET),
        st.integers(1, 20_000),
        st.just(0),
        st.integers(1, 1_000),
    ),
)


@st.composite
def set_limits(draw: st.DrawFn) -> SetLimits:
    code, frequency, duty, ac = draw(waveforms)
    return SetLimits(
        session_limit_uA=draw(st.integers(1, 80_000)),
        compliance_mV=draw(st.integers(1_000, 90_000)),
        slew_uA_per_s=draw(st.integers(1, 80_000)),
        heartbeat_timeout_ms=draw(st.integers(100, 5_000)),
        waveform=code,
        pulse_frequency_hz=frequency,
        duty_permille=duty,
        ac_amplitude_permille=ac,
    )


polarities = st.sampled_from([FWD, REV])
commands: st.SearchStrategy[HostMessage] = st.one_of(
    set_limits(),
    polarities.map(Start),
    st.integers(0, 80_000).map(SetTarget),
    polarities.map(Reverse),
    st.just(Stop()),
    st.just(Heartbeat()),
    st.just(ClearFault()),
)


@dataclass(frozen=True)
class Scenario:
    load: Resistor | SkinRC
    script: tuple[tuple[int, HostMessage], ...]
    heartbeat_every: int
    heartbeats_until: int

    def fresh_load(self) -> Resistor | SkinRC:
        load = self.load
        if isinstance(load, Resistor):
            return Resistor(
                load.resistance_ohm, load.open_spans, load.steps, load.leak_uA, load.leak_from
            )
        return SkinRC(load.series_ohm, load.skin_ohm, load.skin_uF, load.open_spans)

    def messages_at(self, tick: int) -> list[HostMessage]:
        due: list[HostMessage] = [m for at, m in self.script if at == tick]
        if tick < self.heartbeats_until and tick % self.heartbeat_every == 0:
            due.append(Heartbeat())
        return due

    def command_ticks(self) -> list[int]:
        ticks = {at for at, _ in self.script}
        ticks.update(range(0, min(self.heartbeats_until, HORIZON), self.heartbeat_every))
        return sorted(ticks)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    opening: list[tuple[int, HostMessage]] = []
    rest = draw(st.lists(st.tuples(st.integers(0, HORIZON), commands), max_size=12))
    if draw(st.integers(0, 9)) > 1:  # mostly a proper session opening
        polarity = draw(polarities)
        opening = [
            (0, draw(set_limits())),
            (0, SetTarget(draw(st.integers(0, 40_000)))),
            (draw(st.integers(0, 50)), Start(polarity)),
        ]
        if draw(st.booleans()):  # a reversal in mid-session, as the UK protocol does
            rest.append((draw(st.integers(100, HORIZON)), Reverse(polarity.opposite)))
    return Scenario(
        load=draw(loads()),
        script=tuple(opening + sorted(rest, key=lambda pair: pair[0])),
        heartbeat_every=draw(st.sampled_from([20, 50, 90])),
        heartbeats_until=draw(st.sampled_from([0, HORIZON // 3, HORIZON // 2, HORIZON + 1])),
    )


@dataclass
class Tick:
    """One tick as the safety checker sees it."""

    out: TickOutput
    before: DeviceState  # the state at the tick's start, after the host's commands

    @property
    def output(self) -> bool:
        """The demand was treatment, not the contact sense current."""
        return self.before in OUTPUT_STATES

    limit_uA: int  # the per-session limit in force
    slew_uA_per_s: int
    peak_num: int
    peak_den: int
    lowered_limit: bool  # a SetLimits just before this tick lowered the limit


@dataclass
class Trace:
    ticks: list[Tick]
    results: list[tuple[int, HostMessage, CommandResult]]
    last_feed: int  # tick of the last accepted command
    firmware: Firmware


def play(scenario: Scenario, build: FirmwareBuild = FAST) -> Trace:
    fw = Firmware(build)
    load = scenario.fresh_load()
    ticks: list[Tick] = []
    results: list[tuple[int, HostMessage, CommandResult]] = []
    last_feed = -1
    for now in range(HORIZON):
        limit_before = fw.status().limit_uA
        for message in scenario.messages_at(now):
            result = fw.apply(message)
            results.append((now, message, result))
            if result.accepted:
                last_feed = now
        status = fw.status()
        shape = status.waveform
        before = fw.state
        out = fw.tick(load)
        ticks.append(
            Tick(
                out=out,
                before=before,
                limit_uA=status.limit_uA,
                slew_uA_per_s=status.slew_uA_per_s,
                peak_num=shape.peak_num if shape else 1,
                peak_den=shape.peak_den if shape else 1,
                lowered_limit=status.limit_uA < limit_before,
            )
        )
    return Trace(ticks, results, last_feed, fw)


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_the_current_never_exceeds_the_session_limit_nor_the_ceiling(scenario: Scenario) -> None:
    trace = play(scenario)
    build = FAST
    for tick in trace.ticks:
        demand = abs(tick.out.demand_uA)
        assert demand <= tick.limit_uA or demand == 0
        # The pulse peak of the demand never exceeds the absolute ceiling.
        assert demand * tick.peak_num <= build.ceiling_uA * tick.peak_den
        current = abs(tick.out.current_uA)
        if current * tick.peak_num > (
            demand * tick.peak_num + build.trip_margin_uA * tick.peak_den
        ):
            # Only a failed output stage makes more flow than asked: cut and latched at once.
            assert tick.out.state is State.LATCHED_FAULT
            assert tick.out.fault is FaultCode.OVERCURRENT
        if tick.before in (State.IDLE, State.LATCHED_FAULT):
            assert tick.out.demand_uA == 0


@PROPERTY
@given(scenarios())
def test_output_only_after_contact_and_always_from_zero(scenario: Scenario) -> None:
    trace = play(scenario)
    build = FAST
    contact_confirmed = False
    for i, tick in enumerate(trace.ticks):
        out = tick.out
        if not tick.output:
            assert abs(out.demand_uA) <= build.sense_uA
        elif not contact_confirmed:
            pytest.fail(f"output at tick {out.tick} without a confirmed contact")
        if out.state in (State.IDLE, State.WAIT_CONTACT, State.LATCHED_FAULT):
            contact_confirmed = False
        previous = trace.ticks[i - 1].out.state if i else State.IDLE
        if previous is State.WAIT_CONTACT and out.state is State.RAMP_UP:
            contact_confirmed = True
            # The full sense current flowed for the whole debounce time, without a break.
            window = trace.ticks[i + 1 - build.contact_debounce_ms : i + 1]
            assert len(window) == build.contact_debounce_ms
            assert all(t.out.current_uA == t.out.demand_uA != 0 for t in window)
            if i + 1 < len(trace.ticks):
                assert trace.ticks[i + 1].out.demand_uA == 0  # from zero


def _allowed_step(build: FirmwareBuild, slew_uA_per_s: int) -> int:
    return build.max_step_uA(max(slew_uA_per_s, build.safe_ramp_down_uA_per_s))


#: Held at the compliance voltage, held lower still, then the hand dipped deeper: the case
#: where a set point left above the current would give the re-entry shock. Always among the
#: examples.
REENTRY = Scenario(
    load=Resistor(5_000, steps=((2_000, 1_000),)),
    script=(
        (0, SetLimits(20_000, 40_000, 20_000, 300, WaveformCode.DC)),
        (0, SetTarget(15_000)),
        (0, Start(FWD)),
        (1_500, SetLimits(20_000, 25_000, 20_000, 300, WaveformCode.DC)),
    ),
    heartbeat_every=20,
    heartbeats_until=HORIZON + 1,
)


@PROPERTY
@given(scenarios())
@example(REENTRY)
def test_the_set_point_moves_no_faster_than_the_slew_except_a_cut_to_zero(
    scenario: Scenario,
) -> None:
    trace = play(scenario)
    build = FAST
    for prev, now in itertools.pairwise(trace.ticks):
        if not now.output:
            continue
        before = abs(prev.out.demand_uA) if prev.output else 0
        after = abs(now.out.demand_uA)
        rise_step = build.max_step_uA(now.slew_uA_per_s)
        assert after - before <= rise_step, (prev.out, now.out)
        assert rise_step <= build.max_step_uA(build.slew_max_uA_per_s)  # the build's hard slew
        if after < before:
            fall_step = _allowed_step(build, now.slew_uA_per_s)
            assert (
                after == 0  # a cut to zero
                or before - after <= fall_step  # a ramp step
                or after >= abs(prev.out.current_uA) - fall_step  # follows what flowed
                or (now.lowered_limit and after >= now.limit_uA - fall_step)
            ), (prev.out, now.out)
        # What flows never rises faster than the set point may (no re-entry shock).
        honest = isinstance(scenario.load, SkinRC) or not scenario.load.leak_uA
        if honest and prev.output and _same_sign(prev.out.current_uA, now.out.current_uA):
            rise = abs(now.out.current_uA) - abs(prev.out.current_uA)
            assert rise <= rise_step, (prev.out, now.out)


def _same_sign(a: int, b: int) -> bool:
    return a * b >= 0


@PROPERTY
@given(scenarios())
def test_a_lift_is_cut_at_once_and_the_return_climbs_along_the_ramp(scenario: Scenario) -> None:
    trace = play(scenario)
    load = scenario.load
    entry: tuple[int, int] | None = None  # (tick the ramp started from zero, slew then)
    for i, tick in enumerate(trace.ticks):
        out = tick.out
        if tick.output and out.demand_uA != 0 and load.is_open(out.tick):
            # Any demand into an open circuit is cut in the same tick and latched, so that
            # even a limb back in the water within 10 ms carries less than 0.5 mA.
            assert out.state is State.LATCHED_FAULT
            assert out.fault in (FaultCode.OPEN_CIRCUIT, FaultCode.OVERCURRENT)
            assert all(abs(t.out.current_uA) < 500 for t in trace.ticks[i + 1 : i + 11])
        previous = trace.ticks[i - 1].out.state if i else State.IDLE
        if out.state is State.RAMP_UP and previous in (State.WAIT_CONTACT, State.REVERSING):
            entry = (out.tick, tick.slew_uA_per_s)
        elif out.state not in OUTPUT_STATES:
            entry = None
        elif entry is not None and tick.output and out.state in (State.RAMP_UP, State.ON):
            start, slew = entry
            envelope = slew * (out.tick - start) // 1000
            assert abs(out.demand_uA) <= envelope, (out, entry)
            assert abs(out.current_uA) <= envelope + (
                0 if isinstance(load, SkinRC) or not load.leak_uA else load.leak_uA
            )


@PROPERTY
@given(scenarios())
def test_a_reversal_always_passes_through_zero(scenario: Scenario) -> None:
    trace = play(scenario)
    zero = FAST.zero_current_uA
    failed_stage = isinstance(scenario.load, Resistor) and scenario.load.leak_uA > 0
    for prev, now in itertools.pairwise(trace.ticks):
        if prev.output and now.output:
            assert prev.out.demand_uA * now.out.demand_uA >= 0  # never straight across
        if not failed_stage and prev.out.current_uA * now.out.current_uA < 0:
            # Even the sense current changes direction only from zero (Start needs it).
            assert min(abs(prev.out.current_uA), abs(now.out.current_uA)) <= zero
        if now.out.polarity is not prev.out.polarity and now.output:
            assert now.out.demand_uA == 0
            assert abs(now.out.current_uA) <= FAST.zero_current_uA
            assert now.before is State.REVERSING  # only a reversal switches under output


@PROPERTY
@given(scenarios())
def test_when_the_host_falls_silent_the_output_goes_to_zero_by_itself(scenario: Scenario) -> None:
    trace = play(scenario)
    quiet_from = trace.last_feed + FAST.watchdog_to_zero_ms
    for tick in trace.ticks:
        if tick.out.tick >= quiet_from:
            assert tick.out.demand_uA == 0 or not tick.output
            assert tick.out.state in (State.IDLE, State.LATCHED_FAULT)


#: Found by a long run: a failed stage leaking the wrong way while a reversal waits at zero.
LEAK_AT_ZERO = Scenario(
    load=Resistor(300, leak_uA=500, leak_from=30),
    script=(
        (0, SetLimits(1, 1_000, 1, 248, WaveformCode.DC)),
        (0, SetTarget(30_001)),
        (0, Start(REV)),
        (100, Reverse(FWD)),
    ),
    heartbeat_every=20,
    heartbeats_until=0,
)


@PROPERTY
@given(scenarios())
@example(LEAK_AT_ZERO)
def test_host_requests_above_the_hard_limits_are_clamped_and_reported(
    scenario: Scenario,
) -> None:
    trace = play(scenario)
    build = FAST
    for _, message, result in trace.results:
        if isinstance(message, SetLimits) and result.accepted:
            shape = WaveformShape(
                message.waveform,
                message.pulse_frequency_hz,
                message.duty_permille,
                message.ac_amplitude_permille,
            )
            above = (
                message.session_limit_uA > shape.average_ceiling_uA(build.ceiling_uA)
                or message.compliance_mV > build.compliance_max_mV
                or message.slew_uA_per_s > build.slew_max_uA_per_s
                or message.heartbeat_timeout_ms > build.heartbeat_timeout_max_ms
            )
            assert (result.code is ResultCode.CLAMPED_TO_CEILING) == above
            assert result.value_uA <= shape.average_ceiling_uA(build.ceiling_uA)
        if isinstance(message, SetTarget) and result.accepted:
            assert result.value_uA <= min(message.target_uA, build.ceiling_uA)
    status = trace.firmware.status()
    assert status.slew_uA_per_s <= build.slew_max_uA_per_s
    assert status.compliance_mV <= build.compliance_max_mV
    assert status.heartbeat_timeout_ms <= build.heartbeat_timeout_max_ms
    clamps = sum(1 for _, _, r in trace.results if r.code is ResultCode.CLAMPED_TO_CEILING)
    events = trace.firmware.events()
    reports = [e for e in events if e.fault is FaultCode.CEILING_REQUEST]
    assert bool(clamps) == bool(reports)
    # The log holds changes, not ticks: a stuck condition must not flood it (and push the
    # reports out of the ring).
    changes = sum(1 for a, b in itertools.pairwise(trace.ticks) if _key(a.out) != _key(b.out))
    assert len(events) <= 6 * len(trace.results) + 2 * changes + 2


# --- advance ≡ tick ----------------------------------------------------------------------------
def play_advancing(
    scenario: Scenario, build: FirmwareBuild, chunk: int
) -> tuple[list[Stretch], Firmware]:
    fw = Firmware(build)
    load = scenario.fresh_load()
    stretches: list[Stretch] = []
    command_ticks = scenario.command_ticks()
    while fw.tick_count < HORIZON:
        now = fw.tick_count
        for message in scenario.messages_at(now):
            fw.apply(message)
        upcoming = [t for t in command_ticks if t > now] + [HORIZON]
        stretches.append(fw.advance(load, min(upcoming[0] - now, chunk)))
    return stretches, fw


def play_ticking(
    scenario: Scenario, build: FirmwareBuild
) -> tuple[list[TickOutput], int, Firmware]:
    """Tick by tick: the outputs, the charge delivered in the output states, the firmware."""
    fw = Firmware(build)
    load = scenario.fresh_load()
    outs = []
    charge = 0
    for now in range(HORIZON):
        for message in scenario.messages_at(now):
            fw.apply(message)
        output = fw.state in OUTPUT_STATES
        out = fw.tick(load)
        if output:
            charge += out.current_uA
        outs.append(out)
    return outs, charge, fw


def changed_within(scenario: Scenario, build: FirmwareBuild) -> set[int]:
    """The ticks at which the state, polarity or fault changed *within* the tick (not by a
    command between ticks)."""
    fw = Firmware(build)
    load = scenario.fresh_load()
    changes = set()
    for now in range(HORIZON):
        for message in scenario.messages_at(now):
            fw.apply(message)
        before = (fw.state, fw.status().polarity, fw.fault)
        if _key(fw.tick(load)) != before:
            changes.add(now)
    return changes


def _key(out: TickOutput) -> tuple[DeviceState, Polarity, FaultCode]:
    return out.state, out.polarity, out.fault


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from([FAST, DEFAULT_BUILD]), st.integers(1, 5_000))
def test_advance_is_the_same_as_ticking(
    scenario: Scenario, build: FirmwareBuild, chunk: int
) -> None:
    outs, charge, ticked = play_ticking(scenario, build)
    stretches, advanced = play_advancing(scenario, build, chunk)
    # Every stretch ends on a tick whose output is exactly the ticked one.
    for stretch in stretches:
        assert stretch.last == outs[stretch.last.tick]
    ends = {s.last.tick for s in stretches}
    # Every change of state, polarity or fault within a tick ends a stretch: the caller sees
    # it at its exact tick. (A command's own change is seen by the caller who sent it.)
    assert changed_within(scenario, build) <= ends
    assert sum(s.ticks for s in stretches) == HORIZON
    assert sum(s.charge_uA_ms for s in stretches) == charge
    assert advanced.status() == ticked.status()
    assert advanced.events() == ticked.events()


def test_advance_runs_a_20_minute_session_in_few_calls() -> None:
    """Not a timing test: counts the load calls a simulator would make (the speed follows)."""
    fw = started(target_uA=15_000, slew_uA_per_s=500, timeout_ms=1_000)
    load = Resistor(2_500)
    calls = 0
    original = load.advance

    def counting(*args: int) -> LoadStretch:
        nonlocal calls
        calls += 1
        return original(*args)

    load.advance = counting  # type: ignore[method-assign]
    session_ticks = 20 * 60 * 1000
    while fw.tick_count < session_ticks:
        fw.heartbeat()  # the host, every 250 ms
        next_beat = fw.tick_count + 250
        while fw.tick_count < next_beat:
            fw.advance(load, next_beat - fw.tick_count)
    assert fw.state is State.ON
    # 4 800 heartbeats, 30 s of ramp in 20 ms steps (1 500), a little for contact.
    assert calls < 4_800 + 1_500 + 100


def test_advance_trips_a_failed_stage_while_waiting_for_contact() -> None:
    """Found by the property above: a limb out of the water, then current from a failed stage.
    Both readings are 'not the demand', but only the first is quiet."""
    scenario = Scenario(
        load=Resistor(300, open_spans=((0, 1),), leak_uA=2_500, leak_from=1),
        script=((0, dc_limits(limit_uA=1, slew_uA_per_s=1, timeout_ms=100)), (0, Start(FWD))),
        heartbeat_every=20,
        heartbeats_until=0,
    )
    stretches, fw = play_advancing(scenario, FAST, 5_000)
    assert stretches[0].last.tick == 1
    assert stretches[0].last.fault is FaultCode.OVERCURRENT
    outs, _, ticked = play_ticking(scenario, FAST)
    assert stretches[0].last == outs[1]
    assert fw.events() == ticked.events()
    assert regime_of(100, 0) is Regime.SHORT
    assert regime_of(100, 2_600) is Regime.OTHER
    assert regime_of(-100, -40) is Regime.SHORT
    assert regime_of(0, 5) is Regime.OTHER


# --- The anti-shock guard on the physics' virtual patients -------------------------------------
#: What a patient can be treated in (issue 3: waveforms, water from soft to hard, every region).
patient_regions = st.sampled_from(list(Region))
waters = st.sampled_from([100.0, 400.0, 800.0])
_WIRE_WAVEFORM = {
    Waveform.DC: (WaveformCode.DC, 0, 0, 0),
    Waveform.PULSED_DC: (WaveformCode.PULSED_DC, 5_000, 500, 0),
    Waveform.AC_DC_OFFSET: (WaveformCode.AC_DC_OFFSET, 5_000, 0, 1_000),
}
GUARD_PROPERTY = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@GUARD_PROPERTY
@given(
    seed=st.integers(0, 10**6),
    region=patient_regions,
    water=waters,
    waveform=st.sampled_from(list(_WIRE_WAVEFORM)),
    slew_uA_per_s=st.integers(500, DEFAULT_BUILD.slew_max_uA_per_s),
    target_uA=st.integers(1_500, 4_000),
    skin_break=st.booleans(),
)
def test_the_guard_never_cuts_a_patient_who_stays_in_the_water(
    seed: int,
    region: Region,
    water: float,
    waveform: Waveform,
    slew_uA_per_s: int,
    target_uA: int,
    skin_break: bool,
) -> None:
    """Ramps at up to the build's fastest slew against the skin's capacitance, the compliance
    voltage holding the current back (soft water, thick soles), pulsed and AC waveforms, a
    skin defect opening, a reversal through zero and the ramp down: all at the low currents
    where their artefacts are largest, tick by tick — and not one cut."""
    ramp_ms = target_uA * 1_000 // slew_uA_per_s
    reverse_at = 500 + ramp_ms + 1_000
    stop_at = reverse_at + 2 * ramp_ms + 1_500
    patient = VirtualPatient.from_seed(seed, region, 34.0, water)
    if skin_break:
        patient = patient.skin_break((reverse_at - 500) / 1_000)
    load = PatientLoad(patient, waveform)
    fw = Firmware()
    code, frequency, duty, ac = _WIRE_WAVEFORM[waveform]
    limits = SetLimits(target_uA, 60_000, slew_uA_per_s, 1_000, code, frequency, duty, ac)
    assert fw.apply(limits).accepted
    fw.set_target(target_uA)
    fw.start(FWD)
    at = {reverse_at: lambda f: f.reverse(), stop_at: lambda f: f.stop()}
    outs = run(fw, load, stop_at + ramp_ms + 500, heartbeat_every=250, at=at)
    assert not _open_circuits(fw), describe_events(fw.events())
    assert max(abs(o.current_uA) for o in outs) >= min(target_uA, 1_000)  # it did treat
    assert outs[-1].state in (State.IDLE, State.RAMP_DOWN)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    region=patient_regions,
    age=st.sampled_from([9.0, 34.0, 70.0]),
    waveform=st.sampled_from([None, Waveform.DC, Waveform.PULSED_DC]),
    water=waters,
)
def test_whole_sessions_without_a_lift_never_lose_contact(
    seed: int, region: Region, age: float, waveform: Waveform | None, water: float
) -> None:
    """``run_session`` as the CLI runs it — the controller, the fast path, ramps, the reversal
    halfway, pain steps — on random patients who keep their limbs in the water."""
    request = SessionRequest(
        region=region, age_years=age, seed=seed, minutes=1.0, waveform=waveform, water_uS_cm=water
    )
    outcome = run_session(request)
    assert "contact_lost" not in [e.code for e in outcome.record.events]
    assert outcome.state in ("completed", "stopped")  # stopped: the patient's pain, not a cut


@dataclass
class LiftWatch:
    """Every tick of a patient load that the simulator drives one by one (a lift's every tick
    is a scripted change): the current, the voltage and what the patient feels."""

    load: PatientLoad
    ticks: dict[int, tuple[int, int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        drive = self.load.drive
        advance = self.load.advance

        def watched(tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
            reading = drive(tick, demand_uA, compliance_mV)
            self._note(tick, reading)
            return reading

        def watched_stretch(start_tick: int, ticks: int, *args: int, **kw: bool) -> Any:
            stretch = advance(start_tick, ticks, *args, **kw)
            self._note(start_tick + stretch.ticks - 1, stretch.reading)
            return stretch

        self.load.drive = watched  # type: ignore[method-assign]
        self.load.advance = watched_stretch  # type: ignore[method-assign]

    def _note(self, tick: int, reading: LoadReading) -> None:
        self.ticks[tick] = (reading.current_uA, reading.voltage_mV, self.load.sensation)


#: The most a lift cut by the guard adds to what the patient feels (sensation 0–10): up to
#: ~0.8 measured, for the fastest lifts (0.1 s), whose rate of change is felt most.
LIFT_FELT_AT_MOST = 1.0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    lift_s=st.floats(2.0, 58.0),
    transition_s=st.floats(0.1, 0.3),
    waveform=st.sampled_from([Waveform.DC, Waveform.PULSED_DC]),
)
def test_every_lift_is_cut_early_and_never_hurts(
    seed: int, lift_s: float, transition_s: float, waveform: Waveform
) -> None:
    """A hand lifted out of the water at a random moment of a session (ramping up, at the
    target, ramping through the reversal), leaving it in 0.1–0.3 s.

    The issue asks for output below 0.5 mA within 10 ms of a lift, read as: of the limb being
    out of the water (``test_lift_cut.py`` checks that over random lifts; the device comparison
    measures it). Ionto is 80–250 ms *early*. Counted from the very first tick the hand moves,
    no guard on the impedance could meet 10 ms: in the first 10 ms of a 0.3 s lift the impedance
    rises by 0.15%, and the skin's capacitance hides even that from the voltage for a few ms
    more. So the properties are: the current is below 0.5 mA in the tick after the impedance
    read at the terminals rises above a session's own artefacts (the guard's allowed rise); that
    is long before the hand is out; and the patient feels at most a little more than before the
    lift (``LIFT_FELT_AT_MOST``), never pain unless they were already within that little of
    their pain threshold.
    """
    _, plan, _ = build_plan(SessionRequest(seed=seed, minutes=1.0, waveform=waveform))
    patient = VirtualPatient.from_seed(seed, Region.PALMS, 34.0).lift(
        lift_s, 1.0, transition_s=transition_s
    )
    duty = 0.5 if waveform is Waveform.PULSED_DC else None
    device = SimulatedDevice(patient, waveform, duty_cycle=duty)
    watch = LiftWatch(device.load)
    record = SessionController(device, plan).run(InputSource([]), pain_source=device)

    (lift,) = patient.movements
    start, out = lift.start_tick, lift.start_tick + lift.transition_ticks
    before = watch.ticks.get(start - 1)
    assume(before is not None and abs(before[0]) >= 500)  # current flowing as it starts
    assert before is not None
    current_before, volts_before, felt_before = before
    allowed = _allowed_rise_permille(DEFAULT_BUILD, abs(current_before))
    risen = abs(volts_before) * (1_000 + allowed)  # µV·‰ per µA: the impedance, scaled
    cut = next(t for t in range(start, out) if abs(watch.ticks[t][0]) < 500)
    read = next(
        (
            t
            for t in range(start, cut)
            if abs(watch.ticks[t][1]) * 1_000 * abs(current_before) > risen * abs(watch.ticks[t][0])
        ),
        cut,
    )
    # Within a few ms of the reading rising above the allowed rise (the guard's reference is
    # its own lowest reading, and a ramp's steps move the reading by a few tenths of a %).
    assert cut - read <= 5
    assert out - cut >= 50  # ms before the hand is out of the water
    if abs(current_before) >= 2_000:
        assert cut - start <= 60
    # What a cut at the guard's rise costs the patient (physics.SensationModel: ~0.6 at a 2%
    # rise, ~1.1 at 5%): a little, so no pain unless they were that close to it already.
    felt = max(watch.ticks[t][2] for t in range(start, cut + 1))
    assert felt - felt_before <= LIFT_FELT_AT_MOST
    if felt_before < patient.pain_threshold - LIFT_FELT_AT_MOST:
        assert felt < patient.pain_threshold
    assert "contact_lost" in [e.code for e in record.events]
