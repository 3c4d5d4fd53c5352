"""Course rules: when the sessions of an initial course and of maintenance happen.

* **Induction** — the initial course. Named presets (:data:`INDUCTION_SCHEDULES`), each with
  its source and its own :class:`CourseRules`; :func:`induction_dates` lays a preset on the
  calendar around closed days and the weekdays a patient or clinic can do.
* **Validation** — :func:`validate_course` says what a proposed series of session dates
  breaks (each :class:`~ionto.therapy.frequency.Violation` with code, text, source and the
  dates involved). A scheduler uses it as its checker: an empty tuple means nothing is broken.
* **Maintenance** — :class:`MaintenancePlan` presets within :class:`MaintenanceBounds`, the
  dry-skin rule (:func:`adjust_for_dry_skin`) and the re-induction after a full relapse
  (:func:`reinduction_after_relapse`).

How each rule of :class:`CourseRules` is checked (definitions the scheduler must share):

* **Window**: with ``window_days = 28`` every session falls on one of the 28 calendar days
  that start with the first session's day (offsets 0 to 27): "four weeks" are days 1 to 28.
* **At least N a week** (``min_per_week``): every 7 consecutive days that lie wholly between
  the first and the last session (both included) hold at least N sessions (with a calendar
  week: every Monday-to-Sunday week wholly inside). Rolling windows rather than 7-day blocks
  counted from the first session, because blocks miss a long gap that straddles two blocks
  (sessions on days 0, 1, 12, 13 give each block 2 sessions, yet nothing happens for 10 days).
  Days before the first or after the last session are not part of the course, so a course's
  start and end are never short of sessions, and every first part (prefix) of a valid series
  is valid too — a scheduler can check a partial course. For two sessions a week the rule
  amounts to: from any session, the session after next comes at most 7 days later.
* **At most N sessions** (``max_sessions``): the sessions after the N-th are named.
* **Funding**: no session before ``funded_on`` (the UK centre treats only once individual
  funding is confirmed, §1). With ``funded_on=None`` the rule is not checked: the clinic's
  funding gate refuses to book before approval, and this function only knows what it is told.
* **An empty series** breaks nothing and is valid: it is every course before its first
  booking, and no rule asks for a minimum number of sessions ("up to 10").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import pairwise

from ionto.therapy import sources
from ionto.therapy.frequency import (
    FREQUENCY_CAPS,
    FrequencyCaps,
    SessionDate,
    SessionLike,
    Violation,
    WeekKind,
    check_glycopyrronium_interval,
    check_glycopyrronium_sites_per_day,
    check_sessions_per_day,
    check_sessions_per_week,
    day_text,
    earliest_next_session,
    monday_of,
    sort_violations,
)
from ionto.therapy.reasons import Limit, Reason
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import Solution

_WEEK_DAYS = 7

# --- Sources for the parts of a preset that its own source leaves open (derived) ------------
KENT_MEDWAY_SPACING = Source(
    key="kent_medway_spacing",
    citation=(
        "Kent & Medway policy (7 commissioned sessions); spacing 2 a week within 4 weeks "
        "from the UK centre's 2–3 a week (clinical-reference §1): Ionto derived"
    ),
    grade="D",
)
TRIAL_SPACING = Source(
    key="trial_spacing",
    citation=(
        "UK centre: up to 10 treatments over 3–4 weeks, 2–3 a week (clinical-reference §1); "
        "the 3-3-2-2 weekly spacing is Ionto derived"
    ),
    grade="D",
)
ROTHERHAM_SPACING = Source(
    key="rotherham_spacing",
    citation=(
        "Rotherham NHS leaflet (3 a week for 3 weeks); every other day with the weekend "
        "gap is Ionto derived"
    ),
    grade="D",
)
SWISS_GERMAN_REVIEW = Source(
    key="swiss_german_review",
    citation=(
        "Swiss and German clinics (5 a week for 2–3 weeks); 10 sessions, the review point "
        "after 10–12 treatments of Hölzle & Alberti 1987: Ionto derived"
    ),
    grade="D",
)
FISCHER_MAINTENANCE = Source(
    key="fischer_maintenance", citation="R.A. Fischer: maintenance every 2–4 weeks", grade="S"
)
REINDUCTION_SPACING = Source(
    key="reinduction_spacing",
    citation=(
        "Hyperhidrosis UK (3–4 sessions restore the effect after a full relapse); "
        "every other day, as in the 3-a-week inductions, is Ionto derived"
    ),
    grade="D",
)


# --- Course rules --------------------------------------------------------------------------
@dataclass(frozen=True)
class CourseRules:
    """The rules a course's session dates keep. ``None`` switches a rule off.

    ``source`` is where the course-level numbers (``max_sessions``, ``window_days``,
    ``min_per_week``) come from; the frequency caps in ``caps`` carry their own sources.
    """

    name: str
    source: Source
    max_sessions: int | None = 10
    window_days: int | None = 28
    min_per_week: int | None = 2
    caps: FrequencyCaps = FREQUENCY_CAPS

    def __post_init__(self) -> None:
        if self.max_sessions is not None and self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        if self.window_days is not None and self.window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {self.window_days}")
        if self.min_per_week is not None and not (
            1 <= self.min_per_week <= self.caps.max_sessions_per_week
        ):
            raise ValueError(
                f"min_per_week must be 1 to the weekly cap "
                f"({self.caps.max_sessions_per_week}), got {self.min_per_week}"
            )

    def limits(self) -> tuple[Limit, ...]:
        """The course-level rules as limits, for the record and for a scheduler's model."""
        out: list[Limit] = []
        if self.max_sessions is not None:
            out.append(
                Limit(
                    "max_course_sessions",
                    float(self.max_sessions),
                    "sessions",
                    f"At most {self.max_sessions} sessions in the course.",
                    self.source,
                )
            )
        if self.window_days is not None:
            out.append(
                Limit(
                    "course_window_days",
                    float(self.window_days),
                    "days from the first session",
                    f"Every session within {self.window_days} days of the first.",
                    self.source,
                )
            )
        if self.min_per_week is not None:
            out.append(
                Limit(
                    "min_sessions_per_week",
                    float(self.min_per_week),
                    "sessions/7 days (minimum)",
                    f"At least {self.min_per_week} sessions a week during the course.",
                    self.source,
                )
            )
        return tuple(out)


