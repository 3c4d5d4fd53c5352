"""Re-plan after a change, moving as few booked visits as possible, and say what moved.

The changes a booking office meets:

* a patient withdraws a course (``cancelled_courses``): its visits are freed;
* a patient cannot come on a day (``cancelled_days``: referral → dates): that referral's
  visits leave those days (the days are taken off its candidate days);
* a chair is out of service, the centre closes for a day, a patient's weekdays or times or
  the roster changed: pass the new :class:`Problem` (e.g. :attr:`Centre.out_of_service`).

The objectives, in this order (lexicographic, as in booking): (1) keep every course that was
booked, (2) move as few visits as possible (a visit moves when its date or start time
changes; visits are matched by date and time, so the ones renumbered behind a visit that moved
to the end of its course did not move), (3) book courses from the waiting list into the room
freed, (4) shortest total wait, (5) stable time of day. Chairs and nurses are then given with
each kept visit's own chair and nurse where free; a visit that only changes chair or nurse is
listed in ``reassigned``, not ``moved``. The receptionist's repair (:mod:`.repair`) is the
starting point, and CP-SAT (the model of :mod:`.cpsat`) improves on it in steps (see
:func:`_improve`), never worse. Since the repair keeps every visit that still fits and (2)
comes before (3), a change that only frees room (a withdrawal, or none) moves nothing.

**Visits before the horizon's start are history** (re-planning from today, with courses
running): kept exactly as they are, never moved nor reported as moved, using no capacity of
the horizon; they count for their course's rules, so a running course's remaining visits are
booked as the rest of the same course (≤ 1 a day and ≤ 5 in any 7 days across the start, at
least 2 a week, all within the window of its first visit) and numbered on from them. A course
whose visits all lie before the start is over and stays as it is. A withdrawn course leaves
the plan whole, its past visits too (they are the clinic's record, not the diary's); a
running course that cannot continue is dropped the same way. :func:`check_with_history` is the
checker for such schedules: :func:`.checker.check` with past visits checked only against the
course rules.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from ortools.sat.python import cp_model

from ionto.clinic.scheduling.calendar import (
    CourseCalendar,
    course_calendar,
    no_capacity,
    not_bookable,
)
from ionto.clinic.scheduling.checker import Violation, check
from ionto.clinic.scheduling.cpsat import (
    DEFAULT_SETTINGS,
    BookingModel,
    CpSatSettings,
    StageSpec,
    overall_status,
)
from ionto.clinic.scheduling.diary import AssignmentError, assign_chairs_and_nurses
from ionto.clinic.scheduling.problem import (
    Appointment,
    Centre,
    Problem,
    Referral,
    Schedule,
    Stage,
    Status,
    Unscheduled,
)
from ionto.clinic.scheduling.repair import CourseToBook, repair, slots_by_referral
from ionto.clinic.scheduling.rules import (
    referral_gaps,
)


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
    #: Visits whose date or start time changed, or whose course was dropped. Visits are
    #: matched by date and start time: one that stays keeps its place even if renumbered.
    moved: tuple[Move, ...]
    #: Visits at the same date and time on another chair or with another nurse.
    reassigned: tuple[Move, ...]
    #: Courses that were booked and could not be kept.
    dropped: tuple[str, ...]
    #: Courses newly booked from the waiting list into the room freed.
    added: tuple[str, ...]
    #: Courses withdrawn (``cancelled_courses``): gone from the plan and from the problem.
    withdrawn: tuple[str, ...] = ()
    #: Visits before the horizon's start kept as they are (in ``schedule`` too).
    history: tuple[Appointment, ...] = ()


SOLVERS = ("cp-sat", "repair")

#: Share of the time left that each stage may use, in order (the last takes what is left).
#: Derived: keeping courses and moving few visits matter most; the waiting list next.
STAGE_SHARES: tuple[float, ...] = (0.6, 0.6, 0.5, 1.0)
#: CP-SAT's probing in presolve: off. Measured on the benchmark's centre (150 referrals):
#: with it, presolve spent the whole time limit (6–15 s of wall clock for 0.2–0.5 s of
#: deterministic time) on the cumulative of hundreds of held visits and the search never
#: started; without it presolve takes 0.5 s and the search improves on the repair.
PROBING_LEVEL = 0
#: Shares of the time for the steps of :func:`_improve`: the courses the change hit and the
#: waiting list alone, then each dropped course with the courses in its way (at most
#: STEP_SECONDS each), then every course not where it was; the whole centre takes the rest.
#: Derived by trial on the benchmark's centre (benchmarks/README.md): the whole centre's
#: model rarely improves on the steps before it at 150 referrals, but proves small centres
#: optimal.
LOCAL_SHARE = 0.25
MEND_SHARE = 0.35
POLISH_SHARE = 0.2
STEP_SECONDS = 3.0
#: Booked courses freed with a dropped one, those with most visits in its days and times.
BLOCKERS = 12
#: Tries per dropped course in that step, at most.
MEND_ROUNDS = 3


def reschedule(
    problem: Problem,
    previous: Schedule,
    *,
    cancelled_courses: Iterable[str] = (),
    cancelled_days: Mapping[str, Iterable[date]] | None = None,
    settings: CpSatSettings = DEFAULT_SETTINGS,
    solver: str = "cp-sat",
) -> Rescheduled:
    """Re-plan ``problem`` (the centre as it is now) from the ``previous`` schedule.

    ``previous`` holds whole courses (every visit, past ones included, numbered by date).
    ``solver``: ``cp-sat`` (default) improves on the receptionist's ``repair``
    (:mod:`.repair`), which alone is the baseline.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; use {' or '.join(SOLVERS)}")
    began = time.perf_counter()
    deadline = began + settings.seconds
    withdrawn = set(cancelled_courses)
    problem = replace(
        problem, referrals=tuple(r for r in problem.referrals if r.id not in withdrawn)
    )
    courses, finished = courses_to_book(problem, previous, cancelled_days or {})
    booked = repair(problem.centre, problem.fixed, courses)
    stages: list[Stage] = []
    if solver == "cp-sat":
        booked, stages = _improve(problem, courses, booked, settings, deadline)
    schedule = _schedule(problem, previous, courses, finished, booked, stages, solver)
    schedule = replace(schedule, seconds=time.perf_counter() - began)
    return _changes(previous, schedule, withdrawn, problem.centre)


