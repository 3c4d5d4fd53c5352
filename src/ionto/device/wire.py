"""The wire protocol between the host and the treatment device: framing, messages, sequencing.

Written so that a firmware author can implement the device side on a small microcontroller
over a UART (115200 baud, 8N1) from ``docs/wire-protocol.md`` alone; this module is the
reference implementation of both sides and the source of the tables in that document.

On the wire every frame is ``00 | COBS(body) | 00``, and the body is::

    version u8 | length u8 | seq u16 | type u8 | payload (length bytes) | crc u16

Every integer is little-endian, the CRC too. The CRC is CRC-16/CCITT-FALSE over everything
before it. Why COBS with 0x00 delimiters rather than a sync byte and a length prefix: the
delimiter cannot occur inside a stuffed frame, so a receiver that meets garbage, a truncated
frame or a corrupted length is back in step at the very next 0x00 — a length-prefixed stream
must instead guess where the next frame starts and can swallow good frames after a bad
length. The ``length`` byte is kept as a second, independent check on the frame's size.

Values are integers in the units the firmware measures: microamps, millivolts, milliseconds.
Messages are frozen dataclasses that check their own ranges, so a message that exists is a
message that may be sent; :class:`FrameDecoder` rejects anything else without side effects,
and :class:`SequenceGuard` rejects replayed and out-of-order frames.

Ionto keeps this protocol free of clinical policy: the ranges here are what the wire can
carry, and the firmware's hard limits (ceiling, slew, compliance) are stricter and its own.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Collection
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, TypeAlias, cast

from ionto.therapy.vocabulary import Waveform

# --- Link and framing constants --------------------------------------------------------------
#: Bumped whenever a layout changes; a frame of another version is dropped unread.
PROTOCOL_VERSION = 1
#: The UART the protocol is sized for (8 data bits, no parity, 1 stop bit: 10 bits a byte).
BAUD_RATE = 115_200
BYTES_PER_S = BAUD_RATE // 10

DELIMITER = 0x00
HEADER = struct.Struct("<BBHB")  # version, payload length, seq, type
CRC = struct.Struct("<H")
HEADER_BYTES = HEADER.size
CRC_BYTES = CRC.size
MIN_BODY_BYTES = HEADER_BYTES + CRC_BYTES
#: Room to grow: the largest message today (SetLimits) carries 21 bytes.
MAX_PAYLOAD_BYTES = 64
MAX_BODY_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES
#: COBS adds one byte per started run of 254 bytes: one byte for any body we allow.
MAX_STUFFED_BYTES = MAX_BODY_BYTES + 1

CRC_INIT = 0xFFFF  # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0
CRC_POLY = 0x1021

# --- Sequence numbers ------------------------------------------------------------------------
SEQ_MODULUS = 1 << 16
#: A frame is new when it is 1 … 32767 ahead of the last accepted one (serial-number
#: arithmetic, RFC 1982): half the space forward is new, the other half is the past.
SEQ_WINDOW = SEQ_MODULUS // 2 - 1

# --- Timing (derived: no source gives these; sized for the UART above) ------------------------
#: Heartbeat timeout until the host has sent SetLimits.
DEFAULT_HEARTBEAT_TIMEOUT_MS = 1000
MIN_HEARTBEAT_TIMEOUT_MS = 100
#: Issue 3: "the firmware ramps to zero by itself within a few seconds of the last heartbeat".
MAX_HEARTBEAT_TIMEOUT_MS = 5000
#: The host sends a frame at least this many times per heartbeat timeout, so that one or two
#: frames lost to noise never starve the watchdog.
HEARTBEATS_PER_TIMEOUT = 4
#: Sample period while output may flow (wait_contact … reversing) and otherwise.
SAMPLE_PERIOD_MS = 10
IDLE_SAMPLE_PERIOD_MS = 100
#: The device answers every frame whose CRC holds within this time (Ack or Nack).
REPLY_DEADLINE_MS = 20
#: A host that has no answer after this long sends the command again, with a new sequence
#: number (every command is idempotent, see Reverse).
RETRY_AFTER_MS = 50
#: The device reports discarded frames as Fault(bad_frame) at most this often.
BAD_FRAME_REPORT_INTERVAL_MS = 1000

# --- Wire ranges of the settings ---------------------------------------------------------------
#: Largest current the wire can ask for: 80 mA, the DC output limit of IEC 60601-2-10 (1987
#: edition; clinical-reference §7). Far above any firmware ceiling, so that a request above
#: the ceiling arrives intact and is refused by the firmware with a reason (ceiling_request).
WIRE_MAX_CURRENT_UA = 80_000
#: Largest compliance voltage: ~90 V, the highest in any source (Levit/Fischer method;
#: glycopyrronium up to 90 V DC, Robinul SmPC; clinical-reference §2).
WIRE_MAX_COMPLIANCE_MV = 90_000
#: Fastest slew the wire can ask for (derived): full scale in one second. Clinical ramps are
#: ~1000× slower (30 s to 20 mA ≈ 667 µA/s, Soterix IontoDC).
WIRE_MAX_SLEW_UA_PER_S = WIRE_MAX_CURRENT_UA
#: Pulsed DC runs at 5–10 kHz (Reinauer 1995); the wire allows up to twice that (derived).
WIRE_MAX_PULSE_FREQUENCY_HZ = 20_000
PERMILLE = 1000

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
I32_MIN = -(1 << 31)
I32_MAX = (1 << 31) - 1


# --- Enums -----------------------------------------------------------------------------------
class MessageType(IntEnum):
    """The type byte. Host → device below 0x80, device → host from 0x80 (the top bit)."""

    SET_LIMITS = 0x01
    START = 0x02
    SET_TARGET = 0x03
    REVERSE = 0x04
    STOP = 0x05
    HEARTBEAT = 0x06
    CLEAR_FAULT = 0x07
    ACK = 0x81
    NACK = 0x82
    SAMPLE = 0x83
    FAULT = 0x84

    @property
    def from_host(self) -> bool:
        return self < 0x80


HOST_TO_DEVICE: frozenset[MessageType] = frozenset(t for t in MessageType if t.from_host)
DEVICE_TO_HOST: frozenset[MessageType] = frozenset(t for t in MessageType if not t.from_host)
ALL_TYPES: frozenset[MessageType] = frozenset(MessageType)


class DeviceState(IntEnum):
    """The firmware's state, as reported in every Sample."""

    IDLE = 0  # no output; waiting for Start
    WAIT_CONTACT = 1  # started; output held at zero until the circuit is closed
    RAMP_UP = 2  # climbing to the target along the slew limit
    ON = 3  # at the target
    RAMP_DOWN = 4  # falling to zero (Stop, watchdog, or before a reversal)
    REVERSING = 5  # at zero, switching polarity, then ramping up again
    LATCHED_FAULT = 6  # output cut; stays so until ClearFault at zero output


