"""The wire protocol: framing, checksums, every message, sequence rules, and a fuzzed parser.

The parser must survive any byte stream without an exception, never accept a frame that was
not sent, and lose only the frames that were actually damaged.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import struct
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.device import wire
from ionto.device.wire import (
    BYTES_PER_S,
    DEVICE_TO_HOST,
    HOST_TO_DEVICE,
    MAX_PAYLOAD_BYTES,
    MAX_STUFFED_BYTES,
    MESSAGE_CLASSES,
    SAMPLE_PERIOD_MS,
    SEQ_MODULUS,
    SEQ_WINDOW,
    Ack,
    AckCode,
    DecodedFrame,
    DeviceState,
    Fault,
    FaultCode,
    FeedResult,
    FrameDecoder,
    Heartbeat,
    Message,
    MessageType,
    Nack,
    Polarity,
    Rejected,
    RejectReason,
    Sample,
    SequenceCounter,
    SequenceGuard,
    SetLimits,
    SetTarget,
    Start,
    Stop,
    WaveformCode,
    WireMessage,
    cobs_decode,
    cobs_encode,
    crc16_ccitt_false,
    decode_body,
    encode,
    frame_body,
    markdown_field_table,
    nack_for,
    stuff,
    waveform_code,
)
from ionto.therapy.vocabulary import Waveform

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "wire-protocol.md"
HARNESS = ROOT / "benchmarks" / "fuzz_wire.py"


# --- Strategies ------------------------------------------------------------------------------
def field_values(spec: wire.FieldSpec) -> st.SearchStrategy[int]:
    if spec.enum is not None:
        members = [m for m in spec.enum if spec.allowed is None or m in spec.allowed]
        return st.sampled_from(members)
    return st.integers(spec.lo, spec.hi)


@st.composite
def set_limits(draw: st.DrawFn) -> SetLimits:
    """Any valid SetLimits: each waveform with its own parameters and the others zero."""
    specs = {spec.name: spec for spec in SetLimits.FIELDS}
    waveform = draw(st.sampled_from(list(WaveformCode)))
    pulsed = waveform is WaveformCode.PULSED_DC
    ac = waveform is WaveformCode.AC_DC_OFFSET
    max_hz = wire.WIRE_MAX_PULSE_FREQUENCY_HZ
    return SetLimits(
        session_limit_uA=draw(field_values(specs["session_limit_uA"])),
        compliance_mV=draw(field_values(specs["compliance_mV"])),
        slew_uA_per_s=draw(field_values(specs["slew_uA_per_s"])),
        heartbeat_timeout_ms=draw(field_values(specs["heartbeat_timeout_ms"])),
        waveform=waveform,
        pulse_frequency_hz=draw(st.integers(1, max_hz)) if pulsed or ac else 0,
        duty_permille=draw(st.integers(1, 999)) if pulsed else 0,
        ac_amplitude_permille=draw(st.integers(1, 1000)) if ac else 0,
    )


def message_of(cls: type[WireMessage]) -> st.SearchStrategy[Message]:
    if cls is SetLimits:
        return set_limits()
    return st.fixed_dictionaries({spec.name: field_values(spec) for spec in cls.FIELDS}).map(
        lambda values: cls(**values)  # type: ignore[arg-type,return-value]
    )


messages: st.SearchStrategy[Message] = st.one_of(
    [message_of(cls) for cls in MESSAGE_CLASSES.values()]
)
seqs = st.integers(0, SEQ_MODULUS - 1)
frames = st.tuples(messages, seqs)
garbage = st.binary(max_size=200)


def decoded(results: list[FeedResult]) -> list[tuple[int, Message]]:
    return [(r.seq, r.message) for r in results if isinstance(r, DecodedFrame)]


def rejections(results: list[FeedResult]) -> list[Rejected]:
    return [r for r in results if isinstance(r, Rejected)]


def feed_all(data: bytes) -> list[FeedResult]:
    return FrameDecoder().feed(data)


# --- Checksum --------------------------------------------------------------------------------
def crc_bitwise(data: bytes) -> int:
    """CRC-16/CCITT-FALSE exactly as the doc's C loop computes it, one bit at a time."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def test_crc_has_the_catalogued_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc_bitwise(b"123456789") == 0x29B1