def _improve(
    problem: Problem,
    courses: list[CourseToBook],
    mended: dict[str, list[Appointment]],
    settings: CpSatSettings,
    deadline: float,
) -> tuple[dict[str, list[Appointment]], list[Stage]]:
    """CP-SAT from the repair, in four steps (each never worse than the plan it starts from):

    1. the courses the change hit and the waiting list alone, every other course held where
       it is (a small model, solved fast);
    2. for each booked course still dropped, it and the booked courses most in its way
       (:data:`BLOCKERS`), so that others may move to keep it;
    3. every course not where it was, together: fewer moves for the same courses kept;
    4. the whole centre in the time left: its stages, with their bounds, are those reported.
    """
    hit = _disturbed(courses, mended)
    waiting = {c.referral.id for c in courses if not c.before}
    began = time.perf_counter()
    total = max(0.0, deadline - began)
    current, _ = _replan(
        problem, courses, hit | waiting, mended, settings, began + total * LOCAL_SHARE
    )
    until = began + total * (LOCAL_SHARE + MEND_SHARE)
    rng = random.Random(settings.random_seed)
    tries = 0
    while time.perf_counter() < until:
        dropped = [
            c for c in courses if c.before and c.referral.id not in current and c.calendar.bookable
        ]
        if not dropped or tries >= len(dropped) * MEND_ROUNDS:
            break
        course = dropped[tries % len(dropped)]
        tries += 1
        # The first round frees the courses most in the way; later ones a random part of a
        # wider circle, so that a second try is not the first one again.
        circle = _blockers(course, current, problem.centre)
        if tries > len(dropped):
            circle = rng.sample(circle, min(len(circle), BLOCKERS))
        else:
            circle = circle[:BLOCKERS]
        now = time.perf_counter()
        current, _ = _replan(
            problem,
            courses,
            {course.referral.id, *circle},
            current,
            settings,
            min(until, now + STEP_SECONDS),
        )
    # Keeping a course may have moved others in a hurry: their moves, settled together.
    until = began + total * (LOCAL_SHARE + MEND_SHARE + POLISH_SHARE)
    current, _ = _replan(
        problem, courses, _disturbed(courses, current) | waiting, current, settings, until
    )
    return _replan(problem, courses, {c.referral.id for c in courses}, current, settings, deadline)


