"""Book more courses, and sooner, by re-solving small pieces of a schedule (large
neighbourhood search).

CP-SAT on the whole centre (hundreds of courses, thousands of visits) proves little and
finds little better than its greedy start within 30 s: what keeps a waiting patient out is
usually a handful of booked courses sitting in the only times they can come. So, again and
again until the time is up:

1. take a referral still on the waiting list (shorter courses more often: they are the
   likeliest to fit);
2. free a few booked courses (2–4) among those that use most of its days and times (ties
   broken at random);
3. book the freed courses and the waiting one afresh with CP-SAT (:class:`.cpsat.BookingModel`)
   over the weeks around them, everything else fixed, maximising courses booked, with the
   freed courses' places as the hint;
4. keep the result only when it books more courses than before.

Each step can only add courses; every step's schedule keeps every rule (the sub-problem is
the same model, its other bookings fixed). The freed courses may move: this runs before
CP-SAT's wait and time-of-day stages, which then settle them.

:func:`shorten_waits` does the same for the second objective: a booked course that waits
(longer waits more often) and a few courses in its way are re-booked together, every one of
them still booked, their total wait from funding to the first visit minimised; kept only
when they wait less. The whole model's wait stage finds little within the limit (its bound
is weak): at 150 referrals this takes the median wait below greedy's (benchmarks/README.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import Enum

from ortools.sat.python import cp_model

from ionto.clinic.scheduling.calendar import CourseCalendar, course_calendar
from ionto.clinic.scheduling.problem import Appointment, Problem, Referral

#: How many booked courses one step frees around the waiting referral (one of these, at
#: random). Derived by trial on the benchmark's centre of 600 referrals, 18 s from 227
#: courses (benchmarks/README.md): freeing 2–4 books 239–244, 6 books 239, 10 books 236,
#: 20 books 230 — small steps are proved in a fraction of a second, so many more are tried.
FREED_PER_STEP: tuple[int, ...] = (2, 3, 4)
#: CP-SAT's limit for one step (same trial: 0.2–0.3 s as good as 1 s, and more steps).
STEP_SECONDS = 0.3
#: The weeks around the waiting referral's possible course that a step may re-plan.
MARGIN_DAYS = 28


def _overlap(calendar: CourseCalendar, visits: list[Appointment], start_day: int) -> int:
    """How many of a course's visits sit on the waiting referral's days and times."""
    r = calendar.referral
    count = 0
    for a in visits:
        window = calendar.windows.get(a.on.toordinal() - start_day)
        if window is None:
            continue
        first, last = window
        if a.start_min < last + r.visit_minutes and a.end_min > first:
            count += 1
    return count


def book_more(
    problem: Problem,
    booked: Mapping[str, Sequence[Appointment]],
    calendars: Mapping[str, CourseCalendar],
    *,
    seconds: float,
    seed: int = 0,
    workers: int = 2,
) -> dict[str, list[Appointment]]:
    """More courses booked than ``booked`` (referral → its visits), or the same ones.

    ``booked`` must keep every rule with ``problem.fixed``; so does the answer. Chairs and
    nurses of visits that moved are left for :func:`.diary.assign_chairs_and_nurses`.
    """
    deadline, rng, current = _begin(problem, booked, seconds, seed)
    while time.perf_counter() < deadline - 0.2:
        waiting = [r for r in problem.to_book if r.id not in current and calendars[r.id].bookable]
        if not waiting:
            break
        chosen = _pick(rng, waiting)
        _step(problem, current, calendars, chosen, rng, deadline, workers, seed, _Aim.BOOK)
    return current


def shorten_waits(
    problem: Problem,
    booked: Mapping[str, Sequence[Appointment]],
    calendars: Mapping[str, CourseCalendar],
    *,
    seconds: float,
    seed: int = 0,
    workers: int = 2,
) -> dict[str, list[Appointment]]:
    """The same courses booked, with less total wait from funding to the first visit.

    Each step takes a booked course that waits (longer waits more often), frees it and a few
    courses in its way, and re-books them all with CP-SAT minimising their total wait; the
    result is kept only when every one of them is still booked and they wait less.
    """
    deadline, rng, current = _begin(problem, booked, seconds, seed)
    while time.perf_counter() < deadline - 0.2:
        waits = {
            ref: (visits[0].on - problem.referral(ref).funded_on).days
            for ref, visits in current.items()
        }
        waiting = [problem.referral(ref) for ref, wait in waits.items() if wait > 0]
        if not waiting:
            break
        chosen = rng.choices(waiting, [waits[r.id] for r in waiting])[0]
        _step(problem, current, calendars, chosen, rng, deadline, workers, seed, _Aim.WAIT)
    return current


def _begin(
    problem: Problem, booked: Mapping[str, Sequence[Appointment]], seconds: float, seed: int
) -> tuple[float, random.Random, dict[str, list[Appointment]]]:
    """The deadline, the seeded chooser, and the courses a search may move (not fixed ones)."""
    fixed_refs = problem.fixed_referrals
    current = {k: sorted(v) for k, v in booked.items() if k not in fixed_refs}
    return time.perf_counter() + seconds, random.Random(seed), current


class _Aim(Enum):
    BOOK = "book"
    WAIT = "wait"


def _step(
    problem: Problem,
    current: dict[str, list[Appointment]],
    calendars: Mapping[str, CourseCalendar],
    chosen: Referral,
    rng: random.Random,
    deadline: float,
    workers: int,
    seed: int,
    aim: _Aim,
) -> bool:
    """One step around ``chosen``; ``current`` is updated in place when it helps."""
    # Imported here: cpsat imports this module for its first stage.
    from ionto.clinic.scheduling.cpsat import BookingModel

    centre = problem.centre
    origin = centre.start.toordinal()
    cal = calendars[chosen.id]
    assert cal.earliest is not None
    assert cal.latest is not None
    first_day = max(0, cal.earliest[0] - MARGIN_DAYS)
    last_day = min(centre.days - 1, cal.latest[-1] + MARGIN_DAYS)
    first_day -= first_day % 7  # the sub-horizon keeps the weekly grid of the whole
    weeks = (last_day - first_day) // 7 + 1
    sub_centre = replace(centre, start=centre.date_of(first_day), weeks=weeks)
    lo_date, hi_date = sub_centre.start, sub_centre.end
    scores: dict[str, float] = {}
    for ref, visits in current.items():
        if ref == chosen.id:
            continue
        if visits[0].on < lo_date or visits[-1].on > hi_date:
            continue  # only courses wholly inside the sub-horizon may move
        overlap = _overlap(cal, visits, origin)
        if overlap:
            scores[ref] = overlap + 3 * rng.random()
    freed = set(sorted(scores, key=lambda k: -scores[k])[: rng.choice(FREED_PER_STEP)])
    if aim is _Aim.WAIT:
        if current[chosen.id][-1].on > hi_date:
            return False
        freed.add(chosen.id)
    kept = tuple(
        a
        for ref, visits in current.items()
        if ref not in freed
        for a in visits
        if lo_date <= a.on <= hi_date
    ) + tuple(a for a in problem.fixed if lo_date <= a.on <= hi_date)
    kept_refs = {a.referral for a in kept}
    sub = Problem(
        sub_centre,
        tuple(
            r for r in problem.referrals if r.id in freed or r.id == chosen.id or r.id in kept_refs
        ),
        kept,
    )
    sub_calendars = [course_calendar(sub_centre, r) for r in sub.to_book]
    if not all(c.bookable for c in sub_calendars if c.referral.id in freed):
        return False
    sub_calendars = [c for c in sub_calendars if c.bookable]
    model = BookingModel(sub, sub_calendars)
    if aim is _Aim.BOOK:
        model.model.maximize(model.booked_count())
    else:
        model.model.add(model.booked_count() == len(freed))
        model.model.minimize(model.total_wait())
    spd = model.spd
    sub_origin = sub_centre.start.toordinal()
    hint = model.complete(
        {
            ref: [
                (a.on.toordinal() - sub_origin) * spd + a.start_min // model.slot
                for a in current[ref]
            ]
            for ref in freed
        }
    )
    model.hint(hint)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(
        0.01, min(STEP_SECONDS, deadline - time.perf_counter())
    )
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return False
    found_values = model.read(solver)
    if aim is _Aim.BOOK:
        if solver.objective_value <= len(freed) + 0.5:
            return False
    else:
        waits_now = sum(hint[c.wait.index] for c in model.courses)
        waits_found = sum(found_values[c.wait.index] for c in model.courses)
        if waits_found >= waits_now:
            return False
    found = model.appointments(found_values)
    for ref in freed:
        del current[ref]
    for a in found:
        current.setdefault(a.referral, []).append(a)
    return True


def _pick(rng: random.Random, waiting: list[Referral]) -> Referral:
    """A waiting referral, the shorter courses (chair time) more often."""
    weights = [1.0 / (r.visit_minutes * r.sessions) for r in waiting]
    return rng.choices(waiting, weights)[0]
