"""First fit: what a receptionist with a spreadsheet does (the baseline beside CP-SAT).

Referrals are taken in order of funding date (then as listed). Each gets the earliest course
the diary still allows: on every candidate day the earliest start with a free chair and a
nurse with room (lowest chair number, first nurse on the roster), then the earliest days
that keep the course rules (:func:`ionto.clinic.scheduling.rules.earliest_course_days`).
Once booked, a course is never moved for a later referral.

CP-SAT's warm starts also try a second placement, :data:`Placement.QUIET`: a visit goes at
the free start that the fewest other patients could use (:func:`time_pressure`), so that
patients who can come at any time leave the mornings and late afternoons to those who work
or are at school — what an experienced booking clerk does. It books more courses when many
patients are confined to narrow times (benchmarks/README.md).

A course is all or nothing for the initial booking (a decision, derived): a patient who
cannot be given the whole course within its window is not started, because a course cut
short cannot show whether iontophoresis works (clinical-reference §1: the aim of the course
is the verdict) — the referral stays on the waiting list with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from enum import StrEnum

from ionto.clinic.scheduling.calendar import (
    CourseCalendar,
    course_calendar,
    no_capacity,
    not_bookable,
)
from ionto.clinic.scheduling.diary import Diary
from ionto.clinic.scheduling.problem import (
    MINUTES_PER_DAY,
    Appointment,
    Problem,
    Referral,
    Schedule,
    Status,
    Unscheduled,
)
from ionto.clinic.scheduling.rules import earliest_course_days, slots_for

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


class Placement(StrEnum):
    """Where on a day a visit goes: the earliest free start, or the least wanted one."""

    FIRST_FIT = "first_fit"
    QUIET = "quiet"


def time_pressure(
    problem: Problem, calendars: Mapping[str, CourseCalendar]
) -> dict[int, list[float]]:
    """Per day (index from the horizon's start): cumulative demand over the day's slots.

    Each referral spreads one unit of wish evenly over the start slots of its window on
    every candidate day, and a start holds the visit's slots: a slot's demand is the
    expected number of visits that would cover it if every patient chose a start at random
    within their own times. Narrow windows (mornings, after school) weigh on few slots; a
    patient who can come any time weighs little anywhere. Entry ``s`` of a day's list is the
    demand of slots ``0 … s−1``, so a visit at ``s`` holding ``L`` slots costs
    ``p[s+L] − p[s]``.
    """
    centre = problem.centre
    slots = MINUTES_PER_DAY // centre.slot_minutes
    second: dict[int, list[float]] = {}
    for r in problem.to_book:
        calendar = calendars.get(r.id)
        if calendar is None:
            continue
        length = slots_for(r.visit_minutes, centre.slot_minutes)
        for day, (first, last) in calendar.windows.items():
            lo, hi = first // centre.slot_minutes, last // centre.slot_minutes
            share = 1.0 / (hi - lo + 1)
            # Coverage is a box of starts convolved with a box of length: four corners in
            # the second difference (then two running sums) instead of width × length adds.
            d2 = second.setdefault(day, [0.0] * (slots + length + 2))
            if len(d2) < slots + length + 2:
                d2.extend([0.0] * (slots + length + 2 - len(d2)))
            d2[lo] += share
            d2[hi + 1] -= share
            d2[lo + length] -= share
            d2[hi + 1 + length] += share
    out: dict[int, list[float]] = {}
    for day, d2 in second.items():
        cover: list[float] = []
        slope = level = 0.0
        for q in range(slots):
            slope += d2[q]
            level += slope
            cover.append(level)
        cumulative = [0.0]
        for value in cover:
            cumulative.append(cumulative[-1] + value)
        out[day] = cumulative
    return out


def solve_greedy(
    problem: Problem,
    order: OrderKey = first_come,
    calendars: Mapping[str, CourseCalendar] | None = None,
    placement: Placement = Placement.FIRST_FIT,
) -> Schedule:
    """Book every referral in ``order`` (first come, first served), each at its earliest
    feasible course. ``calendars`` (by referral id): already computed, to reuse;
    ``placement``: where on a day (see :class:`Placement`)."""
    started = time.perf_counter()
    centre = problem.centre
    if calendars is None:
        calendars = {r.id: course_calendar(centre, r) for r in problem.to_book}
    pressure = time_pressure(problem, calendars) if placement is Placement.QUIET else {}
    empty: Sequence[float] = ()
    diary = Diary(centre)
    for a in problem.fixed:
        diary.book(a)
    booked: list[Appointment] = list(problem.fixed)
    unscheduled: list[Unscheduled] = []
    ranked = sorted(enumerate(problem.to_book), key=lambda ir: order(ir[0], ir[1]))
    for _, referral in ranked:
        calendar = calendars[referral.id]
        if not calendar.bookable:
            unscheduled.append(not_bookable(centre, calendar))
            continue
        fits: dict[int, tuple[int, int, str]] = {}
        for day, (first, last) in calendar.windows.items():
            on = centre.date_of(day)
            found = (
                diary.quiet_fit(on, first, last, referral.visit_minutes, pressure.get(day, empty))
                if placement is Placement.QUIET
                else diary.first_fit(on, first, last, referral.visit_minutes)
            )
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
