"""The session controller: the host's side of one treatment session.

An explicit state machine — every (phase, trigger) → next phase in one table,
:data:`TRANSITIONS`, printed in ``docs/session-controller.md`` — drives a device through a
:class:`~ionto.device.link.DeviceLink`, so it is the same code on the simulator and on a board:

    idle → check_contact → ramp_up → treat → [reversing → treat] → ramp_down → completed

with ``paused`` when contact is lost (the treatment timer held; on return the device climbs
again from zero along the ramp: no re-entry shock), ``stepping_down`` when the patient reports
pain, and the ends ``stopped`` (patient or nurse), ``aborted`` (a safety rule ended it) and
``fault`` (the device latched a fault the host cannot clear).

The firmware keeps the hard limits by itself (defence in depth); the controller keeps the
protocol: the target per phase, the reversal plan, the treatment time and the dose.

**Dose.** Treatment at the target ends when the dose planned for that polarity has been
delivered, not merely when the clock says so: early in a session the skin is dry, the
compliance voltage can hold the current below the target, and a timer alone would under-dose.
The time at the target may stretch by at most :attr:`SessionPlan.max_time_factor` (then the
shortfall is logged). Planned dose per polarity = target × (time at target + half of each ramp).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from ionto.device.link import DeviceLink, DeviceSample, Progress
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
    waveform_code,
)
from ionto.therapy import protocols
from ionto.therapy.reasons import Limit
from ionto.therapy.vocabulary import Reversal, Waveform

UA_MS_PER_MA_MIN = 60_000_000  # 1 mA·min = 1000 µA × 60,000 ms


class Phase(StrEnum):
    IDLE = "idle"
    CHECK_CONTACT = "check_contact"
    RAMP_UP = "ramp_up"
    TREAT = "treat"
    REVERSING = "reversing"
    PAUSED = "paused"
    RAMP_DOWN = "ramp_down"
    COMPLETED = "completed"
    STOPPED = "stopped"
    ABORTED = "aborted"
    FAULT = "fault"


ENDS = frozenset({Phase.COMPLETED, Phase.STOPPED, Phase.ABORTED, Phase.FAULT})


class Trigger(StrEnum):
    START = "start"
    CONTACT_MADE = "contact_made"
    AT_TARGET = "at_target"
    HALF_DOSE = "half_dose"
    FULL_DOSE = "full_dose"
    RAMPED_DOWN = "ramped_down"
    CONTACT_LOST = "contact_lost"
    CONTACT_TIMEOUT = "contact_timeout"
    PAIN = "pain"
    PAIN_LIMIT = "pain_limit"
    PATIENT_STOP = "patient_stop"
    DEVICE_FAULT = "device_fault"
    HOST_LOST = "host_lost"
    OVERRUN = "overrun"


_P = Phase
_T = Trigger

#: The whole behaviour in one table: (phase, trigger) → next phase. A trigger not in the table
#: for the current phase is logged and refused, and the output goes safe (ramp down).
TRANSITIONS: Mapping[tuple[Phase, Trigger], Phase] = MappingProxyType(
    {
        (_P.IDLE, _T.START): _P.CHECK_CONTACT,
        (_P.CHECK_CONTACT, _T.CONTACT_MADE): _P.RAMP_UP,
        (_P.CHECK_CONTACT, _T.CONTACT_TIMEOUT): _P.ABORTED,
        (_P.RAMP_UP, _T.AT_TARGET): _P.TREAT,
        (_P.TREAT, _T.HALF_DOSE): _P.REVERSING,
        # Dry skin can hold a ramp below the target so long that its dose is all delivered
        # on the way up: then the plan moves on without ever reaching the target.
        (_P.RAMP_UP, _T.HALF_DOSE): _P.REVERSING,
        (_P.RAMP_UP, _T.FULL_DOSE): _P.RAMP_DOWN,
        (_P.REVERSING, _T.FULL_DOSE): _P.RAMP_DOWN,
        (_P.REVERSING, _T.AT_TARGET): _P.TREAT,
        (_P.TREAT, _T.FULL_DOSE): _P.RAMP_DOWN,
        (_P.RAMP_DOWN, _T.RAMPED_DOWN): _P.COMPLETED,
        # Contact lost anywhere with output: pause, the timer held.
        (_P.RAMP_UP, _T.CONTACT_LOST): _P.PAUSED,
        (_P.TREAT, _T.CONTACT_LOST): _P.PAUSED,
        (_P.REVERSING, _T.CONTACT_LOST): _P.PAUSED,
        (_P.RAMP_DOWN, _T.CONTACT_LOST): _P.COMPLETED,  # ramping to zero anyway: done
        (_P.PAUSED, _T.CONTACT_MADE): _P.RAMP_UP,
        (_P.PAUSED, _T.CONTACT_TIMEOUT): _P.ABORTED,
        # Pain: the target steps down and the phase goes on; too often → stop.
        (_P.RAMP_UP, _T.PAIN): _P.RAMP_UP,
        (_P.TREAT, _T.PAIN): _P.TREAT,
        (_P.REVERSING, _T.PAIN): _P.REVERSING,
        (_P.CHECK_CONTACT, _T.PAIN): _P.CHECK_CONTACT,
        (_P.PAUSED, _T.PAIN): _P.PAUSED,
        (_P.RAMP_DOWN, _T.PAIN): _P.RAMP_DOWN,
        (_P.RAMP_UP, _T.PAIN_LIMIT): _P.STOPPED,
        (_P.TREAT, _T.PAIN_LIMIT): _P.STOPPED,
        (_P.REVERSING, _T.PAIN_LIMIT): _P.STOPPED,
        (_P.CHECK_CONTACT, _T.PAIN_LIMIT): _P.STOPPED,
        (_P.PAUSED, _T.PAIN_LIMIT): _P.STOPPED,
        (_P.RAMP_DOWN, _T.PAIN_LIMIT): _P.RAMP_DOWN,  # already on the way to zero
        # The patient or nurse presses stop: ramp down, then stopped.
        **{(p, _T.PATIENT_STOP): _P.STOPPED for p in Phase if p not in ENDS and p is not _P.IDLE},
        # A latched fault other than a lost contact ends the session.
        **{(p, _T.DEVICE_FAULT): _P.FAULT for p in Phase if p not in ENDS and p is not _P.IDLE},
        **{(p, _T.HOST_LOST): _P.FAULT for p in Phase if p not in ENDS and p is not _P.IDLE},
        # A session far past any plan (a safety net: no rule above should let this happen).
        **{(p, _T.OVERRUN): _P.ABORTED for p in Phase if p not in ENDS and p is not _P.IDLE},
    }
)


#: What the host does when a trigger is taken (for the docs table; the code is below).
ACTIONS: Mapping[Trigger, str] = MappingProxyType(
    {
        _T.START: "send limits, start and target; the device waits for contact",
        _T.CONTACT_MADE: "the device ramps up from zero along the slew limit",
        _T.AT_TARGET: "count time at the target and the dose per polarity",
        _T.HALF_DOSE: "ask the device to reverse: ramp to zero, switch, ramp back up",
        _T.FULL_DOSE: "ask the device to ramp down to zero",
        _T.RAMPED_DOWN: "record the session as completed",
        _T.CONTACT_LOST: "the device has cut and latched; timer held; clear and restart from zero",
        _T.CONTACT_TIMEOUT: "stop; record why",
        _T.PAIN: "lower the target by one step (no faster than the ramp)",
        _T.PAIN_LIMIT: "ramp down and stop: the current cannot usefully go lower",
        _T.PATIENT_STOP: "ramp down to zero and stop",
        _T.DEVICE_FAULT: "the device latched a fault: record it and end",
        _T.HOST_LOST: "nothing (the host is gone): the device's watchdog ramps down by itself",
        _T.OVERRUN: "ramp down and stop: the session ran far past its plan",
    }
)


def transition_table_markdown() -> str:
    lines = ["| phase | trigger | next phase | what the host does |", "|---|---|---|---|"]
    order = {phase: i for i, phase in enumerate(Phase)}
    rows = sorted(TRANSITIONS.items(), key=lambda row: order[row[0][0]])
    lines += [f"| {p} | {t} | {n} | {ACTIONS[t]} |" for (p, t), n in rows]
    return "\n".join(lines) + "\n"


# --- The plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionPlan:
    """What the host asks of one session; built from a therapy :class:`Protocol`."""

    target_uA: int
    limit_uA: int
    minutes: float
    waveform: Waveform
    reversal: Reversal
    compliance_mV: int
    ramp_up_s: float
    ramp_down_s: float
    duty_permille: int = 0
    pulse_frequency_hz: int = 0
    #: AC on a DC offset: the AC amplitude in ‰ of the offset (never past it: no sign change).
    ac_amplitude_permille: int = 0
    first_polarity: Polarity = Polarity.FORWARD
    #: On a pain report the target drops by this share (derived: one clear step a patient
    #: notices, as a nurse turns the dial down by 2–3 mA from 15).
    pain_step: float = 0.2
    #: Below this the session is not worth going on with: a further pain report stops it
    #: (derived; about half the lowest hand target of 10 mA, Fischer).
    min_current_uA: int = 4_000
    #: Reports of pain after which the session stops (derived).
    max_pain_reports: int = 4
    #: The time at the target may stretch this much to deliver the planned dose (derived).
    max_time_factor: float = 1.5
    #: Contact must be made (or made again after a lift) within this time (derived).
    contact_timeout_s: float = 120.0
    heartbeat_s: float = 1.0
    heartbeat_timeout_ms: int = 2_000
    limits: tuple[Limit, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.target_uA <= self.limit_uA:
            raise ValueError(f"target must be above 0 and within the limit, got {self.target_uA}")
        if self.minutes <= 0:
            raise ValueError(f"minutes must be above 0, got {self.minutes}")
        if self.waveform not in (Waveform.DC, Waveform.PULSED_DC, Waveform.AC_DC_OFFSET):
            raise ValueError(f"{self.waveform} cannot be started: pure AC has no effect")

    @property
    def treat_ms(self) -> int:
        return round(self.minutes * 60_000)

    @property
    def phases(self) -> int:
        return 2 if self.reversal is Reversal.HALFWAY else 1

    def planned_uA_ms(self, target_uA: int | None = None) -> int:
        """Planned charge per polarity phase: the time at target plus half of each ramp."""
        target = self.target_uA if target_uA is None else target_uA
        per_phase_ms = self.treat_ms / self.phases
        ramps_ms = 500 * (self.ramp_up_s + self.ramp_down_s)
        return round(target * (per_phase_ms + ramps_ms))

    @property
    def planned_mA_min(self) -> float:
        """The whole session's planned dose (every polarity phase), in mA·min."""
        return self.planned_uA_ms() * self.phases / UA_MS_PER_MA_MIN

    @property
    def slew_uA_per_s(self) -> int:
        return max(1, math.ceil(self.target_uA / self.ramp_up_s))

    @classmethod
    def from_protocol(
        cls,
        protocol: protocols.Protocol,
        *,
        target_mA: float | None = None,
        minutes: float | None = None,
        waveform: Waveform | None = None,
        reversal: Reversal | None = None,
        compliance_V: float,
    ) -> SessionPlan:
        """A plan from a protocol; a requested target above the protocol's limit is lowered
        to it (the protocol's limits say why)."""
        limit_uA = round(protocol.max_current_mA * 1000)
        target = protocol.target_current_mA if target_mA is None else target_mA
        wave = protocol.waveform if waveform is None else waveform
        pulsed = wave is Waveform.PULSED_DC
        ac = wave is Waveform.AC_DC_OFFSET
        return cls(
            target_uA=min(round(target * 1000), limit_uA),
            limit_uA=limit_uA,
            minutes=protocol.minutes if minutes is None else minutes,
            waveform=wave,
            reversal=protocol.reversal if reversal is None else reversal,
            compliance_mV=round(compliance_V * 1000),
            ramp_up_s=protocol.ramp_up_s,
            ramp_down_s=protocol.ramp_down_s,
            duty_permille=round((protocol.duty_cycle or 0.5) * 1000) if pulsed else 0,
            # Pulsed DC 5–10 kHz (Reinauer 1995); AC on an offset: the same frequency and an
            # amplitude equal to the offset (derived, as physics.py's AC ratio of 1.0).
            pulse_frequency_hz=round(protocol.pulse_frequency_hz or 5000) if pulsed or ac else 0,
            ac_amplitude_permille=1000 if ac else 0,
            limits=protocol.limits,
        )


