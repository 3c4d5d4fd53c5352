"""Coverage-guided fuzzing of the wire decoder with atheris, run by hand.

atheris is not a dependency of Ionto (the test suite never imports it, only ``check_one``);
install it with Ionto into a scratch environment, then run this file (libFuzzer options
follow; a crash leaves the offending input in ``crash-*`` for ``check_one`` to replay):

    python3.11 -m venv /tmp/ionto-fuzz
    /tmp/ionto-fuzz/bin/pip install atheris -e .
    /tmp/ionto-fuzz/bin/python benchmarks/fuzz_wire.py -max_total_time=300

The property checked on every input (:func:`check_one`, also run by the test suite with
hypothesis): the decoder never raises and holds a bounded amount of memory; feeding the
input whole or in pieces gives the same results; and every frame it accepts is exactly the
canonical encoding of what it decoded to — so a frame can only come out if it went in.
"""

from __future__ import annotations

import importlib
import sys

from ionto.device.wire import (
    CRC,
    CRC_BYTES,
    HOST_TO_DEVICE,
    MAX_BODY_BYTES,
    MAX_STUFFED_BYTES,
    DecodedFrame,
    FeedResult,
    FrameDecoder,
    SequenceGuard,
    crc16_ccitt_false,
    decode_body,
    encode,
    nack_for,
    stuff,
)


def _feed_in_pieces(data: bytes, piece: int) -> list[FeedResult]:
    decoder = FrameDecoder()
    results: list[FeedResult] = []
    for start in range(0, len(data), piece):
        results += decoder.feed(data[start : start + piece])
        if decoder.pending_bytes > MAX_STUFFED_BYTES:
            raise AssertionError(f"decoder holds {decoder.pending_bytes} bytes")
    return results


def check_one(data: bytes) -> None:
    """Decode ``data`` every way there is; raise AssertionError if the decoder misbehaves."""
    piece = 1 + (data[0] % 17 if data else 0)
    whole = FrameDecoder().feed(data)
    if _feed_in_pieces(data, piece) != whole:
        raise AssertionError("splitting the input changed what was decoded")
    guard = SequenceGuard()
    for result in whole:
        if isinstance(result, DecodedFrame):
            frame = encode(result.message, result.seq)
            if frame[1:-1] not in data:
                raise AssertionError(f"accepted a frame that is not in the input: {result}")
            guard.admit(result.seq)
        else:
            nack_for(result, guard)
    # The device's own decoder only accepts host messages; it must survive the same bytes.
    FrameDecoder(accepts=HOST_TO_DEVICE).feed(data)
    # Random bytes almost never pass the CRC; given one, the fuzzer explores the checks after it.
    if len(data) <= MAX_BODY_BYTES - CRC_BYTES:
        body = data + CRC.pack(crc16_ccitt_false(data))
        result = decode_body(body)
        if isinstance(result, DecodedFrame) and encode(result.message, result.seq) != stuff(body):
            raise AssertionError(f"accepted a non-canonical body: {data.hex()}")


def main() -> None:
    # Imported here, by name, so that the test suite can load this file without atheris.
    try:
        atheris = importlib.import_module("atheris")
    except ModuleNotFoundError:
        raise SystemExit("atheris is not installed: see the top of this file") from None
    atheris.instrument_all()
    atheris.Setup(sys.argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
