"""``ionto schedule``'s input (CONTRACT.md) → a :class:`Problem`, strictly, one line per error.

The shape (unknown fields, wrong types) is checked by strict pydantic models; the values and
their consistency here, so that an error names the referral (its id and its path, such as
``referrals[3].available[1]``) and says why:

* dates are ISO (``YYYY-MM-DD``), times ``HH:MM`` (24 h, ``24:00`` allowed as a closing
  time), weekdays ``mon`` … ``sun``, regions from the contract's vocabulary;
* ids are unique (referrals, nurses), lists hold no duplicates;
* a referral's availability lies within the opening hours: every weekday it names is open,
  and a whole visit fits between the later of opening and ``earliest`` and the earlier of
  closing and ``latest``;
* a referral's sessions can fit its window at all on its weekdays, keeping the course rules
  (≤ 1 a day, ≤ 5 a week, ≥ 2 a week: 10 sessions within 7 days cannot);
* ``closed`` days outside the horizon are fine (a list kept for the whole year).

Optional fields beyond the contract's example (CONTRACT.md allows adding): ``chairs_per_nurse``
(2), ``setup_minutes`` (10), ``slot_minutes`` (10), ``sitting`` (``one_after_another`` or
``together``, see :class:`RegionSitting`), ``out_of_service`` (``[{"chair": 2, "date": …}]``,
with ``"until": …`` for several days in a row, both included) and ``booked`` (existing
appointments, in the output's shape, that stay where they are).

``ionto reschedule`` (:func:`parse_reschedule`) takes the same input, but its ``booked`` is the
previous plan, which may move: every visit of each booked course, in the output's shape, past
ones (before ``start``) included. Visits before ``start`` are history: kept as they are, only
their shape is checked (a nurse who has left, a chair since removed are fine). Visits from
``start`` on must lie in the horizon, within the opening hours and last their referral's visit;
a closed day, a chair out of service, a cancelled day or a changed availability are the changes
that move them. Besides: ``cancelled_courses`` (referral ids, withdrawn) and ``cancelled_days``
(referral id → dates from ``start`` on that the patient cannot come).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import Field

from ionto.clinic.scheduling.problem import (
    DEFAULT_CHAIRS_PER_NURSE,
    DEFAULT_SETUP_MINUTES,
    DEFAULT_SLOT_MINUTES,
    MINUTES_PER_DAY,
    WEEKDAY_NAMES,
    Appointment,
    Centre,
    ChairOutage,
    Nurse,
    OpeningHours,
    Problem,
    Referral,
    RegionSitting,
    Schedule,
    Status,
    clock_text,
)
from ionto.clinic.scheduling.rules import time_window, visit_minutes, weekday_pattern_fits
from ionto.contract.errors import InputError, parse_json
from ionto.contract.schema import Strict
from ionto.therapy.vocabulary import Region

MAX_WEEKS = 52
MAX_CHAIRS = 100
MAX_SESSIONS = 30
MAX_WITHIN_DAYS = 366
MAX_SETUP_MINUTES = 120
WEEKDAY_WORDS = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class NurseIn(Strict):
    id: str
    days: list[str]


class ReferralIn(Strict):
    id: str
    funded_on: str
    regions: list[str]
    sessions: int
    within_days: int
    available: list[str]
    #: The patient's own earliest and latest times; left out, any time the centre is open.
    earliest: str | None = None
    latest: str | None = None


class OutageIn(Strict):
    chair: int
    date: str
    #: The last day out of service (included); left out, ``date`` only.
    until: str | None = None


class BookedIn(Strict):
    referral: str
    n: int
    date: str
    start: str
    end: str
    chair: int
    nurse: str


class ScheduleIn(Strict):
    start: str
    weeks: int
    chairs: int
    hours: dict[str, list[str]]
    nurses: list[NurseIn]
    referrals: list[ReferralIn]
    closed: list[str] = Field(default_factory=list)
    chairs_per_nurse: int = DEFAULT_CHAIRS_PER_NURSE
    setup_minutes: int = DEFAULT_SETUP_MINUTES
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    sitting: str = RegionSitting.ONE_AFTER_ANOTHER.value
    out_of_service: list[OutageIn] = Field(default_factory=list)
    booked: list[BookedIn] = Field(default_factory=list)


class RescheduleIn(ScheduleIn):
    """``ionto reschedule``: the schedule input, ``booked`` the previous plan, and the changes."""

    cancelled_courses: list[str] = Field(default_factory=list)
    cancelled_days: dict[str, list[str]] = Field(default_factory=dict)


@dataclass(frozen=True)
class RescheduleRequest:
    """What ``ionto reschedule`` was asked: the centre as it is now, the plan, the changes."""

    problem: Problem
    previous: Schedule
    cancelled_courses: tuple[str, ...]
    cancelled_days: dict[str, tuple[date, ...]]


def parse_problem(raw: bytes) -> Problem:
    """The contract's JSON as a :class:`Problem`; :class:`InputError` (one line) otherwise."""
    data = parse_json(ScheduleIn, raw, "schedule input")
    return problem_from_input(data)