# --- What happened ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionEvent:
    t_s: float
    code: str
    text: str


@dataclass
class SessionRecord:
    """Everything the session did, kept as it happened (a mutable log, frozen at the end)."""

    plan: SessionPlan
    phase: Phase = Phase.IDLE
    treated_ms: int = 0
    forward_uA_ms: int = 0
    reverse_uA_ms: int = 0
    peak_uA: int = 0
    pain_reports: int = 0
    #: Device time when the session ended (s since the device was switched on).
    ended_s: float = 0.0
    events: list[SessionEvent] = field(default_factory=list)
    transitions: list[tuple[float, Phase, Trigger, Phase]] = field(default_factory=list)

    def delivered_mA_min(self) -> tuple[float, float]:
        return (
            self.forward_uA_ms / UA_MS_PER_MA_MIN,
            self.reverse_uA_ms / UA_MS_PER_MA_MIN,
        )


class SessionInput(StrEnum):
    """What a person can do during a session."""

    PAIN = "pain"
    STOP = "stop"
    HOST_LOSS = "host_loss"  # the controlling computer stops answering (simulation only)


@dataclass(frozen=True, order=True)
class ScheduledInput:
    tick: int
    kind: SessionInput


class InputSource:
    """Scripted inputs by tick, plus whatever a simulated patient reports on their own."""

    def __init__(self, scripted: Iterable[ScheduledInput] = ()) -> None:
        self._pending = sorted(scripted)

    def next_tick(self) -> int | None:
        return self._pending[0].tick if self._pending else None

    def due(self, tick: int) -> list[ScheduledInput]:
        out = [i for i in self._pending if i.tick <= tick]
        self._pending = [i for i in self._pending if i.tick > tick]
        return out

    def add(self, item: ScheduledInput) -> None:
        self._pending.append(item)
        self._pending.sort()


