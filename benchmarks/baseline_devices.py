"""Two devices to compare Ionto with: comparison baselines, not product code.

Both drive the same virtual patients as Ionto (:class:`~ionto.device.physics.PatientLoad`,
watched by ``session_probe.ProbedLoad``). The load only knows a current demand with a
compliance voltage; a voltage source of V volts is a demand of "as much as the source can give"
with a compliance of V, which carries exactly the current the patient's impedance allows.

**The constant-voltage "dose" device** (:class:`DoseDevice`, the Hidrex concept; clinical-
reference §2 "Ramps and shocks" and the Hidrex safety concept page):

* immersion monitoring: output starts only once the circuit is closed, and then from 0 V,
  slowly (modelled like Ionto's firmware: a 100 µA sense current at ≤ 5 V, i.e. ≤ 50 kΩ,
  for 500 ms; then the voltage ramps over the protocol's ramp time);
* the set voltage is the "dose" knob. Assumed chosen per patient (by a nurse who knows the
  patient) so that the current is the session's target when the ramp ends, within 10 V and
  the same compliance voltage Ionto may use (60 V with tap water) — so neither device has
  more headroom than the other. The current then follows the skin: it drifts up as the skin
  hydrates (clinical-reference §2: 2 → 4.5 mA over 10 min at a constant 8.5 V);
* current limiting: "the maximum permitted treatment current can be reached before the set
  dose (voltage) is reached; a protection circuit (current limit) intervenes" (Hidrex). Read
  here as a current limit at the protocol's maximum current (the same cap Ionto is given),
  at which the voltage stops rising. (Read literally, "stops the device" could also mean the
  session ends; the gentler reading is taken.) The 35 mA fault trip (Hidrex) is modelled too;
  it cannot fire in this simulation, since the load never carries more than the limit asks;
* it stops when the set dose (mA·min) is reached: the dose counter ramps the voltage down once
  the charge delivered plus that of the ramp down reaches the plan (the same anticipation
  Ionto's controller uses); with the UK "reverse halfway" protocol it ramps to 0 V at half the
  dose, switches polarity and ramps back up (Hidrex's newer devices do so in sessions
  ≥ 10 min; Hidrex polarity page);
* no fast anti-shock cut: a limb lifted with the voltage on gets what the physics gives.
  Assumed: an open circuit (> 50 kΩ) that lasts 500 ms sends it back to immersion monitoring
  (0 V; a fresh ramp once the limb is back), as its immersion monitor suggests; a shorter
  break meets the set voltage on the limb's return.

**The open-loop PWM device** (:class:`PwmDevice`, the open-source builds): a fixed supply
(40 V, the top of the 30–40 V such builds use; derived) switched at a duty cycle set by a knob;
no current regulation or limit, no contact detection, no ramp (switched on at the knob's
setting), no anti-shock, a timer. The knob is assumed set, like the dose device's voltage, so
that the average current would be the target when Ionto reaches it; at 40 V many patients'
dry skin needs more, so it sits at 100%. Pulses are modelled with the physics' pulsed DC
(the skin's capacitance averages them; its sensation weights are those of 5 kHz pulsed DC,
Reinauer 1995 — felt less than DC; at the few hundred hertz of some builds they would be
felt more, so this errs in the PWM device's favour). At 100% duty it is plain DC.

**The person at the controls** (both baselines, :class:`Complaints`): the simulated patient
says it hurts exactly as with Ionto (after :data:`~ionto.device.simulator.PAIN_REACTION_TICKS`,
not repeated within :data:`~ionto.device.simulator.PAIN_REPEAT_TICKS`), and the nurse or user
turns the knob down by the plan's pain step (20%), stopping at the plan's fourth report — what
Ionto's controller does by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from session_probe import ProbedLoad

from ionto.device.controller import SessionPlan
from ionto.device.firmware import DEFAULT_BUILD, HIDREX_FAULT_TRIP_UA
from ionto.device.load import LoadReading
from ionto.device.patients import VirtualPatient
from ionto.device.simulator import PAIN_REACTION_TICKS, PAIN_REPEAT_TICKS
from ionto.therapy.vocabulary import Reversal, Waveform

#: "As much as the source can give" (µA): a supply of 1 A, far above what a body draws at these
#: voltages, so the compliance voltage alone sets the current (derived).
SUPPLY_CAPABILITY_UA = 1_000_000
#: The dose device's lowest set voltage (mV; derived from clinical-reference §2: hands usually
#: < 15 V, 20–30 V typical — a knob that goes no lower than 10 V).
DOSE_MIN_SET_MV = 10_000
#: The PWM build's supply (mV; derived: the open-source builds run from 30–40 V).
PWM_SUPPLY_MV = 40_000
#: The PWM knob's lowest duty (derived).
PWM_MIN_DUTY = 0.05
#: The user of a PWM build swaps the leads by hand halfway (ms, derived).
PWM_SWAP_PAUSE_MS = 5_000
#: An open circuit lasting this long sends the dose device back to immersion monitoring (ms,
#: derived: as long as the contact debounce; much slower than an anti-shock guard).
DOSE_OPEN_DETECT_MS = 500
#: The dose device's voltage ramps in steps this long (ms), as Ionto's firmware build ramps its
#: set point (``FirmwareBuild.ramp_period_ms``, derived there: smooth, far below anything felt).
RAMP_STEP_MS = DEFAULT_BUILD.ramp_period_ms
#: Stretches advanced at once are at most this long (ms): the pain watch, the dose counter
#: and the timer look at least once a second (as Ionto's controller does at the target).
MAX_STRETCH_TICKS = 1_000


# --- What a device asks of the load each tick ------------------------------------------------
@dataclass(frozen=True, slots=True)
class Command:
    demand_uA: int  # signed
    compliance_mV: int


OFF = Command(0, 0)


class EndState(StrEnum):
    COMPLETED = "completed"
    STOPPED = "stopped"  # the person at the controls stopped it (pain)
    FAULT = "fault"  # a trip latched
    ABORTED = "aborted"  # ran far past its plan


class BaselineDevice(Protocol):
    @property
    def finished(self) -> bool: ...

    @property
    def end_state(self) -> EndState | None: ...

    def command(self) -> Command:
        """What the output does from the current tick on."""
        ...

    def quiet_ticks(self) -> int:
        """How many ticks from now the command stays the same and the device needs to see
        no reading but the last (≥ 1)."""
        ...

    def observe(self, ticks: int, reading: LoadReading, charge_uA_ms: float) -> None:
        """``ticks`` ticks have run with the command; ``reading`` is the last one's."""
        ...

    @property
    def pain_reports(self) -> int:
        """Reports of pain the device's operator acted on."""
        ...

    def pain_reported(self) -> None: ...

    def abort(self) -> None: ...


