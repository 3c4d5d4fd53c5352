"""The reference firmware: a constant-current source with hard limits, stepping at 1 kHz.

It runs inside the simulator, and it is written so that it could be ported to a small
microcontroller: integers only (µA, mV, ms ticks), a fixed set of fields, no allocation in the
loop but the output record, and one ``tick`` per 1 ms that decides the demand, drives the
load (:mod:`ionto.device.load`), reads back and checks for faults.

**Hard limits no host command can lift** (constants of the :class:`FirmwareBuild`; a request
above them is clamped *and* reported as ``ceiling_request``, never obeyed):

* absolute current ceiling 30 mA, 5 mA below the 35 mA fault trip of a commercial device
  (Hidrex safety concept; the margin is derived), applied to the pulse *peak*: with pulsed DC
  or AC on a DC offset the average may be at most ceiling × average/peak;
* overcurrent trip: a measured current more than a margin above the demand (so never above
  ceiling + margin = 32 mA, still below Hidrex's 35 mA) cuts to zero and **latches**;
* per-session limit from the host (``SetLimits``), only lowerable once a session has started;
  compliance voltage at most 90 V (Levit/Fischer method; Robinul SmPC: up to 90 V DC); slew
  rate at most 1 mA/s (derived: the 30 s ramp of Soterix IontoDC applied to the whole 30 mA
  ceiling). The set point moves in steps every 20 ms, never by more than the slew allows,
  except a **cut to zero** — and a fall to what actually flows (see *Compliance*) or to a
  lowered limit, which holds at once;
* output only once the circuit is closed — a 100 µA sense current flows at no more than 5 V,
  i.e. the impedance is at most 50 kΩ, for 500 ms — and then always **from zero** along the
  ramp (Hidrex immersion monitoring);
* **anti-shock guard**: a limb *leaving* the water — the load's impedance ``|V| / |I|`` more
  than 2.5% above its recent lowest value during output (more below 2 mA; Fischer's
  "Anti-Shock Guard cuts current on circuit irregularities") → cut in the same tick and
  **latch** ``open_circuit``, long before the limb is out and the density on what is still
  wetted becomes a shock (Hidrex DP450 manual: lower to zero before removing a limb). See
  :meth:`Firmware._guard_impedance`;
* open-circuit cut: at the compliance voltage, a current under half the demand or an
  impedance above the contact threshold (a limb left the water) → cut in the same tick and
  **latch** ``open_circuit`` until ``ClearFault`` at zero
  output; the next start climbs again from zero (no re-entry shock; Hidrex DP450 manual);
* polarity changes only at zero current (a Reverse ramps down, switches, ramps back up; a
  Start arms a polarity only when no current flows);
* heartbeat watchdog: no accepted frame for the heartbeat timeout (≤ 2 s) → ramp to zero by
  itself at 10 mA/s (≤ 3 s from the ceiling), report and latch ``watchdog``;
* waveforms DC, pulsed DC (the demand is the duty-cycle average per tick) and AC on a DC offset
  (the demand is the offset); pure AC has no waveform code (Reinauer 1993), and a Start before
  a waveform is set is refused.

**Compliance.** When the load needs more than the compliance voltage, less current flows than
asked. The firmware then lowers its set point to what actually flowed (anti-windup) and holds
it there a while before trying to climb again. Without that, a set point left far above the
current would reach the patient in one step the moment the impedance falls (a hand dipped
deeper, a skin defect): the re-entry shock the issue forbids.

**The state machine is one table**, :data:`TRANSITIONS` (state, trigger) → next state, printed
by :func:`transition_table_markdown`. A host command that is not in the table for the current
state is refused, logged, and the output goes safe (:data:`SAFE_STATE`: any output ramps down,
a pending start is dropped). A command resent after a lost Ack — asking for what is already
in force — is accepted and changes nothing. Every refusal, clamp, fault and state change is
logged as an :class:`Event` the host can read.

**Fast path.** :meth:`Firmware.advance` runs many ticks in one call where nothing can change
but counters — at the target, between two steps of a ramp, while waiting for contact, at rest —
and hands the load one constant demand for the whole stretch (:class:`SteadyLoad`). It stops at
every tick where something may happen (a ramp step, the heartbeat deadline, a reading in
another regime, the guard arming), so the result is the same, tick for tick, as calling
:meth:`Firmware.tick`. Within a stretch the load's impedance never rises (:class:`SteadyLoad`),
so the anti-shock guard cannot fire there and its reference is brought up to date in closed
form.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Protocol, cast

from ionto.device.load import Load, LoadReading
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
from ionto.therapy.limits import DEFAULT_LIMITS

# --- Sourced figures ---------------------------------------------------------------------------
#: Hidrex safety concept: therapy stops at ≥ 35 mA. No build may trip at or above it.
HIDREX_FAULT_TRIP_UA = 35_000
#: The device ceiling of the therapy core (30 mA: 5 mA below the Hidrex trip, derived).
CEILING_UA = round(DEFAULT_LIMITS.device_ceiling_mA * 1000)
#: ~90 V in the Levit/Fischer method; glycopyrronium up to 90 V DC (Robinul SmPC).
COMPLIANCE_MAX_MV = round(DEFAULT_LIMITS.glycopyrronium_compliance_V * 1000)
#: Soterix IontoDC ramps over 30 s.
PUBLISHED_RAMP_S = round(DEFAULT_LIMITS.ramp.up_s)

PERMILLE = 1000
MS_PER_S = 1000
_POLARITIES = frozenset(int(p) for p in Polarity)
_WAVEFORM_CODES = frozenset(int(w) for w in WaveformCode)


@dataclass(frozen=True)
class FirmwareBuild:
    """The constants a firmware image is built with. No host command can change them.

    Values marked *derived* have no published source; they are Ionto's proposals, chosen for
    the reason given, and configurable here (a different build), never from the host.
    """

    #: Absolute ceiling on the pulse peak (µA). 30 mA: below the Hidrex 35 mA trip.
    ceiling_uA: int = CEILING_UA
    #: Overcurrent trip: measured current above the demand by more than this (µA, at the
    #: peak) cuts and latches. Derived: 2 mA, so the trip is never above 32 mA < 35 mA (Hidrex).
    trip_margin_uA: int = 2_000
    #: Highest compliance voltage a host may set (mV): 90 V (Levit/Fischer; Robinul SmPC).
    compliance_max_mV: int = COMPLIANCE_MAX_MV
    #: Fastest slew a host may set (µA/s). Derived: the whole ceiling in no less than the
    #: published 30 s ramp (Soterix IontoDC), i.e. 1 mA/s; a 20 mA target then takes ≥ 20 s.
    slew_max_uA_per_s: int = CEILING_UA // PUBLISHED_RAMP_S
    #: The firmware's own ramp to zero when the host is gone (µA/s). Derived: from the ceiling
    #: to zero in 3 s, so that with the timeout the output is at zero "within a few seconds of
    #: the last heartbeat" (issue 3) — a ramp, not a cut, which a patient would feel as a jolt.
    safe_ramp_down_uA_per_s: int = 10_000
    #: The set point moves in steps every this many ticks (ms). Derived: 50 steps a second is
    #: smooth (20 µA steps at 1 mA/s, far below anything felt) and lets the simulator advance
    #: a ramp one step at a time instead of one tick at a time.
    ramp_period_ms: int = 20
    #: Contact sense current (µA). Derived: 1% of the lowest hand target (10 mA, Fischer), not
    #: felt; the issue asks for ≤ 100 µA.
    sense_uA: int = 100
    #: The circuit counts as closed at or below this impedance (Ω). Derived: ten times the
    #: 4–6 kΩ seen in practice (vendor advice), so a limb in the water passes even with dry skin
    #: at the start, while a limb in the air is an open circuit (megaohms). The same threshold
    #: marks an open circuit during output.
    contact_threshold_ohm: int = 50_000
    #: The sense current must flow this long without a break before output starts (ms).
    #: Derived: a hand settles in the tray within half a second; also many times the skin's
    #: R∥C time constant, so a charging skin capacitance is not taken for contact.
    contact_debounce_ms: int = 500
    #: "At compliance": the voltage within this share of the compliance voltage (‰). Derived.
    compliance_band_permille: int = 20
    #: After the compliance voltage held the current back, wait this long before climbing
    #: again (ms). Derived: the skin's resistance falls over minutes, not milliseconds.
    compliance_hold_ms: int = 1_000
    #: Heartbeat timeout until the host sets one (ms), as in the wire protocol's default.
    heartbeat_timeout_default_ms: int = 1_000
    #: Longest heartbeat timeout a host may set (ms). Derived: with the safe ramp-down the
    #: output is at zero within 5 s of the last heartbeat.
    heartbeat_timeout_max_ms: int = 2_000
    #: A current this small counts as zero: polarity switch and ClearFault (µA). Derived: the
    #: noise floor of a current-sense ADC.
    zero_current_uA: int = 10
    #: Events kept in the log ring (the oldest are dropped).
    event_log_size: int = 256
    #: Anti-shock guard (:meth:`Firmware._guard_impedance`): cut when the load's impedance
    #: rises more than this above its reference (‰), in the guard's top current band.
    #: Derived from the physics' sensation model (:class:`ionto.device.physics.SensationModel`:
    #: a cut at a 2% rise adds ≤ ~0.6 to what the patient feels, at 5% ~1.1; never cutting
    #: gives a painful shock) and from what a normal session does to the impedance, measured at
    #: 1 mA where it is largest, over random patients, soft water and soles included: ≤ 0.2% at
    #: the target, ≤ ~1.3% on the protocol's ramps and ≤ ~2.2% at the build's fastest slew
    #: (ramp steps against the skin's capacitance). 2.5% is the lowest round threshold above
    #: all of them; configurable.
    impedance_rise_permille: int = 25
    #: The guard judges readings from this current up (µA), in bands that double from it; the
    #: allowed rise doubles for each band below the top one (with 3 bands from 0.5 mA: 10%
    #: from 0.5 mA, 5% from 1 mA, 2.5% from 2 mA), and the reference starts afresh whenever the
    #: current changes band. Derived: the artefacts of a ramp step and of the skin's lag behind
    #: a ramp scale as 1/current, while the shock of a lift scales with the current: 0.5 mA is
    #: the benchmark's "current flowing" (a lift at 0.9 mA under a current source is still a
    #: shock), 5× the contact sense current.
    impedance_guard_min_uA: int = 500
    #: How many current bands the guard has (see above): the top one starts at
    #: ``impedance_guard_min_uA << (bands − 1)`` (2 mA).
    impedance_guard_bands: int = 3
    #: The reference may creep up by this share per tick (ppm of the reference when the guard
    #: armed), so that slow rises never accumulate into a trip: the skin's lag shrinking as a
    #: ramp climbs, and what the physics does not model (water cooling, electrodes polarising).
    #: Derived: 10 ppm/ms = 1%/s, a hundredth of how fast the impedance rises when the guard
    #: cuts a lift (≥ 100%/s for a limb leaving the water in 0.3 s, patients.from_seed).
    impedance_leak_ppm_per_ms: int = 10

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"FirmwareBuild.{name} must be a positive integer, got {value!r}")
        if self.ceiling_uA + self.trip_margin_uA >= HIDREX_FAULT_TRIP_UA:
            raise ValueError(
                "ceiling + trip margin must stay below the 35 mA fault trip (Hidrex safety)"
            )
        if self.compliance_max_mV > COMPLIANCE_MAX_MV:
            raise ValueError("compliance above 90 V is beyond every source (Levit; Robinul SmPC)")
        if self.sense_uA > 100:
            raise ValueError("the contact sense current must be at most 100 µA")
        if self.heartbeat_timeout_default_ms > self.heartbeat_timeout_max_ms:
            raise ValueError("the default heartbeat timeout exceeds the longest allowed")
        if self.compliance_band_permille >= PERMILLE:
            raise ValueError("the compliance band is a share of the compliance voltage (< 1000‰)")
        if self.impedance_rise_permille << (self.impedance_guard_bands - 1) >= PERMILLE:
            raise ValueError("the impedance guard's rise is a share of the reference (< 1000‰)")

    @property
    def sense_compliance_mV(self) -> int:
        """The sense current's voltage ceiling: it flows in full only through an impedance at or
        below the contact threshold (5 V for 100 µA and 50 kΩ)."""
        return self.sense_uA * self.contact_threshold_ohm // 1000

    @property
    def watchdog_to_zero_ms(self) -> int:
        """Longest time from the last accepted frame to zero output: the longest timeout, then
        the safe ramp from the ceiling (for tests and docs)."""
        per_step_uA = self.safe_ramp_down_uA_per_s * self.ramp_period_ms // MS_PER_S
        steps = -(-self.ceiling_uA // max(1, per_step_uA))
        return self.heartbeat_timeout_max_ms + (steps + 1) * self.ramp_period_ms

    def max_step_uA(self, slew_uA_per_s: int) -> int:
        """The largest change of the set point in one ramp step at this slew."""
        return -(-slew_uA_per_s * self.ramp_period_ms // MS_PER_S)


DEFAULT_BUILD = FirmwareBuild()


# --- Waveforms ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class WaveformShape:
    """A waveform as the firmware sees it: its code and its pulse peak per average.

    ``peak = average × peak_num / peak_den``: 1/1 for DC; 1000/duty for pulsed DC; (1000 +
    AC amplitude ‰)/1000 for AC on a DC offset.
    """

    code: WaveformCode
    pulse_frequency_hz: int
    duty_permille: int
    ac_amplitude_permille: int

    @property
    def peak_num(self) -> int:
        if self.code is WaveformCode.PULSED_DC:
            return PERMILLE
        if self.code is WaveformCode.AC_DC_OFFSET:
            return PERMILLE + self.ac_amplitude_permille
        return 1

    @property
    def peak_den(self) -> int:
        if self.code is WaveformCode.PULSED_DC:
            return self.duty_permille
        if self.code is WaveformCode.AC_DC_OFFSET:
            return PERMILLE
        return 1

    def average_ceiling_uA(self, ceiling_uA: int) -> int:
        """The largest average whose peak stays within ``ceiling_uA``."""
        return ceiling_uA * self.peak_den // self.peak_num


def waveform_problem(
    code: int, pulse_frequency_hz: int, duty_permille: int, ac_amplitude_permille: int
) -> str | None:
    """Why these waveform settings cannot be used, or ``None``.

    The same rules as the wire's SetLimits (each waveform's parameters set, the others zero),
    checked again here because a firmware trusts nothing it did not check itself. Pure AC has
    no code; AC on an offset never exceeds the offset, so the current never changes sign
    (Reinauer 1993: pure AC had virtually no effect).
    """
    if code not in _WAVEFORM_CODES:
        return f"waveform code {code} is not a therapeutic waveform (pure AC has no code)"
    pulsed = code == WaveformCode.PULSED_DC
    ac = code == WaveformCode.AC_DC_OFFSET
    if (pulse_frequency_hz > 0) != (pulsed or ac) or pulse_frequency_hz < 0:
        return "pulse frequency must be > 0 exactly for pulsed DC and AC on a DC offset"
    if pulsed != (0 < duty_permille < PERMILLE) or (not pulsed and duty_permille != 0):
        return "duty cycle must be 1 … 999 ‰ for pulsed DC and 0 otherwise"
    if ac != (0 < ac_amplitude_permille <= PERMILLE) or (not ac and ac_amplitude_permille != 0):
        return "AC amplitude must be 1 … 1000 ‰ of the offset for AC on a DC offset, else 0"
    return None


# --- The state machine, as one table -----------------------------------------------------------
class Trigger(IntEnum):
    """What can happen to the state machine: host commands, then the firmware's own findings."""

    SET_LIMITS = 1
    START = 2
    SET_TARGET = 3
    REVERSE = 4
    STOP = 5
    HEARTBEAT = 6
    CLEAR_FAULT = 7
    CONTACT = 10  # the sense current flowed in full for the debounce time
    TARGET_REACHED = 11  # the ramp up arrived at the target
    AT_ZERO = 12  # a ramp down arrived at zero (and, for a reversal, the current is zero)
    FAULT_AT_ZERO = 13  # the watchdog's ramp down arrived at zero
    OPEN_CIRCUIT = 14
    OVERCURRENT = 15
    WATCHDOG = 16  # no accepted frame from the host for the heartbeat timeout
    COMPLIANCE = 17  # logged only: the compliance voltage holds the current back (no transition)