class PainSource(Protocol):
    """Where a simulated patient's own pain reports come from (see simulator.py)."""

    def next_pain_report(self) -> int | None: ...

    def take_pain_reports(self, up_to_tick: int) -> list[int]: ...


class SessionController:
    """Drives one session on a :class:`DeviceLink` to its end (see the module docstring)."""

    def __init__(self, link: DeviceLink, plan: SessionPlan) -> None:
        self.link = link
        self.plan = plan
        self.record = SessionRecord(plan=plan)
        self.polarity = plan.first_polarity
        self.target_uA = plan.target_uA
        self.phase_index = 0  # 0: first polarity, 1: after the reversal
        self._phase_start_charge = 0
        self._phase_plan_uA_ms = plan.planned_uA_ms()
        self._phase_treat_ms = 0
        self._phase_started_tick = 0
        self._contact_deadline: int | None = None
        self._host_alive = True
        self._restart_pending = False
        self._reversed_at_zero = False
        self._last_tick = 0
        self.samples: list[DeviceSample] = []

    # --- logging ------------------------------------------------------------------------
    def _t_s(self) -> float:
        return self.link.tick / 1000

    def log(self, code: str, text: str) -> None:
        self.record.events.append(SessionEvent(self._t_s(), code, text))

    def fire(self, trigger: Trigger) -> bool:
        before = self.record.phase
        nxt = TRANSITIONS.get((before, trigger))
        if nxt is None:
            self.log(
                "trigger_refused",
                f"'{trigger}' is not allowed while '{before}': ignored, output made safe.",
            )
            self._send(Stop())
            return False
        self.record.phase = nxt
        self.record.transitions.append((self._t_s(), before, trigger, nxt))
        return True

    def _send(self, message: HostMessage) -> bool:
        if not self._host_alive:
            return False
        reply = self.link.send(message)
        if not reply.accepted:
            self.log(
                "command_refused",
                f"The device refused {type(message).__name__} (code {reply.code}).",
            )
        return reply.accepted

    # --- the run -------------------------------------------------------------------------
    def start(self) -> None:
        plan = self.plan
        limits = SetLimits(
            session_limit_uA=plan.limit_uA,
            compliance_mV=plan.compliance_mV,
            slew_uA_per_s=plan.slew_uA_per_s,
            heartbeat_timeout_ms=plan.heartbeat_timeout_ms,
            waveform=waveform_code(plan.waveform),
            pulse_frequency_hz=plan.pulse_frequency_hz,
            duty_permille=plan.duty_permille,
            ac_amplitude_permille=plan.ac_amplitude_permille,
        )
        if not self._send(limits) or not self._send(Start(polarity=self.polarity)):
            self.record.phase = Phase.ABORTED
            self.log("device_refused_start", "The device refused the session's limits or start.")
            return
        self._send(SetTarget(target_uA=self.target_uA))
        self.fire(Trigger.START)
        self._contact_deadline = self.link.tick + round(plan.contact_timeout_s * 1000)
        self.log(
            "session_started",
            f"Waiting for contact; then ramping to {self.target_uA / 1000:g} mA over "
            f"{plan.ramp_up_s:g} s.",
        )

    def run(
        self, inputs: InputSource | None = None, *, pain_source: PainSource | None = None
    ) -> SessionRecord:
        """Run the session to its end. ``pain_source`` (a simulated patient) adds the
        patient's own pain reports to the scripted inputs."""
        inputs = inputs or InputSource()
        self.start()
        heartbeat_ms = round(self.plan.heartbeat_s * 1000)
        next_beat = self.link.tick + heartbeat_ms
        guard_end = self._hard_end_tick()
        while self.record.phase not in ENDS:
            now = self.link.tick
            pain_due = pain_source.next_pain_report() if pain_source else None
            wake = min(
                t
                for t in (next_beat, self._next_deadline(), inputs.next_tick(), pain_due, guard_end)
                if t is not None
            )
            progress = self.link.run_until(max(wake, now + 1))
            self._account(progress)
            now = self.link.tick
            for due in pain_source.take_pain_reports(now) if pain_source else ():
                inputs.add(ScheduledInput(due, SessionInput.PAIN))
            for item in inputs.due(now):
                self._on_input(item.kind)
            if self.record.phase in ENDS:
                break
            self._on_device(progress.last)
            if self.record.phase is Phase.REVERSING and progress.last.polarity is self.polarity:
                self._reversed_at_zero = True
            self._check_dose(abs(progress.last.current_uA))
            self._check_contact_timeout()
            if now >= next_beat:
                self._send(Heartbeat())
                next_beat = now + heartbeat_ms
            if now >= guard_end and self.record.phase not in ENDS:
                self.log("session_overran", "The session ran far past its plan: stopped.")
                self._send(Stop())
                self.fire(Trigger.OVERRUN)
        self.record.ended_s = self._t_s()
        return self.record

    def _hard_end_tick(self) -> int:
        plan = self.plan
        longest = plan.treat_ms * plan.max_time_factor + 4 * plan.contact_timeout_s * 1000
        return self.link.tick + round(longest + 10_000 * (plan.ramp_up_s + plan.ramp_down_s))

    def _next_deadline(self) -> int | None:
        if self.record.phase is Phase.TREAT:
            # Wake at least every second to compare the dose with the plan; the dose rises by
            # at most target × 1 s between checks (0.08% of a 20-minute phase).
            remaining = self._phase_time_budget_ms() - self._phase_treat_ms
            return self.link.tick + max(1, min(remaining, 1000))
        if self._restart_pending:
            return self.link.tick + 10
        if self._contact_deadline is not None and self.record.phase in (
            Phase.CHECK_CONTACT,
            Phase.PAUSED,
        ):
            return self._contact_deadline
        return None

    def _phase_time_budget_ms(self) -> int:
        per_phase = self.plan.treat_ms / self.plan.phases
        return round(per_phase * self.plan.max_time_factor)

    # --- what the device did -------------------------------------------------------------
    def _account(self, progress: Progress) -> None:
        rec = self.record
        if self.record.phase is Phase.TREAT and progress.last.state is DeviceState.ON:
            # Time at the target: the whole stretch ran in the 'on' state when it ends there
            # (a stretch stops at every change of state).
            elapsed = progress.last.tick - self._last_tick
            rec.treated_ms += elapsed
            self._phase_treat_ms += elapsed
        self._last_tick = progress.last.tick
        rec.forward_uA_ms += progress.forward_uA_ms
        rec.reverse_uA_ms += progress.reverse_uA_ms
        rec.peak_uA = max(rec.peak_uA, progress.peak_uA)
        self.samples.extend(progress.samples)

    def _on_device(self, last: DeviceSample) -> None:
        phase = self.record.phase
        if last.fault is FaultCode.OPEN_CIRCUIT and phase in (
            Phase.RAMP_UP,
            Phase.TREAT,
            Phase.REVERSING,
            Phase.RAMP_DOWN,
        ):
            self.log(
                "contact_lost",
                "Contact lost (a limb left the water): the device cut the current at once; "
                "treatment paused with the timer held.",
            )
            self.fire(Trigger.CONTACT_LOST)
            self._restart_pending = self.record.phase is Phase.PAUSED
            self._contact_deadline = self.link.tick + round(self.plan.contact_timeout_s * 1000)
            return
        if self._restart_pending and last.state is DeviceState.LATCHED_FAULT:
            self._resume_after_lift()
            return
        if last.state is DeviceState.LATCHED_FAULT and last.fault is not FaultCode.OPEN_CIRCUIT:
            self.log(
                f"device_fault_{last.fault.name.lower()}",
                f"The device latched a fault ({last.fault.name.lower()}): session ended.",
            )
            self.fire(Trigger.DEVICE_FAULT)
            return
        state = last.state
        if phase in (Phase.CHECK_CONTACT, Phase.PAUSED) and state in (
            DeviceState.RAMP_UP,
            DeviceState.ON,
        ):
            self.log("contact_made", "Contact made: ramping up from zero.")
            self.fire(Trigger.CONTACT_MADE)
            self._contact_deadline = None
        if self.record.phase in (Phase.RAMP_UP, Phase.REVERSING) and state is DeviceState.ON:
            self.fire(Trigger.AT_TARGET)
        if self.record.phase is Phase.RAMP_DOWN and state is DeviceState.IDLE:
            self.fire(Trigger.RAMPED_DOWN)
            self.log("session_completed", "Ramped down to zero: session complete.")

    def _resume_after_lift(self) -> None:
        # The firmware latched the open circuit at zero output: clear it and start again from
        # zero; the firmware waits for contact with its sense current, then ramps.
        if not self.link.send(ClearFault()).accepted:
            return  # current still decaying after the cut: try again at the next wake
        self._restart_pending = False
        self._send(Start(polarity=self.polarity))
        self._send(SetTarget(target_uA=self.target_uA))

    def _check_contact_timeout(self) -> None:
        if (
            self._contact_deadline is not None
            and self.record.phase in (Phase.CHECK_CONTACT, Phase.PAUSED)
            and self.link.tick >= self._contact_deadline
        ):
            self.log(
                "contact_timeout",
                f"No contact within {self.plan.contact_timeout_s:g} s: session aborted.",
            )
            self._send(Stop())
            self.fire(Trigger.CONTACT_TIMEOUT)

    def _check_dose(self, level_uA: int) -> None:
        phase = self.record.phase
        ramping_up_this_polarity = phase is Phase.RAMP_UP or (
            phase is Phase.REVERSING and self._reversed_at_zero
        )
        if phase is not Phase.TREAT and not ramping_up_this_polarity:
            return
        delivered = self._phase_charge()
        planned = self._phase_plan_uA_ms
        # The ramp down still to come, from the level now at the slew: level²/(2·slew).
        still_to_come = round(level_uA * level_uA * 500 / self.plan.slew_uA_per_s)
        done_by_dose = delivered + still_to_come >= planned
        # The phase's clock counts from its start, ramps and compliance-held climbs included:
        # a patient whose skin never lets the current reach the target still gets an end.
        # After a reversal the clock also holds the ramp down of the polarity before it.
        phase_ms = self.link.tick - self._phase_started_tick
        ramp_s = self.plan.ramp_up_s + (self.plan.ramp_down_s if self.phase_index else 0.0)
        out_of_time = phase_ms >= self._phase_time_budget_ms() + round(1000 * ramp_s)
        if not (done_by_dose or out_of_time):
            return
        if out_of_time and not done_by_dose:
            self.log(
                "dose_short",
                f"This polarity ran {self.plan.max_time_factor:g}× its planned time without "
                "delivering the planned dose (the compliance voltage held the current back): "
                "moving on with less.",
            )
        last_phase = self.phase_index + 1 >= self.plan.phases
        if last_phase:
            self.fire(Trigger.FULL_DOSE)
            self._send(Stop())
            self.log(
                "ramp_down",
                f"Planned dose delivered: ramping down over {self.plan.ramp_down_s:g} s.",
            )
        else:
            self.fire(Trigger.HALF_DOSE)
            self._reversed_at_zero = False
            self.phase_index += 1
            self.polarity = Polarity(-int(self.polarity))
            self._send(Reverse(to_polarity=self.polarity))
            self._phase_start_charge = (
                self.record.forward_uA_ms
                if self.polarity is Polarity.FORWARD
                else self.record.reverse_uA_ms
            )
            self._phase_treat_ms = 0
            self._phase_started_tick = self.link.tick
            self._phase_plan_uA_ms = self.plan.planned_uA_ms(self.target_uA)
            self.log(
                "reversing",
                "Half the dose delivered: ramping to zero, reversing polarity, ramping back up.",
            )

    def _phase_charge(self) -> int:
        """Charge delivered in the current polarity (a reversal's ramp down still counts to
        the polarity it flows in)."""
        rec = self.record
        if self.polarity is Polarity.FORWARD:
            return rec.forward_uA_ms - self._phase_start_charge
        return rec.reverse_uA_ms - self._phase_start_charge

    # --- people --------------------------------------------------------------------------
    def _on_input(self, kind: SessionInput) -> None:
        if kind is SessionInput.HOST_LOSS:
            self.log(
                "host_lost",
                "The controlling computer stopped answering: the device must ramp down on its "
                "own when its heartbeat watchdog runs out.",
            )
            self._host_alive = False
            # A serial link heartbeats from inside run_until: a dead host sends nothing.
            if hasattr(self.link, "heartbeats"):
                self.link.heartbeats = False
            self._watch_host_loss()
            return
        if kind is SessionInput.STOP:
            self.log("patient_stop", "Stop pressed: ramping down to zero.")
            self._send(Stop())
            self.fire(Trigger.PATIENT_STOP)
            self._drain_to_zero()
            return
        self.record.pain_reports += 1
        lower = max(0, round(self.target_uA * (1 - self.plan.pain_step)))
        if (
            self.record.pain_reports >= self.plan.max_pain_reports
            or lower < self.plan.min_current_uA
        ):
            self.log(
                "pain_stop",
                f"Pain reported {self.record.pain_reports} times; the current cannot usefully go "
                "lower: ramping down and stopping.",
            )
            self._send(Stop())
            if not self.fire(Trigger.PAIN_LIMIT):
                return
            self._drain_to_zero()
            return
        self.log(
            "pain_step_down",
            f"Pain reported: target lowered from {self.target_uA / 1000:g} to {lower / 1000:g} mA "
            "(no faster than the ramp).",
        )
        # The rest of this phase's plan at the lower current: what is delivered stays counted.
        per_phase_ms = self.plan.treat_ms // self.plan.phases
        remaining_ms = max(0, per_phase_ms - self._phase_treat_ms)
        self._phase_plan_uA_ms = self._phase_charge() + round(
            lower * (remaining_ms + 500 * self.plan.ramp_down_s)
        )
        self.target_uA = lower
        self._send(SetTarget(target_uA=lower))
        self.fire(Trigger.PAIN)

    def _drain_to_zero(self) -> None:
        """After a stop, let the device finish its ramp down so that the record is complete."""
        deadline = self.link.tick + round(self.plan.ramp_down_s * 1000) + 5_000
        beat_ms = round(self.plan.heartbeat_s * 1000)
        while self.link.tick < deadline:
            # Keep the heartbeat going: a stop is the host's ramp, not the watchdog's.
            self._send(Heartbeat())
            progress = self.link.run_until(min(deadline, self.link.tick + beat_ms))
            self._account(progress)
            settled = progress.last.state in (DeviceState.IDLE, DeviceState.LATCHED_FAULT)
            if settled and progress.last.current_uA == 0:
                break

    def _watch_host_loss(self) -> None:
        """Simulation of a dead host: nobody sends anything; device time runs on until the
        firmware has brought the output to zero by itself (or a generous deadline)."""
        deadline = self.link.tick + 15_000
        while self.link.tick < deadline:
            progress = self.link.run_until(deadline)
            self._account(progress)
            if progress.last.fault is FaultCode.WATCHDOG and progress.last.current_uA == 0:
                self.log(
                    "watchdog_ramped_down",
                    "The device's watchdog ramped the current to zero by itself.",
                )
                break
        self.fire(Trigger.HOST_LOST)


def state_machines_markdown() -> str:
    """``docs/session-controller.md``: both state tables, as the code holds them."""
    from ionto.device.firmware import transition_table_markdown as firmware_table

    return "\n".join(
        [
            "# The session's two state machines",
            "",
            "Generated from the code (`ionto.device.controller.state_machines_markdown`);",
            "`tests/device/test_session.py` fails if this page and the code disagree.",
            "",
            "Two independent guards, as in a real device (docs/architecture.md): the **host's",
            "session controller** keeps the protocol (phases, reversal, dose, pauses, pain), and",
            "the **device firmware** keeps the hard limits by itself whatever the host says.",
            "A trigger that is not in a table for the current state is refused, logged, and the",
            "output goes safe.",
            "",
            "## Host: the session controller (`ionto.device.controller`)",
            "",
            transition_table_markdown().rstrip(),
            "",
            "## Device: the reference firmware (`ionto.device.firmware`)",
            "",
            firmware_table().rstrip(),
            "",
        ]
    )