class Polarity(IntEnum):
    """Which way the current flows. The value is the sign of the current (i8 on the wire).

    Forward: current leaves terminal A (the anode, +) and returns through terminal B.
    """

    FORWARD = 1
    REVERSE = -1

    @property
    def opposite(self) -> Polarity:
        return Polarity.REVERSE if self is Polarity.FORWARD else Polarity.FORWARD


class WaveformCode(IntEnum):
    """The output waveform. Pure AC has no code on purpose: it cannot be asked for.

    Pure AC had virtually no effect (Reinauer, BJD 1993), so it is not offered; 0 and 4 are
    never assigned, and a frame carrying them is out of range.
    """

    DC = 1
    PULSED_DC = 2
    AC_DC_OFFSET = 3


class FaultCode(IntEnum):
    """Why the device cut (or refused) output. Reported in Sample and Fault messages."""

    NONE = 0
    OVERCURRENT = 1  # measured current above the firmware's trip level: cut and latch
    OPEN_CIRCUIT = 2  # contact lost while output was flowing: cut and latch
    COMPLIANCE = 3  # the load needs more than the compliance voltage for the set current
    WATCHDOG = 4  # no valid frame from the host within the heartbeat timeout: ramp down
    CEILING_REQUEST = 5  # the host asked for more than a firmware hard limit allows
    BAD_FRAME = 6  # frames were discarded (report only: never latches, never changes output)