def _disturbed(courses: list[CourseToBook], current: Mapping[str, list[Appointment]]) -> set[str]:
    """Booked courses not (all) where the previous plan had them."""
    return {
        c.referral.id
        for c in courses
        if c.before and _places(current.get(c.referral.id, [])) != _places(c.before)
    }


def _blockers(
    course: CourseToBook, current: Mapping[str, list[Appointment]], centre: Centre
) -> list[str]:
    """The booked courses with most visits on this course's days and times, most first
    (ties by id), twice :data:`BLOCKERS` at most."""
    windows = course.calendar.windows
    minutes = course.referral.visit_minutes
    in_the_way: dict[str, int] = {}
    for ref, visits in current.items():
        count = 0
        for a in visits:
            window = windows.get(centre.day_index(a.on))
            if window is not None and a.start_min < window[1] + minutes and a.end_min > window[0]:
                count += 1
        if count:
            in_the_way[ref] = count
    return sorted(in_the_way, key=lambda ref: (-in_the_way[ref], ref))[: 2 * BLOCKERS]


def _places(visits: Iterable[Appointment]) -> set[tuple[date, int]]:
    return {(a.on, a.start_min) for a in visits}


def _replan(
    problem: Problem,
    courses: list[CourseToBook],
    free: set[str],
    current: dict[str, list[Appointment]],
    settings: CpSatSettings,
    deadline: float,
) -> tuple[dict[str, list[Appointment]], list[Stage]]:
    """Re-plan the ``free`` courses with CP-SAT, every other booked course held where it is
    in ``current`` (a feasible plan: it stands when CP-SAT finds nothing better)."""
    centre = problem.centre
    held = [a for ref, visits in current.items() if ref not in free for a in visits]
    part = [c for c in courses if c.referral.id in free]
    to_book = {c.referral.id: c for c in part}
    model = BookingModel(
        replace(problem, fixed=(*problem.fixed, *held)),
        [c.calendar for c in part if c.calendar.bookable],
    )
    _continue_from_history(model, to_book)
    modelled = {c.calendar.referral.id: c for c in model.courses}
    before = {
        ref: [_slot_of(model, a) for a in to_book[ref].before]
        for ref, c in modelled.items()
        if len(to_book[ref].before) == len(c.starts)
    }
    stays = _stay_or_move(model, before)
    was_booked = [c.booked for ref, c in modelled.items() if ref in before]
    waiting = [c.booked for ref, c in modelled.items() if ref not in before]
    moved = cp_model.LinearExpr.sum([s.moved for s in stays])
    # Keep courses, then move few visits, as one objective: a course kept outweighs every
    # move, and the starting plan's moves count in the comparison with what CP-SAT finds.
    weight = len(stays) + 1
    kept_then_moved = weight * cp_model.LinearExpr.sum(was_booked) - moved
    specs = [
        StageSpec("courses_kept_then_visits_moved", True, kept_then_moved),
        StageSpec("courses_added", True, cp_model.LinearExpr.sum(waiting)),
        StageSpec("total_wait_days", False, model.total_wait()),
        StageSpec("time_of_day_spread_slots", False, model.total_spread()),
    ]
    slots = slots_by_referral(centre, centre.slot_minutes, current)
    values = model.complete({ref: v for ref, v in slots.items() if ref in modelled})
    values.update(_stay_values(stays, slots))
    done: list[Stage] = []
    for index, spec in enumerate(specs):
        share = STAGE_SHARES[min(index, len(STAGE_SHARES) - 1)]
        until = time.perf_counter() + max(0.0, deadline - time.perf_counter()) * share
        values, stage = _solve_stage(model, spec, values, settings, until)
        # A visit back at its old place counts as staying, whatever the solver's flag said.
        values.update(_stay_values(stays, _starts(model, values)))
        done.append(stage)
    out = {ref: visits for ref, visits in current.items() if ref not in free}
    for a in model.appointments(values):
        out.setdefault(a.referral, []).append(a)
    return out, _told_apart(done, weight, values, was_booked, stays)


