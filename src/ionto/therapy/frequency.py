"""How often sessions may happen: the frequency caps, one small pure function each, with source.

The caps (clinical-reference §2, §3 and the derived proposals of §8):

* **at most 1 session a day** and **at most 5 a week** (Dermadry usage guidance, adopted by
  Ionto's derived proposal §8). Every source that gives a frequency agrees on one session a
  day at most, so that cap is fixed; the weekly number is configurable
  (:class:`FrequencyCaps`).
* **glycopyrronium** (Robinul powder SmPC, UK, §4.2): "Only one site should be treated at a
  time and only two sites in any one day. Treatments should not be repeated within seven
  days."

Decisions where the wording leaves room (each configurable in :class:`FrequencyCaps`):

* **What "a week" is.** By default a *rolling* week: any 7 consecutive calendar days hold at
  most 5 sessions. A calendar week (Monday to Sunday) would allow 5 sessions at the end of one
  week and 5 more at the start of the next, i.e. 10 sessions in 10 days. The skin does not
  know what weekday it is, so the rolling reading is the safe one for a patient; it is also
  the stricter one (a series that passes it passes the calendar reading). ``WeekKind.CALENDAR``
  is there for a service that counts by calendar week.
* **Glycopyrronium "not repeated within seven days": per site or at all?** At all. The SmPC
  says *treatments* are not repeated within seven days, right after limiting the sites of one
  day; the sites of a day together are one treatment. The limit exists because the drug is
  absorbed and acts on the whole body (dry mouth, heat intolerance), so treating the palms on
  Monday and the soles on Wednesday is a repeat for the patient even though the sites differ.
  The per-site reading is the weaker one: a series that passes this check passes it too.
  Seven days apart is allowed (a weekly clinic on the same weekday; the derived proposal §8
  says "≥ 7 days apart"); a service that reads "within seven days" as including the seventh
  sets ``glycopyrronium_min_days_apart=8``.
* **"A day"** is a calendar day: Ionto's session dates carry no time of day.
* **"One site at a time"** cannot be seen in a list of dates: it is a :class:`Limit` here for
  the protocol and the session controller, which treat one site per run.

Tap-water sessions never count towards the glycopyrronium rules (the SmPC is about the drug),
but every session, whatever the solution, counts towards the 1-a-day and 5-a-week caps.

For a scheduler or a response model: :func:`check_frequency` says what a series of sessions
breaks (empty tuple: nothing), :func:`earliest_next_session` says the first date a further
session may be given. Both are pure and cheap (a sort and a linear pass).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from ionto.therapy import sources
from ionto.therapy.reasons import Limit, Reason
from ionto.therapy.vocabulary import Solution

#: Every source that gives a frequency allows at most one session a day (Dermadry; the UK
#: protocols all space sessions at least a day apart). Not configurable: no source allows two.
MAX_SESSIONS_PER_DAY = 1
#: Robinul SmPC: "only one site should be treated at a time".
GLYCOPYRRONIUM_SITES_AT_ONCE = 1

_WEEK_DAYS = 7

SESSIONS_PER_DAY = "sessions/day"
SITES_AT_ONCE = "sites at once"
SITES_PER_DAY = "sites/day"
DAYS_APART_MINIMUM = "days apart (minimum)"


class WeekKind(StrEnum):
    """What "a week" means when sessions are counted per week."""

    #: Any 7 consecutive calendar days (the default: safe for the patient, see module doc).
    ROLLING = "rolling"
    #: Monday to Sunday (ISO week).
    CALENDAR = "calendar"


@dataclass(frozen=True)
class FrequencyCaps:
    """The configurable frequency caps. :data:`FREQUENCY_CAPS` is the default instance.

    ``max_sessions_per_week`` — 5 (Dermadry; derived proposal §8); ``week`` — rolling by
    default (derived: see the module doc); ``glycopyrronium_max_sites_per_day`` — 2 and
    ``glycopyrronium_min_days_apart`` — 7 (Robinul SmPC).
    """

    max_sessions_per_week: int = 5
    week: WeekKind = WeekKind.ROLLING
    glycopyrronium_max_sites_per_day: int = 2
    glycopyrronium_min_days_apart: int = 7

    def __post_init__(self) -> None:
        if not 1 <= self.max_sessions_per_week <= _WEEK_DAYS:
            raise ValueError(
                f"max_sessions_per_week must be 1 to 7, got {self.max_sessions_per_week}"
            )
        if self.glycopyrronium_max_sites_per_day < 1:
            raise ValueError("glycopyrronium_max_sites_per_day must be at least 1")
        if self.glycopyrronium_min_days_apart < 1:
            raise ValueError("glycopyrronium_min_days_apart must be at least 1")


FREQUENCY_CAPS = FrequencyCaps()


@dataclass(frozen=True, order=True)
class SessionDate:
    """One session as the frequency caps see it: its date, its solution, how many sites.

    ``sites`` counts the sites treated one after another in this session; it matters only for
    glycopyrronium (tap water treats both hands or feet together and has no site limit).
    """

    on: date
    solution: Solution = Solution.TAP_WATER
    sites: int = 1

    def __post_init__(self) -> None:
        # A datetime is a date to Python, but it compares with dates only by raising: refuse it.
        if isinstance(self.on, datetime) or not isinstance(self.on, date):
            raise TypeError(f"a session date must be a datetime.date, got {self.on!r}")
        if self.sites < 1:
            raise ValueError(f"a session treats at least one site, got {self.sites}")


#: What the checks accept for one session: a :class:`SessionDate`, or a bare date for a
#: tap-water session.
SessionLike = SessionDate | date


@dataclass(frozen=True)
class Violation:
    """One rule a series of sessions breaks: why (code, text, source) and on which dates.

    ``dates`` are the session dates involved, ascending, a date repeated once per session on
    it. ``period`` is the stretch of calendar days the rule was checked over, first and last
    day included, where that says more than the dates (a crowded week, a gap with too few
    sessions, the course window); otherwise ``None``.
    """

    reason: Reason
    dates: tuple[date, ...]
    period: tuple[date, date] | None = None

    @property
    def code(self) -> str:
        return self.reason.code

    @property
    def first_day(self) -> date:
        """The earliest day involved: what violations are sorted by."""
        if self.dates:
            return self.dates[0]
        if self.period is None:
            raise ValueError(f"violation {self.code} has neither dates nor period")
        return self.period[0]


def sort_violations(violations: Iterable[Violation]) -> tuple[Violation, ...]:
    """Violations in the order a nurse reads a calendar: earliest day first, then by code."""
    return tuple(sorted(violations, key=lambda v: (v.first_day, v.code, v.dates)))


# --- Limits: one function per cap --------------------------------------------------------------
def sessions_per_day_cap() -> Limit:
    """At most 1 session a day, whatever the solution (Dermadry; derived proposal §8)."""
    return Limit(
        code="max_sessions_per_day",
        value=float(MAX_SESSIONS_PER_DAY),
        unit=SESSIONS_PER_DAY,
        text="At most 1 treatment session a day.",
        source=sources.DERMADRY,
    )


def sessions_per_week_cap(caps: FrequencyCaps = FREQUENCY_CAPS) -> Limit:
    """At most 5 sessions a week (Dermadry; derived proposal §8); a rolling week by default."""
    n = caps.max_sessions_per_week
    if caps.week is WeekKind.ROLLING:
        return Limit(
            code="max_sessions_per_week",
            value=float(n),
            unit="sessions/7 days",
            text=f"At most {n} treatment sessions in any 7 days in a row.",
            source=sources.DERMADRY,
        )
    return Limit(
        code="max_sessions_per_week",
        value=float(n),
        unit="sessions/calendar week",
        text=f"At most {n} treatment sessions in one week (Monday to Sunday).",
        source=sources.DERMADRY,
    )


def glycopyrronium_sites_at_once_cap() -> Limit:
    """Glycopyrronium: only one site treated at a time (Robinul SmPC §4.2)."""
    return Limit(
        code="glycopyrronium_one_site_at_a_time",
        value=float(GLYCOPYRRONIUM_SITES_AT_ONCE),
        unit=SITES_AT_ONCE,
        text="Glycopyrronium: treat only one site at a time.",
        source=sources.ROBINUL_SMPC,
    )


def glycopyrronium_sites_per_day_cap(caps: FrequencyCaps = FREQUENCY_CAPS) -> Limit:
    """Glycopyrronium: at most two sites in any one day (Robinul SmPC §4.2)."""
    n = caps.glycopyrronium_max_sites_per_day
    return Limit(
        code="glycopyrronium_max_sites_per_day",
        value=float(n),
        unit=SITES_PER_DAY,
        text=f"Glycopyrronium: at most {n} sites treated in one day.",
        source=sources.ROBINUL_SMPC,
    )


def glycopyrronium_min_days_apart(caps: FrequencyCaps = FREQUENCY_CAPS) -> Limit:
    """Glycopyrronium treatments at least 7 days apart, whatever the site (Robinul SmPC §4.2).

    A lower bound on the gap, not a ceiling: do not feed it to ``limit_value``.
    """
    n = caps.glycopyrronium_min_days_apart
    return Limit(
        code="glycopyrronium_min_days_apart",
        value=float(n),
        unit=DAYS_APART_MINIMUM,
        text=(
            f"Glycopyrronium: leave at least {n} days between treatments, "
            "even when a different site is treated."
        ),
        source=sources.ROBINUL_SMPC,
    )


def frequency_limits(
    solution: Solution = Solution.TAP_WATER, caps: FrequencyCaps = FREQUENCY_CAPS
) -> tuple[Limit, ...]:
    """Every frequency cap that applies to sessions with this solution, for the record."""
    common = (sessions_per_day_cap(), sessions_per_week_cap(caps))
    if solution is Solution.GLYCOPYRRONIUM:
        return (
            *common,
            glycopyrronium_sites_at_once_cap(),
            glycopyrronium_sites_per_day_cap(caps),
            glycopyrronium_min_days_apart(caps),
        )
    return common


# --- Checks: one function per cap ------------------------------------------------------------
def as_sessions(sessions: Iterable[SessionLike]) -> tuple[SessionDate, ...]:
    """The sessions as :class:`SessionDate`, in date order (a bare date is a tap-water one)."""
    return tuple(sorted(s if isinstance(s, SessionDate) else SessionDate(s) for s in sessions))


def check_sessions_per_day(sessions: Sequence[SessionLike]) -> tuple[Violation, ...]:
    """Code ``two_sessions_same_day``: more than 1 session on one day (Dermadry; §8)."""
    per_day = Counter(s.on for s in as_sessions(sessions))
    return tuple(
        Violation(
            reason=Reason(
                code="two_sessions_same_day",
                text=(f"{count} sessions on {day_text(day)}: at most 1 treatment session a day."),
                source=sources.DERMADRY,
            ),
            dates=(day,) * count,
        )
        for day, count in sorted(per_day.items())
        if count > MAX_SESSIONS_PER_DAY
    )


def check_sessions_per_week(
    sessions: Sequence[SessionLike], caps: FrequencyCaps = FREQUENCY_CAPS
) -> tuple[Violation, ...]:
    """Code ``more_than_5_in_a_week`` (the number is the configured cap; Dermadry; §8).

    Rolling week: every 7 consecutive days. Overlapping crowded stretches are reported as one
    violation, so ten sessions on ten days in a row give one violation, not five.
    Calendar week: one violation per crowded Monday-to-Sunday week.
    """
    days = [s.on for s in as_sessions(sessions)]
    n = caps.max_sessions_per_week
    code = f"more_than_{n}_in_a_week"
    if caps.week is WeekKind.CALENDAR:
        by_week: dict[date, list[date]] = {}
        for day in days:
            by_week.setdefault(monday_of(day), []).append(day)
        return tuple(
            _crowded_week(code, n, tuple(week_days), (monday, monday + timedelta(days=6)))
            for monday, week_days in sorted(by_week.items())
            if len(week_days) > n
        )
    # A crowded 7-day window can always be slid to start on its first session, so checking
    # the windows that start on a session finds every crowded stretch.
    groups: list[tuple[int, int]] = []
    for i, first in enumerate(days):
        end = bisect_right(days, first + timedelta(days=_WEEK_DAYS - 1))
        if end - i <= n:
            continue
        if groups and i < groups[-1][1]:
            groups[-1] = (groups[-1][0], max(groups[-1][1], end))
        else:
            groups.append((i, end))
    return tuple(
        _crowded_week(code, n, tuple(days[i:end]), (days[i], days[end - 1])) for i, end in groups
    )


def _crowded_week(
    code: str, n: int, week_days: tuple[date, ...], period: tuple[date, date]
) -> Violation:
    return Violation(
        reason=Reason(
            code=code,
            text=(
                f"Too many sessions: {len(week_days)} between {day_text(period[0])} and "
                f"{day_text(period[1])}, more than {n} in a week. "
                f"At most {n} treatment sessions in any 7 days."
            ),
            source=sources.DERMADRY,
        ),
        dates=week_days,
        period=period,
    )


def glycopyrronium_sites_by_day(sessions: Sequence[SessionLike]) -> dict[date, int]:
    """How many glycopyrronium sites each day holds, summed over that day's sessions."""
    sites: Counter[date] = Counter()
    for s in as_sessions(sessions):
        if s.solution is Solution.GLYCOPYRRONIUM:
            sites[s.on] += s.sites
    return dict(sites)