# --- The person at the controls --------------------------------------------------------------
class Complaints:
    """The simulated patient's "ouch", as :class:`~ionto.device.simulator.SimulatedDevice`
    produces it for Ionto: after a reaction time, not repeated within a few seconds."""

    def __init__(self, patient: VirtualPatient) -> None:
        self.threshold = patient.pain_threshold
        self._seen_peak = 0.0
        self.due_tick: int | None = None
        self._last = -PAIN_REPEAT_TICKS
        self.reports = 0

    def watch(self, load: ProbedLoad, now: int) -> None:
        hurt = load.sensation >= self.threshold or (
            load.peak_sensation > self._seen_peak and load.peak_sensation >= self.threshold
        )
        self._seen_peak = load.peak_sensation
        if hurt and self.due_tick is None and now - self._last >= PAIN_REPEAT_TICKS:
            self.due_tick = now + PAIN_REACTION_TICKS

    def take(self, now: int) -> bool:
        if self.due_tick is None or self.due_tick > now:
            return False
        self._last = self.due_tick
        self.due_tick = None
        self.reports += 1
        return True


# --- The constant-voltage dose device ---------------------------------------------------------
class DoseState(StrEnum):
    WAIT_CONTACT = "wait_contact"
    RAMP_UP = "ramp_up"
    HOLD = "hold"
    RAMP_DOWN = "ramp_down"
    OFF = "off"


