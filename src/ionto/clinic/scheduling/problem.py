"""The booking problem and its answer, as frozen value objects (no I/O, no framework).

Times of day are whole minutes from midnight (``*_min``); dates are ``datetime.date``.
Chairs are numbered from 1, as the contract shows them. Weekdays are 0 (Monday) to 6.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from ionto.therapy.course import TRIAL_COURSE
from ionto.therapy.frequency import FREQUENCY_CAPS, FrequencyCaps
from ionto.therapy.vocabulary import Region

MINUTES_PER_DAY = 24 * 60
WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: A nurse looks after this many chairs at once (CONTRACT.md, ``ionto schedule``: default 2).
DEFAULT_CHAIRS_PER_NURSE = 2
#: Set-up added to every visit: seating, trays, water, paperwork (CONTRACT.md: default 10 min).
DEFAULT_SETUP_MINUTES = 10
#: Appointments start on a grid of this many minutes from midnight. Derived preset: a booking
#: diary of 10-minute lines (what a clinic's paper diary and most booking systems use).
DEFAULT_SLOT_MINUTES = 10


def clock_text(minutes: int) -> str:
    """Minutes from midnight as ``HH:MM`` (1440 is ``24:00``, the end of the day)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class RegionSitting(StrEnum):
    """How a visit with several regions uses the chair (a named preset, derived).

    The clinical reference is silent on treating hands and feet at the same time. It lists
    "one device per patient at a time" among the precautions (§4), so the default treats the
    regions one after another on the one device: a visit lasts the sum of the regions'
    minutes. A centre with four-tray devices that treats palms and soles together chooses
    ``together``: the visit lasts the longest region's minutes.
    """

    ONE_AFTER_ANOTHER = "one_after_another"
    TOGETHER = "together"


@dataclass(frozen=True)
class OpeningHours:
    """The centre's hours on one weekday: visits start and end within [open, close)."""

    weekday: int
    open_min: int
    close_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if not 0 <= self.open_min < self.close_min <= MINUTES_PER_DAY:
            raise ValueError(f"opening hours must open before they close, got {self}")


@dataclass(frozen=True)
class Nurse:
    """A nurse and the weekdays she is rostered on (she works the centre's hours those days)."""

    id: str
    weekdays: frozenset[int]


@dataclass(frozen=True)
class ChairOutage:
    """A chair out of service for a whole day (repair, cleaning, a broken device)."""

    chair: int
    on: date


@dataclass(frozen=True)
class Centre:
    """The centre's capacity over the planning horizon ``start`` … ``start + 7·weeks − 1``."""

    start: date
    weeks: int
    chairs: int
    hours: tuple[OpeningHours, ...]
    nurses: tuple[Nurse, ...]
    closed: frozenset[date] = frozenset()
    chairs_per_nurse: int = DEFAULT_CHAIRS_PER_NURSE
    setup_minutes: int = DEFAULT_SETUP_MINUTES
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    sitting: RegionSitting = RegionSitting.ONE_AFTER_ANOTHER
    out_of_service: frozenset[ChairOutage] = frozenset()

    def __post_init__(self) -> None:
        if self.weeks < 1:
            raise ValueError(f"weeks must be at least 1, got {self.weeks}")
        if self.chairs < 1:
            raise ValueError(f"chairs must be at least 1, got {self.chairs}")
        if self.chairs_per_nurse < 1:
            raise ValueError(f"chairs_per_nurse must be at least 1, got {self.chairs_per_nurse}")
        if self.setup_minutes < 0:
            raise ValueError(f"setup_minutes must not be negative, got {self.setup_minutes}")
        if not 1 <= self.slot_minutes <= 60 or MINUTES_PER_DAY % self.slot_minutes:
            raise ValueError(f"slot_minutes must divide a day, 1 to 60, got {self.slot_minutes}")
        weekdays = [h.weekday for h in self.hours]
        if len(set(weekdays)) != len(weekdays):
            raise ValueError("opening hours given twice for one weekday")

    @property
    def days(self) -> int:
        return 7 * self.weeks

    @property
    def end(self) -> date:
        """The last day of the horizon (included)."""
        return self.start + timedelta(days=self.days - 1)

    def day_index(self, on: date) -> int:
        return (on - self.start).days

    def date_of(self, day_index: int) -> date:
        return self.start + timedelta(days=day_index)

    def hours_on(self, weekday: int) -> OpeningHours | None:
        return next((h for h in self.hours if h.weekday == weekday), None)

    def nurses_on(self, on: date) -> tuple[Nurse, ...]:
        return tuple(n for n in self.nurses if on.weekday() in n.weekdays)

    def chairs_on(self, on: date) -> tuple[int, ...]:
        """The chairs in service on a day (numbered from 1)."""
        out = {o.chair for o in self.out_of_service if o.on == on}
        return tuple(c for c in range(1, self.chairs + 1) if c not in out)

    def capacity_on(self, on: date) -> int:
        """How many visits can run at once on a day: chairs in service, and nurses × chairs each.

        0 on closed days, on weekdays without hours and outside the horizon.
        """
        if on in self.closed or self.hours_on(on.weekday()) is None:
            return 0
        if not 0 <= self.day_index(on) < self.days:
            return 0
        by_nurses = len(self.nurses_on(on)) * self.chairs_per_nurse
        return min(len(self.chairs_on(on)), by_nurses)


