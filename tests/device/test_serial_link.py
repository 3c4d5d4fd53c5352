"""The serial driver against the simulator on a real pseudo-terminal, through pyserial.

No mocks: :class:`PtyDevice` serves the wire protocol on the master side of a pty from its own
thread, and :class:`SerialLink` opens the slave tty with pyserial, as it would open a board's
port. Device time runs 50× real time (lock-step) except where a test is about real time.
"""

from __future__ import annotations

import itertools
import os
import select
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ionto.device.controller import InputSource, Phase, SessionController, SessionPlan, Trigger
from ionto.device.firmware import DEFAULT_BUILD, CommandResult, ResultCode
from ionto.device.link import DeviceLink, DeviceSample
from ionto.device.patients import VirtualPatient
from ionto.device.pty_device import (
    ACK_CODES,
    REFUSAL_REASONS,
    PtyDevice,
    wire_reply,
)
from ionto.device.serial_link import (
    NO_REPLY,
    TICK_MODULUS,
    DeviceSilentError,
    SerialLink,
    SerialLinkError,
    trapezoid_charge,
    unwrap_tick,
)
from ionto.device.session import SessionRequest, build_plan
from ionto.device.simulator import SimulatedDevice
from ionto.device.wire import (
    Ack,
    AckCode,
    DeviceState,
    FaultCode,
    MessageType,
    Nack,
    Polarity,
    RejectReason,
    Reverse,
    SetLimits,
    SetTarget,
    Start,
    WaveformCode,
)
from ionto.therapy.vocabulary import Region

SPEED = 50.0
SEED = 3
LIMITS = SetLimits(
    session_limit_uA=10_000,
    compliance_mV=60_000,
    slew_uA_per_s=1_000,  # the firmware's fastest: 2 mA in 2 s
    heartbeat_timeout_ms=500,
    waveform=WaveformCode.DC,
)


def patient(seed: int = SEED) -> VirtualPatient:
    return VirtualPatient.from_seed(seed, Region.PALMS, 34.0)


@pytest.fixture
def device() -> Iterator[PtyDevice]:
    with PtyDevice(patient(), speed=SPEED) as dev:
        yield dev


@pytest.fixture
def link(device: PtyDevice) -> Iterator[SerialLink]:
    with SerialLink(device.port_name) as opened:
        yield opened


def run_for(link: SerialLink, ms: int) -> list[DeviceSample]:
    """Device time on by ``ms``, through every early return; the samples on the way."""
    end = link.tick + ms
    samples: list[DeviceSample] = []
    while link.tick < end:
        samples.extend(link.run_until(end).samples)
    return samples


def run_until_state(link: SerialLink, state: DeviceState, within_ms: int) -> DeviceSample:
    end = link.tick + within_ms
    while link.tick < end:
        last = link.run_until(end).last
        if last.state is state:
            return last
    raise AssertionError(f"device not {state.name} within {within_ms} ms: {link.last_sample}")


def start_output(link: SerialLink, target_uA: int = 2_000) -> None:
    assert link.send(LIMITS).accepted
    assert link.send(Start(polarity=Polarity.FORWARD)).accepted
    assert link.send(SetTarget(target_uA=target_uA)).accepted
    run_until_state(link, DeviceState.ON, within_ms=10_000)


# --- Commands and replies ---------------------------------------------------------------------
def test_commands_round_trip_with_acks_that_say_what_is_in_force(link: SerialLink) -> None:
    before = link.send(Start(polarity=Polarity.FORWARD))
    assert (before.accepted, before.code) == (False, RejectReason.NO_LIMITS)

    limits = link.send(LIMITS)
    assert (limits.accepted, limits.code, limits.value_uA) == (True, AckCode.APPLIED, 10_000)
    assert link.send(Start(polarity=Polarity.FORWARD)).accepted
    again = link.send(Start(polarity=Polarity.FORWARD))
    assert (again.accepted, again.code) == (True, AckCode.ALREADY_IN_FORCE)
    target = link.send(SetTarget(target_uA=2_000))
    assert (target.accepted, target.code, target.value_uA) == (True, AckCode.APPLIED, 2_000)
    above = link.send(SetTarget(target_uA=15_000))
    assert (above.accepted, above.code, above.value_uA) == (True, AckCode.CLAMPED_TO_LIMIT, 10_000)
    assert link.stats().resends == 0


def test_every_firmware_result_has_exactly_one_wire_answer() -> None:
    for code in ResultCode:
        assert (code in ACK_CODES) != (code in REFUSAL_REASONS), code
        accepted = code in ACK_CODES
        reply = wire_reply(7, MessageType.SET_TARGET, CommandResult(accepted, code, 5), 8)
        assert isinstance(reply, Ack if accepted else Nack)
        if isinstance(reply, Ack):
            assert int(reply.code) == int(code)  # the firmware's and the wire's codes agree