@given(st.binary(max_size=100))
def test_crc_matches_the_bitwise_reference_of_the_doc(data: bytes) -> None:
    assert crc16_ccitt_false(data) == crc_bitwise(data)


# --- Byte stuffing ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "stuffed"),
    [
        ("", "01"),
        ("00", "01 01"),
        ("00 00", "01 01 01"),
        ("11 22 00 33", "03 11 22 02 33"),
        ("11 22 33 44", "05 11 22 33 44"),
        ("11 00 00 00", "02 11 01 01 01"),
    ],
)
def test_cobs_known_vectors(raw: str, stuffed: str) -> None:
    assert cobs_encode(bytes.fromhex(raw)) == bytes.fromhex(stuffed)
    assert cobs_decode(bytes.fromhex(stuffed)) == bytes.fromhex(raw)


def test_cobs_long_runs_use_full_blocks() -> None:
    """The canonical encodings of 254- and 255-byte runs (Cheshire & Baker's examples)."""
    run = bytes(range(1, 255))
    assert cobs_encode(run) == b"\xff" + run
    assert cobs_encode(b"\x00" + run) == b"\x01\xff" + run
    assert cobs_encode(run + b"\xff") == b"\xff" + run + b"\x02\xff"


@given(st.binary(max_size=600))
def test_cobs_round_trips_and_never_emits_a_delimiter(data: bytes) -> None:
    stuffed = cobs_encode(data)
    assert 0 not in stuffed
    assert len(stuffed) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(stuffed) == data


@pytest.mark.parametrize("stuffed", ["05 11 22", "00", "03 11 00"])
def test_cobs_refuses_broken_blocks(stuffed: str) -> None:
    with pytest.raises(ValueError, match="COBS"):
        cobs_decode(bytes.fromhex(stuffed))


# --- Messages --------------------------------------------------------------------------------
def test_every_type_has_one_class_and_fields_in_declaration_order() -> None:
    assert set(MESSAGE_CLASSES) == set(MessageType)
    for message_type, cls in MESSAGE_CLASSES.items():
        assert cls.TYPE is message_type
        names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        assert names == tuple(spec.name for spec in cls.FIELDS), cls.__name__
        assert cls.LAYOUT.size <= MAX_PAYLOAD_BYTES


def test_direction_is_the_top_bit_of_the_type() -> None:
    assert all(t < 0x80 for t in HOST_TO_DEVICE)
    assert all(t >= 0x80 for t in DEVICE_TO_HOST)
    assert set(MessageType) == HOST_TO_DEVICE | DEVICE_TO_HOST


@given(frames)
def test_every_message_round_trips(frame: tuple[Message, int]) -> None:
    message, seq = frame
    results = feed_all(encode(message, seq))
    assert decoded(results) == [(seq, message)]
    assert results == [DecodedFrame(seq, message)]
    (result,) = results
    assert isinstance(result, DecodedFrame)
    assert type(result.message) is type(message)