#: The trial service of the UK centre (clinical-reference §1): up to 10 treatments over three
#: to four weeks (a window of 28 days), 2–3 sessions a week (at least 2), and the frequency
#: caps (≤ 1 a day, ≤ 5 a week).
TRIAL_COURSE = CourseRules(
    name="trial_service",
    source=sources.TREATMENT_CENTRE,
    max_sessions=10,
    window_days=28,
    min_per_week=2,
)


def validate_course(
    dates: Sequence[date],
    rules: CourseRules = TRIAL_COURSE,
    *,
    funded_on: date | None = None,
    solution: Solution = Solution.TAP_WATER,
    sites_per_day: Mapping[date, int] | None = None,
) -> tuple[Violation, ...]:
    """What a proposed series of session dates breaks, earliest first; empty: nothing.

    ``dates`` may come in any order; a date given twice is two sessions on one day. The
    rules and their precise definitions are in the module doc. Codes (numbers are the
    configured values; the defaults shown):

    * ``two_sessions_same_day``, ``more_than_5_in_a_week`` — frequency caps (Dermadry; §8);
    * ``glycopyrronium_within_7_days``, ``glycopyrronium_more_than_2_sites_a_day`` — when
      ``solution`` is glycopyrronium (Robinul SmPC). ``sites_per_day`` gives the sites treated
      on a session day (a day not given: one site); it is ignored for tap water, which has no
      site limit. A glycopyrronium course cannot keep "≥ 2 a week": validate it with
      :data:`GLYCOPYRRONIUM_COURSE`, where the SmPC's 7-day gap wins;
    * ``too_many_sessions``, ``outside_course_window``, ``fewer_than_2_in_a_week`` — the
      course rules (``rules.source``);
    * ``before_funding`` — a session before ``funded_on`` (UK centre, §1).
    """
    days = sorted(_plain_date(d, "dates") for d in dates)
    if not days:
        return ()
    if funded_on is not None:
        funded_on = _plain_date(funded_on, "funded_on")
    if sites_per_day and solution is Solution.GLYCOPYRRONIUM:
        _check_sites_input(days, sites_per_day)
    sessions = tuple(SessionDate(d, solution) for d in days)
    violations: list[Violation] = [
        *check_sessions_per_day(sessions),
        *check_sessions_per_week(sessions, rules.caps),
    ]
    if solution is Solution.GLYCOPYRRONIUM:
        # Each session treats at least one site; sites_per_day gives a day's total.
        per_day = dict(Counter(days))
        per_day.update(sites_per_day or {})
        violations += check_glycopyrronium_sites_per_day(per_day, rules.caps)
        violations += check_glycopyrronium_interval(sessions, rules.caps)
    violations += _check_max_sessions(days, rules)
    violations += _check_window(days, rules)
    violations += _check_min_per_week(days, rules)
    if funded_on is not None:
        violations += _check_funding(days, funded_on)
    return sort_violations(violations)