def test_samples_decode_at_the_documented_rates(link: SerialLink) -> None:
    idle = run_for(link, 1_000)
    assert {s.state for s in idle} == {DeviceState.IDLE}
    assert {b.tick - a.tick for a, b in itertools.pairwise(idle)} == {100}
    start_output(link)
    flowing = run_for(link, 500)
    assert {s.state for s in flowing} == {DeviceState.ON}
    assert {b.tick - a.tick for a, b in itertools.pairwise(flowing)} == {10}
    assert all(s.current_uA == 2_000 and s.polarity is Polarity.FORWARD for s in flowing)
    assert link.tick == flowing[-1].tick + 1


def test_charge_is_integrated_per_polarity_from_the_samples(link: SerialLink) -> None:
    start_output(link)
    progress = link.run_until(link.tick + 1_000)
    assert progress.reverse_uA_ms == 0
    # 2 mA for 1 s of device time = 2,000,000 µA·ms, to a sample period either side.
    assert abs(progress.forward_uA_ms - 2_000_000) <= 2 * 10 * 2_000
    assert progress.peak_uA == 2_000


def test_run_until_waits_in_real_time_on_a_real_time_device() -> None:
    with PtyDevice(patient()) as device, SerialLink(device.port_name) as link:
        began = time.monotonic()
        link.run_until(link.tick + 300)
        elapsed_s = time.monotonic() - began
    assert 0.25 <= elapsed_s <= 1.0


def test_a_link_is_a_device_link(link: SerialLink) -> None:
    as_link: DeviceLink = link
    assert as_link.tick == link.last_sample.tick + 1


# --- A whole session -------------------------------------------------------------------------
def short_plan() -> SessionPlan:
    _, plan, _ = build_plan(SessionRequest(minutes=1, current_mA=5, seed=SEED))
    return replace(plan, ramp_up_s=10.0, ramp_down_s=10.0)


def test_a_session_over_the_serial_link_goes_through_the_same_phases_as_in_process() -> None:
    plan = short_plan()
    simulated = SimulatedDevice(patient(), plan.waveform)
    in_process = SessionController(simulated, plan).run(InputSource(), pain_source=simulated)
    assert in_process.phase is Phase.COMPLETED

    with (
        PtyDevice(patient(), plan.waveform, speed=SPEED) as device,
        SerialLink(device.port_name) as link,
    ):
        over_serial = SessionController(link, plan).run(InputSource())
        faults = list(link.faults)

    def steps(transitions: list[tuple[float, Phase, object, Phase]]) -> list[object]:
        return [(before, trigger, after) for _, before, trigger, after in transitions]

    assert steps(over_serial.transitions) == steps(in_process.transitions)
    assert over_serial.phase is Phase.COMPLETED
    # Timing may differ: the controller checks the dose once a second, the samples come every
    # 10 ms, and a command reaches the device a little later over the line.
    for (t_serial, *_), (t_local, *_) in zip(
        over_serial.transitions, in_process.transitions, strict=True
    ):
        assert abs(t_serial - t_local) < 2.5
    serial_dose = sum(over_serial.delivered_mA_min())
    local_dose = sum(in_process.delivered_mA_min())
    assert abs(serial_dose - local_dose) / local_dose < 0.02
    assert over_serial.peak_uA <= plan.limit_uA
    assert [f.code for f in faults] == []


def test_a_lifted_hand_over_the_serial_link_pauses_and_resumes_as_in_process() -> None:
    plan = short_plan()
    lifting = patient().lift(25.0, 3.0)  # out of the water for 3 s while treating
    simulated = SimulatedDevice(lifting, plan.waveform)
    in_process = SessionController(simulated, plan).run(InputSource(), pain_source=simulated)

    with (
        PtyDevice(lifting, plan.waveform, speed=SPEED) as device,
        SerialLink(device.port_name) as link,
    ):
        over_serial = SessionController(link, plan).run(InputSource(), pain_source=device)

    def steps(transitions: list[tuple[float, Phase, object, Phase]]) -> list[object]:
        return [(before, trigger, after) for _, before, trigger, after in transitions]

    assert (Phase.TREAT, Trigger.CONTACT_LOST, Phase.PAUSED) in steps(in_process.transitions)
    assert steps(over_serial.transitions) == steps(in_process.transitions)
    assert [e.code for e in over_serial.events] == [e.code for e in in_process.events]
    assert over_serial.phase is Phase.COMPLETED
    assert over_serial.peak_uA <= plan.limit_uA


