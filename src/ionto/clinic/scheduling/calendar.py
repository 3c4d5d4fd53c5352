"""Which days and times a referral's visits may take, before any capacity is used.

Shared by both solvers, so that they book within exactly the same rules: a day is a
candidate for a referral when :func:`~ionto.clinic.scheduling.rules.start_window` gives it
a start window (open, staffed, chair in service, patient available, on or after funding,
inside the horizon). :func:`course_calendar` adds the earliest and latest days each session
can take (capacity ignored); a referral with none cannot be booked in this horizon at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ionto.clinic.scheduling.problem import Centre, Referral, Unscheduled
from ionto.clinic.scheduling.rules import (
    DayGap,
    earliest_course_days,
    latest_course_days,
    referral_gaps,
    start_window,
)


@dataclass(frozen=True)
class CourseCalendar:
    """A referral's candidate days (index from the horizon's start → start window, minutes).

    ``earliest``/``latest``: the earliest and latest day of each session over every course
    that keeps the rules on the candidate days; ``None`` when there is no such course.
    """

    referral: Referral
    windows: dict[int, tuple[int, int]]
    gaps: tuple[DayGap, ...]
    earliest: tuple[int, ...] | None
    latest: tuple[int, ...] | None

    @property
    def bookable(self) -> bool:
        return self.earliest is not None


def course_calendar(
    centre: Centre, referral: Referral, *, excluded: frozenset[int] = frozenset()
) -> CourseCalendar:
    """``excluded``: day indices the patient cannot come after all (cancelled days)."""
    windows: dict[int, tuple[int, int]] = {}
    for day in range(centre.days):
        if day in excluded:
            continue
        window = start_window(centre, referral, centre.date_of(day))
        if window is not None:
            windows[day] = window
    gaps = referral_gaps(referral)
    days = sorted(windows)
    earliest = earliest_course_days(days, gaps, referral.sessions)
    latest = latest_course_days(days, gaps, referral.sessions) if earliest else None
    return CourseCalendar(referral, windows, gaps, earliest, latest)


def not_bookable(centre: Centre, calendar: CourseCalendar) -> Unscheduled:
    """Why a referral with no course on its candidate days cannot be booked in this horizon."""
    r = calendar.referral
    if r.funded_on > centre.end:
        return Unscheduled(
            r.id,
            "funded_after_horizon",
            f"Funded on {r.funded_on.isoformat()}, after the planning horizon "
            f"({centre.start.isoformat()} to {centre.end.isoformat()}): book it in a later one.",
        )
    return Unscheduled(
        r.id,
        "course_does_not_fit_horizon",
        f"Its {r.sessions} sessions cannot all be given within {r.within_days} days between "
        f"{max(r.funded_on, centre.start).isoformat()} and the end of the planning horizon "
        f"({centre.end.isoformat()}) on the patient's days, around closed days and the nurses' "
        "roster, even with every chair free: book it in a later horizon.",
    )


def no_capacity(centre: Centre, calendar: CourseCalendar) -> Unscheduled:
    """A referral that could fit the calendar but found no free chair and nurse for it."""
    r = calendar.referral
    return Unscheduled(
        r.id,
        "no_capacity",
        f"No free chair and nurse for all {r.sessions} visits of a course within "
        f"{r.within_days} days on the patient's days and times before the end of the planning "
        f"horizon ({centre.end.isoformat()}): a course is booked whole or not at all; it "
        "stays on the waiting list.",
    )