@dataclass(frozen=True)
class DoseSettings:
    set_voltage_mV: int
    current_limit_uA: int
    dose_uA_ms: float  # the whole session's
    reverse_halfway: bool
    ramp_up_ms: int
    ramp_down_ms: int
    pain_step: float
    max_pain_reports: int
    trip_uA: int = HIDREX_FAULT_TRIP_UA
    # Immersion monitoring, as in Ionto's firmware build (derived there).
    sense_uA: int = DEFAULT_BUILD.sense_uA
    sense_compliance_mV: int = 5_000
    contact_ohm: int = DEFAULT_BUILD.contact_threshold_ohm
    contact_debounce_ms: int = DEFAULT_BUILD.contact_debounce_ms
    open_detect_ms: int = DOSE_OPEN_DETECT_MS


class DoseDevice:
    """A constant-voltage device with immersion monitoring, a current limit and a dose stop."""

    def __init__(self, settings: DoseSettings) -> None:
        self.s = settings
        self.state = DoseState.WAIT_CONTACT
        self.polarity = 1
        self.set_mV = float(settings.set_voltage_mV)
        self.volts_mV = 0.0
        self.delivered_uA_ms = 0.0
        self._phase_goal = settings.dose_uA_ms / (2 if settings.reverse_halfway else 1)
        self._reversals_left = 1 if settings.reverse_halfway else 0
        self._down_step = 0.0
        self._then_reverse = False
        self._counter = 0  # contact debounce or open-circuit time
        self._last = LoadReading(0, 0)
        self._seen = False
        self._end: EndState | None = None
        self._stopping: EndState | None = None
        self.pain_reports = 0
        self.trips = 0

    @property
    def finished(self) -> bool:
        return self.state is DoseState.OFF

    @property
    def end_state(self) -> EndState | None:
        return self._end

    def command(self) -> Command:
        if self.state is DoseState.WAIT_CONTACT:
            return Command(self.polarity * self.s.sense_uA, self.s.sense_compliance_mV)
        if self.state is DoseState.OFF:
            return OFF
        return Command(self.polarity * self.s.current_limit_uA, round(self.volts_mV))

    def quiet_ticks(self) -> int:
        # A stretch holds no scripted change (the driver sees to it), so a circuit open or
        # closed at its start stays so to its end: counters can run over it.
        if not self._seen:
            return 1
        if self.state is DoseState.WAIT_CONTACT:
            if self._counter > 0:
                return self.s.contact_debounce_ms - self._counter
            return MAX_STRETCH_TICKS  # nothing in the water: wait (ends at the next movement)
        if self.state in (DoseState.RAMP_UP, DoseState.RAMP_DOWN):
            return RAMP_STEP_MS  # the voltage steps at the end of each
        if self.state is not DoseState.HOLD:
            return 1
        if self._counter > 0:
            return self.s.open_detect_ms - self._counter
        current = abs(self._last.current_uA)
        if current <= 0:
            return 1
        left = self._phase_goal - self.delivered_uA_ms - self._ramp_down_charge()
        return max(1, min(MAX_STRETCH_TICKS, math.floor(left / current) - 1))

    def _ramp_down_charge(self) -> float:
        return abs(self._last.current_uA) * self.s.ramp_down_ms / 2

    def _looks_open(self) -> bool:
        """An impedance above the contact threshold with a meaningful voltage applied."""
        volts = abs(self._last.voltage_mV)
        return volts >= 1_000 and volts * 1000 > self.s.contact_ohm * abs(self._last.current_uA)

    def observe(self, ticks: int, reading: LoadReading, charge_uA_ms: float) -> None:
        self._last = reading
        self._seen = True
        self.delivered_uA_ms += charge_uA_ms
        if abs(reading.current_uA) >= self.s.trip_uA and self.state is not DoseState.OFF:
            self.trips += 1
            self._finish(EndState.FAULT)  # Hidrex: stops immediately at ≥ 35 mA
            return
        state = self.state
        if state is DoseState.WAIT_CONTACT:
            closed = abs(reading.current_uA) >= self.s.sense_uA
            self._counter = self._counter + ticks if closed else 0
            if self._counter >= self.s.contact_debounce_ms:
                self._counter = 0
                self.state = DoseState.RAMP_UP
            return
        if state in (DoseState.RAMP_UP, DoseState.HOLD, DoseState.RAMP_DOWN):
            self._counter = self._counter + ticks if self._looks_open() else 0
            if self._counter >= self.s.open_detect_ms:
                self._on_open_circuit()
                return
        if state is DoseState.RAMP_UP:
            if abs(reading.current_uA) >= self.s.current_limit_uA:
                # The current limit holds the current: the voltage stops rising here.
                self.set_mV = min(self.set_mV, self.volts_mV)
                self.state = DoseState.HOLD
                return
            self.volts_mV += ticks * self.set_mV / self.s.ramp_up_ms
            if self.volts_mV >= self.set_mV:
                self.volts_mV = self.set_mV
                self.state = DoseState.HOLD
            return
        if state is DoseState.HOLD:
            if self.delivered_uA_ms + self._ramp_down_charge() >= self._phase_goal:
                self._start_ramp_down(then_reverse=self._reversals_left > 0)
            return
        if state is DoseState.RAMP_DOWN:
            self.volts_mV = max(0.0, self.volts_mV - ticks * self._down_step)
            if self.volts_mV <= 0:
                self._at_zero()

    def _start_ramp_down(self, *, then_reverse: bool) -> None:
        self.state = DoseState.RAMP_DOWN
        self._then_reverse = then_reverse
        self._down_step = max(self.volts_mV, 1.0) / self.s.ramp_down_ms

    def _at_zero(self) -> None:
        if self._stopping is not None:
            self._finish(self._stopping)
            return
        if self._then_reverse:
            self._reverse()
            self.state = DoseState.RAMP_UP
            return
        self._finish(EndState.COMPLETED)

    def _reverse(self) -> None:
        self._then_reverse = False
        self._reversals_left -= 1
        self.polarity = -self.polarity
        self._phase_goal = self.s.dose_uA_ms

    def _on_open_circuit(self) -> None:
        """Back to immersion monitoring at 0 V; a reversal or an end that was under way goes on."""
        self._counter = 0
        self.volts_mV = 0.0
        if self._stopping is not None:
            self._finish(self._stopping)
            return
        if self.state is DoseState.RAMP_DOWN and not self._then_reverse:
            self._finish(EndState.COMPLETED)
            return
        if self.state is DoseState.RAMP_DOWN:
            self._reverse()
        self.state = DoseState.WAIT_CONTACT

    def _finish(self, end: EndState) -> None:
        self.state = DoseState.OFF
        self.volts_mV = 0.0
        if self._end is None:
            self._end = end

    def pain_reported(self) -> None:
        """The nurse turns the voltage down a step; at the plan's last report, stops (and
        takes no more reports, as Ionto's controller does once it stops for pain)."""
        if self.state is DoseState.OFF or self._stopping is not None:
            return
        self.pain_reports += 1
        if self.pain_reports >= self.s.max_pain_reports:
            self._stopping = EndState.STOPPED
            if self.state is DoseState.WAIT_CONTACT or self.volts_mV <= 0:
                self._finish(EndState.STOPPED)
            else:
                self._start_ramp_down(then_reverse=False)
            return
        self.set_mV *= 1.0 - self.s.pain_step
        if self.state is DoseState.HOLD or (
            self.state is DoseState.RAMP_UP and self.volts_mV > self.set_mV
        ):
            self.volts_mV = min(self.volts_mV, self.set_mV)
            self.state = DoseState.HOLD

    def abort(self) -> None:
        self._finish(EndState.ABORTED)


