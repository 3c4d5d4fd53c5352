"""The host's serial driver: a :class:`~ionto.device.link.DeviceLink` over the wire protocol.

The session controller drives a board on a serial port exactly as it drives the in-process
simulator (PyMeasure's adapter/instrument split): pyserial moves the bytes,
:mod:`ionto.device.wire` gives them meaning, and this module turns them into the link's
``send`` / ``run_until`` / ``tick``.

* **Commands.** Every host message gets a new sequence number (:class:`SequenceCounter`), also
  when it is sent again. The link waits ``timeout_s`` for the matching ``Ack`` or ``Nack`` and
  otherwise sends the command again, at most ``resends`` times (docs/wire-protocol.md §7).
  That is safe because every command is idempotent (``Reverse`` names its target polarity), so
  a late ``Ack`` for an earlier try counts as the answer. A ``Nack`` for the sequence number
  (``duplicate``, ``out_of_order``: the device remembers frames of an earlier host) resyncs the
  counter to the device's ``expected_seq`` and sends again.
* **Time.** The device's clock is the ``tick_ms`` of its ``Sample`` stream (unwrapped past
  2³² ms). ``run_until`` waits in real time for the samples to reach a tick, returning early at
  the first sample whose state, polarity or fault differs from the last one reported. Samples
  that arrive while ``send`` waits for a reply are kept for the next ``run_until``: as on the
  in-process link, device time moves for the controller only through ``run_until``.
* **Dose.** The charge per polarity is integrated from the samples (trapezoids between
  successive samples, 10 ms apart while output may flow), counting only the treatment states:
  the contact sense current is not treatment (as in the firmware's own count).
* **Heartbeat.** While ``run_until`` waits it sends a ``Heartbeat`` whenever a quarter of the
  heartbeat timeout has passed in device time since the last frame it sent. Heartbeats come
  from the caller's own loop, never from a thread of their own: a controller that hangs stops
  the heartbeats, and the device's watchdog ramps the output down by itself — which is the
  point of the watchdog.
* **A noisy line.** Garbage, truncated and corrupted frames are dropped by
  :class:`FrameDecoder` (back in step at the next 0x00); device frames with a stale sequence
  number are dropped by a :class:`SequenceGuard` (reset on open; a device that restarted shows
  as a run of "old" numbers, after which the window is reset). Everything dropped is counted in
  :meth:`SerialLink.stats`.

Not thread-safe: one link per port, driven by one thread (the station that owns the device).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, fields
from types import TracebackType

import serial

from ionto.device.link import DeviceSample, Progress, Reply
from ionto.device.wire import (
    BAUD_RATE,
    DEFAULT_HEARTBEAT_TIMEOUT_MS,
    DEVICE_TO_HOST,
    HEARTBEATS_PER_TIMEOUT,
    IDLE_SAMPLE_PERIOD_MS,
    RETRY_AFTER_MS,
    Ack,
    DecodedFrame,
    DeviceState,
    Fault,
    FaultCode,
    FrameDecoder,
    Heartbeat,
    HostMessage,
    Nack,
    Polarity,
    RejectReason,
    Sample,
    SequenceCounter,
    SequenceGuard,
    SetLimits,
    encode,
)

# --- Timing (derived, from the wire protocol's timing table, docs/wire-protocol.md §7) ---------
#: Wait this long for an Ack or Nack before sending the command again (wire: 50 ms).
DEFAULT_REPLY_TIMEOUT_S = RETRY_AFTER_MS / 1000
#: Resends after the first try (derived): four tries of 50 ms give up after 0.2 s, a fifth of
#: the shortest default heartbeat timeout, so that a refused-for-silence command is known long
#: before the device's watchdog would act.
DEFAULT_RESENDS = 3
#: No sample for this long means the device is gone (derived: ten idle sample periods, 1 s).
DEFAULT_SILENCE_S = 10 * IDLE_SAMPLE_PERIOD_MS / 1000
#: The longest one blocking read waits (s). Short, so that heartbeats and reply timeouts are
#: kept to a few milliseconds; pyserial's timeout is set once (changing it costs a tcsetattr).
READ_SLICE_S = 0.005
#: Resyncs of the sequence counter allowed per command (a host restarted: one is enough).
MAX_RESYNCS = 2
#: Device frames with old sequence numbers in a row after which the device is taken to have
#: restarted (its counter began again) and the window is reset (derived: a replayed frame or
#: two is noise; three in a row at 100 samples/s is a device that started over).
DEVICE_RESTART_RUN = 3

#: Reply.code when the device never answered (or the link is closed).
NO_REPLY = -1
SEQUENCE_REASONS = frozenset({RejectReason.DUPLICATE, RejectReason.OUT_OF_ORDER})
#: States whose current is treatment. The contact sense current (wait_contact) is not, and a
#: latched fault has cut the output (docs/wire-protocol.md §4.10).
TREATMENT_STATES = frozenset(
    {DeviceState.RAMP_UP, DeviceState.ON, DeviceState.REVERSING, DeviceState.RAMP_DOWN}
)

TICK_MODULUS = 1 << 32  # Sample.tick_ms is a u32 that wraps after ~49.7 days
_HALF_TICKS = TICK_MODULUS // 2


class SerialLinkError(Exception):
    """The serial port failed, or the device stopped talking."""


class DeviceSilentError(SerialLinkError):
    """No sample from the device for longer than the link's silence limit."""