class RejectReason(IntEnum):
    """Why a frame was rejected. Only :attr:`nackable` reasons are ever sent in a Nack:
    the others mean the frame's CRC did not hold, so its sequence number means nothing."""

    # Framing: the bytes are not a frame of ours. Never Nacked.
    STUFFING = 1  # invalid COBS (a block runs past the end of the frame)
    TOO_SHORT = 2  # fewer than 7 bytes after unstuffing
    OVERSIZE = 3  # more than MAX_STUFFED_BYTES before a delimiter
    BAD_CRC = 4
    BAD_VERSION = 5  # CRC holds but another protocol version: its layout is unknown
    # Content: the CRC holds, so the sequence number is trustworthy. Nacked.
    BAD_LENGTH = 6  # length byte ≠ bytes received, or ≠ the type's fixed payload size
    UNKNOWN_TYPE = 7
    WRONG_DIRECTION = 8  # a device → host type sent to the device, or the reverse
    OUT_OF_RANGE = 9  # a field outside its documented range
    # Sequence (SequenceGuard). Nacked.
    DUPLICATE = 10  # the same seq as the last accepted frame
    OUT_OF_ORDER = 11  # older than the last accepted frame (replayed or reordered)
    # Device state (the firmware's own checks). Nacked.
    NOT_ALLOWED_NOW = 12  # not in the state table for this state (the output may go safe)
    ABOVE_CEILING = 13  # beyond a hard limit, for a firmware that refuses rather than clamps
    NO_LIMITS = 14  # Start before any SetLimits was accepted: no waveform chosen
    UNSUPPORTED_VALUE = 15  # within the wire's range but not one this device can produce
    LOCKED_IN_SESSION = 16  # a setting that cannot change once a session has started
    OUTPUT_NOT_ZERO = 17  # ClearFault while current still flows

    @property
    def nackable(self) -> bool:
        return self >= RejectReason.BAD_LENGTH


NACKABLE_REASONS: frozenset[RejectReason] = frozenset(r for r in RejectReason if r.nackable)


class AckCode(IntEnum):
    """How an accepted command was carried out (the firmware's result, in an Ack)."""

    APPLIED = 0
    ALREADY_IN_FORCE = 1  # a resent or repeated command: nothing to change
    CLAMPED_TO_CEILING = 2  # above a hard limit: lowered to it (and Fault ceiling_request)
    CLAMPED_TO_LIMIT = 3  # a target above the session limit: lowered to it
    NOT_RAISED_IN_SESSION = 4  # a session's limits only go down: the old, lower value kept


def waveform_code(waveform: Waveform) -> WaveformCode:
    """The wire code of a therapeutic waveform; pure AC has none (Reinauer, BJD 1993)."""
    codes = {
        Waveform.DC: WaveformCode.DC,
        Waveform.PULSED_DC: WaveformCode.PULSED_DC,
        Waveform.AC_DC_OFFSET: WaveformCode.AC_DC_OFFSET,
    }
    if waveform not in codes:
        raise ValueError(f"waveform {waveform.value!r} cannot be sent: pure AC has no effect")
    return codes[waveform]


# --- Field specifications --------------------------------------------------------------------
_TYPE_NAMES = {"B": "u8", "b": "i8", "H": "u16", "h": "i16", "I": "u32", "i": "i32"}