def _solve_stage(
    model: BookingModel,
    spec: StageSpec,
    values: dict[int, int],
    settings: CpSatSettings,
    until: float,
) -> tuple[dict[int, int], Stage]:
    """One lexicographic stage from a feasible ``values`` (also the hint), which stands when
    CP-SAT finds nothing better; the stage's value is then fixed for the next ones.

    :func:`.cpsat.solve_stages` does the same with CP-SAT's default parameters; the re-plan
    needs probing off (see :data:`PROBING_LEVEL`), which it cannot pass.
    """
    m = model.model
    if spec.maximise:
        m.maximize(spec.expr)
    else:
        m.minimize(spec.expr)
    model.hint(values)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, until - time.perf_counter())
    solver.parameters.num_workers = settings.workers
    solver.parameters.random_seed = settings.random_seed
    solver.parameters.cp_model_probing_level = PROBING_LEVEL
    began = time.perf_counter()
    code = solver.solve(m)
    seconds = time.perf_counter() - began
    value = _value(spec.expr, values)
    status = Status.UNKNOWN
    bound = _trivial_bound(spec.expr, maximise=spec.maximise)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        found = model.read(solver)
        better = _value(spec.expr, found)
        if (better >= value) if spec.maximise else (better <= value):
            values, value = found, better
            status = Status.OPTIMAL if code == cp_model.OPTIMAL else Status.FEASIBLE
        bound = round(solver.best_objective_bound)
    elif code == cp_model.INFEASIBLE:  # pragma: no cover - the start is feasible
        raise AssignmentError("the re-plan's starting point broke the model (a bug)")
    if spec.maximise:
        bound = max(bound, value)
        m.add(spec.expr >= value)
    else:
        bound = min(bound, value)
        m.add(spec.expr <= value)
    sense = "max" if spec.maximise else "min"
    return values, Stage(spec.name, sense, value, bound, status, seconds)


def _value(expr: cp_model.LinearExpr, values: Mapping[int, int]) -> int:
    flat = cp_model.FlatIntExpr(expr)
    return int(flat.offset) + sum(
        int(c) * values[v.index] for v, c in zip(flat.vars, flat.coeffs, strict=True)
    )


def _trivial_bound(expr: cp_model.LinearExpr, *, maximise: bool) -> int:
    """The objective's bound from its variables' domains alone (when nothing was solved)."""
    flat = cp_model.FlatIntExpr(expr)
    total = int(flat.offset)
    for var, coeff in zip(flat.vars, flat.coeffs, strict=True):
        domain = var.proto.domain
        total += int(coeff) * int(domain[-1] if (coeff > 0) == maximise else domain[0])
    return total