@dataclass(frozen=True)
class Referral:
    """A funded referral to book: ``sessions`` visits within ``within_days`` of the first.

    ``visit_minutes`` is the chair time of one visit, set-up included (see
    :func:`ionto.clinic.scheduling.rules.visit_minutes`). The patient comes on
    ``available`` weekdays, between ``earliest_min`` and ``latest_min`` (the visit ends by
    then).
    """

    id: str
    funded_on: date
    regions: tuple[Region, ...]
    sessions: int
    within_days: int
    available: frozenset[int]
    earliest_min: int
    latest_min: int
    visit_minutes: int
    min_per_week: int = field(default=TRIAL_COURSE.min_per_week or 2)
    caps: FrequencyCaps = FREQUENCY_CAPS

    def __post_init__(self) -> None:
        if self.sessions < 1:
            raise ValueError(f"{self.id}: sessions must be at least 1, got {self.sessions}")
        if self.within_days < 1:
            raise ValueError(f"{self.id}: within_days must be at least 1")
        if not self.available:
            raise ValueError(f"{self.id}: available must name at least one weekday")
        if not 0 <= self.earliest_min < self.latest_min <= MINUTES_PER_DAY:
            raise ValueError(f"{self.id}: earliest must come before latest")
        if self.visit_minutes < 1:
            raise ValueError(f"{self.id}: a visit lasts at least a minute")


@dataclass(frozen=True, order=True)
class Appointment:
    """One visit: the ``n``-th of a referral's course, on a chair (from 1) with a nurse."""

    on: date
    start_min: int
    end_min: int
    chair: int
    referral: str
    n: int
    nurse: str


@dataclass(frozen=True)
class Unscheduled:
    """A referral whose course was not booked, and why (code, plain text)."""

    referral: str
    code: str
    reason: str


@dataclass(frozen=True)
class Problem:
    """What to book: the centre, the referrals, and bookings that stay where they are.

    ``fixed`` appointments (existing bookings, e.g. of courses already running) use chairs and
    nurses and are never moved; their referrals are not booked again. The clinic books one
    newly funded patient with ``referrals=(all referrals…)`` and ``fixed=(every booking…)``.
    A referral with fixed appointments must be listed in ``referrals`` for the checker to
    check its course.
    """

    centre: Centre
    referrals: tuple[Referral, ...]
    fixed: tuple[Appointment, ...] = ()

    def __post_init__(self) -> None:
        ids = [r.id for r in self.referrals]
        if len(set(ids)) != len(ids):
            raise ValueError("referral ids must be unique")

    def referral(self, referral_id: str) -> Referral:
        for r in self.referrals:
            if r.id == referral_id:
                return r
        raise KeyError(referral_id)

    @property
    def fixed_referrals(self) -> frozenset[str]:
        return frozenset(a.referral for a in self.fixed)

    @property
    def to_book(self) -> tuple[Referral, ...]:
        """The referrals the solvers book: those without fixed appointments."""
        fixed = self.fixed_referrals
        return tuple(r for r in self.referrals if r.id not in fixed)


class Status(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    #: The time limit passed before the solver found anything better than its starting point.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Stage:
    """One lexicographic stage of the CP-SAT solve: its objective, value, bound and gap."""

    objective: str
    sense: str  # "max" or "min"
    value: int
    bound: int
    status: Status
    seconds: float

    @property
    def gap(self) -> float:
        """Relative gap to the bound: |bound − value| / max(|value|, |bound|, 1)."""
        return abs(self.bound - self.value) / max(abs(self.value), abs(self.bound), 1)


@dataclass(frozen=True)
class Schedule:
    """A solver's answer: the appointments (fixed ones included) and what was not booked."""

    solver: str
    status: Status
    appointments: tuple[Appointment, ...]
    unscheduled: tuple[Unscheduled, ...]
    seconds: float = 0.0
    stages: tuple[Stage, ...] = ()
    #: Set when the solver's own search ended no better than its starting point (the greedy
    #: plan it was given as a hint), which was then kept.
    note: str | None = None
    #: CP-SAT: (−courses booked, total wait days) of the greedy plan it started from.
    warm_start: tuple[int, ...] | None = None

    def by_referral(self) -> dict[str, tuple[Appointment, ...]]:
        out: dict[str, list[Appointment]] = {}
        for a in sorted(self.appointments):
            out.setdefault(a.referral, []).append(a)
        return {k: tuple(v) for k, v in out.items()}