# --- The open-loop PWM device -------------------------------------------------------------------
@dataclass(frozen=True)
class PwmSettings:
    duty: float
    run_ms: int  # the timer: treatment time switched on
    reverse_halfway: bool
    pain_step: float
    max_pain_reports: int
    supply_mV: int = PWM_SUPPLY_MV
    swap_pause_ms: int = PWM_SWAP_PAUSE_MS


def pwm_waveform(duty: float) -> tuple[Waveform, float | None]:
    """The physics' waveform for a duty: plain DC at 100%, pulsed DC below."""
    if duty >= 1.0:
        return Waveform.DC, None
    return Waveform.PULSED_DC, duty


class PwmDevice:
    """A fixed supply switched at the knob's duty; a timer; nothing else."""

    def __init__(self, settings: PwmSettings, load: ProbedLoad) -> None:
        self.s = settings
        self.load = load
        self.duty = settings.duty
        self.polarity = 1
        self.on = True
        self._on_ms = 0
        self._pause_left = 0
        self._swapped = not settings.reverse_halfway
        self._end: EndState | None = None
        self.pain_reports = 0
        waveform, duty = pwm_waveform(self.duty)
        load.retune(waveform, duty)

    @property
    def finished(self) -> bool:
        return self._end is not None

    @property
    def end_state(self) -> EndState | None:
        return self._end

    def command(self) -> Command:
        if not self.on or self._end is not None:
            return OFF
        return Command(self.polarity * SUPPLY_CAPABILITY_UA, self.s.supply_mV)

    def _next_event_ms(self) -> int:
        if not self.on:
            return self._pause_left
        half = self.s.run_ms // 2
        if not self._swapped and self._on_ms < half:
            return half - self._on_ms
        return self.s.run_ms - self._on_ms

    def quiet_ticks(self) -> int:
        return max(1, min(MAX_STRETCH_TICKS, self._next_event_ms()))

    def observe(self, ticks: int, reading: LoadReading, charge_uA_ms: float) -> None:
        del reading, charge_uA_ms  # open loop: it measures nothing
        if not self.on:
            self._pause_left -= ticks
            if self._pause_left <= 0:
                self.on = True  # switched on again at the knob's setting
            return
        self._on_ms += ticks
        if not self._swapped and self._on_ms >= self.s.run_ms // 2:
            self._swapped = True
            self.on = False
            self._pause_left = self.s.swap_pause_ms
            self.polarity = -self.polarity
            return
        if self._on_ms >= self.s.run_ms:
            self._end = EndState.COMPLETED

    def pain_reported(self) -> None:
        """The user turns the knob down a step; at the plan's last report, switches off."""
        if self._end is not None:
            return
        self.pain_reports += 1
        if self.pain_reports >= self.s.max_pain_reports:
            self._end = EndState.STOPPED
            return
        self.duty = max(PWM_MIN_DUTY, self.duty * (1.0 - self.s.pain_step))
        waveform, duty = pwm_waveform(self.duty)
        self.load.retune(waveform, duty)

    def abort(self) -> None:
        self._end = EndState.ABORTED