@given(st.lists(frames, max_size=8))
def test_concatenated_frames_all_arrive_in_order(sent: list[tuple[Message, int]]) -> None:
    stream = b"".join(encode(message, seq) for message, seq in sent)
    assert decoded(feed_all(stream)) == [(seq, message) for message, seq in sent]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SetTarget(-1), "target_uA"),
        (lambda: SetTarget(wire.WIRE_MAX_CURRENT_UA + 1), "target_uA"),
        (lambda: SetTarget(True), "target_uA"),
        (lambda: Start(1), "polarity"),  # type: ignore[arg-type]  # an int is not a Polarity
        (lambda: Fault(FaultCode.NONE, 5), "code"),
        (lambda: Nack(1, 2, RejectReason.BAD_CRC, 3), "reason"),
        (lambda: Ack(1, MessageType.SAMPLE), "acked_type"),
        (lambda: Ack(1, MessageType.SET_TARGET, AckCode.CLAMPED_TO_LIMIT, -5), "value_uA"),
        (lambda: Sample(-1, 0, 0, Polarity.FORWARD, DeviceState.IDLE, FaultCode.NONE), "tick"),
        (lambda: SetLimits(20_000, 60_000, 667, 99, WaveformCode.DC), "heartbeat"),
        (lambda: SetLimits(20_000, 60_000, 667, 1000, WaveformCode.DC, 5000), "dc"),
        (lambda: SetLimits(20_000, 60_000, 667, 1000, WaveformCode.PULSED_DC, 5000), "duty"),
        (lambda: SetLimits(20_000, 60_000, 667, 1000, WaveformCode.AC_DC_OFFSET, 50), "ac_amp"),
        (
            lambda: SetLimits(20_000, 60_000, 667, 1000, WaveformCode.PULSED_DC, 5000, 500, 100),
            "ac_amplitude",
        ),
    ],
)
def test_a_message_out_of_range_cannot_exist(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_pure_ac_has_no_wire_code() -> None:
    assert waveform_code(Waveform.DC) is WaveformCode.DC
    assert waveform_code(Waveform.PULSED_DC) is WaveformCode.PULSED_DC
    assert waveform_code(Waveform.AC_DC_OFFSET) is WaveformCode.AC_DC_OFFSET
    with pytest.raises(ValueError, match="pure AC"):
        waveform_code(Waveform.AC)
    limits = SetLimits(20_000, 60_000, 667, 1000, WaveformCode.DC).payload()
    for code in (0, 4):  # 4 would have been pure AC: it is never assigned
        forged = limits[:14] + bytes([code]) + limits[15:]
        result = decode_body(frame_body(MessageType.SET_LIMITS, 1, forged))
        assert isinstance(result, Rejected)
        assert result.reason is RejectReason.OUT_OF_RANGE


def test_polarity_is_the_sign_of_the_current() -> None:
    assert Polarity.FORWARD * 1500 == 1500
    assert Polarity.REVERSE * 1500 == -1500
    assert Polarity.FORWARD.opposite is Polarity.REVERSE
    assert Polarity.REVERSE.opposite is Polarity.FORWARD


def test_encode_refuses_a_sequence_number_outside_16_bits() -> None:
    for seq in (-1, SEQ_MODULUS):
        with pytest.raises(ValueError, match="sequence"):
            encode(Heartbeat(), seq)


def test_firmware_enums_hold_the_agreed_members() -> None:
    assert [s.name for s in DeviceState] == [
        "IDLE",
        "WAIT_CONTACT",
        "RAMP_UP",
        "ON",
        "RAMP_DOWN",
        "REVERSING",
        "LATCHED_FAULT",
    ]
    required = {"NONE", "OVERCURRENT", "OPEN_CIRCUIT", "COMPLIANCE", "WATCHDOG"}
    assert required | {"CEILING_REQUEST", "BAD_FRAME"} <= {f.name for f in FaultCode}
    assert int(FaultCode.NONE) == 0


# --- Every kind of bad frame is rejected, with the right reason -----------------------------
OUT_OF_RANGE = RejectReason.OUT_OF_RANGE
HEARTBEAT_BODY = frame_body(MessageType.HEARTBEAT, 7, b"")


def reject_of(body: bytes, accepts: frozenset[MessageType] = wire.ALL_TYPES) -> Rejected:
    result = decode_body(body, accepts)
    assert isinstance(result, Rejected), result
    return result


def test_bad_crc_is_rejected_without_a_trustworthy_sequence_number() -> None:
    body = bytearray(HEARTBEAT_BODY)
    body[-1] ^= 0x01
    result = reject_of(bytes(body))
    assert result.reason is RejectReason.BAD_CRC
    assert result.seq is None
    assert nack_for(result, SequenceGuard()) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (frame_body(MessageType.HEARTBEAT, 7, b"", length=1), RejectReason.BAD_LENGTH),
        (frame_body(MessageType.SET_TARGET, 7, b"\x01\x00"), RejectReason.BAD_LENGTH),
        (frame_body(MessageType.SET_TARGET, 7, b"\x01\x00", length=4), RejectReason.BAD_LENGTH),
        (frame_body(MessageType.HEARTBEAT, 7, b"\x00"), RejectReason.BAD_LENGTH),
        (frame_body(0x42, 7, b""), RejectReason.UNKNOWN_TYPE),
        (
            frame_body(MessageType.SET_TARGET, 7, struct.pack("<I", 80_001)),
            RejectReason.OUT_OF_RANGE,
        ),
        (frame_body(MessageType.START, 7, b"\x00"), RejectReason.OUT_OF_RANGE),
        (frame_body(MessageType.FAULT, 7, b"\x00" * 5), RejectReason.OUT_OF_RANGE),
    ],
)
def test_content_errors_are_nacked_with_their_sequence_number(
    body: bytes, reason: RejectReason
) -> None:
    result = reject_of(body)
    assert result.reason is reason
    assert result.seq == 7
    guard = SequenceGuard()
    guard.admit(3)
    nack = nack_for(result, guard)
    assert nack == Nack(nacked_seq=7, nacked_type=body[4], reason=reason, expected_seq=4)
    assert guard.last_seq == 3  # the rejected frame did not move the window


