"""What the device's output terminals are connected to: the seam between firmware and physics.

The firmware is a current source with a compliance voltage. Each tick it asks the load to carry
a current; the load answers with what actually flowed and the voltage across it. A load that
needs more than the compliance voltage carries less than was asked (Ohm's law with a ceiling),
and an open circuit carries nothing while the terminals sit at the compliance voltage.

Integer units, as on a microcontroller: microamps, millivolts, and 1 ms ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

TICK_S = 0.001  # the firmware loop runs at 1 kHz


@dataclass(frozen=True)
class LoadReading:
    """What the firmware's ADCs see after one tick."""

    current_uA: int  # signed: positive in forward polarity
    voltage_mV: int  # signed, same convention


class Load(Protocol):
    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        """Carry ``demand_uA`` (signed) for the 1 ms tick number ``tick``, never exceeding
        ``compliance_mV`` in magnitude across the terminals; report what flowed."""
        ...