# --- Values ------------------------------------------------------------------------------------
def iso_date(text: str, field: str, who: str = "") -> date:
    """An ISO date ``YYYY-MM-DD``, or an InputError naming the field."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InputError(f"{who}not an ISO date YYYY-MM-DD (got {text!r})", field)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{who}no such date (got {text!r})", field) from None


def clock_minutes(text: str, field: str, who: str = "") -> int:
    """``HH:MM`` (24 h; ``24:00`` is midnight at the end of the day) as minutes from midnight."""
    match = _TIME.match(text)
    if match is None:
        raise InputError(f"{who}not a time HH:MM (got {text!r})", field)
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise InputError(f"{who}not a time of day (got {text!r})", field)
    return minutes


def weekday(text: str, field: str, who: str = "") -> int:
    if text not in WEEKDAY_NAMES:
        raise InputError(
            f"{who}unknown weekday {text!r}; use {', '.join(WEEKDAY_NAMES)}",
            field,
        )
    return WEEKDAY_NAMES.index(text)


def weekdays(texts: list[str], field: str, who: str = "") -> frozenset[int]:
    seen: list[int] = []
    for i, text in enumerate(texts):
        day = weekday(text, f"{field}[{i}]", who)
        if day in seen:
            raise InputError(f"{who}{text!r} is given twice", f"{field}[{i}]")
        seen.append(day)
    return frozenset(seen)


def _ranged(value: int, low: int, high: int, field: str, who: str = "") -> int:
    if not low <= value <= high:
        raise InputError(f"{who}must be {low} to {high} (got {value})", field)
    return value


# --- The centre ----------------------------------------------------------------------------------
def _centre(data: ScheduleIn) -> Centre:
    start = iso_date(data.start, "start")
    weeks = _ranged(data.weeks, 1, MAX_WEEKS, "weeks")
    if date.max - start < timedelta(days=7 * weeks - 1):
        raise InputError(f"a {weeks}-week horizon from {data.start} runs past {date.max}", "start")
    chairs = _ranged(data.chairs, 1, MAX_CHAIRS, "chairs")
    hours: list[OpeningHours] = []
    for name, pair in data.hours.items():
        field = f"hours.{name}"
        day = weekday(name, field)
        if len(pair) != 2:
            raise InputError('expected ["HH:MM", "HH:MM"] (opening, closing)', field)
        open_min = clock_minutes(pair[0], f"{field}[0]")
        close_min = clock_minutes(pair[1], f"{field}[1]")
        if close_min <= open_min:
            raise InputError(
                f"closes ({pair[1]}) before it opens ({pair[0]}) on {WEEKDAY_WORDS[day]}",
                field,
            )
        hours.append(OpeningHours(day, open_min, close_min))
    closed = frozenset(iso_date(text, f"closed[{i}]") for i, text in enumerate(data.closed))
    nurses: list[Nurse] = []
    for i, nurse in enumerate(data.nurses):
        if not nurse.id.strip():
            raise InputError("a nurse needs an id", f"nurses[{i}].id")
        if any(n.id == nurse.id for n in nurses):
            raise InputError(f"nurse id {nurse.id!r} is given twice", f"nurses[{i}].id")
        who = f"nurse {nurse.id!r}: "
        nurses.append(Nurse(nurse.id, weekdays(nurse.days, f"nurses[{i}].days", who)))
    slot = data.slot_minutes
    if not 1 <= slot <= 60 or 60 % slot:
        raise InputError(f"must divide an hour: 1 to 60 minutes (got {slot})", "slot_minutes")
    sitting_names = [s.value for s in RegionSitting]
    if data.sitting not in sitting_names:
        raise InputError(
            f"unknown sitting {data.sitting!r}; use {' or '.join(sitting_names)}", "sitting"
        )
    outages: list[ChairOutage] = []
    horizon_end = start + timedelta(days=7 * weeks - 1)
    for i, outage in enumerate(data.out_of_service):
        _ranged(outage.chair, 1, chairs, f"out_of_service[{i}].chair")
        first = iso_date(outage.date, f"out_of_service[{i}].date")
        if outage.until is None:
            outages.append(ChairOutage(outage.chair, first))
            continue
        last = iso_date(outage.until, f"out_of_service[{i}].until")
        if last < first:
            raise InputError(
                f"ends ({outage.until}) before it begins ({outage.date})",
                f"out_of_service[{i}].until",
            )
        # Only the days inside the horizon matter; a long repair is not a long list.
        out_on = max(first, start)
        while out_on <= min(last, horizon_end):
            outages.append(ChairOutage(outage.chair, out_on))
            out_on += timedelta(days=1)
    return Centre(
        start=start,
        weeks=weeks,
        chairs=chairs,
        hours=tuple(hours),
        nurses=tuple(nurses),
        closed=closed,
        chairs_per_nurse=_ranged(data.chairs_per_nurse, 1, MAX_CHAIRS, "chairs_per_nurse"),
        setup_minutes=_ranged(data.setup_minutes, 0, MAX_SETUP_MINUTES, "setup_minutes"),
        slot_minutes=slot,
        sitting=RegionSitting(data.sitting),
        out_of_service=frozenset(outages),
    )


# --- Referrals ---------------------------------------------------------------------------------
def _regions(texts: list[str], field: str, who: str) -> tuple[Region, ...]:
    if not texts:
        raise InputError(f"{who}name at least one region", field)
    out: list[Region] = []
    known = ", ".join(r.value for r in Region)
    for i, text in enumerate(texts):
        try:
            region = Region(text)
        except ValueError:
            extra = " (generalised is a diagnosis, never a region)" if text == "generalised" else ""
            raise InputError(
                f"{who}unknown region {text!r}{extra}; known: {known}", f"{field}[{i}]"
            ) from None
        if region in out:
            raise InputError(f"{who}region {text!r} is given twice", f"{field}[{i}]")
        out.append(region)
    return tuple(out)


def _referral(centre: Centre, item: ReferralIn, index: int) -> Referral:
    path = f"referrals[{index}]"
    if not item.id.strip():
        raise InputError("a referral needs an id", f"{path}.id")
    who = f"referral {item.id!r}: "
    funded_on = iso_date(item.funded_on, f"{path}.funded_on", who)
    regions = _regions(item.regions, f"{path}.regions", who)
    sessions = _ranged(item.sessions, 1, MAX_SESSIONS, f"{path}.sessions", who)
    within_days = _ranged(item.within_days, 1, MAX_WITHIN_DAYS, f"{path}.within_days", who)
    if not item.available:
        raise InputError(f"{who}name at least one weekday", f"{path}.available")
    available = weekdays(item.available, f"{path}.available", who)
    earliest = 0 if item.earliest is None else clock_minutes(item.earliest, f"{path}.earliest", who)
    latest = (
        MINUTES_PER_DAY
        if item.latest is None
        else clock_minutes(item.latest, f"{path}.latest", who)
    )
    patient_hours = (
        "any time (the patient)"
        if item.earliest is None and item.latest is None
        else f"{item.earliest or 'opening'}–{item.latest or 'closing'} (the patient)"
    )
    if latest <= earliest:
        raise InputError(
            f"{who}latest ({clock_text(latest)}) must come after earliest ({clock_text(earliest)})",
            f"{path}.earliest" if item.latest is None else f"{path}.latest",
        )
    minutes = visit_minutes(regions, centre.setup_minutes, centre.sitting)
    for i, name in enumerate(item.available):
        day = WEEKDAY_NAMES.index(name)
        hours = centre.hours_on(day)
        field = f"{path}.available[{i}]"
        if hours is None:
            raise InputError(
                f"{who}available on {name}, but the centre is closed on {WEEKDAY_WORDS[day]}",
                field,
            )
        start = max(hours.open_min, earliest)
        until = min(hours.close_min, latest)
        if time_window(start, until, minutes, centre.slot_minutes) is None:
            raise InputError(
                f"{who}a {minutes}-minute visit does not fit on {WEEKDAY_WORDS[day]} between "
                f"{patient_hours} and "
                f"{clock_text(hours.open_min)}–{clock_text(hours.close_min)} (opening hours)",
                field,
            )
    referral = Referral(
        id=item.id,
        funded_on=funded_on,
        regions=regions,
        sessions=sessions,
        within_days=within_days,
        available=available,
        earliest_min=earliest,
        latest_min=latest,
        visit_minutes=minutes,
    )
    if not weekday_pattern_fits(referral):
        days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(available))
        raise InputError(
            f"{who}{sessions} sessions cannot fit within {within_days} days on {days}, keeping "
            f"at most 1 a day, at most {referral.caps.max_sessions_per_week} in any 7 days and "
            f"at least {referral.min_per_week} in every 7 days of the course",
            f"{path}.sessions",
        )
    return referral


def _booked_visit(item: BookedIn, path: str, ids: set[str]) -> Appointment:
    """One booked visit's own fields (its referral known, times that make sense)."""
    if item.referral not in ids:
        raise InputError(f"unknown referral {item.referral!r}", f"{path}.referral")
    who = f"referral {item.referral!r}: "
    start = clock_minutes(item.start, f"{path}.start", who)
    end = clock_minutes(item.end, f"{path}.end", who)
    if end <= start:
        raise InputError(f"{who}ends before it starts", f"{path}.end")
    if item.chair < 1:
        raise InputError(f"{who}chairs are numbered from 1 (got {item.chair})", f"{path}.chair")
    _ranged(item.n, 1, MAX_SESSIONS, f"{path}.n", who)
    return Appointment(
        on=iso_date(item.date, f"{path}.date", who),
        start_min=start,
        end_min=end,
        chair=item.chair,
        referral=item.referral,
        n=item.n,
        nurse=item.nurse,
    )