def check_glycopyrronium_sites_per_day(
    sites_by_day: Mapping[date, int], caps: FrequencyCaps = FREQUENCY_CAPS
) -> tuple[Violation, ...]:
    """Code ``glycopyrronium_more_than_2_sites_a_day`` (Robinul SmPC §4.2: two sites a day)."""
    n = caps.glycopyrronium_max_sites_per_day
    return tuple(
        Violation(
            reason=Reason(
                code=f"glycopyrronium_more_than_{n}_sites_a_day",
                text=(
                    f"Glycopyrronium on {sites} sites on {day_text(day)}: "
                    f"at most {n} sites in one day, one at a time."
                ),
                source=sources.ROBINUL_SMPC,
            ),
            dates=(day,),
        )
        for day, sites in sorted(sites_by_day.items())
        if sites > n
    )


def check_glycopyrronium_interval(
    sessions: Sequence[SessionLike], caps: FrequencyCaps = FREQUENCY_CAPS
) -> tuple[Violation, ...]:
    """Code ``glycopyrronium_within_7_days``: two glycopyrronium treatment days < 7 days apart.

    Robinul SmPC §4.2, read as "at all", not per site (see the module doc). The sessions of
    one day are one treatment (the day's site limit is checked separately), so each pair of
    consecutive glycopyrronium *days* too close together is one violation; a day too close to
    the one before is always named, whichever pair it sits in.
    """
    gap = caps.glycopyrronium_min_days_apart
    days = sorted({s.on for s in as_sessions(sessions) if s.solution is Solution.GLYCOPYRRONIUM})
    return tuple(
        Violation(
            reason=Reason(
                code=f"glycopyrronium_within_{gap}_days",
                text=(
                    f"Glycopyrronium on {day_text(before)} and again on {day_text(after)}, "
                    f"{(after - before).days} days later: leave at least {gap} days between "
                    "glycopyrronium treatments, even on a different site."
                ),
                source=sources.ROBINUL_SMPC,
            ),
            dates=(before, after),
        )
        for before, after in pairwise(days)
        if (after - before).days < gap
    )