HOST_TRIGGERS = frozenset(t for t in Trigger if t < Trigger.CONTACT)

_S = DeviceState
_T = Trigger


@dataclass(frozen=True)
class Transition:
    state: DeviceState
    trigger: Trigger
    next_state: DeviceState
    action: str


_ROWS: tuple[Transition, ...] = (
    Transition(_S.IDLE, _T.SET_LIMITS, _S.IDLE, "set limits and waveform (clamped to the build)"),
    Transition(_S.IDLE, _T.SET_TARGET, _S.IDLE, "remember the target (clamped to the limit)"),
    Transition(_S.IDLE, _T.START, _S.WAIT_CONTACT, "arm the polarity; sense for contact"),
    Transition(_S.IDLE, _T.STOP, _S.IDLE, "nothing to stop"),
    Transition(_S.IDLE, _T.HEARTBEAT, _S.IDLE, "—"),
    Transition(_S.IDLE, _T.OVERCURRENT, _S.LATCHED_FAULT, "current with no demand: latch"),
    Transition(_S.WAIT_CONTACT, _T.SET_LIMITS, _S.WAIT_CONTACT, "lower limits only"),
    Transition(_S.WAIT_CONTACT, _T.SET_TARGET, _S.WAIT_CONTACT, "remember the target"),
    Transition(_S.WAIT_CONTACT, _T.STOP, _S.IDLE, "stop sensing"),
    Transition(_S.WAIT_CONTACT, _T.HEARTBEAT, _S.WAIT_CONTACT, "—"),
    Transition(_S.WAIT_CONTACT, _T.CONTACT, _S.RAMP_UP, "circuit closed: ramp up from zero"),
    Transition(_S.WAIT_CONTACT, _T.OVERCURRENT, _S.LATCHED_FAULT, "cut and latch"),
    Transition(_S.WAIT_CONTACT, _T.WATCHDOG, _S.LATCHED_FAULT, "host gone: latch watchdog"),
    Transition(_S.RAMP_UP, _T.SET_LIMITS, _S.RAMP_UP, "lower limits only; at once"),
    Transition(_S.RAMP_UP, _T.SET_TARGET, _S.RAMP_UP, "ramp towards the new target"),
    Transition(_S.RAMP_UP, _T.REVERSE, _S.REVERSING, "ramp to zero, then switch"),
    Transition(_S.RAMP_UP, _T.STOP, _S.RAMP_DOWN, "ramp to zero"),
    Transition(_S.RAMP_UP, _T.HEARTBEAT, _S.RAMP_UP, "—"),
    Transition(_S.RAMP_UP, _T.TARGET_REACHED, _S.ON, "hold the target"),
    Transition(_S.RAMP_UP, _T.OPEN_CIRCUIT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.RAMP_UP, _T.OVERCURRENT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.RAMP_UP, _T.WATCHDOG, _S.RAMP_DOWN, "host gone: safe ramp to zero"),
    Transition(_S.ON, _T.SET_LIMITS, _S.ON, "lower limits only; at once"),
    Transition(_S.ON, _T.SET_TARGET, _S.ON, "ramp to the new target"),
    Transition(_S.ON, _T.REVERSE, _S.REVERSING, "ramp to zero, then switch"),
    Transition(_S.ON, _T.STOP, _S.RAMP_DOWN, "ramp to zero"),
    Transition(_S.ON, _T.HEARTBEAT, _S.ON, "—"),
    Transition(_S.ON, _T.OPEN_CIRCUIT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.ON, _T.OVERCURRENT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.ON, _T.WATCHDOG, _S.RAMP_DOWN, "host gone: safe ramp to zero"),
    Transition(_S.REVERSING, _T.SET_LIMITS, _S.REVERSING, "lower limits only; at once"),
    Transition(_S.REVERSING, _T.SET_TARGET, _S.REVERSING, "target for after the switch"),
    Transition(_S.REVERSING, _T.REVERSE, _S.REVERSING, "choose the polarity after the switch"),
    Transition(_S.REVERSING, _T.STOP, _S.RAMP_DOWN, "ramp to zero, no switch"),
    Transition(_S.REVERSING, _T.HEARTBEAT, _S.REVERSING, "—"),
    Transition(_S.REVERSING, _T.AT_ZERO, _S.RAMP_UP, "switch polarity; ramp up from zero"),
    Transition(_S.REVERSING, _T.OPEN_CIRCUIT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.REVERSING, _T.OVERCURRENT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.REVERSING, _T.WATCHDOG, _S.RAMP_DOWN, "host gone: safe ramp to zero"),
    Transition(_S.RAMP_DOWN, _T.SET_LIMITS, _S.RAMP_DOWN, "lower limits only; at once"),
    Transition(_S.RAMP_DOWN, _T.STOP, _S.RAMP_DOWN, "already stopping"),
    Transition(_S.RAMP_DOWN, _T.HEARTBEAT, _S.RAMP_DOWN, "—"),
    Transition(_S.RAMP_DOWN, _T.AT_ZERO, _S.IDLE, "done"),
    Transition(_S.RAMP_DOWN, _T.FAULT_AT_ZERO, _S.LATCHED_FAULT, "host gone: latch watchdog"),
    Transition(_S.RAMP_DOWN, _T.OPEN_CIRCUIT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.RAMP_DOWN, _T.OVERCURRENT, _S.LATCHED_FAULT, "cut to zero and latch"),
    Transition(_S.RAMP_DOWN, _T.WATCHDOG, _S.RAMP_DOWN, "host gone: ramp faster (safe ramp)"),
    Transition(_S.LATCHED_FAULT, _T.SET_LIMITS, _S.LATCHED_FAULT, "lower limits only"),
    Transition(_S.LATCHED_FAULT, _T.STOP, _S.LATCHED_FAULT, "already at zero"),
    Transition(_S.LATCHED_FAULT, _T.HEARTBEAT, _S.LATCHED_FAULT, "—"),
    Transition(_S.LATCHED_FAULT, _T.CLEAR_FAULT, _S.IDLE, "only at zero current"),
    Transition(_S.LATCHED_FAULT, _T.OVERCURRENT, _S.LATCHED_FAULT, "current with no demand"),
)