def _on_the_roster(a: Appointment, centre: Centre, path: str) -> None:
    """A booked visit's chair exists and its nurse is on the roster."""
    who = f"referral {a.referral!r}: "
    _ranged(a.chair, 1, centre.chairs, f"{path}.chair", who)
    if a.nurse not in {n.id for n in centre.nurses}:
        raise InputError(f"{who}nurse {a.nurse!r} is not on the roster", f"{path}.nurse")


def _booked(data: ScheduleIn, centre: Centre, ids: set[str]) -> tuple[Appointment, ...]:
    out: list[Appointment] = []
    for i, item in enumerate(data.booked):
        visit = _booked_visit(item, f"booked[{i}]", ids)
        _on_the_roster(visit, centre, f"booked[{i}]")
        out.append(visit)
    return tuple(out)


def _referrals(data: ScheduleIn, centre: Centre) -> list[Referral]:
    referrals: list[Referral] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data.referrals):
        if item.id in seen:
            raise InputError(
                f"referral id {item.id!r} is given twice (first as referrals[{seen[item.id]}])",
                f"referrals[{i}].id",
            )
        seen[item.id] = i
        referrals.append(_referral(centre, item, i))
    return referrals


def problem_from_input(data: ScheduleIn) -> Problem:
    centre = _centre(data)
    referrals = _referrals(data, centre)
    fixed = _booked(data, centre, {r.id for r in referrals})
    return Problem(centre=centre, referrals=tuple(referrals), fixed=fixed)


