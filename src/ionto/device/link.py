"""How the session controller reaches a device: in-process or over a serial port.

The controller never knows which (PyMeasure's adapter/instrument split): it sends host
messages (:mod:`ionto.device.wire`) and lets device time run to a tick it chooses, learning on
the way back every state change, the charge delivered per polarity and the samples for its
trace. A simulated link runs device time as fast as it can; a serial link waits in real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ionto.device.wire import DeviceState, FaultCode, HostMessage, Polarity


@dataclass(frozen=True, slots=True)
class Reply:
    """The device's answer to one command (an Ack or a Nack on the wire)."""

    accepted: bool
    code: int  # firmware.ResultCode on an in-process link; wire.AckCode / RejectReason on serial
    value_uA: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeviceSample:
    """One reading of the device (a wire ``Sample``)."""

    tick: int
    current_uA: int  # signed: positive in forward polarity
    voltage_mV: int
    polarity: Polarity
    state: DeviceState
    fault: FaultCode


@dataclass(frozen=True, slots=True)
class Progress:
    """What happened while device time ran from one tick to another."""

    #: The device's state at the end (the tick it stopped at may be before the one asked for,
    #: when the state, polarity or fault changed: the caller sees every change at its tick).
    last: DeviceSample
    #: Treatment charge delivered, µA × 1 ms ticks, per polarity (both ≥ 0).
    forward_uA_ms: int
    reverse_uA_ms: int
    #: Largest current magnitude on the way (µA).
    peak_uA: int
    #: Samples taken on the way at the link's sample rate (may be empty).
    samples: tuple[DeviceSample, ...] = ()


class DeviceLink(Protocol):
    @property
    def tick(self) -> int:
        """The device's clock: 1 ms ticks since it was switched on."""
        ...

    def send(self, message: HostMessage) -> Reply:
        """Deliver one host message and return the device's answer."""
        ...

    def run_until(self, tick: int) -> Progress:
        """Let device time run up to ``tick``, returning early at the first change of state,
        polarity or fault."""
        ...

    def close(self) -> None: ...
