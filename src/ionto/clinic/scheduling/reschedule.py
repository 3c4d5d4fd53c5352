"""Re-plan after a change, moving as few booked visits as possible, and say what moved.

The changes a booking office meets:

* a patient withdraws a course (``cancelled_courses``): its visits are freed;
* a patient cannot come on a day (``cancelled_days``: referral → dates): that referral's
  visits leave those days;
* a chair is out of service (:attr:`Centre.out_of_service` of the new problem) or the roster
  changed: pass the new :class:`Problem`.

The CP-SAT model of :mod:`.cpsat`, the previous bookings as the hint, and the objectives in
this order (lexicographic, as in booking): (1) keep every course that was booked, (2) move
as few visits as possible (a visit moves when its date or start time changes), (3) book
courses from the waiting list into the room freed, (4) shortest total wait, (5) stable time
of day. Chairs and nurses are then given with each kept visit's own chair and nurse where
free; a visit that only changes chair or nurse is listed in ``reassigned``, not ``moved``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from ortools.sat.python import cp_model

from ionto.clinic.scheduling.calendar import course_calendar, no_capacity, not_bookable
from ionto.clinic.scheduling.cpsat import (
    DEFAULT_SETTINGS,
    BookingModel,
    CpSatSettings,
    StageSpec,
    overall_status,
    solve_stages,
    starts_from_schedule,
)
from ionto.clinic.scheduling.diary import assign_chairs_and_nurses
from ionto.clinic.scheduling.problem import Appointment, Problem, Schedule


@dataclass(frozen=True)
class Move:
    """A booked visit that changed: ``after`` is ``None`` when its course was dropped."""

    referral: str
    n: int
    before: Appointment
    after: Appointment | None


@dataclass(frozen=True)
class Rescheduled:
    schedule: Schedule
    #: Visits whose date or start time changed, or whose course was dropped.
    moved: tuple[Move, ...]
    #: Visits at the same date and time on another chair or with another nurse.
    reassigned: tuple[Move, ...]
    #: Courses that were booked and could not be kept.
    dropped: tuple[str, ...]
    #: Courses newly booked from the waiting list into the room freed.
    added: tuple[str, ...]


def reschedule(
    problem: Problem,
    previous: Schedule,
    *,
    cancelled_courses: Iterable[str] = (),
    cancelled_days: Mapping[str, Iterable[date]] | None = None,
    settings: CpSatSettings = DEFAULT_SETTINGS,
) -> Rescheduled:
    """Re-plan ``problem`` (the centre as it is now) from the ``previous`` schedule."""
    began = time.perf_counter()
    deadline = began + settings.seconds
    withdrawn = set(cancelled_courses)
    problem = replace(
        problem, referrals=tuple(r for r in problem.referrals if r.id not in withdrawn)
    )
    centre = problem.centre
    calendars = [course_calendar(centre, r) for r in problem.to_book]
    unfit = [not_bookable(centre, c) for c in calendars if not c.bookable]
    model = BookingModel(problem, [c for c in calendars if c.bookable])
    m = model.model
    for ref, days in (cancelled_days or {}).items():
        for course in model.courses:
            if course.calendar.referral.id != ref:
                continue
            for on in days:
                for day in course.days:
                    m.add(day != centre.day_index(on))
    before = starts_from_schedule(model, previous)
    was_booked = [c for c in model.courses if c.calendar.referral.id in before]
    waiting = [c for c in model.courses if c.calendar.referral.id not in before]
    moved_flags: list[cp_model.IntVar] = []
    for c in was_booked:
        old = before[c.calendar.referral.id]
        for k, visit_start in enumerate(c.starts):
            if k >= len(old):
                continue
            moved = m.new_bool_var(f"moved_{c.calendar.referral.id}_{k}")
            m.add(visit_start == old[k]).only_enforce_if(~moved)
            m.add(c.booked == 1).only_enforce_if(~moved)
            moved_flags.append(moved)
            model.extra.append(moved)
    stages = [
        StageSpec("courses_kept", True, cp_model.LinearExpr.sum([c.booked for c in was_booked])),
        StageSpec("visits_moved", False, cp_model.LinearExpr.sum(moved_flags)),
        StageSpec("courses_added", True, cp_model.LinearExpr.sum([c.booked for c in waiting])),
        StageSpec("total_wait_days", False, model.total_wait()),
        StageSpec("time_of_day_spread_slots", False, model.total_spread()),
    ]
    # Nothing booked is always feasible: every visit moved, every course unbooked.
    start = model.complete({})
    for flag in moved_flags:
        start[flag.index] = 1
    hint = model.complete(before)
    for flag in moved_flags:
        hint[flag.index] = 0
    values, done = solve_stages(model, stages, start, settings, deadline, hint)
    visits = model.appointments(values)
    kept_ids = frozenset(before) | problem.fixed_referrals
    previous_by_key = {(a.referral, a.n): a for a in previous.appointments}
    visits = [
        replace(v, chair=kept.chair, nurse=kept.nurse)
        if (kept := previous_by_key.get((v.referral, v.n))) is not None
        else v
        for v in visits
    ]
    appointments = assign_chairs_and_nurses(centre, [*problem.fixed, *visits], keep=kept_ids)
    booked_ids = {a.referral for a in visits}
    unscheduled = unfit + [
        no_capacity(centre, c.calendar)
        for c in model.courses
        if c.calendar.referral.id not in booked_ids
    ]
    schedule = Schedule(
        solver="cp-sat",
        status=overall_status(done),
        appointments=appointments,
        unscheduled=tuple(unscheduled),
        seconds=time.perf_counter() - began,
        stages=tuple(done),
    )
    return _changes(previous, schedule, withdrawn)


def _changes(previous: Schedule, schedule: Schedule, withdrawn: set[str]) -> Rescheduled:
    now = {(a.referral, a.n): a for a in schedule.appointments}
    booked_before = set(previous.by_referral())
    booked_now = set(schedule.by_referral())
    moved: list[Move] = []
    reassigned: list[Move] = []
    for a in sorted(previous.appointments):
        if a.referral in withdrawn:
            continue
        after = now.get((a.referral, a.n))
        if after is None or (after.on, after.start_min) != (a.on, a.start_min):
            moved.append(Move(a.referral, a.n, a, after))
        elif (after.chair, after.nurse) != (a.chair, a.nurse):
            reassigned.append(Move(a.referral, a.n, a, after))
    return Rescheduled(
        schedule=schedule,
        moved=tuple(moved),
        reassigned=tuple(reassigned),
        dropped=tuple(sorted(booked_before - booked_now - withdrawn)),
        added=tuple(sorted(booked_now - booked_before)),
    )