def test_another_protocol_version_is_dropped_unanswered() -> None:
    result = reject_of(frame_body(MessageType.HEARTBEAT, 7, b"", version=2))
    assert result.reason is RejectReason.BAD_VERSION
    assert nack_for(result, SequenceGuard()) is None


def test_a_device_message_sent_to_the_device_is_the_wrong_direction() -> None:
    sample = Sample(1, 0, 0, Polarity.FORWARD, DeviceState.IDLE, FaultCode.NONE)
    body = frame_body(MessageType.SAMPLE, 9, sample.payload())
    result = reject_of(body, HOST_TO_DEVICE)
    assert result.reason is RejectReason.WRONG_DIRECTION
    device = FrameDecoder(accepts=HOST_TO_DEVICE)
    assert rejections(device.feed(encode(sample, 9)))[0].reason is RejectReason.WRONG_DIRECTION
    assert decoded(device.feed(encode(Heartbeat(), 10))) == [(10, Heartbeat())]


@pytest.mark.parametrize("body", [b"", b"\x01", HEARTBEAT_BODY[:6]])
def test_too_short_bodies_are_rejected(body: bytes) -> None:
    assert reject_of(body).reason is RejectReason.TOO_SHORT


def test_empty_frames_between_delimiters_are_ignored() -> None:
    assert feed_all(b"\x00\x00\x00") == []
    assert feed_all(b"\x00\x01\x00")[0].reason is RejectReason.TOO_SHORT  # type: ignore[union-attr]


def test_a_run_without_delimiter_is_dropped_once_and_memory_stays_bounded() -> None:
    decoder = FrameDecoder()
    results = decoder.feed(b"\x55" * 10_000)
    assert [r.reason for r in rejections(results)] == [RejectReason.OVERSIZE]
    assert decoder.pending_bytes <= MAX_STUFFED_BYTES
    assert decoder.feed(b"\x55" * 10_000) == []  # still the same oversize run
    assert decoded(decoder.feed(encode(Heartbeat(), 1))) == [(1, Heartbeat())]


def test_reset_forgets_a_partial_frame() -> None:
    decoder = FrameDecoder()
    frame = encode(SetTarget(12_000), 5)
    decoder.feed(frame[:-3])
    assert decoder.pending_bytes > 0
    decoder.reset()
    assert decoder.pending_bytes == 0
    assert decoded(decoder.feed(frame[-3:] + encode(Stop(), 6))) == [(6, Stop())]


# --- Split at every byte boundary ------------------------------------------------------------
@settings(max_examples=40)
@given(st.lists(frames, min_size=1, max_size=4), garbage)
def test_frames_split_at_every_boundary_decode_the_same(
    sent: list[tuple[Message, int]], noise: bytes
) -> None:
    stream = noise + b"".join(encode(message, seq) for message, seq in sent)
    whole = feed_all(stream)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == whole
    decoder = FrameDecoder()
    one_by_one = [r for i in range(len(stream)) for r in decoder.feed(stream[i : i + 1])]
    assert one_by_one == whole
    assert decoded(whole) == [(seq, message) for message, seq in sent]