@dataclass(frozen=True)
class FieldSpec:
    """One payload field: its struct code, range, unit and meaning. The doc's tables are
    rendered from these (:func:`markdown_field_table`), so code and doc cannot drift."""

    name: str
    code: str  # struct format character (little-endian layout)
    lo: int
    hi: int
    unit: str
    meaning: str
    enum: type[IntEnum] | None = None
    #: When set, only these values are in range (a subset of an enum, e.g. Fault ≠ none).
    allowed: frozenset[int] | None = None

    def accepts(self, value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        if self.enum is not None and not isinstance(value, self.enum):
            return False
        in_set = self.allowed is None or value in self.allowed
        return self.lo <= value <= self.hi and in_set

    @property
    def wire_type(self) -> str:
        return _TYPE_NAMES[self.code]

    def describe_range(self) -> str:
        if self.enum is not None:
            members = [m for m in self.enum if self.allowed is None or m in self.allowed]
            return ", ".join(f"{m.name.lower()} = {int(m)}" for m in members)
        if self.allowed is not None:
            return ", ".join(str(v) for v in sorted(self.allowed))
        return f"{self.lo} … {self.hi}"


def _enum_field(
    name: str, code: str, enum: type[IntEnum], meaning: str, allowed: Collection[int] = ()
) -> FieldSpec:
    values = [int(m) for m in enum]
    return FieldSpec(
        name=name,
        code=code,
        lo=min(values),
        hi=max(values),
        unit="—",
        meaning=meaning,
        enum=enum,
        allowed=frozenset(allowed) if allowed else None,
    )


def _seq_field(name: str, meaning: str) -> FieldSpec:
    return FieldSpec(name, "H", 0, U16_MAX, "—", meaning)


# --- Messages --------------------------------------------------------------------------------
class WireMessage:
    """Base of every message: checks each field against its :class:`FieldSpec` on creation."""

    __slots__ = ()
    TYPE: ClassVar[MessageType]
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = ()
    LAYOUT: ClassVar[struct.Struct]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.LAYOUT = struct.Struct("<" + "".join(spec.code for spec in cls.FIELDS))

    def __post_init__(self) -> None:
        for spec in self.FIELDS:
            value = getattr(self, spec.name)
            if not spec.accepts(value):
                raise ValueError(
                    f"{type(self).__name__}.{spec.name} = {value!r} is out of range "
                    f"({spec.describe_range()})"
                )
        self._check_combination()

    def _check_combination(self) -> None:
        """Rules between fields; a message with none has nothing to check."""

    def payload(self) -> bytes:
        return self.LAYOUT.pack(*(getattr(self, spec.name) for spec in self.FIELDS))


@dataclass(frozen=True, slots=True)
class SetLimits(WireMessage):
    """The session's limits and waveform. Currents are averages (pulsed DC: duty-averaged)."""

    TYPE: ClassVar[MessageType] = MessageType.SET_LIMITS
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "session_limit_uA",
            "I",
            1,
            WIRE_MAX_CURRENT_UA,
            "µA",
            "Per-session current limit (average); no target or ramp may exceed it.",
        ),
        FieldSpec(
            "compliance_mV",
            "I",
            1,
            WIRE_MAX_COMPLIANCE_MV,
            "mV",
            "Highest voltage the output may put across the patient.",
        ),
        FieldSpec(
            "slew_uA_per_s",
            "I",
            1,
            WIRE_MAX_SLEW_UA_PER_S,
            "µA/s",
            "Fastest change of the set point, up or down (a cut to zero is exempt).",
        ),
        FieldSpec(
            "heartbeat_timeout_ms",
            "H",
            MIN_HEARTBEAT_TIMEOUT_MS,
            MAX_HEARTBEAT_TIMEOUT_MS,
            "ms",
            "No valid frame for this long: the device ramps down by itself.",
        ),
        _enum_field("waveform", "B", WaveformCode, "Output waveform (pure AC has no code)."),
        FieldSpec(
            "pulse_frequency_hz",
            "H",
            0,
            WIRE_MAX_PULSE_FREQUENCY_HZ,
            "Hz",
            "Pulse (pulsed_dc) or AC (ac_dc_offset) frequency; 0 for dc.",
        ),
        FieldSpec(
            "duty_permille",
            "H",
            0,
            PERMILLE - 1,
            "‰",
            "pulsed_dc: share of each period that is on (1 … 999); 0 otherwise.",
        ),
        FieldSpec(
            "ac_amplitude_permille",
            "H",
            0,
            PERMILLE,
            "‰",
            "ac_dc_offset: AC peak as a share of the DC offset (1 … 1000); 0 otherwise.",
        ),
    )

    session_limit_uA: int
    compliance_mV: int
    slew_uA_per_s: int
    heartbeat_timeout_ms: int
    waveform: WaveformCode
    pulse_frequency_hz: int = 0
    duty_permille: int = 0
    ac_amplitude_permille: int = 0

    def _check_combination(self) -> None:
        """Each waveform's own parameters are set and the others are zero.

        The AC amplitude never exceeds the DC offset, so the current never changes sign: the
        waveform stays DC with a ripple, never partly the pure AC that has no effect.
        """
        pulsed = self.waveform is WaveformCode.PULSED_DC
        ac = self.waveform is WaveformCode.AC_DC_OFFSET
        problems = []
        if (self.pulse_frequency_hz > 0) != (pulsed or ac):
            problems.append("pulse_frequency_hz must be > 0 exactly for pulsed_dc and ac_dc_offset")
        if (self.duty_permille > 0) != pulsed:
            problems.append("duty_permille must be > 0 exactly for pulsed_dc")
        if (self.ac_amplitude_permille > 0) != ac:
            problems.append("ac_amplitude_permille must be > 0 exactly for ac_dc_offset")
        if problems:
            raise ValueError(f"SetLimits with {self.waveform.name.lower()}: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Start(WireMessage):
    """Arm the output in this polarity: the device waits for contact, then ramps up."""

    TYPE: ClassVar[MessageType] = MessageType.START
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _enum_field("polarity", "b", Polarity, "Polarity of the session's first phase."),
    )

    polarity: Polarity


