"""Why: the value objects that carry every decision's reason and source.

Every reason, limit and verdict in the contract carries ``code`` (snake_case, stable),
``text`` (plain English for a nurse or patient) and ``source`` (the reference it rests on).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ionto.therapy.sources import Source

_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class Reason:
    """One reason for a decision: what (code), in words (text), and on whose authority."""

    code: str
    text: str
    source: Source

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValueError(f"reason code must be snake_case, got {self.code!r}")
        if not self.text:
            raise ValueError("reason text must not be empty")


@dataclass(frozen=True)
class Limit:
    """One cap on a quantity, with its reason: the unit of AndroidAPS's ``Constraint`` chain."""

    code: str
    value: float
    unit: str  # "mA", "mA/cm2", "V", "min", "sessions/day" …
    text: str
    source: Source

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValueError(f"limit code must be snake_case, got {self.code!r}")
        if not math.isfinite(self.value):
            raise ValueError(f"limit {self.code} must be a finite number, got {self.value}")
        if self.value < 0:
            raise ValueError(f"limit {self.code} must not be negative, got {self.value}")


@dataclass(frozen=True)
class Limited:
    """A requested value lowered to the tightest of its caps, remembering every cap and why."""

    requested: float
    value: float
    #: Every cap that applied, tightest first.
    applied: tuple[Limit, ...]
    #: The caps that set the final value (empty when the request was within every cap).
    binding: tuple[Limit, ...]

    @property
    def was_limited(self) -> bool:
        return bool(self.binding)


def limit_value(requested: float, caps: tuple[Limit, ...] | list[Limit]) -> Limited:
    """The requested value, lowered to the tightest cap; every cap kept for the record.

    The result never exceeds any cap (property-tested). Caps of different units must not be
    mixed: callers convert (e.g. a density cap times the smaller wetted area) first.
    """
    if not math.isfinite(requested):
        # NaN compares false with every cap and would pass them all.
        raise ValueError(f"requested value must be a finite number, got {requested}")
    if requested < 0:
        raise ValueError(f"requested value must not be negative, got {requested}")
    units = {c.unit for c in caps}
    if len(units) > 1:
        raise ValueError(f"caps of different units cannot be compared: {sorted(units)}")
    ordered = tuple(sorted(caps, key=lambda c: (c.value, c.code)))
    if not ordered or requested <= ordered[0].value:
        return Limited(requested=requested, value=requested, applied=ordered, binding=())
    tightest = ordered[0].value
    binding = tuple(c for c in ordered if c.value == tightest)
    return Limited(requested=requested, value=tightest, applied=ordered, binding=binding)