# --- ionto reschedule ----------------------------------------------------------------------------
def parse_reschedule(raw: bytes) -> RescheduleRequest:
    """``ionto reschedule``'s JSON as a :class:`RescheduleRequest`; InputError otherwise."""
    data = parse_json(RescheduleIn, raw, "reschedule input")
    centre = _centre(data)
    referrals = {r.id: r for r in _referrals(data, centre)}
    previous = _previous_plan(data, centre, referrals)
    cancelled = _cancelled_courses(data, set(referrals))
    days = _cancelled_days(data, centre, set(referrals), set(cancelled))
    return RescheduleRequest(
        problem=Problem(centre=centre, referrals=tuple(referrals.values())),
        previous=Schedule(
            solver="previous", status=Status.FEASIBLE, appointments=previous, unscheduled=()
        ),
        cancelled_courses=cancelled,
        cancelled_days=days,
    )


def _when(a: Appointment) -> str:
    return f"{a.on.isoformat()} {clock_text(a.start_min)}–{clock_text(a.end_min)}"


def _current_visit(a: Appointment, centre: Centre, referral: Referral, path: str) -> None:
    """A visit of the plan from ``start`` on: in the horizon, the opening hours, its length."""
    who = f"referral {a.referral!r}: visit {a.n} on {_when(a)}: "
    if a.on > centre.end:
        raise InputError(
            f"{who}after the planning horizon ({centre.start.isoformat()} to "
            f"{centre.end.isoformat()})",
            f"{path}.date",
        )
    _on_the_roster(a, centre, path)
    day = a.on.weekday()
    hours = centre.hours_on(day)
    if hours is None:
        raise InputError(f"{who}the centre is closed on {WEEKDAY_WORDS[day]}", f"{path}.date")
    if a.start_min < hours.open_min or a.end_min > hours.close_min:
        raise InputError(
            f"{who}outside the opening hours ({clock_text(hours.open_min)}–"
            f"{clock_text(hours.close_min)} on {WEEKDAY_WORDS[day]})",
            f"{path}.start" if a.start_min < hours.open_min else f"{path}.end",
        )
    if a.end_min - a.start_min != referral.visit_minutes:
        raise InputError(
            f"{who}lasts {a.end_min - a.start_min} min, but a visit for "
            f"{', '.join(r.value for r in referral.regions)} lasts {referral.visit_minutes} min",
            f"{path}.end",
        )