# --- Fuzzing the parser ----------------------------------------------------------------------
@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_garbage_never_raises_and_never_yields_a_frame(data: bytes) -> None:
    decoder = FrameDecoder()
    results = decoder.feed(data)
    assert decoded(results) == []
    assert decoder.pending_bytes <= MAX_STUFFED_BYTES


@given(st.lists(st.tuples(garbage, frames), max_size=6), garbage)
def test_garbage_between_frames_loses_no_frame(
    pieces: list[tuple[bytes, tuple[Message, int]]], tail: bytes
) -> None:
    """Each frame starts with its own delimiter, so noise before it never costs the frame."""
    stream = b"".join(noise + encode(m, s) for noise, (m, s) in pieces) + tail
    assert decoded(feed_all(stream)) == [(s, m) for _, (m, s) in pieces]


@given(st.lists(st.tuples(frames, st.booleans(), st.integers(0, 1000)), max_size=8))
def test_truncated_frames_are_rejected_and_the_others_arrive(
    plan: list[tuple[tuple[Message, int], bool, int]],
) -> None:
    stream = b""
    expected = []
    for (message, seq), truncate, keep in plan:
        frame = encode(message, seq)
        if truncate:
            stream += frame[: keep % (len(frame) - 1)]  # never the closing delimiter
        else:
            stream += frame
            expected.append((seq, message))
    assert decoded(feed_all(stream)) == expected


SIZES = sorted({cls.LAYOUT.size for cls in MESSAGE_CLASSES.values()})


@settings(max_examples=500)
@given(
    st.one_of(st.just(1), st.integers(0, 255)),
    seqs,
    st.one_of(st.sampled_from(list(MessageType)).map(int), st.integers(0, 255)),
    st.one_of(st.sampled_from(SIZES), st.integers(0, MAX_PAYLOAD_BYTES)).flatmap(
        lambda n: st.binary(min_size=n, max_size=n)
    ),
    st.one_of(st.none(), st.sampled_from(SIZES), st.integers(0, 255)),
)
def test_frames_with_a_good_crc_and_any_content_never_raise(
    version: int, seq: int, type_code: int, payload: bytes, length: int | None
) -> None:
    """Garbage rarely gets past the CRC; these do, and must meet every later check."""
    body = frame_body(type_code, seq, payload, version=version, length=length)
    (result,) = feed_all(stuff(body))
    if isinstance(result, DecodedFrame):
        assert result.seq == seq
        assert encode(result.message, seq) == stuff(body)  # only a canonical frame comes out
    else:
        assert (result.seq is None) == (result.reason < RejectReason.BAD_LENGTH)


