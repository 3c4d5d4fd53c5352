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
``together``, see :class:`RegionSitting`), ``out_of_service`` (``[{"chair": 2, "date": …}]``)
and ``booked`` (existing appointments, in the output's shape, that stay where they are).
"""

from __future__ import annotations

import re
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
    for i, outage in enumerate(data.out_of_service):
        _ranged(outage.chair, 1, chairs, f"out_of_service[{i}].chair")
        outages.append(
            ChairOutage(outage.chair, iso_date(outage.date, f"out_of_service[{i}].date"))
        )
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


def _booked(data: ScheduleIn, centre: Centre, ids: set[str]) -> tuple[Appointment, ...]:
    out: list[Appointment] = []
    nurses = [n.id for n in centre.nurses]
    for i, item in enumerate(data.booked):
        path = f"booked[{i}]"
        if item.referral not in ids:
            raise InputError(f"unknown referral {item.referral!r}", f"{path}.referral")
        who = f"referral {item.referral!r}: "
        start = clock_minutes(item.start, f"{path}.start", who)
        end = clock_minutes(item.end, f"{path}.end", who)
        if end <= start:
            raise InputError(f"{who}ends before it starts", f"{path}.end")
        _ranged(item.chair, 1, centre.chairs, f"{path}.chair", who)
        _ranged(item.n, 1, MAX_SESSIONS, f"{path}.n", who)
        if item.nurse not in nurses:
            raise InputError(f"{who}nurse {item.nurse!r} is not on the roster", f"{path}.nurse")
        out.append(
            Appointment(
                on=iso_date(item.date, f"{path}.date", who),
                start_min=start,
                end_min=end,
                chair=item.chair,
                referral=item.referral,
                n=item.n,
                nurse=item.nurse,
            )
        )
    return tuple(out)


def problem_from_input(data: ScheduleIn) -> Problem:
    centre = _centre(data)
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
    fixed = _booked(data, centre, set(seen))
    return Problem(centre=centre, referrals=tuple(referrals), fixed=fixed)
