"""One whole simulated session, as ``ionto session simulate`` runs it.

Takes the protocol from the therapy core (so every cap of the patient's group, region and
solution applies before anything reaches the device), builds a virtual patient from a seed with
the scripted events on it, and lets the session controller drive the simulated device.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ionto.device.controller import (
    InputSource,
    Phase,
    ScheduledInput,
    SessionController,
    SessionInput,
    SessionPlan,
    SessionRecord,
)
from ionto.device.link import DeviceSample
from ionto.device.patients import VirtualPatient
from ionto.device.simulator import SimulatedDevice
from ionto.therapy.limits import DEFAULT_LIMITS, compliance_voltage_cap, limit_current
from ionto.therapy.protocols import Protocol, recommend_protocol
from ionto.therapy.reasons import Limit
from ionto.therapy.vocabulary import Region, Reversal, Solution, Waveform


class EventKind(StrEnum):
    LIFT = "lift"
    PAIN = "pain"
    STOP = "stop"
    HOST_LOSS = "host-loss"
    SKIN_BREAK = "skin-break"


@dataclass(frozen=True)
class ScriptedEvent:
    kind: EventKind
    t_s: float
    duration_s: float | None = None  # lift only

    def __post_init__(self) -> None:
        if self.t_s < 0:
            raise ValueError(f"event time must not be negative, got {self.t_s}")
        if self.kind is EventKind.LIFT:
            if self.duration_s is None or self.duration_s <= 0:
                raise ValueError("a lift needs a duration in seconds: lift@T:DUR")
        elif self.duration_s is not None:
            raise ValueError(f"'{self.kind}' takes no duration")


@dataclass(frozen=True)
class SessionRequest:
    region: Region = Region.PALMS
    age_years: float = 34.0
    solution: Solution = Solution.TAP_WATER
    current_mA: float | None = None
    minutes: float | None = None
    waveform: Waveform | None = None
    reversal: Reversal | None = None
    water_uS_cm: float = 400.0
    seed: int = 0
    events: tuple[ScriptedEvent, ...] = ()
    trace_hz: int = 0


@dataclass(frozen=True)
class SessionOutcome:
    protocol: Protocol
    plan: SessionPlan
    record: SessionRecord
    limits: tuple[Limit, ...]
    peak_density_mA_cm2: float
    max_sensation: float
    samples: tuple[DeviceSample, ...]
    planned_mA_min: float

    @property
    def state(self) -> str:
        return end_state(self.record.phase)


def end_state(phase: Phase) -> str:
    """How a session that ended in ``phase`` is reported: completed, stopped, aborted or
    fault (a phase that is no end counts as aborted)."""
    return {
        Phase.COMPLETED: "completed",
        Phase.STOPPED: "stopped",
        Phase.ABORTED: "aborted",
        Phase.FAULT: "fault",
    }.get(phase, "aborted")


def _protocol(request: SessionRequest) -> Protocol:
    return recommend_protocol(request.region, request.solution, request.age_years)


def build_plan(request: SessionRequest) -> tuple[Protocol, SessionPlan, tuple[Limit, ...]]:
    protocol = _protocol(request)
    waveform = request.waveform or protocol.waveform
    limits: tuple[Limit, ...] = ()
    target = protocol.target_current_mA
    if request.current_mA is not None:
        limited = limit_current(
            request.current_mA,
            request.age_years,
            request.region,
            request.solution,
            waveform=waveform,
            duty_cycle=protocol.duty_cycle if waveform is Waveform.PULSED_DC else None,
        )
        target = limited.value
        limits = limited.binding
    compliance = compliance_voltage_cap(request.solution, DEFAULT_LIMITS).value
    plan = SessionPlan.from_protocol(
        protocol,
        target_mA=target,
        minutes=request.minutes,
        waveform=waveform,
        reversal=request.reversal,
        compliance_V=compliance,
    )
    return protocol, plan, limits


def simulated_device(
    request: SessionRequest, protocol: Protocol, plan: SessionPlan, sample_hz: int
) -> tuple[SimulatedDevice, list[ScheduledInput]]:
    """The simulated device on the virtual patient of ``request.seed``, with the request's
    scripted events: lifts and skin breaks on the patient, pain, stop and host loss as inputs
    at their ticks."""
    patient = VirtualPatient.from_seed(
        request.seed, request.region, request.age_years, request.water_uS_cm
    )
    inputs: list[ScheduledInput] = []
    for event in request.events:
        tick = round(event.t_s * 1000)
        if event.kind is EventKind.LIFT:
            assert event.duration_s is not None  # ScriptedEvent refuses a lift without one
            patient = patient.lift(event.t_s, event.duration_s)
        elif event.kind is EventKind.SKIN_BREAK:
            patient = patient.skin_break(event.t_s)
        elif event.kind is EventKind.PAIN:
            inputs.append(ScheduledInput(tick, SessionInput.PAIN))
        elif event.kind is EventKind.STOP:
            inputs.append(ScheduledInput(tick, SessionInput.STOP))
        else:
            inputs.append(ScheduledInput(tick, SessionInput.HOST_LOSS))
    duty = protocol.duty_cycle if plan.waveform is Waveform.PULSED_DC else None
    device = SimulatedDevice(patient, plan.waveform, duty_cycle=duty, sample_hz=sample_hz)
    return device, inputs


def run_session(request: SessionRequest) -> SessionOutcome:
    protocol, plan, limits = build_plan(request)
    device, inputs = simulated_device(request, protocol, plan, request.trace_hz)
    controller = SessionController(device, plan)
    record = controller.run(InputSource(inputs), pain_source=device)
    all_limits = tuple(dict.fromkeys((*limits, *protocol.limits)))
    return SessionOutcome(
        protocol=protocol,
        plan=plan,
        record=record,
        limits=all_limits,
        peak_density_mA_cm2=device.load.peak_density_mA_cm2,
        max_sensation=device.load.peak_sensation,
        samples=tuple(controller.samples),
        planned_mA_min=plan.planned_mA_min,
    )