@dataclass(frozen=True, slots=True)
class SetTarget(WireMessage):
    """The current to ramp to (magnitude, average); the device clamps the ramp to its slew."""

    TYPE: ClassVar[MessageType] = MessageType.SET_TARGET
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "target_uA",
            "I",
            0,
            WIRE_MAX_CURRENT_UA,
            "µA",
            "Target current magnitude (average); 0 ramps to zero and holds.",
        ),
    )

    target_uA: int


@dataclass(frozen=True, slots=True)
class Reverse(WireMessage):
    """Ramp to zero, switch to ``to_polarity``, ramp back up to the target.

    It names the polarity to reverse *to* rather than toggling, so that a command resent after
    a lost Ack cannot reverse twice: asking for the polarity already in force changes nothing.
    """

    TYPE: ClassVar[MessageType] = MessageType.REVERSE
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _enum_field("to_polarity", "b", Polarity, "The polarity after the reversal."),
    )

    to_polarity: Polarity


@dataclass(frozen=True, slots=True)
class Stop(WireMessage):
    """Ramp down to zero along the slew limit, then idle."""

    TYPE: ClassVar[MessageType] = MessageType.STOP


@dataclass(frozen=True, slots=True)
class Heartbeat(WireMessage):
    """The host is still there: feeds the device's watchdog (as does any accepted frame)."""

    TYPE: ClassVar[MessageType] = MessageType.HEARTBEAT


@dataclass(frozen=True, slots=True)
class ClearFault(WireMessage):
    """Leave latched_fault for idle. Accepted only while the output is at zero."""

    TYPE: ClassVar[MessageType] = MessageType.CLEAR_FAULT


@dataclass(frozen=True, slots=True)
class Ack(WireMessage):
    """The host's frame ``acked_seq`` was accepted; ``code`` says how it was carried out and
    ``value_uA`` what is now in force, so a clamped request is never mistaken for obeyed."""

    TYPE: ClassVar[MessageType] = MessageType.ACK
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _seq_field("acked_seq", "Sequence number of the accepted host frame."),
        _enum_field(
            "acked_type",
            "B",
            MessageType,
            "Type of the accepted host frame.",
            allowed=HOST_TO_DEVICE,
        ),
        _enum_field("code", "B", AckCode, "How it was carried out."),
        FieldSpec(
            "value_uA",
            "I",
            0,
            WIRE_MAX_CURRENT_UA,
            "µA",
            "Now in force: the target (SetTarget) or session limit (SetLimits); else 0.",
        ),
    )

    acked_seq: int
    acked_type: MessageType
    code: AckCode = AckCode.APPLIED
    value_uA: int = 0


@dataclass(frozen=True, slots=True)
class Nack(WireMessage):
    """The host's frame ``nacked_seq`` was rejected and changed nothing; ``reason`` says why.

    ``expected_seq`` is the lowest sequence number the device would accept next (the last
    accepted + 1; 0 before any): a host that restarted continues from it.
    """

    TYPE: ClassVar[MessageType] = MessageType.NACK
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _seq_field("nacked_seq", "Sequence number of the rejected host frame."),
        FieldSpec(
            "nacked_type",
            "B",
            0,
            0xFF,
            "—",
            "Its type byte as received (it may be unknown).",
        ),
        _enum_field(
            "reason",
            "B",
            RejectReason,
            "Why it was rejected (nackable reasons only).",
            allowed=NACKABLE_REASONS,
        ),
        _seq_field("expected_seq", "Next sequence number the device would accept."),
    )

    nacked_seq: int
    nacked_type: int
    reason: RejectReason
    expected_seq: int


@dataclass(frozen=True, slots=True)
class Sample(WireMessage):
    """One reading of the output, sent every SAMPLE_PERIOD_MS (IDLE_SAMPLE_PERIOD_MS at rest).

    Measurements span their whole type: the host must see whatever the device measured,
    however implausible — judging plausibility is the host's job, not the framing's.
    """

    TYPE: ClassVar[MessageType] = MessageType.SAMPLE
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("tick_ms", "I", 0, U32_MAX, "ms", "Device tick of the reading (wraps)."),
        FieldSpec(
            "current_uA",
            "i",
            I32_MIN,
            I32_MAX,
            "µA",
            "Measured current over that 1 ms tick; positive = forward.",
        ),
        FieldSpec(
            "voltage_mV",
            "i",
            I32_MIN,
            I32_MAX,
            "mV",
            "Measured voltage across the output; same sign convention.",
        ),
        _enum_field("polarity", "b", Polarity, "Polarity in force (or armed, at zero)."),
        _enum_field("state", "B", DeviceState, "Firmware state."),
        _enum_field("fault", "B", FaultCode, "Active fault until cleared; none otherwise."),
    )

    tick_ms: int
    current_uA: int
    voltage_mV: int
    polarity: Polarity
    state: DeviceState
    fault: FaultCode