# --- A noisy line -------------------------------------------------------------------------------
def test_garbage_on_the_line_both_ways_is_survived(device: PtyDevice, link: SerialLink) -> None:
    start_output(link)
    status = device.status()
    link.port.write(b"\x13\x37 not a frame \xff\xfe" * 8 + b"\x00\x05\x01\x02")
    device.inject(b"noise\x00\x03\xaa\xbb\x00" + bytes(range(1, 200)))
    samples = run_for(link, 500)
    assert samples
    assert all(s.state is DeviceState.ON for s in samples)
    reply = link.send(SetTarget(target_uA=2_000))
    assert reply.accepted
    assert link.stats().rejected_frames >= 2
    assert device.stats().bad_frames >= 1
    assert FaultCode.BAD_FRAME in {f.code for f in link.faults}
    after = device.status()
    assert (after.state, after.target_uA, after.polarity) == (
        status.state,
        status.target_uA,
        status.polarity,
    )


def test_random_garbage_never_changes_the_output_nor_breaks_the_link() -> None:
    noise = st.binary(min_size=1, max_size=300)

    # Between examples the host neither reads nor sends while hypothesis works; lock-step
    # holds device time meanwhile, so the 0.5 s heartbeat timeout never runs out at 50×.
    with PtyDevice(patient(), speed=SPEED) as device, SerialLink(device.port_name) as link:
        start_output(link)
        status = device.status()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(to_device=noise, to_host=noise)
        def garbage_is_harmless(to_device: bytes, to_host: bytes) -> None:
            link.port.write(to_device)
            device.inject(to_host)
            run_for(link, 50)
            assert link.send(SetTarget(target_uA=status.target_uA)).accepted
            now = device.status()
            assert (now.state, now.target_uA, now.polarity, now.limit_uA) == (
                status.state,
                status.target_uA,
                status.polarity,
                status.limit_uA,
            )
            assert link.last_sample.current_uA == status.target_uA

        garbage_is_harmless()


def test_a_lost_command_is_sent_again_with_a_new_sequence_number(
    device: PtyDevice, link: SerialLink
) -> None:
    assert link.send(LIMITS).accepted
    device.lose_host_frames(1, MessageType.START)
    reply = link.send(Start(polarity=Polarity.FORWARD))
    assert reply.accepted
    assert link.stats().resends == 1
    starts = [frame.seq for frame in link.sent if isinstance(frame.message, Start)]
    assert len(starts) == 2
    assert starts[1] > starts[0]
    assert device.stats().lost_host_frames == 1
    assert device.status().state is DeviceState.WAIT_CONTACT


def test_a_lost_ack_does_not_reverse_twice(device: PtyDevice, link: SerialLink) -> None:
    start_output(link)
    device.lose_replies(1, MessageType.REVERSE)
    reply = link.send(Reverse(to_polarity=Polarity.REVERSE))
    assert reply.accepted  # the second try's Ack
    assert link.stats().resends >= 1
    assert device.stats().lost_replies == 1
    last = run_until_state(link, DeviceState.ON, within_ms=10_000)
    assert last.polarity is Polarity.REVERSE
    assert last.current_uA == -2_000
    samples = run_for(link, 3_000)
    assert all(s.polarity is Polarity.REVERSE and s.state is DeviceState.ON for s in samples)


def test_commands_given_up_after_the_last_resend_say_so(
    device: PtyDevice, link: SerialLink
) -> None:
    device.lose_host_frames(10, MessageType.SET_TARGET)
    reply = link.send(SetTarget(target_uA=1_000))
    assert (reply.accepted, reply.code) == (False, NO_REPLY)
    assert link.stats().no_reply == 1
    assert device.status().target_uA == 0


def test_a_replayed_frame_is_refused_and_changes_nothing(
    device: PtyDevice, link: SerialLink
) -> None:
    start_output(link, target_uA=1_000)
    assert link.last_sent is not None
    old_target = link.last_sent  # SetTarget(1 mA), already carried out
    assert link.send(SetTarget(target_uA=2_000)).accepted
    run_until_state(link, DeviceState.ON, within_ms=5_000)
    before = device.status()

    link.port.write(old_target.raw)  # the same bytes again: a replay
    run_for(link, 1_000)

    refusals = [n for n in link.unsolicited if isinstance(n, Nack)]
    assert [(n.nacked_seq, n.reason) for n in refusals] == [
        (old_target.seq, RejectReason.OUT_OF_ORDER)
    ]
    after = device.status()
    assert (after.target_uA, after.state, after.level_uA) == (2_000, DeviceState.ON, 2_000)
    assert after.target_uA == before.target_uA
    assert link.last_sample.current_uA == 2_000


def test_a_new_host_resyncs_to_the_device_sequence_numbers(device: PtyDevice) -> None:
    with SerialLink(device.port_name) as first:
        for _ in range(5):
            assert first.send(LIMITS).accepted
    with SerialLink(device.port_name) as second:  # starts again at 0: the device's past
        assert second.send(LIMITS).accepted
        assert second.stats().resyncs == 1


