"""What a booking office reads off a schedule, and the objectives in their order.

Metrics (the contract's ``median_wait_days``, ``courses_within_window``,
``chair_utilisation``, and more):

* ``median_wait_days``, ``p90_wait_days`` — days from funding to the first visit, over the
  booked courses (p90: nearest rank);
* ``courses_within_window`` — the share of all referrals whose whole course is booked within
  its own window (a course is booked whole or not at all, so: booked ÷ referrals);
* ``courses_within_4_weeks`` — the share of all referrals whose course is booked and runs
  within 28 days from its first visit (the issue's "completed within 4 weeks");
* ``chair_utilisation`` — booked chair minutes ÷ chair minutes open (opening hours of open
  days in the horizon × chairs in service);
* ``courses_booked``, ``unscheduled`` — counts.

:func:`objective_key` is the issue's order of objectives as one tuple, smaller is better:
courses booked (more), total wait (less; a referral left unbooked counts as waiting until
the day after the horizon, a lower bound of its real wait; one funded after the horizon
counts 0), the spread of each patient's time of day (less), the spread of the chairs' load
(less).
"""

from __future__ import annotations

import math
from collections import defaultdict
from statistics import median

from ionto.clinic.scheduling.problem import Problem, Schedule

FOUR_WEEKS_DAYS = 28


def _p90(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def wait_days(problem: Problem, schedule: Schedule) -> dict[str, int]:
    """Days from funding to the first visit, per booked referral."""
    by = schedule.by_referral()
    return {r.id: (by[r.id][0].on - r.funded_on).days for r in problem.referrals if by.get(r.id)}


def chair_minutes_open(problem: Problem) -> int:
    centre = problem.centre
    total = 0
    for day in range(centre.days):
        on = centre.date_of(day)
        hours = centre.hours_on(on.weekday())
        if hours is None or on in centre.closed:
            continue
        total += (hours.close_min - hours.open_min) * len(centre.chairs_on(on))
    return total


def metrics(problem: Problem, schedule: Schedule) -> dict[str, float | int | None]:
    waits = list(wait_days(problem, schedule).values())
    by = schedule.by_referral()
    referrals = len(problem.referrals)
    within_4 = sum(
        1 for visits in by.values() if (visits[-1].on - visits[0].on).days < FOUR_WEEKS_DAYS
    )
    booked_minutes = sum(a.end_min - a.start_min for a in schedule.appointments)
    open_minutes = chair_minutes_open(problem)
    return {
        "median_wait_days": median(waits) if waits else None,
        "p90_wait_days": _p90(waits) if waits else None,
        "courses_within_window": round(len(by) / referrals, 4) if referrals else 1.0,
        "courses_within_4_weeks": round(within_4 / referrals, 4) if referrals else 1.0,
        "chair_utilisation": round(booked_minutes / open_minutes, 4) if open_minutes else 0.0,
        "courses_booked": len(by),
        "unscheduled": len(schedule.unscheduled),
    }


def total_wait_days(problem: Problem, schedule: Schedule) -> int:
    """Objective 2: waits summed over the referrals to book; unbooked: until after the horizon."""
    waits = wait_days(problem, schedule)
    after = problem.centre.days
    fixed = problem.fixed_referrals
    total = 0
    for r in problem.referrals:
        if r.id in fixed:
            continue
        funded = problem.centre.day_index(r.funded_on)
        # Funded after the horizon: no wait within it.
        total += waits[r.id] if r.id in waits else max(after - funded, 0)
    return total


def time_spread_minutes(problem: Problem, schedule: Schedule) -> int:
    """Objective 3: per booked course, latest minus earliest start time of day, summed."""
    fixed = problem.fixed_referrals
    return sum(
        max(a.start_min for a in visits) - min(a.start_min for a in visits)
        for ref, visits in schedule.by_referral().items()
        if ref not in fixed
    )


def chair_load_spread_minutes(problem: Problem, schedule: Schedule) -> int:
    """Objective 4: the most used chair's minutes minus the least used one's."""
    load: dict[int, int] = defaultdict(int)
    for c in range(1, problem.centre.chairs + 1):
        load[c] = 0
    for a in schedule.appointments:
        load[a.chair] += a.end_min - a.start_min
    return max(load.values()) - min(load.values())


def objective_key(problem: Problem, schedule: Schedule) -> tuple[int, int, int, int]:
    """The lexicographic objective, smaller is better (see the module doc)."""
    booked = len(set(schedule.by_referral()) - problem.fixed_referrals)
    return (
        -booked,
        total_wait_days(problem, schedule),
        time_spread_minutes(problem, schedule),
        chair_load_spread_minutes(problem, schedule),
    )