@dataclass(frozen=True, slots=True)
class Fault(WireMessage):
    """A fault event, sent once when it happens (the Samples then carry it while active)."""

    TYPE: ClassVar[MessageType] = MessageType.FAULT
    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (
        _enum_field(
            "code",
            "B",
            FaultCode,
            "What happened (never none).",
            allowed=frozenset(FaultCode) - {FaultCode.NONE},
        ),
        FieldSpec("tick_ms", "I", 0, U32_MAX, "ms", "Device tick at which it was detected."),
    )

    code: FaultCode
    tick_ms: int


HostMessage: TypeAlias = SetLimits | Start | SetTarget | Reverse | Stop | Heartbeat | ClearFault
DeviceMessage: TypeAlias = Ack | Nack | Sample | Fault
Message: TypeAlias = HostMessage | DeviceMessage

MESSAGE_CLASSES: dict[MessageType, type[WireMessage]] = {
    cls.TYPE: cls
    for cls in (
        SetLimits,
        Start,
        SetTarget,
        Reverse,
        Stop,
        Heartbeat,
        ClearFault,
        Ack,
        Nack,
        Sample,
        Fault,
    )
}


# --- Checksum and byte stuffing --------------------------------------------------------------
def crc16_ccitt_false(data: bytes, crc: int = CRC_INIT) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0; check value
    0x29B1 for b"123456789"). ``binascii.crc_hqx`` is exactly this with init 0xFFFF."""
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result contains no 0x00 byte.

    Each block is a code byte n (1 … 255) followed by n − 1 data bytes; a block with n < 255
    stands for its data followed by a 0x00, except the last block of the frame.
    """
    out = bytearray()
    runs = data.split(b"\x00")
    last = len(runs) - 1
    for index, run in enumerate(runs):
        # A run of 254 bytes or more is cut into 0xFF blocks, which carry no implied zero.
        while len(run) >= 0xFE:
            out.append(0xFF)
            out += run[:0xFE]
            run = run[0xFE:]
            if not run and index == last:
                return bytes(out)  # the data ended on a full block: no empty block after it
        out.append(len(run) + 1)
        out += run
    return bytes(out)


def cobs_decode(stuffed: bytes) -> bytes:
    """Undo :func:`cobs_encode`; ``ValueError`` on a zero byte or a block past the end."""
    out = bytearray()
    index = 0
    end = len(stuffed)
    while index < end:
        code = stuffed[index]
        if code == 0:
            raise ValueError(f"COBS: zero code byte at offset {index}")
        block_end = index + code
        if block_end > end:
            raise ValueError(f"COBS: block at offset {index} runs {block_end - end} bytes past")
        block = stuffed[index + 1 : block_end]
        if 0 in block:
            raise ValueError("COBS: zero byte inside a block")
        out += block
        index = block_end
        if code < 0xFF and index < end:
            out.append(0)
    return bytes(out)


def frame_body(
    type_code: int,
    seq: int,
    payload: bytes,
    *,
    version: int = PROTOCOL_VERSION,
    length: int | None = None,
) -> bytes:
    """The unstuffed body with its CRC, unchecked: any type byte, payload, version or length
    byte (``length`` defaults to the payload's size). For tests and fuzzing of bad frames."""
    size = len(payload) if length is None else length
    try:
        header = HEADER.pack(version, size, seq, type_code)
    except struct.error as error:
        raise ValueError(f"header field out of its byte range: {error}") from None
    body = header + payload
    return body + CRC.pack(crc16_ccitt_false(body))


def stuff(body: bytes) -> bytes:
    """A body as it goes on the wire: ``00 | COBS(body) | 00``.

    The leading 0x00 costs one byte and ends whatever garbage or half frame the receiver holds,
    so a good frame right after noise is never lost.
    """
    return b"\x00" + cobs_encode(body) + b"\x00"


def encode(message: Message, seq: int) -> bytes:
    """The bytes to send for ``message`` with sequence number ``seq`` (0 … 65535)."""
    if not (isinstance(seq, int) and 0 <= seq < SEQ_MODULUS):
        raise ValueError(f"sequence number must be 0 … {SEQ_MODULUS - 1}, got {seq!r}")
    return stuff(frame_body(message.TYPE, seq, message.payload()))


