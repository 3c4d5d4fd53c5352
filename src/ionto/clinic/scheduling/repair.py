"""The booking office's repair after a change: keep what still fits, move the rest nearby.

What a receptionist does with the diary when a chair breaks or a patient cancels a day, and
the starting point that CP-SAT's re-plan (:mod:`.reschedule`) improves on:

1. every booked visit stays where it is if it still can: its day is still one of the
   patient's candidate days (open, staffed, a chair in service, not cancelled), its time is
   within their times, and a chair and a nurse are free then (visits taken in date and time
   order, so on a day that lost a chair the earlier ones keep their places);
2. the visits that could not stay move, course by course (the fewest to move first), each to
   the nearest day with room, at its old time of day if free, else the earliest free time,
   such that the whole course — its past visits included — still keeps every course rule;
3. a course that cannot be mended is booked again whole, first fit (:mod:`.greedy`'s way),
   and then the waiting list, in order of funding.

A course is still all or nothing: one that finds no room is dropped. The result keeps every
rule (each placement goes through the same :class:`.diary.Diary` and the same gaps as the
solvers), which is what CP-SAT needs from a starting point.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ionto.clinic.scheduling.calendar import CourseCalendar
from ionto.clinic.scheduling.diary import Diary
from ionto.clinic.scheduling.problem import MINUTES_PER_DAY, Appointment, Centre, Referral
from ionto.clinic.scheduling.rules import earliest_course_days, gaps_hold, referral_gaps

#: Candidate days tried for each visit that must move, nearest first. Derived: a course's
#: rules rarely let a visit go more than a couple of weeks from its old day.
NEAREST_DAYS = 12
#: Combinations tried for one course before giving up on mending it (then it is re-booked).
MAX_TRIES = 2000


@dataclass(frozen=True)
class CourseToBook:
    """A course to (re)book now: the whole course, its visits before the horizon, the
    calendar of what is left of it, and its visits in the previous plan from the start on
    (none: a referral on the waiting list)."""

    referral: Referral
    history: tuple[Appointment, ...]
    calendar: CourseCalendar
    before: tuple[Appointment, ...]


def repair(
    centre: Centre, fixed: Sequence[Appointment], courses: Sequence[CourseToBook]
) -> dict[str, list[Appointment]]:
    """The visits (from the horizon's start) of every course the repair books, by referral."""
    bookable = [c for c in courses if c.calendar.bookable]
    by_id = {c.referral.id: c for c in bookable}
    diary = _diary(centre, fixed)
    kept: dict[str, list[Appointment]] = {c.referral.id: [] for c in bookable if c.before}
    lost: dict[str, list[Appointment]] = {ref: [] for ref in kept}
    for a in sorted(
        (a for c in bookable for a in c.before), key=lambda a: (a.on, a.start_min, a.referral)
    ):
        stays = _stay(centre, diary, by_id[a.referral], a)
        if stays is not None:
            diary.book(stays)
            kept[a.referral].append(stays)
        else:
            lost[a.referral].append(a)
    failed: list[CourseToBook] = []
    # A course whose visits all stayed is mended too if they do not keep its rules (a plan
    # edited by hand): with nothing to move, mending fails and it is booked again whole.
    to_mend = [
        ref
        for ref in kept
        if lost[ref]
        or not _whole_course_keeps_rules(
            by_id[ref], [centre.day_index(a.on) for a in kept[ref]], centre
        )
    ]
    for ref in sorted(to_mend, key=lambda r: (len(lost[r]), r)):
        mended = _mend(centre, diary, by_id[ref], kept[ref], lost[ref])
        if mended is None:
            failed.append(by_id[ref])
            continue
        for a in mended:
            diary.book(a)
        kept[ref] += mended
    failed_ids = {c.referral.id for c in failed}
    booked = {ref: sorted(v) for ref, v in kept.items() if ref not in failed_ids}
    if failed:
        # Their visits that stayed are freed again: a fresh diary of the courses kept.
        diary = _diary(centre, [*fixed, *(a for v in booked.values() for a in v)])
    waiting = sorted(
        (c for c in bookable if not c.before), key=lambda c: (c.referral.funded_on, c.referral.id)
    )
    for c in [*failed, *waiting]:
        whole = _first_fit(centre, diary, c)
        if whole is None:
            continue
        for a in whole:
            diary.book(a)
        booked[c.referral.id] = whole
    return booked


def _diary(centre: Centre, visits: Sequence[Appointment]) -> Diary:
    diary = Diary(centre)
    for a in visits:
        if centre.start <= a.on <= centre.end:
            diary.book(a)
    return diary


def _stay(centre: Centre, diary: Diary, course: CourseToBook, a: Appointment) -> Appointment | None:
    """The visit where it was, if that is still one of its places and a chair and nurse are free."""
    window = course.calendar.windows.get(centre.day_index(a.on))
    if window is None or not window[0] <= a.start_min <= window[1]:
        return None
    found = diary.first_fit(a.on, a.start_min, a.start_min, course.referral.visit_minutes)
    if found is None:
        return None
    _, chair, nurse = found
    return Appointment(
        a.on, a.start_min, a.start_min + course.referral.visit_minutes, chair, a.referral, 0, nurse
    )


def _fit(
    centre: Centre, diary: Diary, course: CourseToBook, day: int, near_min: int | None
) -> Appointment | None:
    """A visit of the course on a day: at ``near_min`` if free, else the earliest free time."""
    window = course.calendar.windows.get(day)
    if window is None:
        return None
    on = centre.date_of(day)
    minutes = course.referral.visit_minutes
    found = None
    if near_min is not None and window[0] <= near_min <= window[1]:
        found = diary.first_fit(on, near_min, near_min, minutes)
    if found is None:
        found = diary.first_fit(on, window[0], window[1], minutes)
    if found is None:
        return None
    start_min, chair, nurse = found
    return Appointment(
        on=on,
        start_min=start_min,
        end_min=start_min + minutes,
        chair=chair,
        referral=course.referral.id,
        n=0,
        nurse=nurse,
    )


def _whole_course_keeps_rules(course: CourseToBook, days: Sequence[int], centre: Centre) -> bool:
    past = [a.on.toordinal() - centre.start.toordinal() for a in course.history]
    if len(past) + len(days) != course.referral.sessions:
        return False
    return gaps_hold([*past, *sorted(days)], referral_gaps(course.referral))


def _mend(
    centre: Centre,
    diary: Diary,
    course: CourseToBook,
    kept: list[Appointment],
    lost: list[Appointment],
) -> list[Appointment] | None:
    """New places for a course's lost visits, nearest first, keeping the whole course's rules."""
    used = {centre.day_index(a.on) for a in kept}
    free_days = [d for d in course.calendar.windows if d not in used]
    options: list[list[Appointment]] = []
    for a in lost:
        old = centre.day_index(a.on)
        nearest = sorted(free_days, key=lambda d: (abs(d - old), d))[:NEAREST_DAYS]
        fits = [_fit(centre, diary, course, d, a.start_min) for d in nearest]
        options.append([f for f in fits if f is not None])
    kept_days = sorted(used)
    for choice in itertools.islice(_distinct_days(options), MAX_TRIES):
        days = [*kept_days, *(centre.day_index(a.on) for a in choice)]
        if _whole_course_keeps_rules(course, days, centre):
            return list(choice)
    return None


def _distinct_days(options: list[list[Appointment]]) -> Iterator[tuple[Appointment, ...]]:
    """Every choice of one option per lost visit on distinct days, nearest ones first."""
    for choice in itertools.product(*options):
        if len({a.on for a in choice}) == len(choice):
            yield choice


def _first_fit(centre: Centre, diary: Diary, course: CourseToBook) -> list[Appointment] | None:
    """The earliest whole course on the free places (:mod:`.greedy`'s way), after its past."""
    fits: dict[int, Appointment] = {}
    for day in course.calendar.windows:
        found = _fit(centre, diary, course, day, None)
        if found is not None:
            fits[day] = found
    sessions = course.calendar.referral.sessions
    days = earliest_course_days(sorted(fits), course.calendar.gaps, sessions)
    if days is None or not _whole_course_keeps_rules(course, days, centre):
        return None
    return [fits[d] for d in days]


def slots_by_referral(
    centre: Centre, slot_minutes: int, booked: Mapping[str, list[Appointment]]
) -> dict[str, list[int]]:
    """Visit starts as slots from the horizon's start (the CP-SAT model's unit), in order."""
    per_day = MINUTES_PER_DAY // slot_minutes
    return {
        ref: sorted(centre.day_index(a.on) * per_day + a.start_min // slot_minutes for a in v)
        for ref, v in booked.items()
    }