def check_frequency(
    sessions: Sequence[SessionLike], caps: FrequencyCaps = FREQUENCY_CAPS
) -> tuple[Violation, ...]:
    """Every frequency cap the sessions break, earliest first; empty when they break none.

    Sessions may come in any order; a bare date is a tap-water session. Caps: 1 a day,
    5 a week (Dermadry; §8), glycopyrronium 2 sites a day and 7 days apart (Robinul SmPC).
    """
    ordered = as_sessions(sessions)
    return sort_violations(
        (
            *check_sessions_per_day(ordered),
            *check_sessions_per_week(ordered, caps),
            *check_glycopyrronium_sites_per_day(glycopyrronium_sites_by_day(ordered), caps),
            *check_glycopyrronium_interval(ordered, caps),
        )
    )


# --- The earliest next session ---------------------------------------------------------------
@dataclass(frozen=True)
class NextSession:
    """The earliest date a further session may be given, and the caps that pushed it there.

    ``binding`` is empty when nothing but the day after the last session (or ``not_before``)
    set the date.
    """

    on: date
    binding: tuple[Limit, ...]


def next_session(
    history: Sequence[SessionLike],
    solution: Solution = Solution.TAP_WATER,
    *,
    not_before: date | None = None,
    sites: int = 1,
    caps: FrequencyCaps = FREQUENCY_CAPS,
) -> NextSession:
    """The earliest date after every session in ``history`` (and on or after ``not_before``)
    on which one more session with ``solution`` breaks no frequency cap, and which caps bound.

    Each cap on its own allows every date from some day on, so the earliest date is the
    latest of the caps' own earliest dates:

    * 1 a day (Dermadry; §8): the day after the last session;
    * 5 a week (Dermadry; §8): rolling — 7 days after the 5th most recent session; calendar —
      the first day of a week with fewer than 5 sessions;
    * glycopyrronium (Robinul SmPC): 7 days after the last glycopyrronium treatment, and at
      most 2 sites (``sites`` larger than that can never be given: ``ValueError``).

    Raises ``ValueError`` when ``history`` is empty and ``not_before`` is not given: there is
    then nothing to count from.
    """
    if not_before is not None and isinstance(not_before, datetime):
        raise TypeError("not_before must be a datetime.date, not a datetime")
    if sites < 1:
        raise ValueError(f"a session treats at least one site, got {sites}")
    glycopyrronium = solution is Solution.GLYCOPYRRONIUM
    if glycopyrronium and sites > caps.glycopyrronium_max_sites_per_day:
        raise ValueError(
            f"glycopyrronium on {sites} sites can never be given: "
            f"at most {caps.glycopyrronium_max_sites_per_day} sites a day (Robinul SmPC)"
        )
    ordered = as_sessions(history)
    if not ordered and not_before is None:
        raise ValueError("no sessions in the history and no not_before date: nothing to count from")
    floor_candidates = [ordered[-1].on + timedelta(days=1)] if ordered else []
    if not_before is not None:
        floor_candidates.append(not_before)
    floor = max(floor_candidates)

    earliest_by_cap: list[tuple[date, Limit]] = []
    if ordered:
        earliest_by_cap.append((ordered[-1].on + timedelta(days=1), sessions_per_day_cap()))
        earliest_by_cap.append(
            (_earliest_by_week_cap(ordered, floor, caps), sessions_per_week_cap(caps))
        )
    if glycopyrronium:
        last = [s.on for s in ordered if s.solution is Solution.GLYCOPYRRONIUM]
        if last:
            earliest_by_cap.append(
                (
                    last[-1] + timedelta(days=caps.glycopyrronium_min_days_apart),
                    glycopyrronium_min_days_apart(caps),
                )
            )
    on = max([floor, *(d for d, _ in earliest_by_cap)])
    binding = tuple(limit for d, limit in earliest_by_cap if d == on and d > floor)
    return NextSession(on=on, binding=binding)