def _plain_date(value: date, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must hold datetime.date values, got {value!r}")
    return value


def _check_sites_input(days: list[date], sites_per_day: Mapping[date, int]) -> None:
    unknown = sorted(set(sites_per_day) - set(days))
    if unknown:
        raise ValueError(f"sites_per_day names days without a session: {unknown}")
    sessions_on = Counter(days)
    for day, sites in sites_per_day.items():
        if sites < sessions_on[day]:
            raise ValueError(
                f"sites_per_day: {day} has {sessions_on[day]} session(s), each treating at "
                f"least one site, but {sites} site(s) given"
            )


def _check_max_sessions(days: list[date], rules: CourseRules) -> list[Violation]:
    n = rules.max_sessions
    if n is None or len(days) <= n:
        return []
    extra = tuple(days[n:])
    return [
        Violation(
            reason=Reason(
                code="too_many_sessions",
                text=(
                    f"{len(days)} sessions planned: the course has at most {n}. "
                    f"Sessions from {day_text(extra[0])} on are beyond it."
                ),
                source=rules.source,
            ),
            dates=extra,
        )
    ]


def _check_window(days: list[date], rules: CourseRules) -> list[Violation]:
    n = rules.window_days
    if n is None:
        return []
    last_allowed = days[0] + timedelta(days=n - 1)
    outside = tuple(d for d in days if d > last_allowed)
    if not outside:
        return []
    return [
        Violation(
            reason=Reason(
                code="outside_course_window",
                text=(
                    f"The course runs for {n} days from the first session "
                    f"({day_text(days[0])} to {day_text(last_allowed)}); "
                    f"{len(outside)} session(s) fall after it."
                ),
                source=rules.source,
            ),
            dates=outside,
            period=(days[0], last_allowed),
        )
    ]


def _check_min_per_week(days: list[date], rules: CourseRules) -> list[Violation]:
    n = rules.min_per_week
    if n is None:
        return []
    first, last = days[0], days[-1]
    starts: list[date]
    if rules.caps.week is WeekKind.CALENDAR:
        monday = monday_of(first)
        if monday < first:
            monday += timedelta(days=_WEEK_DAYS)
        starts = []
        while monday + timedelta(days=_WEEK_DAYS - 1) <= last:
            starts.append(monday)
            monday += timedelta(days=_WEEK_DAYS)
    else:
        span = (last - first).days - (_WEEK_DAYS - 1)
        starts = [first + timedelta(days=k) for k in range(max(span + 1, 0))]

    def count(start: date) -> int:
        return bisect_right(days, start + timedelta(days=_WEEK_DAYS - 1)) - bisect_left(days, start)

    short = [s for s in starts if count(s) < n]
    # Overlapping or touching short windows are one gap in the course: report it once.
    stretches: list[tuple[date, date]] = []
    for start in short:
        end = start + timedelta(days=_WEEK_DAYS - 1)
        if stretches and start <= stretches[-1][1] + timedelta(days=1):
            stretches[-1] = (stretches[-1][0], end)
        else:
            stretches.append((start, end))
    return [
        Violation(
            reason=Reason(
                code=f"fewer_than_{n}_in_a_week",
                text=(
                    f"Too few sessions between {day_text(a)} and {day_text(b)}: the course "
                    f"needs at least {n} sessions in every 7 days, until its last session."
                ),
                source=rules.source,
            ),
            dates=tuple(d for d in days if a <= d <= b),
            period=(a, b),
        )
        for a, b in stretches
    ]


def _check_funding(days: list[date], funded_on: date) -> list[Violation]:
    early = tuple(d for d in days if d < funded_on)
    if not early:
        return []
    return [
        Violation(
            reason=Reason(
                code="before_funding",
                text=(
                    f"{len(early)} session(s) before funding was confirmed on "
                    f"{day_text(funded_on)}: treatment starts only once funding is confirmed."
                ),
                source=sources.TREATMENT_CENTRE,
            ),
            dates=early,
        )
    ]


#: A glycopyrronium course under the trial service: the SmPC's 7 days between treatments
#: makes "≥ 2 a week" impossible, so that rule is off (a safety rule beats a pace). Other
#: numbers as the trial. Derived: no source describes a glycopyrronium course's pace.
GLYCOPYRRONIUM_COURSE = replace(
    TRIAL_COURSE, name="trial_service_glycopyrronium", source=sources.DERIVED, min_per_week=None
)


# --- Induction schedules -------------------------------------------------------------------
@dataclass(frozen=True)
class InductionSchedule:
    """A named initial course: when its sessions fall, the rules it keeps, its source.

    The sessions fall either on ``day_offsets`` (days after the first session; 0 is the first)
    or on the first ``sessions`` days from the start whose weekday is in ``on_weekdays``
    (Monday = 0, as ``date.weekday()``). ``rules`` are the rules that fit this preset, built
    from its own source: a preset is not bound by another service's rules.
    """

    name: str
    summary: str
    sessions: int
    source: Source
    rules: CourseRules
    day_offsets: tuple[int, ...] = ()
    on_weekdays: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.sessions < 1:
            raise ValueError("an induction has at least one session")
        if bool(self.day_offsets) == bool(self.on_weekdays):
            raise ValueError(f"{self.name}: give either day_offsets or on_weekdays")
        if self.day_offsets:
            offsets = self.day_offsets
            if len(offsets) != self.sessions or offsets[0] != 0:
                raise ValueError(f"{self.name}: one offset per session, the first being 0")
            if any(b <= a for a, b in pairwise(offsets)):
                raise ValueError(f"{self.name}: day offsets must increase")
        if not self.on_weekdays <= frozenset(range(_WEEK_DAYS)):
            raise ValueError(f"{self.name}: weekdays are 0 (Monday) to 6 (Sunday)")


_UK_7 = InductionSchedule(
    name="uk_7_sessions",
    summary="7 sessions on days 1, 2, 4, 7, 10, 15 and 22.",
    sessions=7,
    source=sources.HYPERHIDROSIS_UK,
    # The protocol names days, not a window or a weekly minimum; its last three sessions are
    # 5 and 7 days apart, so it does not keep "≥ 2 a week".
    rules=CourseRules(
        "uk_7_sessions",
        sources.HYPERHIDROSIS_UK,
        max_sessions=7,
        window_days=None,
        min_per_week=None,
    ),
    day_offsets=(0, 1, 3, 6, 9, 14, 21),
)
_MON_WED_FRI = InductionSchedule(
    name="mon_wed_fri_4_weeks",
    summary="Monday, Wednesday and Friday for 4 weeks (12 sessions).",
    sessions=12,
    source=sources.SIAH_HAMPTON_2013,
    rules=CourseRules(
        "mon_wed_fri_4_weeks",
        sources.SIAH_HAMPTON_2013,
        max_sessions=12,
        window_days=28,
        min_per_week=3,
    ),
    on_weekdays=frozenset({0, 2, 4}),
)
_ROTHERHAM = InductionSchedule(
    name="three_a_week_3_weeks",
    summary="3 sessions a week for 3 weeks (9 sessions), then a home machine.",
    sessions=9,
    source=ROTHERHAM_SPACING,
    rules=CourseRules(
        "three_a_week_3_weeks",
        sources.ROTHERHAM,
        max_sessions=9,
        window_days=21,
        min_per_week=3,
    ),
    day_offsets=(0, 2, 4, 7, 9, 11, 14, 16, 18),
)
_KENT_MEDWAY = InductionSchedule(
    name="kent_medway_7",
    summary="7 commissioned hospital sessions, twice a week.",
    sessions=7,
    source=KENT_MEDWAY_SPACING,
    rules=CourseRules(
        "kent_medway_7", KENT_MEDWAY_SPACING, max_sessions=7, window_days=28, min_per_week=2
    ),
    day_offsets=(0, 3, 7, 10, 14, 17, 21),
)
_FIVE_A_WEEK = InductionSchedule(
    name="five_a_week",
    summary="5 sessions a week, Monday to Friday, 10 sessions within 3 weeks.",
    sessions=10,
    source=SWISS_GERMAN_REVIEW,
    rules=CourseRules(
        "five_a_week", SWISS_GERMAN_REVIEW, max_sessions=10, window_days=21, min_per_week=5
    ),
    on_weekdays=frozenset({0, 1, 2, 3, 4}),
)
_TRIAL = InductionSchedule(
    name="trial_10_in_4_weeks",
    summary="Up to 10 sessions over 4 weeks: 3 a week for 2 weeks, then 2 a week.",
    sessions=10,
    source=TRIAL_SPACING,
    rules=TRIAL_COURSE,
    day_offsets=(0, 2, 4, 7, 9, 11, 14, 17, 21, 24),
)

#: The induction presets by name. The trial service's default is ``trial_10_in_4_weeks``.
#:
#: Each preset's rules take what its own source says: the number of sessions, the weeks
#: (a window of 7 days a week) and the pace as a weekly minimum (Newcastle and Rotherham 3,
#: the Swiss/German clinics 5, the trial service and the Kent spacing 2). The UK 7-session
#: protocol names days only, so it has neither window nor minimum; it does not keep the
#: trial's "≥ 2 a week" (its last sessions are 5 and 7 days apart). All keep the frequency
#: caps. Where a source gives a count but no days, the days are derived (see each source).
INDUCTION_SCHEDULES: dict[str, InductionSchedule] = {
    s.name: s for s in (_UK_7, _MON_WED_FRI, _ROTHERHAM, _KENT_MEDWAY, _FIVE_A_WEEK, _TRIAL)
}
DEFAULT_INDUCTION = _TRIAL.name


class InductionImpossibleError(ValueError):
    """Laid out from this start, the closed days and weekdays break the preset's rules.

    ``violations`` says what broke. ``later_start`` is the first later open day (within
    :data:`LATER_START_SEARCH_DAYS`) from which the preset keeps its rules, or ``None``.
    """

    def __init__(
        self, message: str, violations: tuple[Violation, ...], later_start: date | None
    ) -> None:
        super().__init__(message)
        self.violations = violations
        self.later_start = later_start


#: How far :func:`induction_dates` looks for a later start to suggest when a layout fails:
#: eight weeks covers a Christmas closure with room to spare.
LATER_START_SEARCH_DAYS = 56


def induction_schedule(name: str) -> InductionSchedule:
    """The preset called ``name``; ``ValueError`` naming the known presets otherwise."""
    try:
        return INDUCTION_SCHEDULES[name]
    except KeyError:
        known = ", ".join(sorted(INDUCTION_SCHEDULES))
        raise ValueError(f"unknown induction schedule {name!r}; known: {known}") from None


def induction_dates(
    schedule_name: str,
    start: date,
    *,
    closed: frozenset[date] = frozenset(),
    weekdays: frozenset[int] | None = None,
) -> tuple[date, ...]:
    """The session dates of a preset from ``start`` (the first day treatment may happen).

    A day is *open* when it is not in ``closed`` and its weekday (Monday = 0) is in
    ``weekdays`` (``None``: every weekday). The first session is the first open day on or
    after ``start``; every later session goes on its preset day, or — when that day is closed
    or would break a frequency cap — on the next open day that keeps every cap. Dates only
    ever move later, never earlier, so a patient is never asked to come before the preset
    says. The result is then checked against the preset's own rules (no session before
    ``start``); when moving dates broke one (a long closure, weekdays too few for the pace),
    :class:`InductionImpossibleError` (a ``ValueError``) says which, with the violations
    attached, and suggests the first later start that would keep them, if there is one within
    eight weeks. The start is never moved silently: when the course starts is the nurse's
    call (and the scheduler's). Unknown ``schedule_name``: ``ValueError`` naming the known
    ones.
    """
    schedule = induction_schedule(schedule_name)
    start = _plain_date(start, "start")
    if weekdays is not None and (not weekdays or not weekdays <= frozenset(range(_WEEK_DAYS))):
        raise ValueError("weekdays must name at least one day, 0 (Monday) to 6 (Sunday)")

    def is_open(day: date) -> bool:
        return day not in closed and (weekdays is None or day.weekday() in weekdays)

    result, violations = _lay_out(schedule, start, is_open)
    if not violations:
        return result
    later_start = next(
        (
            later
            for later in (start + timedelta(days=k) for k in range(1, LATER_START_SEARCH_DAYS + 1))
            if is_open(later) and not _lay_out(schedule, later, is_open)[1]
        ),
        None,
    )
    broken = " ".join(v.reason.text for v in violations)
    hint = (
        f" Starting on {day_text(later_start)} would keep them." if later_start is not None else ""
    )
    raise InductionImpossibleError(
        f"{schedule.name} from {day_text(start)} cannot keep its rules with the closed days "
        f"and weekdays given. {broken}{hint}",
        violations,
        later_start,
    )


def _lay_out(
    schedule: InductionSchedule, start: date, is_open: Callable[[date], bool]
) -> tuple[tuple[date, ...], tuple[Violation, ...]]:
    """The preset's dates moved forward around closed days, and what they break."""
    placed: list[date] = []
    for preset_day in _preset_days(schedule, start, is_open):
        day = preset_day
        if placed:
            day = max(day, earliest_next_session(placed, caps=schedule.rules.caps))
        while not is_open(day):
            day += timedelta(days=1)
        placed.append(day)
    result = tuple(placed)
    return result, validate_course(result, schedule.rules, funded_on=start)


def _preset_days(
    schedule: InductionSchedule, start: date, is_open: Callable[[date], bool]
) -> list[date]:
    """The days the preset asks for, before closed days move any of them."""
    if schedule.on_weekdays:
        days: list[date] = []
        day = start
        while len(days) < schedule.sessions:
            if day.weekday() in schedule.on_weekdays:
                days.append(day)
            day += timedelta(days=1)
        return days
    first = start
    while not is_open(first):
        first += timedelta(days=1)
    return [first + timedelta(days=k) for k in schedule.day_offsets]


# --- Maintenance ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MaintenanceBounds:
    """How often maintenance may be given at home: from twice a week to about monthly.

    Hyperhidrosis UK: "from twice a week to about monthly"; within it Fischer (every 2–4
    weeks), German clinics (1–2 a week) and the UK centre (usually weekly). The shortest gap
    is 3 days (Monday to Thursday is twice a week); the longest 31 days (a calendar month).
    """

    min_interval_days: int = 3
    max_interval_days: int = 31
    source: Source = sources.HYPERHIDROSIS_UK

    def __post_init__(self) -> None:
        if not 1 <= self.min_interval_days <= self.max_interval_days:
            raise ValueError("maintenance bounds: 1 <= min_interval_days <= max_interval_days")

    def clamp(self, interval_days: int) -> int:
        """``interval_days`` moved into the bounds."""
        return min(max(interval_days, self.min_interval_days), self.max_interval_days)


MAINTENANCE_BOUNDS = MaintenanceBounds()


@dataclass(frozen=True)
class MaintenancePlan:
    """Home maintenance: one session every ``interval_days`` days."""

    name: str
    interval_days: int
    source: Source

    def __post_init__(self) -> None:
        if self.interval_days < 1:
            raise ValueError(f"interval_days must be at least 1, got {self.interval_days}")


#: Maintenance presets within :data:`MAINTENANCE_BOUNDS`, most frequent first. "Twice a week"
#: as a fixed interval is every 4 days (no more often than twice a week; a Monday/Thursday
#: calendar has gaps of 3 and 4).
MAINTENANCE_PLANS: dict[str, MaintenancePlan] = {
    p.name: p
    for p in (
        MaintenancePlan("twice_a_week", 4, sources.SWISS_GERMAN_CLINICS),
        MaintenancePlan("weekly", 7, sources.TREATMENT_CENTRE),
        MaintenancePlan("every_2_weeks", 14, FISCHER_MAINTENANCE),
        MaintenancePlan("every_4_weeks", 28, FISCHER_MAINTENANCE),
    )
}
#: The UK centre's patients usually continue weekly at home (clinical-reference §1).
DEFAULT_MAINTENANCE = MAINTENANCE_PLANS["weekly"]


@dataclass(frozen=True)
class MaintenanceAdjustment:
    """A maintenance plan after a rule changed it (or kept it), and why."""

    plan: MaintenancePlan
    reason: Reason


def adjust_for_dry_skin(
    plan: MaintenancePlan, bounds: MaintenanceBounds = MAINTENANCE_BOUNDS
) -> MaintenanceAdjustment:
    """Skin too dry or cracking → treat less often (Hyperhidrosis UK; clinical-reference §3-4).

    "Less often" has no number in the sources, so the step is to the next longer interval
    among the published presets (:data:`MAINTENANCE_PLANS`: twice a week → weekly → every 2
    weeks → every 4 weeks), then to the longest the bounds allow; a plan already there stays
    (code ``skin_dry_longest_interval``: moisturise and see the nurse). Never more often.
    """
    current = plan.interval_days
    longer = sorted(
        p.interval_days
        for p in MAINTENANCE_PLANS.values()
        if current < p.interval_days <= bounds.max_interval_days
    )
    if longer:
        interval = longer[0]
    elif current < bounds.max_interval_days:
        interval = bounds.max_interval_days
    else:
        return MaintenanceAdjustment(
            plan=plan,
            reason=Reason(
                code="skin_dry_longest_interval",
                text=(
                    f"Skin too dry or cracking, but sessions are already every {current} days, "
                    "the longest gap for maintenance: moisturise and talk to the nurse."
                ),
                source=sources.HYPERHIDROSIS_UK,
            ),
        )
    return MaintenanceAdjustment(
        plan=MaintenancePlan(
            name=f"{plan.name}_dry_skin", interval_days=interval, source=plan.source
        ),
        reason=Reason(
            code="skin_dry_treat_less_often",
            text=(
                f"Skin too dry or cracking: treat less often, every {interval} days instead "
                f"of every {current}, and moisturise."
            ),
            source=sources.HYPERHIDROSIS_UK,
        ),
    )


def next_maintenance_date(
    history: Sequence[SessionLike],
    plan: MaintenancePlan = DEFAULT_MAINTENANCE,
    *,
    solution: Solution = Solution.TAP_WATER,
    caps: FrequencyCaps = FREQUENCY_CAPS,
) -> date:
    """The plan's next date after the last session, never earlier than the caps allow."""
    if not history:
        raise ValueError("maintenance follows a session: the history is empty")
    last = max(s.on if isinstance(s, SessionDate) else s for s in history)
    planned = last + timedelta(days=plan.interval_days)
    return earliest_next_session(history, solution, not_before=planned, caps=caps)


@dataclass(frozen=True)
class ReinductionSettings:
    """After a full relapse: ``sessions`` sessions ``spacing_days`` apart, then maintenance.

    3–4 sessions restore the effect (Hyperhidrosis UK; clinical-reference §3): the default is
    4, the safer end for the effect. The spacing is not published: every other day, the pace
    of the 3-a-week inductions (derived).
    """

    sessions: int = 4
    spacing_days: int = 2

    def __post_init__(self) -> None:
        if not 3 <= self.sessions <= 4:
            raise ValueError(
                f"after a full relapse 3–4 sessions restore the effect, got {self.sessions}"
            )
        if self.spacing_days < 1:
            raise ValueError("spacing_days must be at least 1")


REINDUCTION = ReinductionSettings()


@dataclass(frozen=True)
class Reinduction:
    dates: tuple[date, ...]
    reason: Reason


def reinduction_after_relapse(
    start: date,
    *,
    history: Sequence[SessionLike] = (),
    solution: Solution = Solution.TAP_WATER,
    settings: ReinductionSettings = REINDUCTION,
    closed: frozenset[date] = frozenset(),
    weekdays: frozenset[int] | None = None,
    caps: FrequencyCaps = FREQUENCY_CAPS,
) -> Reinduction:
    """The sessions that restore the effect after a full relapse (Hyperhidrosis UK: 3–4).

    The first on the first open day on or after ``start``; each next one ``spacing_days``
    later or on the next open day after that; none earlier than the frequency caps allow
    given ``history`` (so glycopyrronium keeps its 7 days). Open days as in
    :func:`induction_dates`.
    """
    start = _plain_date(start, "start")
    if weekdays is not None and (not weekdays or not weekdays <= frozenset(range(_WEEK_DAYS))):
        raise ValueError("weekdays must name at least one day, 0 (Monday) to 6 (Sunday)")
    done: list[SessionLike] = list(history)
    placed: list[date] = []
    for _ in range(settings.sessions):
        wanted = placed[-1] + timedelta(days=settings.spacing_days) if placed else start
        day = (
            earliest_next_session(done, solution, not_before=wanted, caps=caps) if done else wanted
        )
        while day in closed or (weekdays is not None and day.weekday() not in weekdays):
            day += timedelta(days=1)
        placed.append(day)
        done.append(SessionDate(day, solution))
    dates = tuple(placed)
    return Reinduction(
        dates=dates,
        reason=Reason(
            code="reinduction_after_relapse",
            text=(
                f"Sweating has fully come back: {len(dates)} sessions close together "
                f"({day_text(dates[0])} to {day_text(dates[-1])}) restore the effect, "
                "then maintenance resumes."
            ),
            source=REINDUCTION_SPACING,
        ),
    )
