"""Whole sessions: the session controller driving the reference firmware and a virtual patient.

Examples pin the behaviour a nurse sees (a session completes, a lift pauses it, pain steps
the current down, a dead host is caught by the device); properties check the safety rules of
issue 3 over random patients, movements and faults, on samples taken at every 1 ms tick.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import Phase as Phase_
from hypothesis import strategies as st

from ionto.device.controller import (
    TRANSITIONS,
    InputSource,
    Phase,
    ScheduledInput,
    SessionController,
    SessionEvent,
    SessionInput,
    SessionPlan,
    transition_table_markdown,
)
from ionto.device.firmware import DEFAULT_BUILD
from ionto.device.link import DeviceSample
from ionto.device.patients import VirtualPatient
from ionto.device.session import EventKind, ScriptedEvent, SessionRequest, run_session
from ionto.device.simulator import SimulatedDevice
from ionto.device.wire import DeviceState
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.vocabulary import Region, Reversal, Solution, Waveform

ZERO_UA = DEFAULT_BUILD.zero_current_uA


def codes(events: list[SessionEvent]) -> list[str]:
    return [e.code for e in events]


# --- Examples ---------------------------------------------------------------------------------
def test_a_default_session_completes_with_the_planned_dose() -> None:
    outcome = run_session(SessionRequest())
    record = outcome.record
    assert outcome.state == "completed"
    forward, reverse = record.delivered_mA_min()
    planned_each = outcome.planned_mA_min / 2
    assert abs(forward - planned_each) / planned_each < 0.02
    assert abs(reverse - planned_each) / planned_each < 0.02
    assert abs(forward + reverse - outcome.planned_mA_min) / outcome.planned_mA_min < 0.02
    assert record.peak_uA <= outcome.plan.limit_uA
    assert codes(record.events) == [
        "session_started",
        "contact_made",
        "reversing",
        "ramp_down",
        "session_completed",
    ]
    phases = [t[3] for t in record.transitions]
    assert phases == [
        Phase.CHECK_CONTACT,
        Phase.RAMP_UP,
        Phase.TREAT,
        Phase.REVERSING,
        Phase.TREAT,
        Phase.RAMP_DOWN,
        Phase.COMPLETED,
    ]


def test_one_polarity_session_gives_all_its_dose_forward() -> None:
    outcome = run_session(SessionRequest(reversal=Reversal.NONE, minutes=5))
    forward, reverse = outcome.record.delivered_mA_min()
    assert outcome.state == "completed"
    assert reverse == 0
    assert abs(forward - outcome.planned_mA_min) / outcome.planned_mA_min < 0.02


def test_a_requested_current_above_the_child_cap_is_limited_and_says_why() -> None:
    outcome = run_session(SessionRequest(age_years=9, current_mA=25.0, minutes=2))
    assert outcome.plan.target_uA <= 15_000
    assert "child_current_cap" in [lim.code for lim in outcome.limits]
    assert outcome.record.peak_uA <= 15_000


def test_a_lift_pauses_the_session_and_it_resumes_from_zero() -> None:
    outcome = run_session(
        SessionRequest(minutes=4, events=(ScriptedEvent(EventKind.LIFT, 120.0, 2.0),))
    )
    events = codes(outcome.record.events)
    assert outcome.state == "completed"
    assert events.index("contact_lost") < events.index("contact_made", 2)
    lost = next(e for e in outcome.record.events if e.code == "contact_lost")
    assert 120.0 <= lost.t_s < 120.5


def test_patient_stop_ramps_down_and_ends_stopped() -> None:
    outcome = run_session(SessionRequest(events=(ScriptedEvent(EventKind.STOP, 60.0),)))
    assert outcome.state == "stopped"
    assert "patient_stop" in codes(outcome.record.events)


def test_pain_steps_the_current_down() -> None:
    outcome = run_session(SessionRequest(minutes=4, events=(ScriptedEvent(EventKind.PAIN, 100.0),)))
    assert outcome.record.pain_reports >= 1
    step = next(e for e in outcome.record.events if e.code == "pain_step_down")
    assert "lowered from 15 to 12 mA" in step.text


def test_a_dead_host_is_caught_by_the_device_watchdog() -> None:
    outcome = run_session(SessionRequest(events=(ScriptedEvent(EventKind.HOST_LOSS, 90.0),)))
    events = codes(outcome.record.events)
    assert outcome.state == "fault"
    assert "host_lost" in events
    ramped = next(e for e in outcome.record.events if e.code == "watchdog_ramped_down")
    assert ramped.t_s - 90.0 <= 6.0  # "within a few seconds of the last heartbeat"


def test_the_state_table_is_printable_and_complete() -> None:
    table = transition_table_markdown()
    assert table.count("\n") == len(TRANSITIONS) + 2
    for phase in Phase:
        if phase not in {Phase.COMPLETED, Phase.STOPPED, Phase.ABORTED, Phase.FAULT}:
            assert any(p is phase for p, _ in TRANSITIONS), phase


def test_a_trigger_not_in_the_table_is_refused_and_logged() -> None:
    device = SimulatedDevice(VirtualPatient.from_seed(1, Region.PALMS, 30.0))
    plan = SessionPlan.from_protocol(
        recommend_protocol(Region.PALMS, Solution.TAP_WATER, 30.0), compliance_V=60.0
    )
    controller = SessionController(device, plan)
    from ionto.device.controller import Trigger

    assert controller.fire(Trigger.AT_TARGET) is False
    assert controller.record.phase is Phase.IDLE
    assert controller.record.events[-1].code == "trigger_refused"


# --- Safety properties over random patients, movements and faults ----------------------------
def run_sampled(
    seed: int,
    region: Region,
    age: float,
    waveform: Waveform,
    lifts: list[tuple[float, float]],
    inputs: list[ScheduledInput],
    minutes: float = 1.0,
) -> tuple[SessionPlan, list[DeviceSample], list[str], Phase]:
    patient = VirtualPatient.from_seed(seed, region, age)
    for t_s, duration_s in lifts:
        patient = patient.lift(t_s, duration_s)
    protocol = recommend_protocol(region, Solution.TAP_WATER, age)
    plan = SessionPlan.from_protocol(
        protocol, minutes=minutes, waveform=waveform, compliance_V=60.0
    )
    plan = replace(plan, contact_timeout_s=20.0)
    duty = 0.5 if waveform is Waveform.PULSED_DC else None
    device = SimulatedDevice(patient, waveform, duty_cycle=duty, sample_hz=1000)
    controller = SessionController(device, plan)
    record = controller.run(InputSource(inputs), pain_source=device)
    return plan, controller.samples, codes(record.events), record.phase


session_cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10_000),
        "region": st.sampled_from([Region.PALMS, Region.SOLES]),
        "age": st.sampled_from([9.0, 34.0, 70.0]),
        "waveform": st.sampled_from([Waveform.DC, Waveform.PULSED_DC]),
        "lifts": st.lists(
            st.tuples(st.floats(5.0, 80.0), st.floats(0.05, 4.0)),
            max_size=2,
            unique_by=lambda x: round(x[0]),
        ).map(lambda xs: sorted(xs)),
        "inputs": st.lists(
            st.builds(
                ScheduledInput,
                tick=st.integers(2_000, 90_000),
                kind=st.sampled_from(
                    [SessionInput.PAIN, SessionInput.STOP, SessionInput.HOST_LOSS]
                ),
            ),
            max_size=2,
        ),
    }
)


# Each example runs a whole session sampled at every tick (~1 s): no shrinking, which would
# rerun sessions for minutes; a failure prints its case, and @example pins it afterwards.
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase_.explicit, Phase_.reuse, Phase_.generate],
)
@given(case=session_cases)
def test_safety_rules_hold_at_every_tick(case: dict[str, object]) -> None:
    lifts: list[tuple[float, float]] = case["lifts"]  # type: ignore[assignment]
    # Lifts must not overlap: keep them apart by their duration plus the transitions.
    spaced: list[tuple[float, float]] = []
    for t_s, d_s in lifts:
        if not spaced or t_s > spaced[-1][0] + spaced[-1][1] + 2.0:
            spaced.append((t_s, d_s))
    plan, samples, events, phase = run_sampled(
        case["seed"],  # type: ignore[arg-type]
        case["region"],  # type: ignore[arg-type]
        case["age"],  # type: ignore[arg-type]
        case["waveform"],  # type: ignore[arg-type]
        spaced,
        case["inputs"],  # type: ignore[arg-type]
    )
    assert phase in {Phase.COMPLETED, Phase.STOPPED, Phase.ABORTED, Phase.FAULT}
    ceiling = min(plan.limit_uA, DEFAULT_BUILD.ceiling_uA)
    step = DEFAULT_BUILD.max_step_uA(plan.slew_uA_per_s)
    by_tick = {s.tick: s for s in samples}
    previous: DeviceSample | None = None
    for s in samples:
        # Never above the session limit nor the absolute ceiling, in any state.
        assert abs(s.current_uA) <= ceiling + 1, s
        # Output only after contact, from zero: no current while waiting for contact.
        if s.state in (DeviceState.IDLE, DeviceState.WAIT_CONTACT):
            assert abs(s.current_uA) <= DEFAULT_BUILD.sense_uA, s
        if previous is not None and s.tick == previous.tick + 1:
            # No rise faster than the slew limit (a cut to zero is always allowed; the
            # contact-sense current of at most 100 µA is not output).
            if abs(s.current_uA) > DEFAULT_BUILD.sense_uA:
                assert abs(s.current_uA) - abs(previous.current_uA) <= step + 2, (previous, s)
            # A reversal passes through zero: no sign change between neighbouring ticks
            # unless one of them is at zero.
            if previous.current_uA * s.current_uA < 0:
                raise AssertionError(f"polarity flipped without passing zero: {previous} {s}")
        previous = s
    # A lifted limb: the current is below 0.5 mA before the limb is out of the water (the
    # issue's 10 ms after it, with room to spare; test_lift_cut.py checks the firmware's
    # output over random lifts, fast ones included).
    for t_s, _ in spaced:
        start = round(t_s * 1000)
        if start + 400 in by_tick:  # the session was still running then
            out = [by_tick[t] for t in range(start, start + 400) if t in by_tick]
            assert any(abs(s.current_uA) < 500 for s in out)
            first_low = next(s.tick for s in out if abs(s.current_uA) < 500)
            # The movement itself takes 0.1–0.3 s (patients.py): time counts from the
            # moment the wetted area starts to shrink.
            assert first_low - start <= 300 + 10, (t_s, first_low)
    if "host_lost" in events:
        assert abs(samples[-1].current_uA) <= ZERO_UA


def test_the_committed_state_machine_page_matches_the_code() -> None:
    from pathlib import Path

    from ionto.device.controller import state_machines_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "session-controller.md"
    assert doc.read_text() == state_machines_markdown(), (
        "docs/session-controller.md is stale: regenerate it with "
        "python -c 'from ionto.device.controller import state_machines_markdown as m; "
        'print(m(), end="")\' > docs/session-controller.md'
    )


@settings(max_examples=8, deadline=None, phases=[Phase_.explicit, Phase_.reuse, Phase_.generate])
@given(
    seed=st.integers(0, 100_000),
    minutes=st.sampled_from([5.0, 10.0, 20.0]),
    region=st.sampled_from([Region.PALMS, Region.SOLES]),
    age=st.sampled_from([10.0, 34.0, 80.0]),
    reversal=st.sampled_from([Reversal.HALFWAY, Reversal.NONE]),
)
def test_the_planned_dose_is_delivered_within_2_percent_without_incidents(
    seed: int, minutes: float, region: Region, age: float, reversal: Reversal
) -> None:
    outcome = run_session(
        SessionRequest(seed=seed, minutes=minutes, region=region, age_years=age, reversal=reversal)
    )
    if outcome.record.pain_reports:
        return  # the patient's own pain report is an incident: the plan changed
    forward, reverse = outcome.record.delivered_mA_min()
    assert outcome.state == "completed"
    assert abs(forward + reverse - outcome.planned_mA_min) / outcome.planned_mA_min < 0.02


def test_a_current_the_skin_never_lets_through_still_ends_the_session() -> None:
    # Very soft water: the compliance voltage holds the current below the target for the whole
    # session, so the dose cannot be reached; each polarity ends on its time budget instead.
    outcome = run_session(SessionRequest(minutes=10, water_uS_cm=10.0))
    events = codes(outcome.record.events)
    assert outcome.state == "completed"
    assert events.count("dose_short") == 2
    forward, reverse = outcome.record.delivered_mA_min()
    assert 0 < forward + reverse < outcome.planned_mA_min


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_a_short_session_doses_both_polarities(seed: int) -> None:
    """A one-minute session: the reversed polarity's clock also holds the first polarity's
    ramp down, so its time budget must too (else it ran out before its dose: 15.1 / 11.25
    mA·min with a dose_short event for seed 3, before the fix)."""
    outcome = run_session(SessionRequest(seed=seed, minutes=1.0))
    forward, reverse = outcome.record.delivered_mA_min()
    half = outcome.planned_mA_min / 2
    assert outcome.state == "completed"
    assert "dose_short" not in [e.code for e in outcome.record.events]
    assert forward == pytest.approx(half, rel=0.02)
    assert reverse == pytest.approx(half, rel=0.02)