def earliest_next_session(
    history: Sequence[SessionLike],
    solution: Solution = Solution.TAP_WATER,
    *,
    not_before: date | None = None,
    sites: int = 1,
    caps: FrequencyCaps = FREQUENCY_CAPS,
) -> date:
    """The earliest date a next session may be given without breaking a frequency cap.

    The date of :func:`next_session` (which also says which caps bound it). A response model
    clamps its recommendation with ``max(recommended, earliest_next_session(...))``.
    """
    return next_session(history, solution, not_before=not_before, sites=sites, caps=caps).on


def _earliest_by_week_cap(
    ordered: tuple[SessionDate, ...], floor: date, caps: FrequencyCaps
) -> date:
    """The first day on or after ``floor`` where one more session keeps the week cap."""
    n = caps.max_sessions_per_week
    days = [s.on for s in ordered]
    if caps.week is WeekKind.ROLLING:
        # The new session and the n most recent ones must not share a 7-day window.
        if len(days) < n:
            return floor
        return max(floor, days[-n] + timedelta(days=_WEEK_DAYS))
    candidate = floor
    while True:
        monday = monday_of(candidate)
        in_week = bisect_left(days, monday + timedelta(days=_WEEK_DAYS)) - bisect_left(days, monday)
        if in_week < n:
            return candidate
        candidate = monday + timedelta(days=_WEEK_DAYS)


# --- Calendar words --------------------------------------------------------------------------
def monday_of(day: date) -> date:
    """The Monday that starts ``day``'s calendar (ISO) week."""
    return day - timedelta(days=day.weekday())


_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: date) -> str:
    """A date as a nurse reads it, ``Mon 4 Jan 2027``, independent of the machine's locale."""
    return f"{_WEEKDAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"