@dataclass(frozen=True, slots=True)
class SentFrame:
    """A frame as the link wrote it (for logs, and for tests that replay it)."""

    seq: int
    message: HostMessage
    raw: bytes
    #: The device tick of the newest sample when it was written: the device received it later.
    tick: int


@dataclass(frozen=True, slots=True)
class FaultReport:
    """A ``Fault`` message from the device, with its tick unwrapped."""

    code: FaultCode
    tick: int


@dataclass(frozen=True, slots=True)
class LinkStats:
    """What went over the link since it was opened."""

    frames_sent: int
    heartbeats_sent: int
    resends: int  # commands sent again after no answer
    resyncs: int  # sequence counter moved to the device's expected_seq
    no_reply: int  # commands given up after every resend
    samples: int
    rejected_frames: int  # garbage, truncated, corrupted, or not a device → host frame
    stale_frames: int  # device frames with an old sequence number (replayed or reordered)
    lost_frames: int  # gaps in the device's sequence numbers
    device_restarts: int
    unsolicited_replies: int  # Acks/Nacks for frames this link is not waiting for


def unwrap_tick(raw_tick_ms: int, previous: int | None) -> int:
    """The device tick as an unbounded count, from a wrapping u32 and the last unwrapped tick:
    the nearest value to ``previous`` (within ±2³¹ ms) that is ``raw_tick_ms`` modulo 2³²."""
    if previous is None:
        return raw_tick_ms
    delta = (raw_tick_ms - previous + _HALF_TICKS) % TICK_MODULUS - _HALF_TICKS
    return previous + delta


def trapezoid_charge(before: DeviceSample, after: DeviceSample) -> tuple[int, int]:
    """Twice the treatment charge (µA·ms) between two samples, split as (forward, reverse).

    Each sample carries half the interval (the trapezoid rule, exact on a linear ramp), added to
    the polarity of its own current's sign; a sample outside the treatment states counts as
    zero. Twice the charge, so that the sum stays an integer; the caller halves the total.
    """
    span = after.tick - before.tick
    if span <= 0:
        return 0, 0
    forward = reverse = 0
    for sample in (before, after):
        if sample.state not in TREATMENT_STATES:
            continue
        if sample.current_uA >= 0:
            forward += sample.current_uA * span
        else:
            reverse -= sample.current_uA * span
    return forward, reverse


def reply_from_ack(ack: Ack) -> Reply:
    """An Ack as the controller sees it: accepted, the AckCode, the value now in force."""
    return Reply(
        accepted=True, code=int(ack.code), value_uA=ack.value_uA, detail=ack.code.name.lower()
    )


def reply_from_nack(nack: Nack) -> Reply:
    """A Nack as the controller sees it: refused, with the RejectReason."""
    return Reply(accepted=False, code=int(nack.reason), detail=nack.reason.name.lower())


def _state_key(sample: DeviceSample) -> tuple[DeviceState, Polarity, FaultCode]:
    return (sample.state, sample.polarity, sample.fault)


