"""First fit: what a receptionist with a spreadsheet does (the baseline beside CP-SAT).

Referrals are taken in order of funding date (then as listed). Each gets the earliest course
the diary still allows: on every candidate day the earliest start with a free chair and a
nurse with room (lowest chair number, first nurse on the roster), then the earliest days
that keep the course rules (:func:`ionto.clinic.scheduling.rules.earliest_course_days`).
Once booked, a course is never moved for a later referral.

A course is all or nothing for the initial booking (a decision, derived): a patient who
cannot be given the whole course within its window is not started, because a course cut
short cannot show whether iontophoresis works (clinical-reference §1: the aim of the course
is the verdict) — the referral stays on the waiting list with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date

from ionto.clinic.scheduling.calendar import (
    CourseCalendar,
    course_calendar,
    no_capacity,
    not_bookable,
)
from ionto.clinic.scheduling.diary import Diary
from ionto.clinic.scheduling.problem import (
    Appointment,
    Problem,
    Referral,
    Schedule,
    Status,
    Unscheduled,
)
from ionto.clinic.scheduling.rules import earliest_course_days

#: How referrals are taken: a sort key of (input position, referral).
OrderKey = Callable[[int, Referral], tuple[date | int, ...]]


def first_come(index: int, referral: Referral) -> tuple[date | int, ...]:
    """The receptionist's order: funding date, then as listed."""
    return (referral.funded_on, index)


def shortest_course_first(index: int, referral: Referral) -> tuple[date | int, ...]:
    """Least chair time first (more courses fit), then funding date: a warm start for CP-SAT."""
    return (referral.visit_minutes * referral.sessions, referral.funded_on, index)


def funding_week_then_shortest(index: int, referral: Referral) -> tuple[date | int, ...]:
    """By week of funding, the shortest courses first within a week: a warm start for CP-SAT."""
    week = referral.funded_on.toordinal() // 7
    return (week, referral.visit_minutes * referral.sessions, referral.funded_on, index)


def solve_greedy(
    problem: Problem,
    order: OrderKey = first_come,
    calendars: Mapping[str, CourseCalendar] | None = None,
) -> Schedule:
    """Book every referral in ``order`` (first come, first served), each at its earliest
    feasible course. ``calendars`` (by referral id): already computed, to reuse."""
    started = time.perf_counter()
    centre = problem.centre
    diary = Diary(centre)
    for a in problem.fixed:
        diary.book(a)
    booked: list[Appointment] = list(problem.fixed)
    unscheduled: list[Unscheduled] = []
    ranked = sorted(enumerate(problem.to_book), key=lambda ir: order(ir[0], ir[1]))
    for _, referral in ranked:
        calendar = (
            calendars[referral.id] if calendars is not None else course_calendar(centre, referral)
        )
        if not calendar.bookable:
            unscheduled.append(not_bookable(centre, calendar))
            continue
        fits: dict[int, tuple[int, int, str]] = {}
        for day, (first, last) in calendar.windows.items():
            found = diary.first_fit(centre.date_of(day), first, last, referral.visit_minutes)
            if found is not None:
                fits[day] = found
        days = earliest_course_days(sorted(fits), calendar.gaps, referral.sessions)
        if days is None:
            unscheduled.append(no_capacity(centre, calendar))
            continue
        for n, day in enumerate(days, start=1):
            start_min, chair, nurse = fits[day]
            appointment = Appointment(
                on=centre.date_of(day),
                start_min=start_min,
                end_min=start_min + referral.visit_minutes,
                chair=chair,
                referral=referral.id,
                n=n,
                nurse=nurse,
            )
            diary.book(appointment)
            booked.append(appointment)
    return Schedule(
        solver="greedy",
        status=Status.FEASIBLE,
        appointments=tuple(sorted(booked)),
        unscheduled=tuple(unscheduled),
        seconds=time.perf_counter() - started,
    )