# --- Settings chosen per patient ------------------------------------------------------------------
def setting_time_ms(plan: SessionPlan) -> int:
    """When the operator's setting should give the target: when Ionto reaches it (contact
    debounce, then the ramp)."""
    return DEFAULT_BUILD.contact_debounce_ms + round(plan.ramp_up_s * 1000)


def dose_settings(plan: SessionPlan, patient: VirtualPatient) -> DoseSettings:
    """The dose device set for this patient (see the module docstring)."""
    resistance = patient.resistance_ohm_at(setting_time_ms(plan))
    wanted_mV = plan.target_uA * resistance / 1000
    volts = round(min(plan.compliance_mV, max(DOSE_MIN_SET_MV, wanted_mV)))
    return DoseSettings(
        set_voltage_mV=volts,
        current_limit_uA=plan.limit_uA,
        dose_uA_ms=plan.planned_uA_ms() * plan.phases,
        reverse_halfway=plan.reversal is Reversal.HALFWAY,
        ramp_up_ms=round(plan.ramp_up_s * 1000),
        ramp_down_ms=round(plan.ramp_down_s * 1000),
        pain_step=plan.pain_step,
        max_pain_reports=plan.max_pain_reports,
    )


def pwm_duty(target_uA: int, patient: VirtualPatient, tick: int, supply_mV: int) -> float:
    """The duty giving ``target_uA`` on average at ``tick``: the pulses' peak current crosses
    the water and the core (R_s) while the skin's capacitance averages them, so
    I = V / (R_s / d + R_skin) (as in :class:`~ionto.device.physics.WaveformShape`)."""
    state = patient.state_at(tick)
    series = patient.series_ohm(tick, state)
    skin = patient.side_skin_ohm(0, tick, state) + patient.side_skin_ohm(1, tick, state)
    current_A = target_uA * 1e-6
    headroom_V = supply_mV * 1e-3 - current_A * skin
    if headroom_V <= current_A * series:
        return 1.0
    return max(PWM_MIN_DUTY, current_A * series / headroom_V)