#: (state, trigger) → next state. Anything else is refused, logged, and the output goes safe.
TRANSITIONS: Mapping[tuple[DeviceState, Trigger], DeviceState] = MappingProxyType(
    {(row.state, row.trigger): row.next_state for row in _ROWS}
)

#: Where a refused command leaves the device: any output ramps to zero, a pending start is
#: dropped, states without output stay.
SAFE_STATE: Mapping[DeviceState, DeviceState] = MappingProxyType(
    {
        _S.IDLE: _S.IDLE,
        _S.WAIT_CONTACT: _S.IDLE,
        _S.RAMP_UP: _S.RAMP_DOWN,
        _S.ON: _S.RAMP_DOWN,
        _S.REVERSING: _S.RAMP_DOWN,
        _S.RAMP_DOWN: _S.RAMP_DOWN,
        _S.LATCHED_FAULT: _S.LATCHED_FAULT,
    }
)

OUTPUT_STATES = frozenset({_S.RAMP_UP, _S.ON, _S.REVERSING, _S.RAMP_DOWN})
#: States in which the heartbeat watchdog is armed.
ARMED_STATES = OUTPUT_STATES | {_S.WAIT_CONTACT}


def transition_table() -> Mapping[tuple[DeviceState, Trigger], DeviceState]:
    """The state machine: (state, trigger) → next state, read-only."""
    return TRANSITIONS


