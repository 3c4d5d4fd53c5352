"""The course rules as a scheduler needs them, built on the therapy core (not re-invented).

* :func:`course_rules` — a referral's :class:`~ionto.therapy.course.CourseRules`: the trial
  service's rules (clinical-reference §1: up to 10 treatments over 3–4 weeks, at least 2 a
  week) with the referral's own number of sessions and window, and the frequency caps of
  :mod:`ionto.therapy.frequency` (≤ 1 a day, ≤ 5 in any 7 days; Dermadry, §8). The checker
  validates every course with :func:`ionto.therapy.course.validate_course` and these rules.
* :func:`course_gaps` — the same rules rewritten as bounds on the days between two sessions of
  a course, ``lo ≤ day[j] − day[i] ≤ hi``, which is what a solver can post. The rewriting is
  exact for the definitions of :mod:`ionto.therapy.course` (rolling weeks) and is
  property-tested against ``validate_course``.
* :func:`visit_minutes` — a visit's chair time from the protocol's minutes for its regions
  (:func:`ionto.therapy.protocols.recommend_protocol`) plus set-up (CONTRACT.md).
* :func:`start_window` — when a visit may start on a day: opening hours ∩ the patient's
  times, on the slot grid, on an open day with a chair and a nurse.
* :func:`earliest_course_days` — the earliest days a course can take on a calendar of
  candidate days (capacity ignored), or ``None``: the test behind "cannot fit".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from ionto.clinic.scheduling.problem import Centre, Referral, RegionSitting
from ionto.therapy.course import TRIAL_COURSE, CourseRules
from ionto.therapy.frequency import WeekKind
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.vocabulary import Region, Solution

_WEEK_DAYS = 7

#: The age used to look up a visit's minutes when the referral gives none: an adult. Every
#: tap-water preset gives children and adults the same minutes (UK practice: hands 20, feet
#: 30, armpits 20), so the age does not change the visit's length.
ADULT_AGE_YEARS = 30.0


def course_rules(referral: Referral) -> CourseRules:
    """The rules of this referral's initial course (clinical-reference §1; frequency §8).

    The trial service's course (``TRIAL_COURSE``: at least 2 a week, the frequency caps) with
    the referral's number of sessions as the maximum and its ``within_days`` as the window.
    """
    return replace(
        TRIAL_COURSE,
        max_sessions=referral.sessions,
        window_days=referral.within_days,
        min_per_week=referral.min_per_week,
        caps=referral.caps,
    )


@dataclass(frozen=True)
class DayGap:
    """``lo_days ≤ day[j] − day[i] ≤ hi_days`` for sessions ``i < j`` of one course."""

    i: int
    j: int
    lo_days: int
    hi_days: int | None


def course_gaps(
    sessions: int, window_days: int, min_per_week: int, max_per_week: int
) -> tuple[DayGap, ...]:
    """The course rules of :mod:`ionto.therapy.course` as bounds between session days.

    Sessions ``0 … S−1`` in date order (source of each rule in brackets):

    * at most 1 a day (Dermadry; §8): ``day[k+1] − day[k] ≥ 1``;
    * at most ``m`` in any 7 days in a row (Dermadry; §8): ``day[k+m] − day[k] ≥ 7``;
    * within the window of ``W`` days (UK centre §1; offsets 0 … W−1):
      ``day[S−1] − day[0] ≤ W − 1``;
    * at least ``n`` in every 7 days wholly between the first and the last session (UK
      centre §1; the definition of ``validate_course``). The emptiest such windows start on
      the first session or the day after a session, which gives: ``day[n−1] − day[0] ≤ 6``;
      for every ``k``, ``day[k+n] − day[k] ≤ 7``, or, when fewer than ``n`` sessions follow
      ``k``, ``day[S−1] − day[k] ≤ 6`` (no full week after it); with fewer than ``n``
      sessions in all, ``day[S−1] − day[0] ≤ 5``.
    """
    bounds: dict[tuple[int, int], tuple[int, int | None]] = {}

    def add(i: int, j: int, lo: int, hi: int | None) -> None:
        if i >= j:
            return
        old_lo, old_hi = bounds.get((i, j), (0, None))
        new_hi = hi if old_hi is None else (old_hi if hi is None else min(old_hi, hi))
        bounds[(i, j)] = (max(old_lo, lo), new_hi)

    last = sessions - 1
    for k in range(last):
        add(k, k + 1, 1, None)
    for k in range(sessions - max_per_week):
        add(k, k + max_per_week, _WEEK_DAYS, None)
    add(0, last, 0, window_days - 1)
    if sessions < min_per_week:
        add(0, last, 0, _WEEK_DAYS - 2)
    else:
        add(0, min_per_week - 1, 0, _WEEK_DAYS - 1)
        for k in range(sessions):
            if k + min_per_week <= last:
                add(k, k + min_per_week, 0, _WEEK_DAYS)
            else:
                add(k, last, 0, _WEEK_DAYS - 1)
    return tuple(DayGap(i, j, lo, hi) for (i, j), (lo, hi) in sorted(bounds.items()))


def referral_gaps(referral: Referral) -> tuple[DayGap, ...]:
    """:func:`course_gaps` for a referral (rolling weeks only: the therapy core's default)."""
    if referral.caps.week is not WeekKind.ROLLING:
        raise ValueError("the schedulers count weeks as any 7 days in a row (rolling weeks)")
    return course_gaps(
        referral.sessions,
        referral.within_days,
        referral.min_per_week,
        referral.caps.max_sessions_per_week,
    )


def gaps_hold(days: Sequence[int], gaps: Iterable[DayGap]) -> bool:
    """Whether session days (in order) keep every gap."""
    for g in gaps:
        diff = days[g.j] - days[g.i]
        if diff < g.lo_days or (g.hi_days is not None and diff > g.hi_days):
            return False
    return True


def visit_minutes(
    regions: Sequence[Region],
    setup_minutes: int,
    sitting: RegionSitting = RegionSitting.ONE_AFTER_ANOTHER,
    *,
    age_years: float = ADULT_AGE_YEARS,
) -> int:
    """A visit's chair time: the protocol's minutes for its regions plus set-up (CONTRACT.md).

    Minutes per region come from :func:`ionto.therapy.protocols.recommend_protocol` with tap
    water (the trial service's first solution, clinical-reference §1): palms 20, soles 30,
    axillae 20 (Hyperhidrosis UK; BAD). Several regions are treated one after another
    (the sum) by default, or together (the longest): see :class:`RegionSitting`.
    """
    if not regions:
        raise ValueError("a visit treats at least one region")
    minutes = [recommend_protocol(r, Solution.TAP_WATER, age_years).minutes for r in regions]
    treated = sum(minutes) if sitting is RegionSitting.ONE_AFTER_ANOTHER else max(minutes)
    return treated + setup_minutes


def slots_for(minutes: int, slot_minutes: int) -> int:
    """Whole slots a chair is held for: a visit of 45 min on a 10-min grid holds 5 slots."""
    return -(-minutes // slot_minutes)


def start_window(centre: Centre, referral: Referral, on: date) -> tuple[int, int] | None:
    """The first and last start minute of a visit on a day, on the slot grid; or ``None``.

    ``None`` when the centre is closed, has no chair or nurse that day, the day is outside the
    horizon or before funding, the patient is not available on the weekday, or the visit does
    not fit between the later of opening and ``earliest`` and the earlier of closing and
    ``latest`` (CONTRACT.md: within opening hours and the patient's availability; §1: never
    before funding).
    """
    if on < referral.funded_on or on.weekday() not in referral.available:
        return None
    if centre.capacity_on(on) < 1:
        return None
    hours = centre.hours_on(on.weekday())
    if hours is None:  # pragma: no cover - capacity_on is 0 then
        return None
    return time_window(
        max(hours.open_min, referral.earliest_min),
        min(hours.close_min, referral.latest_min),
        referral.visit_minutes,
        centre.slot_minutes,
    )


def time_window(
    from_min: int, until_min: int, visit_minutes: int, slot_minutes: int
) -> tuple[int, int] | None:
    """First and last grid start (minutes) for a visit within [from, until), or ``None``."""
    first = -(-from_min // slot_minutes) * slot_minutes
    last = ((until_min - visit_minutes) // slot_minutes) * slot_minutes
    if last < first:
        return None
    return first, last


def earliest_course_days(
    candidates: Sequence[int], gaps: Sequence[DayGap], sessions: int
) -> tuple[int, ...] | None:
    """The earliest session days (each from ``candidates``) that keep every gap, or ``None``.

    The days that keep a set of difference bounds, each from a fixed set, are closed under
    the day-by-day minimum, so the first found depth-first in increasing order is the
    earliest for every session at once. Failures are remembered by the days that later
    bounds can still see, which keeps the search small.
    """
    days = sorted(set(candidates))
    if not days or sessions < 1:
        return None
    by_j: dict[int, list[DayGap]] = {}
    for g in gaps:
        by_j.setdefault(g.j, []).append(g)
    upper_from: dict[int, list[DayGap]] = {}
    for g in gaps:
        if g.hi_days is not None:
            upper_from.setdefault(g.i, []).append(g)
    # The placed days later bounds still look at, per session index: what a failure depends on.
    open_from = [sorted({g.i for g in gaps if g.i < k <= g.j}) for k in range(sessions + 1)]
    failed: set[tuple[int, tuple[int, ...]]] = set()
    placed: list[int] = []

    def place(k: int, from_index: int) -> bool:
        if k == sessions:
            return True
        memo = (k, tuple(placed[i] for i in open_from[k]))
        if memo in failed:
            return False
        for idx in range(from_index, len(days)):
            day = days[idx]
            too_late = False
            fits = True
            for g in by_j.get(k, ()):
                diff = day - placed[g.i]
                if g.hi_days is not None and diff > g.hi_days:
                    too_late = True
                    break
                if diff < g.lo_days:
                    fits = False
            if too_late:
                break
            # A later session j still has to fit under its upper bounds from earlier ones.
            for i, gs in upper_from.items():
                if i >= k:
                    continue
                for g in gs:
                    if (
                        g.j > k
                        and g.hi_days is not None
                        and day + (g.j - k) > placed[i] + g.hi_days
                    ):
                        too_late = True
            if too_late:
                break
            if not fits:
                continue
            placed.append(day)
            if place(k + 1, idx + 1):
                return True
            placed.pop()
        failed.add(memo)
        return False

    return tuple(placed) if place(0, 0) else None


def latest_course_days(
    candidates: Sequence[int], gaps: Sequence[DayGap], sessions: int
) -> tuple[int, ...] | None:
    """The latest session days that keep every gap (the mirror of the earliest), or ``None``."""
    mirrored = tuple(
        DayGap(sessions - 1 - g.j, sessions - 1 - g.i, g.lo_days, g.hi_days) for g in gaps
    )
    found = earliest_course_days([-d for d in candidates], mirrored, sessions)
    if found is None:
        return None
    return tuple(-d for d in reversed(found))


def weekday_pattern_fits(referral: Referral) -> bool:
    """Whether the course can keep its rules on the patient's weekdays at all.

    Closed days and capacity aside: some first day on an available weekday, then sessions on
    available weekdays only, keeping :func:`referral_gaps`.
    """
    gaps = referral_gaps(referral)
    horizon = referral.within_days + _WEEK_DAYS
    for first_weekday in sorted(referral.available):
        candidates = [
            d for d in range(horizon) if (first_weekday + d) % _WEEK_DAYS in referral.available
        ]
        found = earliest_course_days(candidates, gaps, referral.sessions)
        if found is not None and found[0] == 0:
            return True
    return False