def pwm_settings(plan: SessionPlan, patient: VirtualPatient) -> PwmSettings:
    """The PWM build set for this patient; its timer gives the planned dose at the target."""
    duty = pwm_duty(plan.target_uA, patient, setting_time_ms(plan), PWM_SUPPLY_MV)
    return PwmSettings(
        duty=duty,
        run_ms=round(plan.planned_uA_ms() * plan.phases / plan.target_uA),
        reverse_halfway=plan.reversal is Reversal.HALFWAY,
        pain_step=plan.pain_step,
        max_pain_reports=plan.max_pain_reports,
    )


# --- Running a baseline against a patient --------------------------------------------------------
@dataclass(frozen=True)
class BaselineRun:
    end_state: EndState
    pain_reports: int
    ticks: int


def run_baseline(
    device: BaselineDevice, load: ProbedLoad, complaints: Complaints, max_ticks: int
) -> BaselineRun:
    """Drive ``load`` with ``device`` until it finishes (or ``max_ticks``): one tick at a time
    wherever the device or the patient's script may change something, one
    :meth:`~ionto.device.physics.PatientLoad.advance` over every quiet stretch."""
    patient = load.patient
    tick = 0
    # The patient's next scripted change after ``tick``: valid until ``tick`` reaches it.
    nxt = patient.next_change_tick(tick)
    while not device.finished:
        if tick >= max_ticks:
            device.abort()
            break
        command = device.command()
        span = min(device.quiet_ticks(), max_ticks - tick)
        if nxt is not None and nxt <= tick:
            nxt = patient.next_change_tick(tick)
        if nxt is not None:
            span = min(span, nxt - tick)
        if complaints.due_tick is not None:
            span = min(span, complaints.due_tick - tick)
        span = max(1, span)
        before = load.watch.charge_uA_ms
        if span == 1:
            reading = load.drive(tick, command.demand_uA, command.compliance_mV)
        else:
            reading = load.advance(tick, span, command.demand_uA, command.compliance_mV).reading
        tick += span
        device.observe(span, reading, load.watch.charge_uA_ms - before)
        complaints.watch(load, tick)
        if complaints.take(tick):
            device.pain_reported()
    end = device.end_state
    assert end is not None
    return BaselineRun(end, device.pain_reports, tick)