def transition_rows() -> tuple[Transition, ...]:
    """The table's rows with what each one does, in the order of the docs."""
    return _ROWS


def transition_table_markdown() -> str:
    """The table as Markdown, for ``docs/`` and for a clinician to read."""
    lines = [
        "| state | event | next state | what the firmware does |",
        "|---|---|---|---|",
    ]
    for row in _ROWS:
        lines.append(
            f"| {row.state.name.lower()} | {row.trigger.name.lower()} | "
            f"{row.next_state.name.lower()} | {row.action} |"
        )
    lines.append("")
    lines.append("Any other event in a state is refused and logged, and the output goes safe:")
    lines.append("")
    lines.append("| state | goes to |")
    lines.append("|---|---|")
    for state, safe in SAFE_STATE.items():
        lines.append(f"| {state.name.lower()} | {safe.name.lower()} |")
    return "\n".join(lines) + "\n"


# --- What the firmware answers and reports ---------------------------------------------------
class ResultCode(IntEnum):
    """Why a command was accepted as it was, or refused."""

    OK = 0
    ALREADY_IN_FORCE = 1  # a resent command: nothing to change
    CLAMPED_TO_CEILING = 2  # above a hard limit of the build: lowered, reported ceiling_request
    CLAMPED_TO_LIMIT = 3  # a target above the session limit: lowered to it
    NOT_RAISED_IN_SESSION = 4  # a session's limits only go down: the old value kept
    REFUSED_IN_STATE = 5  # not in the transition table for this state: output goes safe
    NO_WAVEFORM = 6  # Start before SetLimits: no therapeutic waveform chosen
    BAD_VALUE = 7  # a value outside what the firmware accepts (nothing changed)
    WAVEFORM_LOCKED = 8  # the waveform cannot change during a session
    OUTPUT_NOT_ZERO = 9  # ClearFault or Start while current still flows