# --- Decoding --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A frame that passed every check of the framing: CRC, version, length, type, ranges.

    Its sequence number has *not* been checked yet: that is :class:`SequenceGuard`'s job.
    """

    seq: int
    message: Message


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame (or a run of garbage) that was dropped, and why. Nothing else changed."""

    reason: RejectReason
    detail: str
    #: Known only when the CRC held (then the device answers with a Nack).
    seq: int | None = None
    type_code: int | None = None


FeedResult: TypeAlias = DecodedFrame | Rejected


class FrameDecoder:
    """Turns any byte stream into frames: garbage, truncated, concatenated or split frames.

    Memory is bounded: at most MAX_STUFFED_BYTES are held while waiting for a delimiter.
    ``accepts`` is the set of types this side may receive (the device: HOST_TO_DEVICE); a
    frame of another known type is rejected as WRONG_DIRECTION.
    """

    def __init__(self, accepts: Collection[MessageType] | None = None) -> None:
        self._accepts = frozenset(MessageType if accepts is None else accepts)
        self._pending = bytearray()
        self._discarding = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held of a frame whose closing delimiter has not arrived yet."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget any partial frame (e.g. after the port was reopened)."""
        self._pending.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[FeedResult]:
        """Every frame completed by ``data``, in order: decoded or rejected."""
        chunk = bytes(data)
        results: list[FeedResult] = []
        start = 0
        while start < len(chunk):
            end = chunk.find(DELIMITER, start)
            if end < 0:
                self._hold(chunk[start:], results)
                break
            self._hold(chunk[start:end], results)
            if self._pending:
                results.append(decode_stuffed(bytes(self._pending), self._accepts))
            self._pending.clear()
            self._discarding = False
            start = end + 1
        return results

    def _hold(self, piece: bytes, results: list[FeedResult]) -> None:
        if self._discarding or not piece:
            return
        self._pending += piece
        if len(self._pending) > MAX_STUFFED_BYTES:
            results.append(
                Rejected(
                    RejectReason.OVERSIZE,
                    f"more than {MAX_STUFFED_BYTES} bytes without a delimiter; "
                    "discarding up to the next 0x00",
                )
            )
            self._pending.clear()
            self._discarding = True


def decode_stuffed(stuffed: bytes, accepts: Collection[MessageType] = ALL_TYPES) -> FeedResult:
    """One frame's bytes between two delimiters, unstuffed and checked."""
    try:
        body = cobs_decode(stuffed)
    except ValueError as error:
        return Rejected(RejectReason.STUFFING, str(error))
    return decode_body(body, accepts)


def decode_body(body: bytes, accepts: Collection[MessageType] = ALL_TYPES) -> FeedResult:
    """Check an unstuffed body in the documented order; the first failure is the reason."""
    if len(body) < MIN_BODY_BYTES:
        return Rejected(RejectReason.TOO_SHORT, f"{len(body)} bytes, at least {MIN_BODY_BYTES}")
    (received_crc,) = CRC.unpack_from(body, len(body) - CRC_BYTES)
    computed_crc = crc16_ccitt_false(body[:-CRC_BYTES])
    if received_crc != computed_crc:
        return Rejected(
            RejectReason.BAD_CRC, f"CRC 0x{received_crc:04X}, computed 0x{computed_crc:04X}"
        )
    version, length, seq, type_code = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        return Rejected(RejectReason.BAD_VERSION, f"version {version}, not {PROTOCOL_VERSION}")
    payload = body[HEADER_BYTES:-CRC_BYTES]

    def rejected(reason: RejectReason, detail: str) -> Rejected:
        return Rejected(reason, detail, seq=seq, type_code=type_code)

    if length != len(payload):
        return rejected(RejectReason.BAD_LENGTH, f"length byte {length}, payload {len(payload)}")
    if type_code not in MESSAGE_CLASSES:
        return rejected(RejectReason.UNKNOWN_TYPE, f"type 0x{type_code:02X}")
    message_type = MessageType(type_code)
    if message_type not in accepts:
        return rejected(RejectReason.WRONG_DIRECTION, f"{message_type.name} not accepted here")
    cls = MESSAGE_CLASSES[message_type]
    if length != cls.LAYOUT.size:
        return rejected(
            RejectReason.BAD_LENGTH, f"{cls.__name__} carries {cls.LAYOUT.size} bytes, not {length}"
        )
    values = cls.LAYOUT.unpack(payload)
    arguments: dict[str, Any] = {}
    for spec, value in zip(cls.FIELDS, values, strict=True):
        if spec.enum is not None:
            try:
                value = spec.enum(value)
            except ValueError:
                return rejected(
                    RejectReason.OUT_OF_RANGE, f"{cls.__name__}.{spec.name} = {value} unknown"
                )
        arguments[spec.name] = value
    try:
        message = cast(Message, cls(**arguments))
    except ValueError as error:
        return rejected(RejectReason.OUT_OF_RANGE, str(error))
    return DecodedFrame(seq=seq, message=message)


