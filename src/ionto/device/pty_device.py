"""The simulator as a fake serial device on a pseudo-terminal.

A :class:`PtyDevice` opens a pty pair, puts it in raw mode (no echo, no line editing, 8-bit
clean, as a UART), and serves the wire protocol on the master side from a background thread:
the reference firmware (:mod:`ionto.device.firmware`) drives a virtual patient
(:class:`~ionto.device.simulator.SimulatedDevice`), and :attr:`PtyDevice.port_name`, the slave
tty, is what pyserial opens — so the real serial driver (:mod:`ionto.device.serial_link`) is
tested over a real tty, with no mock between it and the bytes.

What the device side does is what docs/wire-protocol.md asks of a board:

* every host frame is checked in the documented order (:class:`FrameDecoder`, then
  :class:`SequenceGuard`); a frame rejected at steps 1–11 changes nothing; from step 6 on the
  device answers with a ``Nack`` and its reason; a frame whose CRC did not hold is answered by
  silence and reported as ``Fault(bad_frame)`` at most once a second;
* an accepted command goes to :meth:`Firmware.apply` and is answered with an ``Ack`` (how it
  was carried out) or a ``Nack`` (why not), mapped by :data:`ACK_CODES` and
  :data:`REFUSAL_REASONS`;
* a ``Sample`` every 10 ms while output may flow and every 100 ms at rest; a ``Fault`` once
  when a fault appears.

**Time.** Device time follows the wall clock at ``speed`` × real time. With ``speed=1.0`` (the
default) it is a real device: time runs whatever the host does, and a host that does not read
loses samples (an overrun). Faster than real time (``speed=50.0``: 50 device seconds a
second, so that tests of whole sessions finish fast) it runs in **lock-step** with the host:

* device time waits while the host has not read what the device sent (more than
  :data:`LOCKSTEP_BACKLOG_BYTES` unread on the tty), so it can never run ahead of a host that
  is merely slow — descheduled, busy between two calls, or starved on a loaded machine. Without
  this, 10 ms of host scheduling jitter would be half a second of device time at 50× and would
  trip the watchdog of a host that is perfectly alive. A host that keeps reading but stops
  sending (the watchdog test) still sees device time run on;
* in every mode the thread never moves device time on by more than :data:`MAX_STEP_TICKS`
  without reading its input, so every command is applied within the reply deadline of device
  time; and if the thread itself is held up, device time slips instead of leaping ahead past
  frames it has not read.

**Line faults, on purpose** (as LoopKit's mock pump fails on purpose):
:meth:`PtyDevice.lose_host_frames` and :meth:`PtyDevice.lose_replies` lose frames on the line,
and :meth:`PtyDevice.inject` puts raw bytes (garbage) on the line towards the host.
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
import tty
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import cast

from ionto.device.firmware import (
    DEFAULT_BUILD,
    CommandResult,
    FirmwareBuild,
    FirmwareStatus,
    ResultCode,
)
from ionto.device.link import DeviceSample
from ionto.device.patients import VirtualPatient
from ionto.device.simulator import SimulatedDevice
from ionto.device.wire import (
    BAD_FRAME_REPORT_INTERVAL_MS,
    HOST_TO_DEVICE,
    IDLE_SAMPLE_PERIOD_MS,
    MIN_BODY_BYTES,
    REPLY_DEADLINE_MS,
    SAMPLE_PERIOD_MS,
    U32_MAX,
    WIRE_MAX_CURRENT_UA,
    Ack,
    AckCode,
    DecodedFrame,
    DeviceMessage,
    DeviceState,
    Fault,
    FaultCode,
    FrameDecoder,
    HostMessage,
    MessageType,
    Nack,
    Rejected,
    RejectReason,
    Sample,
    SequenceCounter,
    SequenceGuard,
    encode,
    nack_for,
)
from ionto.therapy.vocabulary import Waveform

#: The firmware's accepted results as the wire's AckCode (the same numbers, by design).
ACK_CODES: MappingProxyType[ResultCode, AckCode] = MappingProxyType(
    {
        ResultCode.OK: AckCode.APPLIED,
        ResultCode.ALREADY_IN_FORCE: AckCode.ALREADY_IN_FORCE,
        ResultCode.CLAMPED_TO_CEILING: AckCode.CLAMPED_TO_CEILING,
        ResultCode.CLAMPED_TO_LIMIT: AckCode.CLAMPED_TO_LIMIT,
        ResultCode.NOT_RAISED_IN_SESSION: AckCode.NOT_RAISED_IN_SESSION,
    }
)
#: The firmware's refusals as the wire's Nack reasons (docs/wire-protocol.md §6). A value the
#: wire allows but the firmware refuses is one this device cannot produce: unsupported_value.
REFUSAL_REASONS: MappingProxyType[ResultCode, RejectReason] = MappingProxyType(
    {
        ResultCode.REFUSED_IN_STATE: RejectReason.NOT_ALLOWED_NOW,
        ResultCode.NO_WAVEFORM: RejectReason.NO_LIMITS,
        ResultCode.BAD_VALUE: RejectReason.UNSUPPORTED_VALUE,
        ResultCode.WAVEFORM_LOCKED: RejectReason.LOCKED_IN_SESSION,
        ResultCode.OUTPUT_NOT_ZERO: RejectReason.OUTPUT_NOT_ZERO,
    }
)
#: Commands whose Ack carries the value in force (§4.6); the others carry 0.
VALUE_IN_ACK = frozenset({MessageType.SET_LIMITS, MessageType.SET_TARGET})
#: States sampled every 10 ms (output may flow); the others every 100 ms (§4.8).
FAST_SAMPLE_STATES = frozenset(
    {
        DeviceState.WAIT_CONTACT,
        DeviceState.RAMP_UP,
        DeviceState.ON,
        DeviceState.RAMP_DOWN,
        DeviceState.REVERSING,
    }
)

#: Device time moves on by at most this much between two reads of the input: the reply
#: deadline (20 ms), so a command is always applied within it, in device time.
MAX_STEP_TICKS = REPLY_DEADLINE_MS
#: Further behind the wall clock than this, device time slips rather than catching up
#: (derived: a fifth of a second, far shorter than any heartbeat timeout).
MAX_LAG_TICKS = 200
#: Lock-step: device time waits while more than this is unread by the host (derived: 16
#: samples, at most 160 ms of device time while output flows — with the host's heartbeat every
#: quarter timeout, a reading host's silence never comes near even the shortest timeout).
SAMPLE_FRAME_BYTES = MIN_BODY_BYTES + Sample.LAYOUT.size + 3  # COBS code byte, 2 delimiters
LOCKSTEP_BACKLOG_BYTES = 16 * SAMPLE_FRAME_BYTES
#: Bytes waiting to go to the host beyond which a new frame is dropped, as a UART whose host
#: does not read overruns (derived: a few kilobytes, ~160 samples).
TX_LIMIT_BYTES = 4096
#: The longest the thread sleeps (s): keeps close() prompt.
MAX_SLEEP_S = 0.02
#: Fastest lock-step (derived: beyond this one thread cannot keep up with 100 Hz samples).
MAX_SPEED = 1000.0
READ_CHUNK_BYTES = 4096


class PtyDeviceError(RuntimeError):
    """The simulated device's thread stopped with an error."""