@dataclass(frozen=True, slots=True)
class CommandResult:
    accepted: bool
    code: ResultCode
    #: The value in force afterwards, where there is one (target or limit, µA).
    value_uA: int = 0


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the firmware's log: a command's outcome, a state change or a fault."""

    tick: int
    trigger: Trigger
    before: DeviceState
    after: DeviceState
    code: ResultCode
    fault: FaultCode
    value: int = 0


@dataclass(frozen=True, slots=True)
class TickOutput:
    """What happened in one 1 ms tick. ``state``, ``polarity`` and ``fault`` as at its end."""

    tick: int
    demand_uA: int  # signed: what the output stage was asked to carry
    current_uA: int  # signed: what flowed
    voltage_mV: int
    state: DeviceState
    polarity: Polarity
    fault: FaultCode


@dataclass(frozen=True, slots=True)
class Stretch:
    """What :meth:`Firmware.advance` ran: ticks ``first_tick`` … ``last.tick``."""

    first_tick: int
    ticks: int
    #: Charge delivered in the output states (µA × 1 ms ticks; signed, forward positive). The
    #: sense current while waiting for contact is not treatment and is not counted.
    charge_uA_ms: int
    #: Largest current magnitude in the output states (µA).
    peak_uA: int
    last: TickOutput


@dataclass(frozen=True, slots=True)
class FirmwareStatus:
    tick: int
    state: DeviceState
    polarity: Polarity
    fault: FaultCode
    level_uA: int  # magnitude of the set point
    target_uA: int
    limit_uA: int  # per-session limit on the average (already within the ceiling)
    compliance_mV: int
    slew_uA_per_s: int
    heartbeat_timeout_ms: int
    heartbeat_deadline: int
    waveform: WaveformShape | None
    #: The anti-shock guard's reference impedance (mΩ), or 0 while it is not armed.
    impedance_reference_mohm: int = 0


# --- The load's fast path --------------------------------------------------------------------
class Regime(IntEnum):
    """How a tick's current relates to its demand: all the firmware needs to know about the
    ticks inside a stretch of constant demand."""

    REGULATED = 0  # the current equals the demand exactly
    SHORT = 1  # less flowed, in the demand's direction (the compliance voltage held it back)
    OTHER = 2  # more than asked, the wrong way, or current with no demand (a failed stage)


def regime_of(demand_uA: int, current_uA: int) -> Regime:
    if current_uA == demand_uA:
        return _REGULATED
    along = current_uA if demand_uA > 0 else -current_uA
    if demand_uA != 0 and 0 <= along < abs(demand_uA):
        return _SHORT
    return Regime.OTHER


# Enum members read on every tick, bound once: reading a member off its class goes through
# the enum's metaclass each time (~60 ns in CPython 3.11, ten times a global's cost).
_REGULATED = Regime.REGULATED
_SHORT = Regime.SHORT
_NO_FAULT = FaultCode.NONE
_COMPLIANCE = FaultCode.COMPLIANCE
_WATCHDOG = FaultCode.WATCHDOG
_WAIT_CONTACT = DeviceState.WAIT_CONTACT
_RAMP_UP = DeviceState.RAMP_UP
_ON = DeviceState.ON
_RAMP_DOWN = DeviceState.RAMP_DOWN
_REVERSING = DeviceState.REVERSING


@dataclass(frozen=True, slots=True)
class LoadStretch:
    ticks: int  # ticks carried, 1 … asked
    reading: LoadReading  # the reading of the last of them


class SteadyLoad(Load, Protocol):
    """A load that can carry one constant demand for many ticks in one call."""

    def advance(
        self, start_tick: int, ticks: int, demand_uA: int, compliance_mV: int
    ) -> LoadStretch:
        """Exactly as ``drive`` for ticks ``start_tick`` … ``start_tick + ticks − 1`` with the
        same demand, but stop early after the first tick whose :func:`regime_of` differs from
        that of the tick driven just before ``start_tick`` (a load never driven counts as
        regulated). Return the ticks carried and the last tick's reading.

        Nor may a stretch carry a tick whose impedance ``|V| / |I|`` is above that of the tick
        before it (the tick before the stretch included): the stretch ends just before such a
        tick, or with it when it is the first. The anti-shock guard acts on a rising impedance,
        so it must see every rise; within a stretch the impedance then only falls (the skin
        hydrating), and the guard's reference follows in closed form.

        Stopping earlier is always allowed (at a scripted change, say): the firmware treats
        the last tick as any other. Going on past a change of regime is not: the firmware
        would miss the tick at which it must act. A stretch that starts short of the demand
        (no contact yet) may run on while it stays short — that is what keeps waiting for a
        limb to return cheap."""
        ...


# --- The firmware --------------------------------------------------------------------------
class Firmware:
    """The device's control loop: a small mutable state machine, as on a microcontroller.

    Commands (``set_limits`` … ``clear_fault``, or :meth:`apply` with a wire message) act
    between ticks; :meth:`tick` runs one 1 ms step; :meth:`advance` runs many at once.
    """

    def __init__(self, build: FirmwareBuild = DEFAULT_BUILD) -> None:
        self.build = build
        self._tick = 0
        self._state = DeviceState.IDLE
        self._polarity = Polarity.FORWARD
        self._next_polarity = Polarity.FORWARD
        self._fault = FaultCode.NONE  # latched, or watchdog while its ramp runs
        self._limited = False  # the compliance voltage holds the current below the target
        self._level = 0  # magnitude of the set point (µA)
        self._target = 0
        self._waveform: WaveformShape | None = None
        self._peak_num = 1
        self._peak_den = 1
        self._limit = 0
        self._sense = build.sense_uA  # never above the session limit
        self._sense_compliance = build.sense_compliance_mV
        self._compliance = build.compliance_max_mV
        self._slew = build.slew_max_uA_per_s
        self._heartbeat_timeout = build.heartbeat_timeout_default_ms
        self._deadline = 0
        self._countdown = build.ramp_period_ms  # ticks to the next ramp step
        self._carry = 0  # fraction of a µA carried between ramp steps (in µA/1000)
        self._contact = 0  # consecutive ticks with the full sense current
        self._regime = Regime.REGULATED  # of the last tick
        self._current = 0
        self._voltage = 0
        # The anti-shock guard: armed while output flows at or above its lowest current; the
        # reference impedance (mΩ) and its creep per tick (mΩ), fixed when it armed.
        self._guard_armed = False
        self._guard_band = 0
        self._guard_ref_mohm = 0
        self._guard_leak_mohm = 0
        self._events: deque[Event] = deque(maxlen=build.event_log_size)

    # --- reading the firmware ------------------------------------------------------------
    @property
    def tick_count(self) -> int:
        """The number of the next tick to run (ticks run so far)."""
        return self._tick

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def fault(self) -> FaultCode:
        """The fault in force: latched, the watchdog's ramp, or the compliance voltage."""
        if self._fault is not _NO_FAULT:
            return self._fault
        return _COMPLIANCE if self._limited else _NO_FAULT

    def status(self) -> FirmwareStatus:
        return FirmwareStatus(
            tick=self._tick,
            state=self._state,
            polarity=self._polarity,
            fault=self.fault,
            level_uA=self._level,
            target_uA=self._target,
            limit_uA=self._limit,
            compliance_mV=self._compliance,
            slew_uA_per_s=self._slew,
            heartbeat_timeout_ms=self._heartbeat_timeout,
            heartbeat_deadline=self._deadline,
            waveform=self._waveform,
            impedance_reference_mohm=self._guard_ref_mohm if self._guard_armed else 0,
        )

    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    def drain_events(self) -> tuple[Event, ...]:
        """The events since the last drain (as a host would read them off the device)."""
        drained = tuple(self._events)
        self._events.clear()
        return drained

    # --- host commands -------------------------------------------------------------------
    def apply(self, message: HostMessage) -> CommandResult:
        """Carry out one host command from the wire."""
        if isinstance(message, SetLimits):
            return self.set_limits(
                message.session_limit_uA,
                message.compliance_mV,
                message.slew_uA_per_s,
                message.heartbeat_timeout_ms,
                message.waveform,
                message.pulse_frequency_hz,
                message.duty_permille,
                message.ac_amplitude_permille,
            )
        if isinstance(message, Start):
            return self.start(message.polarity)
        if isinstance(message, SetTarget):
            return self.set_target(message.target_uA)
        if isinstance(message, Reverse):
            return self.reverse(message.to_polarity)
        if isinstance(message, Stop):
            return self.stop()
        if isinstance(message, Heartbeat):
            return self.heartbeat()
        if isinstance(message, ClearFault):
            return self.clear_fault()
        raise TypeError(f"not a host command: {message!r}")

    def set_limits(
        self,
        session_limit_uA: int,
        compliance_mV: int,
        slew_uA_per_s: int,
        heartbeat_timeout_ms: int,
        waveform: int,
        pulse_frequency_hz: int = 0,
        duty_permille: int = 0,
        ac_amplitude_permille: int = 0,
    ) -> CommandResult:
        """The session's limits and waveform.

        Each value is clamped to the build's hard limit (reported as ``ceiling_request``);
        once a session has started (any state but idle) a value can only go down — a higher
        one keeps the old value (reported) — and the waveform cannot change. A lowered limit
        takes effect at once, also on a current already above it.
        """
        trigger = Trigger.SET_LIMITS
        values = (session_limit_uA, compliance_mV, slew_uA_per_s, heartbeat_timeout_ms)
        if not all(_is_int(v) and v > 0 for v in values):
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        if not all(
            _is_int(v) for v in (waveform, pulse_frequency_hz, duty_permille, ac_amplitude_permille)
        ):
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        problem = waveform_problem(
            waveform, pulse_frequency_hz, duty_permille, ac_amplitude_permille
        )
        if problem is not None:
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        shape = WaveformShape(
            WaveformCode(waveform), pulse_frequency_hz, duty_permille, ac_amplitude_permille
        )
        if not self._allowed(trigger):
            return self._refuse_in_state(trigger)
        in_session = self._state is not DeviceState.IDLE
        if in_session and shape != self._waveform:
            return self._refuse(trigger, ResultCode.WAVEFORM_LOCKED)

        build = self.build
        code = ResultCode.OK
        limit, clamped = _clamp(session_limit_uA, shape.average_ceiling_uA(build.ceiling_uA))
        compliance, clamped_c = _clamp(compliance_mV, build.compliance_max_mV)
        slew, clamped_s = _clamp(slew_uA_per_s, build.slew_max_uA_per_s)
        timeout, clamped_t = _clamp(heartbeat_timeout_ms, build.heartbeat_timeout_max_ms)
        for requested, was_clamped in (
            (session_limit_uA, clamped),
            (compliance_mV, clamped_c),
            (slew_uA_per_s, clamped_s),
            (heartbeat_timeout_ms, clamped_t),
        ):
            if was_clamped:
                code = ResultCode.CLAMPED_TO_CEILING
                self._log(
                    trigger,
                    self._state,
                    ResultCode.CLAMPED_TO_CEILING,
                    FaultCode.CEILING_REQUEST,
                    requested,
                )
        if in_session:
            kept = (
                limit > self._limit
                or compliance > self._compliance
                or slew > self._slew
                or timeout > self._heartbeat_timeout
            )
            limit = min(limit, self._limit)
            compliance = min(compliance, self._compliance)
            slew = min(slew, self._slew)
            timeout = min(timeout, self._heartbeat_timeout)
            if kept:
                self._log(
                    trigger, self._state, ResultCode.NOT_RAISED_IN_SESSION, FaultCode.NONE, limit
                )
                if code is ResultCode.OK:
                    code = ResultCode.NOT_RAISED_IN_SESSION

        if limit < self._level or compliance < self._compliance:
            # Either can make the current fall at once, while the skin's capacitance holds its
            # voltage: the next readings show a higher impedance for a few ms, which is not a
            # limb leaving. The anti-shock guard starts afresh from the next reading.
            self._guard_armed = False
        self._waveform = shape
        self._peak_num, self._peak_den = shape.peak_num, shape.peak_den
        self._limit = limit
        # The sense current too stays within the limit; its voltage ceiling keeps the same
        # impedance threshold.
        self._sense = min(build.sense_uA, limit)
        self._sense_compliance = self._sense * build.contact_threshold_ohm // 1000
        self._compliance = compliance
        self._slew = slew
        self._heartbeat_timeout = timeout
        self._target = min(self._target, limit)
        # A lowered limit holds at once: a fall, never a rise, and the limit is never exceeded.
        self._level = min(self._level, limit)
        self._feed()
        self._log(trigger, self._state, code, FaultCode.NONE, limit)
        return CommandResult(True, code, limit)

    def start(self, polarity: int) -> CommandResult:
        """Arm the output in ``polarity``: sense for contact, then ramp up from zero."""
        trigger = Trigger.START
        if polarity not in _POLARITIES:
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        if self._state in (_S.WAIT_CONTACT, _S.RAMP_UP, _S.ON) and polarity == self._polarity:
            return self._accept_unchanged(trigger)
        if not self._allowed(trigger):
            return self._refuse_in_state(trigger)
        if self._waveform is None:
            return self._refuse(trigger, ResultCode.NO_WAVEFORM)
        if abs(self._current) > self.build.zero_current_uA:
            # A polarity is armed only at zero current: a Start right after a Stop waits a tick.
            return self._refuse(trigger, ResultCode.OUTPUT_NOT_ZERO)
        self._polarity = Polarity(polarity)
        self._next_polarity = self._polarity
        self._feed()
        self._fire(trigger)
        return CommandResult(True, ResultCode.OK, self._target)

    def set_target(self, target_uA: int) -> CommandResult:
        """The current to ramp to (magnitude, average), clamped to the limits and reported."""
        trigger = Trigger.SET_TARGET
        if not (_is_int(target_uA) and target_uA >= 0):
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        if not self._allowed(trigger):
            return self._refuse_in_state(trigger)
        code = ResultCode.OK
        ceiling = self._average_ceiling()
        value = target_uA
        if value > ceiling:
            value = ceiling
            code = ResultCode.CLAMPED_TO_CEILING
            self._log(trigger, self._state, code, FaultCode.CEILING_REQUEST, target_uA)
        if value > self._limit:
            value = self._limit
            if code is ResultCode.OK:
                code = ResultCode.CLAMPED_TO_LIMIT
        changed = value != self._target
        self._target = value
        if changed and self._state in (_S.RAMP_UP, _S.ON):
            self._restart_ramp()
        self._feed()
        self._log(trigger, self._state, code, FaultCode.NONE, value)
        return CommandResult(True, code, value)

    def reverse(self, to_polarity: int | None = None) -> CommandResult:
        """Ramp to zero, switch to ``to_polarity``, ramp back up to the target.

        Naming the polarity (as the wire does) makes a resent command harmless: asking for
        the polarity already in force, or already chosen, changes nothing. Without one: the
        opposite of the polarity in force.
        """
        trigger = Trigger.REVERSE
        if to_polarity is None:
            to_polarity = self._polarity.opposite
        if to_polarity not in _POLARITIES:
            return self._refuse(trigger, ResultCode.BAD_VALUE)
        wanted = Polarity(to_polarity)
        if self._state is _S.REVERSING:
            if wanted == self._next_polarity:
                return self._accept_unchanged(trigger)
            self._next_polarity = wanted
            self._feed()
            self._log(trigger, self._state, ResultCode.OK, FaultCode.NONE, int(wanted))
            return CommandResult(True, ResultCode.OK)
        if self._state in (_S.WAIT_CONTACT, _S.RAMP_UP, _S.ON) and wanted == self._polarity:
            return self._accept_unchanged(trigger)
        if not self._allowed(trigger):
            return self._refuse_in_state(trigger)
        self._next_polarity = wanted
        self._feed()
        self._fire(trigger)
        return CommandResult(True, ResultCode.OK)

    def stop(self) -> CommandResult:
        """Ramp to zero along the slew, then idle. Accepted in every state."""
        trigger = Trigger.STOP
        before = self._state
        self._feed()
        self._fire(trigger)
        if self._state is before:
            return CommandResult(True, ResultCode.ALREADY_IN_FORCE)
        return CommandResult(True, ResultCode.OK)

    def heartbeat(self) -> CommandResult:
        """The host is alive: feeds the watchdog (as does every accepted command)."""
        self._feed()
        return CommandResult(True, ResultCode.OK)

    def clear_fault(self) -> CommandResult:
        """Leave latched_fault for idle, only while no current flows."""
        trigger = Trigger.CLEAR_FAULT
        if self._state is _S.IDLE:
            return self._accept_unchanged(trigger)
        if not self._allowed(trigger):
            return self._refuse_in_state(trigger)
        if abs(self._current) > self.build.zero_current_uA:
            return self._refuse(trigger, ResultCode.OUTPUT_NOT_ZERO)
        self._feed()
        self._fire(trigger)
        return CommandResult(True, ResultCode.OK)

    # --- the loop ------------------------------------------------------------------------
    def tick(self, load: Load) -> TickOutput:
        """One 1 ms step: decide the demand, drive the load, read back, check for faults."""
        demand, compliance = self._begin()
        reading = load.drive(self._tick, demand, compliance)
        return self._end(demand, compliance, reading)

    def advance(self, load: Load, max_ticks: int) -> Stretch:
        """Run up to ``max_ticks`` ticks, stopping after the first tick at which the state,
        polarity or fault changes, so that a caller sees every change at its tick.

        Identical to calling :meth:`tick` as often: where the next ticks cannot change
        anything but counters and the load is a :class:`SteadyLoad`, they are handed to the
        load as one stretch of constant demand; elsewhere the ticks run one by one.
        """
        if max_ticks < 1:
            raise ValueError(f"max_ticks must be at least 1, got {max_ticks}")
        steady = cast(SteadyLoad, load) if hasattr(load, "advance") else None
        first = self._tick
        end = first + max_ticks
        # The state, polarity and fault at the start: the call ends after the first tick at
        # which any of them differs (members of their enums, so compared by identity).
        key_state, key_polarity, key_fault = self._state, self._polarity, self.fault
        charge = 0
        peak = 0
        while True:
            demand, compliance = self._begin()
            state = self._state
            output_state = state in OUTPUT_STATES  # the demand is treatment, not sensing
            span = 1
            if (
                steady is not None
                and state is key_state
                and self._polarity is key_polarity
                and self.fault is key_fault
            ):
                # (the watchdog may have fired in this begin: then this tick ends the call)
                span = self._quiet_span(end - self._tick)
            if span >= 2 and steady is not None:
                stretch = steady.advance(self._tick, span, demand, compliance)
                carried = stretch.ticks
                if not 1 <= carried <= span:
                    raise RuntimeError(f"load carried {carried} ticks of {span}")
                self._skip(carried - 1)
                reading = stretch.reading
                if output_state and carried > 1:
                    charge += (carried - 1) * demand
                    if abs(demand) > peak:
                        peak = abs(demand)
            else:
                reading = load.drive(self._tick, demand, compliance)
            current = reading.current_uA
            self._judge(demand, compliance, current, reading.voltage_mV)
            self._tick += 1
            if output_state:
                charge += current
                if abs(current) > peak:
                    peak = abs(current)
            fault = self._fault  # self.fault, inline
            if fault is _NO_FAULT and self._limited:
                fault = _COMPLIANCE
            if (
                self._state is not key_state
                or self._polarity is not key_polarity
                or fault is not key_fault
                or self._tick >= end
            ):
                out = TickOutput(
                    self._tick - 1,
                    demand,
                    current,
                    reading.voltage_mV,
                    self._state,
                    self._polarity,
                    fault,
                )
                return Stretch(first, self._tick - first, charge, peak, out)

    # --- one tick, in two halves -----------------------------------------------------------
    def _begin(self) -> tuple[int, int]:
        """The first half of a tick: the watchdog, the ramp, and the demand (signed)."""
        state = self._state
        if state in ARMED_STATES and self._tick >= self._deadline and self._fault is not _WATCHDOG:
            self._fire(Trigger.WATCHDOG)
            state = self._state
        if state in OUTPUT_STATES:
            goal = self._target if state is _RAMP_UP or state is _ON else 0  # _goal()
            if self._level != goal:
                self._ramp()
            elif self._limited:
                self._limited = False  # at the goal (a lowered target or limit met the level)
            return self._level * self._polarity, self._compliance
        if state is _WAIT_CONTACT:
            return self._sense * self._polarity, self._sense_compliance
        return 0, self._compliance

    def _end(self, demand: int, compliance: int, reading: LoadReading) -> TickOutput:
        """The second half: read back, check for faults, and move on when a goal is reached."""
        current = reading.current_uA
        voltage = reading.voltage_mV
        self._judge(demand, compliance, current, voltage)
        out = TickOutput(
            self._tick, demand, current, voltage, self._state, self._polarity, self.fault
        )
        self._tick += 1
        return out

    def _judge(self, demand: int, compliance: int, current: int, voltage: int) -> None:
        """The second half's work, up to the output record: the reading's regime, its checks,
        the anti-shock guard, and a goal reached."""
        self._current = current
        self._voltage = voltage
        if current == demand:
            self._regime = _REGULATED
        else:
            self._regime = regime_of(demand, current)
            self._check_reading(demand, compliance, current, voltage)
        self._guard_impedance(current, voltage)
        trigger = self._arrival(current)
        if trigger is not None:
            self._fire(trigger)

    def _arrival(self, current: int) -> Trigger | None:
        """The trigger of a goal reached in this tick, if any: contact confirmed, the target
        reached, or zero reached (for a reversal: with no current flowing)."""
        state = self._state
        if state is _WAIT_CONTACT:
            if self._regime is not _REGULATED:
                self._contact = 0
                return None
            self._contact += 1
            return Trigger.CONTACT if self._contact >= self.build.contact_debounce_ms else None
        if state is _RAMP_UP:
            return Trigger.TARGET_REACHED if self._level == self._target else None
        if self._level != 0:
            return None
        if state is _RAMP_DOWN:
            watchdog = self._fault is _WATCHDOG
            return Trigger.FAULT_AT_ZERO if watchdog else Trigger.AT_ZERO
        if state is _REVERSING and abs(current) <= self.build.zero_current_uA:
            return Trigger.AT_ZERO
        return None

    def _check_reading(self, demand: int, compliance: int, current: int, voltage: int) -> None:
        """A reading other than the demand: overcurrent, open circuit, or compliance."""
        along = current * self._polarity  # the current in the direction of the output
        wanted = abs(demand)
        # More than asked, or any current the wrong way, counts at its pulse peak: the ADC sees
        # the average, and assuming the waveform's peak-to-average errs on the safe side.
        excess = max(along - wanted, -along)
        if excess * self._peak_num > self.build.trip_margin_uA * self._peak_den:
            self._fire(Trigger.OVERCURRENT)
            return
        if self._state not in OUTPUT_STATES or along >= wanted:
            return
        if self._is_open_circuit(wanted, along, voltage, compliance):
            self._fire(Trigger.OPEN_CIRCUIT)
            return
        # The compliance voltage held the current back: follow it down (never up), and wait
        # before climbing again, so that a sudden fall in impedance meets a set point no higher
        # than what was flowing.
        # On the way down (goal zero) a shortfall only speeds the fall: not reported.
        self._level = max(0, along)
        if self._level < self._goal():
            self._countdown = self.build.compliance_hold_ms
            self._carry = 0
            if not self._limited:
                self._limited = True
                self._log(Trigger.COMPLIANCE, self._state, ResultCode.OK, _COMPLIANCE, along)

    def _guard_impedance(self, current: int, voltage: int) -> None:
        """The anti-shock guard: cut and latch ``open_circuit`` when the impedance rises.

        A limb leaving the water shrinks the wetted area smoothly over 0.1–0.3 s; a current
        source keeps pushing its current through what is left, and the density rises
        several-fold long before the circuit opens (Hidrex DP450: a shock; Fischer's
        Anti-Shock Guard cuts on circuit irregularities). The impedance starts rising at once,
        so the firmware compares each reading's ``|V| / |I|`` with a reference — the lowest
        impedance since the guard armed, allowed to creep up slowly — and cuts in the same
        tick when it is above it by more than the rise allowed in the current's band
        (:attr:`FirmwareBuild.impedance_rise_permille`). The event is logged with the
        impedance (Ω) that tripped it. Nothing else in a session makes the impedance rise
        fast: the skin hydrating only lowers it, a skin defect lowers it, a pulsed waveform
        scales V and I alike, and the skin capacitance's lag behind a ramp is within the
        allowed rise.

        The guard arms on the first reading in an output state at or above
        ``impedance_guard_min_uA``, starts afresh when the current changes band, and disarms
        below it (so a reversal, which passes through zero, starts it afresh), on a cut, on a
        lowered limit or compliance voltage (:meth:`set_limits`), and during the watchdog's
        own ramp to zero (its steps are ten times the slew's, and it is already taking the
        output away).
        """
        build = self.build
        magnitude_uA = current if current >= 0 else -current
        lowest = build.impedance_guard_min_uA
        # The band: 1, 2, … as the current doubles from the lowest, at most the last.
        if magnitude_uA < lowest or self._state not in OUTPUT_STATES or self._fault is _WATCHDOG:
            self._guard_armed = False
            return
        band = (magnitude_uA // lowest).bit_length()
        if band > build.impedance_guard_bands:
            band = build.impedance_guard_bands
        # mV / µA = kΩ; the product needs 64 bits on a microcontroller (90 V: 9·10¹⁰).
        impedance_mohm = (voltage if voltage >= 0 else -voltage) * 1_000_000 // magnitude_uA
        if not self._guard_armed or band != self._guard_band:
            self._guard_armed = True
            self._guard_band = band
            self._guard_ref_mohm = impedance_mohm
            self._guard_leak_mohm = impedance_mohm * build.impedance_leak_ppm_per_ms // 1_000_000
            return
        reference = self._guard_ref_mohm + self._guard_leak_mohm
        allowed = build.impedance_rise_permille << (build.impedance_guard_bands - band)
        if impedance_mohm * PERMILLE > reference * (PERMILLE + allowed):
            self._guard_armed = False
            self._fire(Trigger.OPEN_CIRCUIT, impedance_mohm // 1000)
            return
        self._guard_ref_mohm = impedance_mohm if impedance_mohm < reference else reference

    def _is_open_circuit(self, wanted: int, along: int, voltage: int, compliance: int) -> bool:
        """At compliance with the current far below the demand (under half), or an impedance
        above the contact threshold: the limb has left the water."""
        band = self.build.compliance_band_permille
        magnitude_mV = abs(voltage)
        if magnitude_mV * PERMILLE < compliance * (PERMILLE - band):
            return False
        if 2 * along < wanted:
            return True
        return magnitude_mV * 1000 > self.build.contact_threshold_ohm * along

    # --- the ramp ------------------------------------------------------------------------
    def _goal(self) -> int:
        state = self._state
        return self._target if state is _RAMP_UP or state is _ON else 0

    def _ramp(self) -> None:
        """Count down to the next ramp step; at it, move the set point by the slew's share."""
        self._countdown -= 1
        if self._countdown > 0:
            return
        period = self.build.ramp_period_ms
        self._countdown = period
        slew = self.build.safe_ramp_down_uA_per_s if self._fault is _WATCHDOG else self._slew
        carry = self._carry + slew * period
        step = carry // MS_PER_S
        self._carry = carry - step * MS_PER_S
        goal = self._goal()
        if self._level < goal:
            self._level = min(goal, self._level + step)
        else:
            self._level = max(goal, self._level - step)
        if self._level == goal:
            self._carry = 0
            self._limited = False

    def _restart_ramp(self) -> None:
        self._countdown = self.build.ramp_period_ms
        self._carry = 0

    # --- the fast path -------------------------------------------------------------------
    def _quiet_span(self, remaining: int) -> int:
        """How many ticks, from the one just begun, are sure to change nothing but counters as
        long as the load stays in the regime of the last tick (at most ``remaining``)."""
        span = remaining
        state = self._state
        if state in ARMED_STATES and self._fault is not _WATCHDOG:
            span = min(span, self._deadline - self._tick)
        regime = self._regime
        if state in OUTPUT_STATES:
            if regime is not _REGULATED:
                return 1  # the firmware reacts to every such reading
            if self._guard_changes_now():
                return 1  # the guard's reference starts from this tick's reading
            goal = self._target if state is _RAMP_UP or state is _ON else 0  # _goal()
            if self._level != goal:
                return min(span, self._countdown)
            return span if state is _ON else 1
        if state is _WAIT_CONTACT:
            if regime is _REGULATED:
                return min(span, self.build.contact_debounce_ms - self._contact)
            return span if regime is _SHORT else 1  # no contact, nothing to trip
        return span if regime is _REGULATED else 1

    def _guard_changes_now(self) -> bool:
        """Whether the guard arms, rearms or disarms on the reading of the tick just begun (a
        regulated one, in an output state: the current is the set point)."""
        lowest = self.build.impedance_guard_min_uA
        level = self._level
        # (the band, as _guard_impedance takes it)
        band = 0 if level < lowest else (level // lowest).bit_length()
        if band > self.build.impedance_guard_bands:
            band = self.build.impedance_guard_bands
        if not self._guard_armed:
            return band != 0 and self._fault is not _WATCHDOG
        return band != self._guard_band

    def _skip(self, ticks: int) -> None:
        """Account for ``ticks`` quiet ticks: the ends of the first ones and the begins of the
        next ones, with readings in the last tick's regime.

        The guard's reference in closed form: a load's impedance never rises within a stretch
        (:class:`SteadyLoad`), so no skipped tick can trip it, and the lowest impedance of the
        stretch is that of its last tick, which :meth:`_end` takes; the skipped ticks only
        add their creep.
        """
        if ticks <= 0:
            return
        self._tick += ticks
        state = self._state
        if self._guard_armed:
            # The stretch began with a tick in the guard's band (else the guard would have
            # changed on that tick, run alone), and the demand does not change within it.
            self._guard_ref_mohm += ticks * self._guard_leak_mohm
        if state in OUTPUT_STATES and self._level != self._goal():
            self._countdown -= ticks
        elif state is _WAIT_CONTACT and self._regime is _REGULATED:
            self._contact += ticks

    # --- transitions ---------------------------------------------------------------------
    def _allowed(self, trigger: Trigger) -> bool:
        return (self._state, trigger) in TRANSITIONS

    def _fire(self, trigger: Trigger, value: int | None = None) -> None:
        """Move along the table. Internal triggers are always in it for the states they occur in.
        The event logs ``value`` if given, else the set point afterwards."""
        before = self._state
        fault_before = self._fault
        after = TRANSITIONS.get((before, trigger))
        if after is None:
            self._refuse_in_state(trigger)
            return
        if trigger is Trigger.OVERCURRENT:
            self._fault = FaultCode.OVERCURRENT
        elif trigger is Trigger.OPEN_CIRCUIT:
            self._fault = FaultCode.OPEN_CIRCUIT
        elif trigger is Trigger.WATCHDOG:
            self._fault = FaultCode.WATCHDOG
            self._restart_ramp()
        elif trigger is Trigger.AT_ZERO and before is _S.REVERSING:
            self._polarity = self._next_polarity
        if after is not before:
            self._enter(after)
        # A finding that changes nothing (a trip while already latched) is not logged again:
        # a stuck fault would otherwise flood the log every tick.
        if after is not before or self._fault is not fault_before or trigger in HOST_TRIGGERS:
            logged = self._level if value is None else value
            self._log(trigger, before, ResultCode.OK, self._fault, logged)

    def _enter(self, state: DeviceState) -> None:
        self._state = state
        self._limited = False
        if state is _S.IDLE:
            self._level = 0
            self._fault = FaultCode.NONE
        elif state is _S.WAIT_CONTACT:
            self._level = 0
            self._contact = 0
        elif state is _S.RAMP_UP:
            self._level = 0  # always from zero
            self._restart_ramp()
        elif state is _S.LATCHED_FAULT:
            self._level = 0  # a cut, at once
        else:
            self._restart_ramp()

    def _refuse_in_state(self, trigger: Trigger) -> CommandResult:
        """Not in the table: refuse, log, and take the output to its safe state."""
        before = self._state
        safe = SAFE_STATE[before]
        if safe is not before:
            self._enter(safe)
        self._log(trigger, before, ResultCode.REFUSED_IN_STATE, FaultCode.NONE)
        return CommandResult(False, ResultCode.REFUSED_IN_STATE)

    def _refuse(self, trigger: Trigger, code: ResultCode) -> CommandResult:
        self._log(trigger, self._state, code, FaultCode.NONE)
        return CommandResult(False, code)

    def _accept_unchanged(self, trigger: Trigger) -> CommandResult:
        self._feed()
        self._log(trigger, self._state, ResultCode.ALREADY_IN_FORCE, FaultCode.NONE)
        return CommandResult(True, ResultCode.ALREADY_IN_FORCE)

    def _feed(self) -> None:
        self._deadline = self._tick + self._heartbeat_timeout

    def _average_ceiling(self) -> int:
        return self.build.ceiling_uA * self._peak_den // self._peak_num

    def _log(
        self,
        trigger: Trigger,
        before: DeviceState,
        code: ResultCode,
        fault: FaultCode,
        value: int = 0,
    ) -> None:
        self._events.append(Event(self._tick, trigger, before, self._state, code, fault, value))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clamp(requested: int, ceiling: int) -> tuple[int, bool]:
    return (ceiling, True) if requested > ceiling else (requested, False)


def describe_events(events: Iterable[Event]) -> list[str]:
    """The log in words, one line per event (for debugging and the simulator's record)."""
    lines = []
    for event in events:
        fault = "" if event.fault is FaultCode.NONE else f" fault={event.fault.name.lower()}"
        lines.append(
            f"{event.tick:>9} {event.trigger.name.lower()}: {event.before.name.lower()} → "
            f"{event.after.name.lower()} {event.code.name.lower()}{fault} ({event.value})"
        )
    return lines