# --- Sequence numbers ------------------------------------------------------------------------
def sequence_distance(seq: int, last: int) -> int:
    """How far ``seq`` is ahead of ``last``, modulo 65536 (0 … 65535)."""
    return (seq - last) % SEQ_MODULUS


class SequenceGuard:
    """Receiver side: accepts a frame only when its sequence number is new.

    With ``last`` the last accepted number and ``d = (seq − last) mod 65536``:
    ``d = 0`` → DUPLICATE; ``1 ≤ d ≤ 32767`` → accepted (``d − 1`` frames were lost);
    ``d ≥ 32768`` → OUT_OF_ORDER (a replayed or reordered older frame). Before any frame
    has been accepted, any number is. A rejected number changes nothing.
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._lost = 0

    @property
    def last_seq(self) -> int | None:
        return self._last

    @property
    def expected_seq(self) -> int:
        """The lowest number that would be accepted next (0 before any frame)."""
        return 0 if self._last is None else (self._last + 1) % SEQ_MODULUS

    @property
    def lost_frames(self) -> int:
        """Frames skipped over by accepted numbers (gaps), for the link's statistics."""
        return self._lost

    def check(self, seq: int) -> RejectReason | None:
        """Why ``seq`` would be rejected, or ``None`` when it would be accepted (no change)."""
        if not 0 <= seq < SEQ_MODULUS:
            raise ValueError(f"sequence number must be 0 … {SEQ_MODULUS - 1}, got {seq}")
        if self._last is None:
            return None
        distance = sequence_distance(seq, self._last)
        if distance == 0:
            return RejectReason.DUPLICATE
        if distance > SEQ_WINDOW:
            return RejectReason.OUT_OF_ORDER
        return None

    def admit(self, seq: int) -> RejectReason | None:
        """Accept ``seq`` and remember it, or say why not (and remember nothing)."""
        reason = self.check(seq)
        if reason is None:
            if self._last is not None:
                self._lost += sequence_distance(seq, self._last) - 1
            self._last = seq
        return reason

    def reset(self) -> None:
        """Forget the last number (power-up): the next frame sets the window."""
        self._last = None
        self._lost = 0


class SequenceCounter:
    """Sender side: one new number per frame sent, retransmissions included; wraps at 65536."""

    def __init__(self, start: int = 0) -> None:
        self._next = start % SEQ_MODULUS

    @property
    def next_seq(self) -> int:
        return self._next

    def take(self) -> int:
        seq = self._next
        self._next = (seq + 1) % SEQ_MODULUS
        return seq

    def resync(self, expected_seq: int) -> None:
        """Continue from the receiver's ``expected_seq`` (after a Nack for the sequence)."""
        self._next = expected_seq % SEQ_MODULUS


def nack_for(rejected: Rejected, guard: SequenceGuard) -> Nack | None:
    """The Nack the receiver sends for a rejected frame, or ``None`` when it must stay silent
    (the CRC did not hold, so there is no trustworthy sequence number to answer)."""
    if not rejected.reason.nackable or rejected.seq is None or rejected.type_code is None:
        return None
    return Nack(
        nacked_seq=rejected.seq,
        nacked_type=rejected.type_code,
        reason=rejected.reason,
        expected_seq=guard.expected_seq,
    )


# --- Documentation ---------------------------------------------------------------------------
def markdown_field_table(cls: type[WireMessage]) -> str:
    """The payload of a message as a Markdown table (offset, field, type, unit, range,
    meaning); ``docs/wire-protocol.md`` carries exactly these tables."""
    lines = [
        "| offset | field | type | unit | range | meaning |",
        "|---:|---|---|---|---|---|",
    ]
    offset = 0
    for spec in cls.FIELDS:
        lines.append(
            f"| {offset} | `{spec.name}` | {spec.wire_type} | {spec.unit} | "
            f"{spec.describe_range()} | {spec.meaning} |"
        )
        offset += struct.calcsize("<" + spec.code)
    if not cls.FIELDS:
        lines.append("| — | (no payload) | | | | |")
    return "\n".join(lines)