@dataclass(frozen=True, slots=True)
class PtyDeviceStats:
    """The device side's counters (a snapshot)."""

    accepted: int  # host frames carried out (Ack)
    refused: int  # host frames answered with a Nack
    bad_frames: int  # dropped unanswered (steps 1–5: garbage, truncated, bad CRC)
    lost_host_frames: int  # lost on the line on purpose (lose_host_frames)
    lost_replies: int  # lost on the line on purpose (lose_replies)
    samples: int
    faults: int
    overruns: int  # frames dropped because the host did not read
    slips: int  # times device time fell behind and slipped
    holds: int  # device-loop turns in which lock-step held device time for the host
    reasons: tuple[tuple[str, int], ...]  # every Nack and drop by reason name


def wire_reply(
    seq: int, type_code: MessageType, result: CommandResult, expected_seq: int
) -> Ack | Nack:
    """The Ack or Nack for a command the firmware judged (§3 step 12–13)."""
    if result.accepted:
        value = result.value_uA if type_code in VALUE_IN_ACK else 0
        return Ack(
            acked_seq=seq,
            acked_type=type_code,
            code=ACK_CODES[result.code],
            value_uA=min(max(value, 0), WIRE_MAX_CURRENT_UA),
        )
    return Nack(
        nacked_seq=seq,
        nacked_type=int(type_code),
        reason=REFUSAL_REASONS[result.code],
        expected_seq=expected_seq,
    )