class _Tally:
    """What one ``run_until`` saw on its way."""

    def __init__(self) -> None:
        self.forward2 = 0
        self.reverse2 = 0
        self.peak_uA = 0
        self.samples: list[DeviceSample] = []

    def add(self, before: DeviceSample, after: DeviceSample, keep: bool) -> None:
        forward2, reverse2 = trapezoid_charge(before, after)
        self.forward2 += forward2
        self.reverse2 += reverse2
        if after.state in TREATMENT_STATES:
            self.peak_uA = max(self.peak_uA, abs(after.current_uA))
        if keep:
            self.samples.append(after)

    def progress(self, last: DeviceSample) -> Progress:
        return Progress(
            last=last,
            forward_uA_ms=self.forward2 // 2,
            reverse_uA_ms=self.reverse2 // 2,
            peak_uA=self.peak_uA,
            samples=tuple(self.samples),
        )


class SerialLink:
    """A treatment device on a serial port (a board, or :class:`~ionto.device.pty_device.
    PtyDevice`), behind the :class:`~ionto.device.link.DeviceLink` interface.

    ``port`` is an open ``serial.Serial`` (the link sets its read timeout and leaves it open on
    :meth:`close`) or a port name or pyserial URL (opened at 115200 8N1 and closed on
    :meth:`close`). Opening waits up to ``silence_s`` for the first sample, which sets the
    link's clock; :class:`DeviceSilentError` if none comes.
    """

    def __init__(
        self,
        port: serial.Serial | str,
        *,
        timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        resends: int = DEFAULT_RESENDS,
        silence_s: float = DEFAULT_SILENCE_S,
        keep_samples: bool = True,
    ) -> None:
        if not timeout_s > 0 or not silence_s > 0:
            raise ValueError("timeouts must be above zero")
        if resends < 0:
            raise ValueError(f"resends must not be negative, got {resends}")
        self._owns_port = isinstance(port, str)
        try:
            if isinstance(port, str):
                port = serial.serial_for_url(port, baudrate=BAUD_RATE, timeout=READ_SLICE_S)
            else:
                port.timeout = READ_SLICE_S
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as error:
            raise SerialLinkError(f"cannot open the device's port: {error}") from error
        self.port: serial.Serial = port
        self._timeout_s = timeout_s
        self._resends = resends
        self._silence_s = silence_s
        #: Whether ``run_until`` sends heartbeats. Off only to show what the device does when
        #: its host goes quiet (tests, demonstrations).
        self.heartbeats = True
        self._closed = False
        self._decoder = FrameDecoder(accepts=DEVICE_TO_HOST)
        self._guard = SequenceGuard()
        self._counter = SequenceCounter()
        self._stale_run = 0
        self._arrived: deque[DeviceSample] = deque()
        self._latest_tick: int | None = None  # of the newest sample received
        self._last_rx_s = time.monotonic()
        self._awaiting: set[int] = set()
        self._replies: dict[int, Ack | Nack] = {}
        self._beats: deque[int] = deque(maxlen=64)  # heartbeats sent, not yet answered
        self._heartbeat_timeout_ms = DEFAULT_HEARTBEAT_TIMEOUT_MS
        self._last_frame_tick = 0
        #: The frames written lately, oldest first (for logs, and for tests that replay one).
        self.sent: deque[SentFrame] = deque(maxlen=64)
        self.faults: deque[FaultReport] = deque(maxlen=256)
        self.unsolicited: deque[Ack | Nack] = deque(maxlen=64)
        self._keep_samples = keep_samples
        self._counts = dict.fromkeys((f.name for f in fields(LinkStats)), 0)
        try:
            self._last = self._first_sample()
        except BaseException:
            self.close()
            raise
        self._key = _state_key(self._last)
        self._last_frame_tick = self._last.tick

    # --- DeviceLink ----------------------------------------------------------------------
    @property
    def tick(self) -> int:
        """The device's clock as last reported by ``run_until``: the tick after its last sample
        (as on the in-process link, where the tick is the number of ticks run)."""
        return self._last.tick + 1

    @property
    def last_sample(self) -> DeviceSample:
        return self._last

    def send(self, message: HostMessage) -> Reply:
        """Send ``message`` and wait for the device's answer, sending it again (with a new
        sequence number) when none comes; ``Reply(accepted=False, code=NO_REPLY)`` after the
        last try."""
        if self._closed:
            return Reply(accepted=False, code=NO_REPLY, detail="link closed")
        tried: list[int] = []  # every sequence number this command went out with
        pending: list[int] = []  # those whose answer may still come
        tries = resyncs = 0
        try:
            while tries <= self._resends:
                if tries:
                    self._count("resends")
                seq = self._write(message)
                tried.append(seq)
                pending.append(seq)
                self._awaiting.add(seq)
                tries += 1
                found = self._await_reply(pending)
                if found is None:
                    continue
                answered, answer = found
                if isinstance(answer, Ack):
                    self._on_accepted(message)
                    return reply_from_ack(answer)
                if answer.reason in SEQUENCE_REASONS and resyncs < MAX_RESYNCS:
                    # The device remembers a later frame (of an earlier host, or ours lost its
                    # place): continue from its expected number; this try does not count.
                    pending.remove(answered)
                    self._counter.resync(answer.expected_seq)
                    self._count("resyncs")
                    resyncs += 1
                    tries -= 1
                    continue
                return reply_from_nack(answer)
        finally:
            self._awaiting.difference_update(tried)
            for seq in tried:
                self._replies.pop(seq, None)
        self._count("no_reply")
        return Reply(
            accepted=False,
            code=NO_REPLY,
            detail=f"no answer to {type(message).__name__} after {tries} tries",
        )

    def run_until(self, tick: int) -> Progress:
        """Wait (in real time) until the device's samples reach ``tick``, or until the first
        sample whose state, polarity or fault differs from the last one reported."""
        if self._closed:
            raise SerialLinkError("link closed")
        tally = _Tally()
        while self.tick < tick:
            self._beat_if_due()
            if not self._arrived:
                self._pump()
                self._check_silence()
                continue
            sample = self._arrived.popleft()
            tally.add(self._last, sample, self._keep_samples)
            self._last = sample
            key = _state_key(sample)
            if key != self._key:
                self._key = key
                break
        return tally.progress(self._last)

    def close(self) -> None:
        """Stop using the port (closed if the link opened it). Sends nothing: a session is
        ended by the controller's Stop, and a host that vanishes is the watchdog's job."""
        if self._closed:
            return
        self._closed = True
        if self._owns_port:
            # Closing a port whose device has gone: nothing is left to release.
            with contextlib.suppress(serial.SerialException, OSError):
                self.port.close()

    def __enter__(self) -> SerialLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- statistics ----------------------------------------------------------------------
    @property
    def last_sent(self) -> SentFrame | None:
        return self.sent[-1] if self.sent else None

    def stats(self) -> LinkStats:
        counts = dict(self._counts)
        counts["lost_frames"] = self._guard.lost_frames
        return LinkStats(**counts)

    def _count(self, name: str, by: int = 1) -> None:
        self._counts[name] += by

    # --- sending -------------------------------------------------------------------------
    def _write(self, message: HostMessage) -> int:
        seq = self._counter.take()
        raw = encode(message, seq)
        try:
            self.port.write(raw)
        except (serial.SerialException, OSError) as error:
            raise SerialLinkError(f"writing to the device failed: {error}") from error
        self._last_frame_tick = self._latest_tick if self._latest_tick is not None else 0
        self.sent.append(SentFrame(seq, message, raw, self._last_frame_tick))
        self._count("frames_sent")
        return seq

    def _beat_if_due(self) -> None:
        """A Heartbeat when a quarter of the heartbeat timeout has passed, in device ticks,
        since the last frame sent; not waited for (its Ack is taken when it comes)."""
        if not self.heartbeats or self._latest_tick is None:
            return
        period_ms = self._heartbeat_timeout_ms // HEARTBEATS_PER_TIMEOUT
        if self._latest_tick - self._last_frame_tick < period_ms:
            return
        self._beats.append(self._write(Heartbeat()))
        self._count("heartbeats_sent")

    def _on_accepted(self, message: HostMessage) -> None:
        if isinstance(message, SetLimits):
            # The device may clamp the timeout (the reference firmware to 2 s) and its Ack does
            # not say to what: never beat less often than for the 1 s default.
            self._heartbeat_timeout_ms = min(
                message.heartbeat_timeout_ms, DEFAULT_HEARTBEAT_TIMEOUT_MS
            )

    # --- receiving -----------------------------------------------------------------------
    def _first_sample(self) -> DeviceSample:
        deadline = time.monotonic() + self._silence_s
        while not self._arrived:
            if time.monotonic() > deadline:
                raise DeviceSilentError(
                    f"no sample from the device within {self._silence_s:g} s of opening the port"
                )
            self._pump()
        return self._arrived.popleft()

    def _await_reply(self, pending: list[int]) -> tuple[int, Ack | Nack] | None:
        """The answer to any of the pending tries, waiting up to the reply timeout; the link
        keeps heartbeating meanwhile, so that a long wait never starves the watchdog."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            answer = self._reply_for(pending)
            if answer is not None or time.monotonic() >= deadline:
                return answer
            self._beat_if_due()
            self._pump()

    def _reply_for(self, pending: list[int]) -> tuple[int, Ack | Nack] | None:
        """An Ack for any try wins (the command was carried out); else the latest Nack."""
        answers = [(seq, self._replies[seq]) for seq in pending if seq in self._replies]
        acks = [(seq, a) for seq, a in answers if isinstance(a, Ack)]
        if acks:
            return acks[0]
        return answers[-1] if answers else None

    def _check_silence(self) -> None:
        quiet_s = time.monotonic() - self._last_rx_s
        if quiet_s > self._silence_s:
            raise DeviceSilentError(f"no sample from the device for {quiet_s:.2f} s")

    def _pump(self) -> None:
        """Read what the port holds, waiting up to one read slice for the first byte."""
        port = self.port
        try:
            waiting = port.in_waiting
            data: bytes = port.read(waiting if waiting else 1)
            if data and not waiting:
                more = port.in_waiting
                if more:
                    data += port.read(more)
        except (serial.SerialException, OSError) as error:
            raise SerialLinkError(f"reading from the device failed: {error}") from error
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        for result in self._decoder.feed(data):
            if isinstance(result, DecodedFrame):
                self._on_frame(result)
            else:
                self._count("rejected_frames")

    def _on_frame(self, frame: DecodedFrame) -> None:
        if self._guard.admit(frame.seq) is not None:
            self._count("stale_frames")
            self._stale_run += 1
            if self._stale_run < DEVICE_RESTART_RUN:
                return
            self._guard.reset()
            self._guard.admit(frame.seq)
            self._count("device_restarts")
        self._stale_run = 0
        message = frame.message
        if isinstance(message, Sample):
            self._on_sample(message)
        elif isinstance(message, Ack | Nack):
            self._on_reply(message)
        elif isinstance(message, Fault):
            self.faults.append(FaultReport(message.code, self._unwrap(message.tick_ms)))

    def _unwrap(self, raw_tick_ms: int) -> int:
        return unwrap_tick(raw_tick_ms, self._latest_tick)

    def _on_sample(self, message: Sample) -> None:
        tick = self._unwrap(message.tick_ms)
        self._latest_tick = tick
        self._last_rx_s = time.monotonic()
        self._count("samples")
        self._arrived.append(
            DeviceSample(
                tick=tick,
                current_uA=message.current_uA,
                voltage_mV=message.voltage_mV,
                polarity=message.polarity,
                state=message.state,
                fault=message.fault,
            )
        )

    def _on_reply(self, message: Ack | Nack) -> None:
        seq = message.acked_seq if isinstance(message, Ack) else message.nacked_seq
        if seq in self._awaiting:
            self._replies[seq] = message
            return
        if seq in self._beats:
            self._beats.remove(seq)
            if isinstance(message, Nack) and message.reason in SEQUENCE_REASONS:
                self._counter.resync(message.expected_seq)
                self._count("resyncs")
            return
        # A late answer to a command already given up, or to a frame someone else wrote.
        self.unsolicited.append(message)
        self._count("unsolicited_replies")