def _previous_plan(
    data: RescheduleIn, centre: Centre, referrals: dict[str, Referral]
) -> tuple[Appointment, ...]:
    """The previous plan: whole courses, each visit once, numbered in date order."""
    visits: list[tuple[int, Appointment]] = []
    seen: dict[tuple[str, int], int] = {}
    at: dict[tuple[str, date, int], int] = {}
    for i, item in enumerate(data.booked):
        path = f"booked[{i}]"
        a = _booked_visit(item, path, set(referrals))
        who = f"referral {a.referral!r}: "
        if (a.referral, a.n) in seen:
            raise InputError(
                f"{who}visit {a.n} is booked twice (first as booked[{seen[(a.referral, a.n)]}])",
                f"{path}.n",
            )
        if (a.referral, a.on, a.start_min) in at:
            first = at[(a.referral, a.on, a.start_min)]
            raise InputError(
                f"{who}{_when(a)} is booked twice (first as booked[{first}])", f"{path}.date"
            )
        seen[(a.referral, a.n)] = i
        at[(a.referral, a.on, a.start_min)] = i
        # Before the horizon: history, kept as it is (see the module doc).
        if a.on >= centre.start:
            _current_visit(a, centre, referrals[a.referral], path)
        visits.append((i, a))
    by_referral: dict[str, list[tuple[int, Appointment]]] = defaultdict(list)
    for i, a in visits:
        by_referral[a.referral].append((i, a))
    for ref, course in by_referral.items():
        sessions = referrals[ref].sessions
        if len(course) != sessions:
            raise InputError(
                f"referral {ref!r}: {len(course)} visits booked, but its course has {sessions} "
                "sessions: list every visit of a booked course, past ones too",
                f"booked[{course[0][0]}]",
            )
        ordered = sorted(course, key=lambda ia: (ia[1].on, ia[1].start_min))
        for k, (i, a) in enumerate(ordered, start=1):
            if a.n != k:
                raise InputError(
                    f"referral {ref!r}: visit {a.n} on {_when(a)} is visit {k} in date order: "
                    "number the visits 1, 2, … by date",
                    f"booked[{i}].n",
                )
    return tuple(a for _, a in visits)


def _cancelled_courses(data: RescheduleIn, ids: set[str]) -> tuple[str, ...]:
    out: list[str] = []
    for i, ref in enumerate(data.cancelled_courses):
        field = f"cancelled_courses[{i}]"
        if ref not in ids:
            raise InputError(f"unknown referral {ref!r}", field)
        if ref in out:
            raise InputError(f"referral {ref!r} is given twice", field)
        out.append(ref)
    return tuple(out)


def _cancelled_days(
    data: RescheduleIn, centre: Centre, ids: set[str], withdrawn: set[str]
) -> dict[str, tuple[date, ...]]:
    out: dict[str, tuple[date, ...]] = {}
    for ref, texts in data.cancelled_days.items():
        field = f"cancelled_days.{ref}"
        if ref not in ids:
            raise InputError(f"unknown referral {ref!r}", field)
        who = f"referral {ref!r}: "
        if ref in withdrawn:
            raise InputError(
                f"{who}its course is withdrawn (cancelled_courses): no day to cancel", field
            )
        days: list[date] = []
        for j, text in enumerate(texts):
            on = iso_date(text, f"{field}[{j}]", who)
            if not centre.start <= on <= centre.end:
                raise InputError(
                    f"{who}{text} is outside the planning horizon ({centre.start.isoformat()} "
                    f"to {centre.end.isoformat()}): only days from the start on can be cancelled",
                    f"{field}[{j}]",
                )
            if on in days:
                raise InputError(f"{who}{text} is given twice", f"{field}[{j}]")
            days.append(on)
        out[ref] = tuple(days)
    return out