def _wire_sample(sample: DeviceSample) -> Sample:
    return Sample(
        tick_ms=sample.tick & U32_MAX,
        current_uA=sample.current_uA,
        voltage_mV=sample.voltage_mV,
        polarity=sample.polarity,
        state=sample.state,
        fault=sample.fault,
    )


class PtyDevice:
    """Firmware + virtual patient on a pseudo-terminal, served by a background thread.

    Use as a context manager, or call :meth:`close`: the thread stops and both ends of the pty
    are closed.
    """

    def __init__(
        self,
        patient: VirtualPatient,
        waveform: Waveform = Waveform.DC,
        *,
        duty_cycle: float | None = None,
        build: FirmwareBuild = DEFAULT_BUILD,
        speed: float = 1.0,
        lockstep: bool | None = None,
    ) -> None:
        if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
            raise ValueError(f"speed must be above 0 and at most {MAX_SPEED:g}, got {speed}")
        self.speed = speed
        #: Device time waits for a host that has not read (default: faster than real time).
        self.lockstep = speed > 1.0 if lockstep is None else lockstep
        self._sim = SimulatedDevice(patient, waveform, duty_cycle=duty_cycle, build=build)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._decoder = FrameDecoder(accepts=HOST_TO_DEVICE)
        self._guard = SequenceGuard()
        self._counter = SequenceCounter()
        self._tx = bytearray()
        self._lose_host_frames = 0
        self._lose_kind: MessageType | None = None
        self._lose_replies = 0
        self._lose_reply_kind: MessageType | None = None
        self._fault_seen = FaultCode.NONE
        self._bad_frame_reported: int | None = None
        self._counts: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        master, slave = os.openpty()
        try:
            # Raw on both ends: a UART has no echo (the host would read its own frames back),
            # no line editing, no CR/LF translation, and all 8 bits.
            tty.setraw(slave)
            tty.setraw(master)
            os.set_blocking(master, False)
            self.port_name = os.ttyname(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master = master
        # Held open for the device's lifetime, as a USB-serial adapter stays plugged in: with no
        # slave open, the master would read EIO whenever the host closes its port.
        self._slave = slave
        self._origin_s = time.monotonic()
        self._origin_tick = 0
        self._held = False
        self._written = 0  # bytes written to the pty
        self._written_when_drained = 0  # ... when the host last had nothing left to read
        self._thread = threading.Thread(
            target=self._serve, name=f"PtyDevice {self.port_name}", daemon=True
        )
        self._thread.start()

    # --- for tests and demonstrations ----------------------------------------------------
    @property
    def simulated(self) -> SimulatedDevice:
        """The simulated device inside (read it under :meth:`status` or after close)."""
        return self._sim

    def status(self) -> FirmwareStatus:
        """The firmware's state now (a consistent snapshot)."""
        with self._lock:
            return self._sim.firmware.status()

    @property
    def last_sample(self) -> DeviceSample:
        with self._lock:
            return self._sim.last_sample

    def stats(self) -> PtyDeviceStats:
        with self._lock:
            counts = self._counts
            return PtyDeviceStats(
                accepted=counts["accepted"],
                refused=counts["refused"],
                bad_frames=counts["bad_frames"],
                lost_host_frames=counts["lost_host_frames"],
                lost_replies=counts["lost_replies"],
                samples=counts["samples"],
                faults=counts["faults"],
                overruns=counts["overruns"],
                slips=counts["slips"],
                holds=counts["holds"],
                reasons=tuple(sorted(self._reasons.items())),
            )

    def next_pain_report(self) -> int | None:
        """The device tick at which the simulated patient will say that it hurts, if they will.

        The patient's voice, not the wire: a nurse hears it and tells the controller, so a
        session controller may take this device as its ``pain_source`` as it takes the
        in-process simulator."""
        with self._lock:
            return self._sim.next_pain_report()

    def take_pain_reports(self, up_to_tick: int) -> list[int]:
        """Pain the simulated patient has reported by ``up_to_tick`` (device ticks)."""
        with self._lock:
            return self._sim.take_pain_reports(up_to_tick)

    def lose_host_frames(self, frames: int, kind: MessageType | None = None) -> None:
        """The next ``frames`` well-formed host frames (of type ``kind``, or of any type) are
        lost on the line: they never arrive."""
        with self._lock:
            self._lose_host_frames = frames
            self._lose_kind = kind

    def lose_replies(self, replies: int, kind: MessageType | None = None) -> None:
        """The next ``replies`` Acks/Nacks (to frames of type ``kind``, or to any) are lost on
        the way back to the host."""
        with self._lock:
            self._lose_replies = replies
            self._lose_reply_kind = kind

    def inject(self, data: bytes) -> None:
        """Put raw bytes on the line towards the host, between two frames (line noise)."""
        with self._lock:
            self._tx += data

    # --- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the thread and close both ends of the pty; raise :class:`PtyDeviceError` if
        the thread had died of an error (so that a test sees it)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._thread.join(timeout=5.0)
        os.close(self._master)
        os.close(self._slave)
        if self._thread.is_alive():
            raise PtyDeviceError("the device thread did not stop within 5 s")
        if self._error is not None:
            raise PtyDeviceError(f"the device thread failed: {self._error!r}") from self._error

    def __enter__(self) -> PtyDevice:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- the thread ----------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select([self._master], [], [], self._sleep_s())
                with self._lock:
                    if readable:
                        self._receive()
                    self._run_clock()
                    self._flush()
        except BaseException as error:  # kept for close(): a thread's error is otherwise lost
            self._error = error

    def _due_tick(self) -> int:
        """Where device time should be now: ``speed`` × the wall time since the origin."""
        elapsed_s = time.monotonic() - self._origin_s
        return self._origin_tick + int(elapsed_s * 1000 * self.speed)

    def _sleep_s(self) -> float:
        """Wall time until the next sample is due (input wakes the thread earlier)."""
        if self._tx or self._held:
            return 0.001  # waiting for the host to read: look again soon
        now = self._sim.tick
        ahead = (now // SAMPLE_PERIOD_MS + 1) * SAMPLE_PERIOD_MS - self._due_tick()
        if ahead <= 0:
            return 0.0
        return min(MAX_SLEEP_S, ahead / (1000 * self.speed))

    def _host_backlog_bytes(self) -> int:
        """At most how many bytes sent the host has not read yet: ours still queued, and what
        was written to the pty since the host last had nothing left to read.

        The tty's own count (FIONREAD) is not enough: bytes written to the master reach the
        slave's queue through the kernel's flip buffer, pushed by a worker thread that a loaded
        machine can hold up for tens of milliseconds, and they are not counted meanwhile. But
        polling the slave when its queue is empty waits for that push (Linux n_tty), so a poll
        that finds nothing to read proves that the host has read everything written so far.
        """
        readable, _, _ = select.select([self._slave], [], [], 0)
        if not readable:
            self._written_when_drained = self._written
        return len(self._tx) + self._written - self._written_when_drained

    def _run_clock(self) -> None:
        sim = self._sim
        self._held = self.lockstep and self._host_backlog_bytes() > LOCKSTEP_BACKLOG_BYTES
        if self._held:
            # Lock-step: device time waits for the host; the wall clock is re-anchored so that
            # no burst of catching up follows.
            self._origin_s = time.monotonic()
            self._origin_tick = sim.tick
            self._counts["holds"] += 1
            return
        due = self._due_tick()
        self._advance_to(min(due, sim.tick + MAX_STEP_TICKS))
        if due - sim.tick > MAX_LAG_TICKS:
            # Held up: let device time slip instead of leaping past unread frames.
            self._origin_s = time.monotonic()
            self._origin_tick = sim.tick
            self._counts["slips"] += 1

    def _advance_to(self, target: int) -> None:
        sim = self._sim
        while sim.tick < target:
            grid = (sim.tick // SAMPLE_PERIOD_MS + 1) * SAMPLE_PERIOD_MS
            last = sim.run_until(min(target, grid)).last
            self._report_fault(last)
            if sim.tick == grid and (
                last.state in FAST_SAMPLE_STATES or grid % IDLE_SAMPLE_PERIOD_MS == 0
            ):
                self._queue(_wire_sample(last))
                self._counts["samples"] += 1

    def _report_fault(self, last: DeviceSample) -> None:
        if last.fault is not self._fault_seen:
            self._fault_seen = last.fault
            if last.fault is not FaultCode.NONE:
                self._queue_fault(last.fault)

    def _queue_fault(self, code: FaultCode) -> None:
        self._queue(Fault(code=code, tick_ms=self._sim.tick & U32_MAX))
        self._counts["faults"] += 1

    # --- receiving -----------------------------------------------------------------------
    def _receive(self) -> None:
        while True:
            try:
                data = os.read(self._master, READ_CHUNK_BYTES)
            except BlockingIOError:
                return
            if not data:
                return
            for result in self._decoder.feed(data):
                if isinstance(result, Rejected):
                    self._on_rejected(result)
                elif self._lost_on_the_line(result):
                    self._counts["lost_host_frames"] += 1
                else:
                    self._on_frame(result)

    def _lost_on_the_line(self, frame: DecodedFrame) -> bool:
        if self._lose_host_frames <= 0:
            return False
        if self._lose_kind is not None and frame.message.TYPE is not self._lose_kind:
            return False
        self._lose_host_frames -= 1
        return True

    def _on_rejected(self, rejected: Rejected) -> None:
        self._reasons[rejected.reason.name.lower()] += 1
        nack = nack_for(rejected, self._guard)
        if nack is not None:
            self._reply(nack)
            return
        self._counts["bad_frames"] += 1
        now = self._sim.tick
        last = self._bad_frame_reported
        if last is None or now - last >= BAD_FRAME_REPORT_INTERVAL_MS:
            self._bad_frame_reported = now
            self._queue_fault(FaultCode.BAD_FRAME)

    def _on_frame(self, frame: DecodedFrame) -> None:
        type_code = frame.message.TYPE
        reason = self._guard.admit(frame.seq)
        if reason is not None:
            self._reasons[reason.name.lower()] += 1
            self._reply(Nack(frame.seq, int(type_code), reason, self._guard.expected_seq))
            return
        firmware = self._sim.firmware
        # The decoder accepts host → device types only, so this is a host command.
        result = firmware.apply(cast(HostMessage, frame.message))
        if not result.accepted:
            self._reasons[REFUSAL_REASONS[result.code].name.lower()] += 1
            # §7: a frame refused at step 12 passed the sequence check and still feeds the
            # watchdog (the host is there, it has only lost track).
            firmware.heartbeat()
        if result.code is ResultCode.CLAMPED_TO_CEILING:
            self._queue_fault(FaultCode.CEILING_REQUEST)
        self._reply(wire_reply(frame.seq, type_code, result, self._guard.expected_seq))

    # --- sending -------------------------------------------------------------------------
    def _reply(self, reply: Ack | Nack) -> None:
        self._counts["accepted" if isinstance(reply, Ack) else "refused"] += 1
        answered = reply.acked_type if isinstance(reply, Ack) else reply.nacked_type
        kind = self._lose_reply_kind
        if self._lose_replies > 0 and (kind is None or answered == kind):
            self._lose_replies -= 1
            self._counts["lost_replies"] += 1
            return
        self._queue(reply)

    def _queue(self, message: DeviceMessage) -> None:
        raw = encode(message, self._counter.take())
        if len(self._tx) + len(raw) > TX_LIMIT_BYTES:
            self._counts["overruns"] += 1
            return
        self._tx += raw

    def _flush(self) -> None:
        if not self._tx:
            return
        try:
            written = os.write(self._master, self._tx)
        except BlockingIOError:
            return
        del self._tx[:written]
        self._written += written