@settings(max_examples=150)
@given(frames, st.data())
def test_a_flipped_bit_in_the_body_is_always_rejected(
    frame: tuple[Message, int], data: st.DataObject
) -> None:
    """CRC-16/CCITT-FALSE detects every single-bit error: header, payload or CRC."""
    message, seq = frame
    body = bytearray(frame_body(message.TYPE, seq, message.payload()))
    bit = data.draw(st.integers(0, len(body) * 8 - 1))
    body[bit // 8] ^= 1 << (bit % 8)
    results = feed_all(stuff(bytes(body)))
    assert decoded(results) == []
    assert len(rejections(results)) == 1


@settings(max_examples=60)
@given(frames)
def test_every_single_flipped_bit_on_the_wire_is_rejected(frame: tuple[Message, int]) -> None:
    """Every bit of the stuffed frame, one at a time: code bytes, data bytes, delimiters.

    A flip in a delimiter may merge the frame with nothing or split it; no flip yields a frame.
    """
    message, seq = frame
    sent = encode(message, seq)
    for bit in range(len(sent) * 8):
        damaged = bytearray(sent)
        damaged[bit // 8] ^= 1 << (bit % 8)
        assert decoded(feed_all(bytes(damaged) + b"\x00")) == [], f"bit {bit}"


DAMAGE = ["frame", "garbage", "flip", "cut"]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(DAMAGE), frames, garbage, st.integers(0, 10_000)), max_size=10
    ),
    st.integers(1, 64),
)
def test_any_mix_of_damage_never_raises_and_never_invents_a_frame(
    plan: list[tuple[str, tuple[Message, int], bytes, int]], chunk: int
) -> None:
    sent: list[tuple[int, Message]] = []
    stream = b""
    for kind, (message, seq), noise, n in plan:
        frame = bytearray(encode(message, seq))
        if kind == "frame":
            sent.append((seq, message))
        elif kind == "garbage":
            frame = bytearray(noise)
        elif kind == "flip":
            frame[(n // 8) % len(frame)] ^= 1 << (n % 8)
        else:
            frame = frame[: n % (len(frame) - 1)]
        stream += bytes(frame)
    decoder = FrameDecoder()
    results = [r for i in range(0, len(stream), chunk) for r in decoder.feed(stream[i : i + chunk])]
    assert all(frame in sent for frame in decoded(results))
    assert decoder.pending_bytes <= MAX_STUFFED_BYTES


# --- Sequence numbers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last", "seq", "verdict"),
    [
        (10, 11, None),
        (10, 10, RejectReason.DUPLICATE),
        (10, 9, RejectReason.OUT_OF_ORDER),
        (10, 10 + SEQ_WINDOW, None),  # the far edge of the window
        (10, 10 + SEQ_WINDOW + 1, RejectReason.OUT_OF_ORDER),
        (65535, 0, None),  # wrap-around: 0 follows 65535
        (65535, 5, None),
        (0, 65535, RejectReason.OUT_OF_ORDER),  # and 65535 is just before 0
        (40000, 7231, None),  # 40000 + 32767 wraps to 7231
        (40000, 7232, RejectReason.OUT_OF_ORDER),
    ],
)
def test_the_window_rule_with_wrap_around(
    last: int, seq: int, verdict: RejectReason | None
) -> None:
    guard = SequenceGuard()
    assert guard.admit(last) is None
    assert guard.check(seq) is verdict
    assert guard.admit(seq) is verdict
    assert guard.last_seq == (seq if verdict is None else last)
    assert guard.expected_seq == ((seq if verdict is None else last) + 1) % SEQ_MODULUS


def test_a_fresh_guard_accepts_any_number_and_counts_gaps() -> None:
    guard = SequenceGuard()
    assert guard.last_seq is None
    assert guard.expected_seq == 0
    assert guard.admit(65530) is None
    assert guard.admit(3) is None  # 65531 … 2 lost: 8 frames
    assert guard.lost_frames == 8
    guard.reset()
    assert guard.last_seq is None
    assert guard.admit(100) is None


@given(seqs, seqs)
def test_check_never_changes_the_guard(last: int, seq: int) -> None:
    guard = SequenceGuard()
    guard.admit(last)
    guard.check(seq)
    assert guard.last_seq == last


@given(seqs, st.lists(st.integers(1, SEQ_WINDOW), max_size=40))
def test_numbers_moving_forward_are_all_accepted_across_many_wraps(
    start: int, steps: list[int]
) -> None:
    guard = SequenceGuard()
    seq = start
    assert guard.admit(seq) is None
    for step in steps:
        seq = (seq + step) % SEQ_MODULUS
        assert guard.admit(seq) is None
    assert guard.lost_frames == sum(steps) - len(steps)


@given(
    seqs,
    st.lists(
        st.tuples(st.sampled_from(["new", "replay"]), st.integers(1, 800)),
        max_size=40,
    ),
)
def test_replayed_frames_pass_the_decoder_but_not_the_guard(
    start: int, plan: list[tuple[str, int]]
) -> None:
    """A replayed frame is a perfect frame, so only the sequence rule can catch it."""
    decoder = FrameDecoder(accepts=HOST_TO_DEVICE)
    guard = SequenceGuard()
    history: list[bytes] = []
    seq = start
    for kind, n in [("new", 0), *plan]:
        if kind == "new":
            seq = (seq + n) % SEQ_MODULUS
            frame, fresh = encode(SetTarget(n), seq), True
        else:
            frame, fresh = history[n % len(history)], False
        (result,) = decoder.feed(frame)
        assert isinstance(result, DecodedFrame)
        verdict = guard.admit(result.seq)
        if fresh:
            assert verdict is None
            history.append(frame)
        else:
            assert verdict in (RejectReason.DUPLICATE, RejectReason.OUT_OF_ORDER)
            assert guard.last_seq == seq  # the replay moved nothing
    assert guard.last_seq == seq


def test_a_restarted_host_resynchronises_from_the_nack() -> None:
    guard = SequenceGuard()
    for seq in range(5000, 5010):
        guard.admit(seq)
    host = SequenceCounter()  # restarted: counts from 0 again
    frame = FrameDecoder().feed(encode(Heartbeat(), host.take()))[0]
    assert isinstance(frame, DecodedFrame)
    reason = guard.admit(frame.seq)
    assert reason is RejectReason.OUT_OF_ORDER
    nack = Nack(frame.seq, MessageType.HEARTBEAT, reason, guard.expected_seq)
    host.resync(nack.expected_seq)
    assert guard.admit(host.take()) is None


def test_the_sender_counter_wraps() -> None:
    counter = SequenceCounter(start=65534)
    assert [counter.take() for _ in range(4)] == [65534, 65535, 0, 1]
    assert counter.next_seq == 2


# --- Timing budget ---------------------------------------------------------------------------
def test_samples_use_under_a_quarter_of_the_uart() -> None:
    """Sized for 115200 baud: the sample stream leaves room for replies and retries."""
    sample = Sample(
        2**32 - 1, -(2**31), 2**31 - 1, Polarity.REVERSE, DeviceState.ON, FaultCode.NONE
    )
    frame = encode(sample, 65535)
    assert len(frame) * (1000 // SAMPLE_PERIOD_MS) < BYTES_PER_S / 4


# --- The document is the code ----------------------------------------------------------------
def test_the_doc_carries_every_field_table_as_generated() -> None:
    text = DOC.read_text(encoding="utf-8")
    for cls in MESSAGE_CLASSES.values():
        assert markdown_field_table(cls) in text, f"regenerate the table of {cls.__name__}"


def test_the_doc_worked_examples_are_what_encode_sends() -> None:
    text = DOC.read_text(encoding="utf-8")
    examples = [
        encode(Heartbeat(), 0x0102),
        encode(SetTarget(15_000), 0x0103),
        encode(Sample(1234, -15_000, 8_500, Polarity.REVERSE, DeviceState.ON, FaultCode.NONE), 42),
    ]
    for frame in examples:
        assert frame.hex(" ").upper() in text
    body = frame_body(MessageType.SET_TARGET, 0x0103, SetTarget(15_000).payload())
    assert f"0x{crc16_ccitt_false(body[:-2]):04X}" in text


# --- The atheris harness (run by hand; atheris is not a dependency) --------------------------
def load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_wire", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_harness_imports_without_atheris_and_its_target_holds() -> None:
    module = load_harness()
    assert "atheris" not in sys.modules
    module.check_one(b"")
    module.check_one(b"\x00" + b"\xff" * 300)
    module.check_one(encode(SetTarget(1), 2) + encode(Stop(), 3) + b"\x01\x02")


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_the_harness_target_survives_random_input(data: bytes) -> None:
    load_harness_once().check_one(data)


_HARNESS: list[ModuleType] = []


def load_harness_once() -> ModuleType:
    if not _HARNESS:
        _HARNESS.append(load_harness())
    return _HARNESS[0]


@pytest.mark.parametrize(
    "enum", [DeviceState, Polarity, WaveformCode, FaultCode, RejectReason, AckCode]
)
def test_the_doc_lists_every_enum_member_with_its_value(enum: type[IntEnum]) -> None:
    text = DOC.read_text(encoding="utf-8")
    for member in enum:
        assert f"| `{member.name.lower()}` | {int(member)} |" in text, member