def test_a_silent_device_is_reported_not_waited_for_forever() -> None:
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        began = time.monotonic()
        with pytest.raises(DeviceSilentError):
            SerialLink(name, silence_s=0.2)
        assert time.monotonic() - began < 1.0
    finally:
        os.close(master)
        os.close(slave)


# --- The watchdog -------------------------------------------------------------------------------
def test_when_the_host_stops_heartbeating_the_device_ramps_to_zero_by_itself(
    link: SerialLink,
) -> None:
    start_output(link)
    link.heartbeats = False
    assert link.last_sent is not None
    quiet_from = link.last_sent.tick  # the device received the last frame at this tick or later
    samples = run_for(link, 3_000)
    watchdog = [s for s in samples if s.fault is FaultCode.WATCHDOG]
    assert watchdog, "the watchdog never fired"
    # It fires once the heartbeat timeout has passed, not before.
    assert watchdog[0].tick - quiet_from >= LIMITS.heartbeat_timeout_ms - 20
    # A ramp down, not a cut: no step larger than the firmware's safe ramp allows per sample.
    ramp = [s.current_uA for s in samples if s.tick >= watchdog[0].tick]
    per_sample_uA = DEFAULT_BUILD.safe_ramp_down_uA_per_s * 10 // 1000 + 200
    assert all(a - b <= per_sample_uA for a, b in itertools.pairwise(ramp))
    zero = next(s for s in samples if s.tick >= watchdog[0].tick and s.current_uA == 0)
    assert zero.tick - quiet_from <= DEFAULT_BUILD.watchdog_to_zero_ms
    assert samples[-1].state is DeviceState.LATCHED_FAULT
    assert samples[-1].current_uA == 0
    assert FaultCode.WATCHDOG in {f.code for f in link.faults}


# --- Pure parts, as properties ------------------------------------------------------------------
@given(
    previous=st.integers(min_value=0, max_value=1 << 40),
    step=st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1),
)
def test_ticks_unwrap_across_the_u32_wrap(previous: int, step: int) -> None:
    actual = previous + step
    assert unwrap_tick(actual % TICK_MODULUS, previous) == actual


currents = st.integers(min_value=-30_000, max_value=30_000)
output_states = st.sampled_from([DeviceState.RAMP_UP, DeviceState.ON, DeviceState.RAMP_DOWN])


@given(a=currents, b=currents, span=st.integers(min_value=1, max_value=1_000), state=output_states)
def test_trapezoid_charge_is_the_signed_area_split_by_polarity(
    a: int, b: int, span: int, state: DeviceState
) -> None:
    def sample(tick: int, current_uA: int) -> DeviceSample:
        polarity = Polarity.FORWARD if current_uA >= 0 else Polarity.REVERSE
        return DeviceSample(tick, current_uA, 0, polarity, state, FaultCode.NONE)

    forward2, reverse2 = trapezoid_charge(sample(0, a), sample(span, b))
    assert forward2 >= 0
    assert reverse2 >= 0
    assert forward2 - reverse2 == (a + b) * span
    if a >= 0 and b >= 0:
        assert reverse2 == 0


def test_the_contact_sense_current_is_not_treatment() -> None:
    waiting = DeviceSample(0, 100, 300, Polarity.FORWARD, DeviceState.WAIT_CONTACT, FaultCode.NONE)
    later = replace(waiting, tick=10)
    assert trapezoid_charge(waiting, later) == (0, 0)


# --- Lifetime ------------------------------------------------------------------------------------
def test_a_device_that_goes_away_is_an_error_on_the_link_not_a_hang() -> None:
    device = PtyDevice(patient(), speed=SPEED)
    with SerialLink(device.port_name, silence_s=0.5) as link:
        assert link.send(LIMITS).accepted
        device.close()  # the cable is pulled
        began = time.monotonic()
        with pytest.raises(SerialLinkError):
            run_for(link, 10_000)
        assert time.monotonic() - began < 1.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_closing_leaves_no_thread_and_no_file_descriptor() -> None:
    threads, fds = threading.active_count(), open_fds()
    for _ in range(3):
        with PtyDevice(patient(), speed=SPEED) as device, SerialLink(device.port_name) as link:
            assert link.send(LIMITS).accepted
            name = device.port_name
    assert threading.active_count() == threads
    assert open_fds() == fds
    assert not os.path.exists(name) or not _is_served(name)


def _is_served(name: str) -> bool:
    """Whether anything still answers on the tty (a closed pty's slave path is gone or dead)."""
    try:
        fd = os.open(name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        readable, _, _ = select.select([fd], [], [], 0.2)
        if not readable:
            return False
        try:
            return bool(os.read(fd, 100))
        except OSError:
            return False
    finally:
        os.close(fd)