def _told_apart(
    done: list[Stage],
    weight: int,
    values: Mapping[int, int],
    was_booked: list[cp_model.IntVar],
    stays: list[_Stay],
) -> list[Stage]:
    """The combined first stage told as the two objectives it orders (bounds from its own:
    weight·kept − moved ≤ bound, and moved < weight)."""
    first, *rest = done
    kept = sum(values[v.index] for v in was_booked)
    moved = sum(values[s.moved.index] for s in stays)
    return [
        replace(
            first,
            objective="courses_kept",
            value=kept,
            bound=max(kept, (first.bound + weight - 1) // weight),
        ),
        replace(
            first,
            objective="visits_moved",
            sense="min",
            value=moved,
            bound=min(moved, max(0, weight * kept - first.bound)),
        ),
        *rest,
    ]


def _starts(model: BookingModel, values: Mapping[int, int]) -> dict[str, list[int]]:
    return {
        c.calendar.referral.id: sorted(values[v.index] for v in c.starts)
        for c in model.courses
        if values[c.booked.index]
    }


def _schedule(
    problem: Problem,
    previous: Schedule,
    courses: list[CourseToBook],
    finished: list[Appointment],
    booked: Mapping[str, list[Appointment]],
    stages: list[Stage],
    solver: str,
) -> Schedule:
    """The whole plan: visits numbered on from their course's history, chairs and nurses
    given (a visit that stays keeps its own when free), past visits of courses that go on."""
    centre = problem.centre
    to_book = {c.referral.id: c for c in courses}
    previous_at = {(a.referral, a.on, a.start_min): a for a in previous.appointments}
    visits: list[Appointment] = []
    for ref, planned in booked.items():
        course = to_book[ref]
        for n, a in enumerate(sorted(planned), start=len(course.history) + 1):
            kept = previous_at.get((ref, a.on, a.start_min))
            visits.append(
                Appointment(
                    on=a.on,
                    start_min=a.start_min,
                    end_min=a.start_min + course.referral.visit_minutes,
                    chair=kept.chair if kept else 0,
                    referral=ref,
                    n=n,
                    nurse=kept.nurse if kept else "",
                )
            )
    keep = frozenset(c.referral.id for c in courses if c.before) | problem.fixed_referrals
    appointments = assign_chairs_and_nurses(centre, [*problem.fixed, *visits], keep=keep)
    history = finished + [a for c in courses if c.referral.id in booked for a in c.history]
    unscheduled = [
        _not_bookable(centre, c) if not c.calendar.bookable else _no_capacity(centre, c)
        for c in courses
        if c.referral.id not in booked
    ]
    return Schedule(
        solver=solver,
        status=overall_status(stages) if stages else Status.FEASIBLE,
        appointments=tuple(sorted([*history, *appointments])),
        unscheduled=tuple(unscheduled),
        stages=tuple(stages),
    )


def courses_to_book(
    problem: Problem, previous: Schedule, cancelled_days: Mapping[str, Iterable[date]]
) -> tuple[list[CourseToBook], list[Appointment]]:
    """The courses to book now (the waiting list too, in the problem's order), and the visits
    of courses already over (history only)."""
    centre = problem.centre
    by_referral = previous.by_referral()
    courses: list[CourseToBook] = []
    finished: list[Appointment] = []
    for r in problem.to_book:
        visits = by_referral.get(r.id, ())
        history = tuple(a for a in visits if a.on < centre.start)
        if len(history) >= r.sessions:
            finished += history
            continue
        rest = r
        if history:
            rest = replace(
                r, sessions=r.sessions - len(history), funded_on=max(r.funded_on, centre.start)
            )
        excluded = {centre.day_index(on) for on in cancelled_days.get(r.id, ())}
        courses.append(
            CourseToBook(
                referral=r,
                history=history,
                calendar=_calendar(centre, rest, excluded),
                before=tuple(a for a in visits if a.on >= centre.start),
            )
        )
    return courses, finished


@dataclass(frozen=True)
class _Stay:
    """A booked visit's "moved" flag and the matches that let it stay (see _stay_or_move)."""

    referral: str
    old_slot: int
    moved: cp_model.IntVar
    #: (index of the new visit, "it is at the old place").
    matches: tuple[tuple[int, cp_model.IntVar], ...]


def _stay_or_move(model: BookingModel, before: Mapping[str, list[int]]) -> list[_Stay]:
    """A "moved" flag per booked visit, and the matches that let it stay.

    A visit stays when its course, booked, still has a visit at its date and start time,
    whatever that visit's number: when one visit of a course moves to its end, the ones after
    it are renumbered, not moved (a patient's appointment card changes in one line). Old and
    new visits are both in date order, so a match is one to one.
    """
    m = model.model
    out: list[_Stay] = []
    for c in model.courses:
        ref = c.calendar.referral.id
        if ref not in before:
            continue
        cal = c.calendar
        assert cal.earliest is not None
        assert cal.latest is not None
        for j, old in enumerate(before[ref]):
            day, slot = divmod(old, model.spd)
            window = cal.windows.get(day)
            matches: list[tuple[int, cp_model.IntVar]] = []
            if window is not None and window[0] <= slot * model.slot <= window[1]:
                for k, start in enumerate(c.starts):
                    if not cal.earliest[k] <= day <= cal.latest[k]:
                        continue
                    match = m.new_bool_var(f"same_{ref}_{j}_{k}")
                    m.add(start == old).only_enforce_if(match)
                    m.add_implication(match, c.booked)
                    matches.append((k, match))
            moved = m.new_bool_var(f"moved_{ref}_{j}")
            m.add_bool_or([*(match for _, match in matches), moved])
            model.extra += [*(match for _, match in matches), moved]
            out.append(_Stay(ref, old, moved, tuple(matches)))
    return out


def _stay_values(stays: list[_Stay], starts: Mapping[str, list[int]]) -> dict[int, int]:
    """The flags' and matches' values for booked visit starts (by referral, in order)."""
    values: dict[int, int] = {}
    for stay in stays:
        now = starts.get(stay.referral, [])
        at = [k for k, match in stay.matches if k < len(now) and now[k] == stay.old_slot]
        for k, match in stay.matches:
            values[match.index] = int(k in at[:1])
        values[stay.moved.index] = int(not at)
    return values


def _calendar(centre: Centre, referral: Referral, excluded: set[int]) -> CourseCalendar:
    """:func:`.calendar.course_calendar` without the days the patient cancelled."""
    return course_calendar(centre, referral, excluded=frozenset(excluded))


def _slot_of(model: BookingModel, a: Appointment) -> int:
    return model.problem.centre.day_index(a.on) * model.spd + a.start_min // model.slot


def _continue_from_history(model: BookingModel, to_book: Mapping[str, CourseToBook]) -> None:
    """The rules between a running course's past visits and the rest (when it is booked).

    The rest's own gaps come with its calendar; those of the whole course that join a past
    visit to a visit still to come are posted here, with the past day as a constant. Together
    they are exactly the whole course's gaps (the rest's own ones follow from them).
    """
    centre = model.problem.centre
    m = model.model
    for course in model.courses:
        planned = to_book[course.calendar.referral.id]
        past = [centre.day_index(a.on) for a in planned.history]
        h = len(past)
        if not h:
            continue
        for g in referral_gaps(planned.referral):
            if not g.i < h <= g.j:
                continue
            day = course.days[g.j - h]
            if g.lo_days > 0:
                m.add(day >= past[g.i] + g.lo_days).only_enforce_if(course.booked)
            if g.hi_days is not None:
                m.add(day <= past[g.i] + g.hi_days).only_enforce_if(course.booked)


def _not_bookable(centre: Centre, course: CourseToBook) -> Unscheduled:
    if not course.history:
        return not_bookable(centre, course.calendar)
    return _cannot_continue(centre, course)


def _no_capacity(centre: Centre, course: CourseToBook) -> Unscheduled:
    if not course.history:
        return no_capacity(centre, course.calendar)
    return _cannot_continue(centre, course)


def _cannot_continue(centre: Centre, course: CourseToBook) -> Unscheduled:
    r = course.referral
    done = len(course.history)
    return Unscheduled(
        r.id,
        "course_cannot_continue",
        f"{done} of its {r.sessions} visits were before {centre.start.isoformat()}; the other "
        f"{r.sessions - done} found no free chair and nurse on the patient's days and times "
        f"that keep the course rules with them (within {r.within_days} days of the first "
        "visit, at least 2 a week): the course cannot continue as booked.",
    )


def _changes(
    previous: Schedule,
    schedule: Schedule,
    withdrawn: set[str],
    centre: Centre,
) -> Rescheduled:
    booked_before = set(previous.by_referral())
    now_by = schedule.by_referral()
    booked_now = set(now_by)
    moved: list[Move] = []
    reassigned: list[Move] = []
    for ref, old_visits in previous.by_referral().items():
        if ref in withdrawn:
            continue
        old = [a for a in old_visits if a.on >= centre.start]
        new = [a for a in now_by.get(ref, ()) if a.on >= centre.start]
        new_at = {(a.on, a.start_min): a for a in new}
        old_at = {(a.on, a.start_min) for a in old}
        # Visits matched by date and time; the rest moved, paired in date order.
        arrived = iter(a for a in new if (a.on, a.start_min) not in old_at)
        for a in old:
            after = new_at.get((a.on, a.start_min))
            if after is None:
                moved.append(Move(ref, a.n, a, next(arrived, None)))
            elif (after.chair, after.nurse) != (a.chair, a.nurse):
                reassigned.append(Move(ref, a.n, a, after))
    return Rescheduled(
        schedule=schedule,
        moved=tuple(moved),
        reassigned=tuple(reassigned),
        dropped=tuple(sorted(booked_before - booked_now - withdrawn)),
        added=tuple(sorted(booked_now - booked_before)),
        withdrawn=tuple(sorted(withdrawn)),
        history=tuple(a for a in schedule.appointments if a.on < centre.start),
    )


def check_with_history(problem: Problem, schedule: Schedule) -> list[Violation]:
    """:func:`.checker.check` for a plan made from a later start: visits before the horizon
    are history, checked only as part of their course (whole, numbered, the course rules),
    not against today's centre (horizon, hours, chairs, nurses). With no visit before the
    start this is exactly ``check``."""
    return check(problem, schedule, history_before=problem.centre.start)
