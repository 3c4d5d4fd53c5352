"""Booking with OR-Tools CP-SAT: the issue's objectives, one stage at a time.

The model, per referral ``r`` that can fit the horizon at all (:mod:`.calendar`):

* ``booked[r]`` — the course is booked whole, or not at all (see :mod:`.greedy`);
* per visit ``k``: ``day[r,k]`` over the referral's candidate days between the earliest and
  latest day session ``k`` can take, and ``start[r,k]`` in slots from the horizon's start,
  whose domain is exactly the start windows of those days (opening hours ∩ the patient's
  times, CONTRACT.md), linked by ``144·day ≤ start < 144·(day+1)`` (10-minute slots);
* the course rules as bounds between session days (:func:`.rules.course_gaps`, exact for
  ``validate_course``: ≤ 1 a day, ≤ 5 in any 7 days, ≥ 2 in every 7 days of the course, the
  window; never before funding, since candidate days start on it);
* capacity: every visit is an optional interval (present iff ``booked[r]``) in one
  cumulative of the centre's chairs. A day with fewer chairs in service, or fewer nurses ×
  ``chairs_per_nurse`` than chairs, gets a fixed block for the difference; existing bookings
  are fixed intervals. Chairs and nurses are then given per day by
  :func:`.diary.assign_chairs_and_nurses`: chairs are interchangeable, so as long as no more
  visits overlap than chairs and nurses' places, a chair and a nurse can always be found
  (interval graphs need no more colours than their largest overlap). This is equivalent to
  NoOverlap per chair plus a cumulative per nurse, with ~3× fewer variables.

Objectives, in the issue's order, lexicographically: each stage is solved with the previous
stages' values fixed as constraints and the previous solution as a hint:

1. courses booked (maximise);
2. total wait from funding to the first visit (minimise; an unbooked referral counts as
   waiting until the day after the horizon, so booking more is never penalised);
3. stable time of day: Σ over booked courses of (latest − earliest start time of day);
4. even chair load: decided when chairs are given (see above); no time changes, so it
   cannot disturb stages 1–3.

The best of several greedy runs (:mod:`.greedy`: the receptionist's first fit, other
orders, and the quiet-time placement), improved piece by piece (:mod:`.lns`: a waiting
referral and the courses in its way re-booked together), is the first stage's hint and
starting point, and the schedule returned is
never lexicographically worse than it: when the time limit stops a stage before it finds
something better, the previous solution stands. Deterministic settings: a fixed number of
workers and a fixed random seed (a run that hits its time limit may still differ slightly
between runs: the limit is wall-clock time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from ionto.clinic.scheduling.calendar import (
    CourseCalendar,
    course_calendar,
    no_capacity,
    not_bookable,
)
from ionto.clinic.scheduling.diary import assign_chairs_and_nurses
from ionto.clinic.scheduling.greedy import (
    Placement,
    first_come,
    funding_week_then_shortest,
    shortest_course_first,
    solve_greedy,
)
from ionto.clinic.scheduling.lns import book_more, shorten_waits
from ionto.clinic.scheduling.metrics import objective_key
from ionto.clinic.scheduling.problem import (
    MINUTES_PER_DAY,
    Appointment,
    Problem,
    Schedule,
    Stage,
    Status,
    Unscheduled,
)
from ionto.clinic.scheduling.rules import slots_for

#: Greedy orders and placements tried besides the receptionist's own (first come, first
#: fit); the best is the first hint.
WARM_STARTS = (
    (shortest_course_first, Placement.FIRST_FIT),
    (funding_week_then_shortest, Placement.FIRST_FIT),
    (first_come, Placement.QUIET),
    (shortest_course_first, Placement.QUIET),
    (funding_week_then_shortest, Placement.QUIET),
)

#: Share of the time limit for booking more courses piece by piece (:mod:`.lns`) before the
#: whole model's stages. Derived by trial on the benchmark's centres (benchmarks/README.md).
LNS_SHARE = 0.7
#: Of the piecewise share, what goes to shortening waits (:func:`.lns.shorten_waits`) after
#: booking more; none on a large model, where booking more needs all of it.
WAIT_SHARE = 0.35
#: With more visits to place than this, the whole model does not even find its first
#: solution within 30 s on 2 cores (600 referrals, ~5,800 visits: every stage stopped
#: unknown; 150 referrals, ~1,500: it searches), so the piecewise search gets this share.
LARGE_MODEL_VISITS = 4000
LNS_SHARE_LARGE = 0.9

#: At most this long to prove the capacity cuts' bound on courses booked.
RELAXATION_SECONDS = 2.0

#: Share of the remaining time each stage may use (the last takes what is left).
STAGE_SHARES: tuple[float, ...] = (0.5, 0.6, 1.0)


@dataclass(frozen=True)
class CpSatSettings:
    """Solver settings: total time limit, workers (this machine has 2 cores), seed."""

    seconds: float = 10.0
    workers: int = 2
    random_seed: int = 0


DEFAULT_SETTINGS = CpSatSettings()


@dataclass
class _Course:
    calendar: CourseCalendar
    booked: cp_model.IntVar
    days: list[cp_model.IntVar]
    starts: list[cp_model.IntVar]
    wait: cp_model.IntVar
    tod_lo: cp_model.IntVar
    tod_hi: cp_model.IntVar
    spread: cp_model.IntVar
    length_slots: int


class BookingModel:
    """The CP-SAT model of a :class:`Problem` (see the module doc). Reused by rescheduling."""

    def __init__(self, problem: Problem, calendars: list[CourseCalendar]) -> None:
        self.problem = problem
        centre = problem.centre
        self.slot = centre.slot_minutes
        self.spd = MINUTES_PER_DAY // self.slot
        self.model = cp_model.CpModel()
        self.courses: list[_Course] = []
        self.vars: list[cp_model.IntVar] = []
        #: Variables added by a caller (rescheduling's "moved" flags): read as solved.
        self.extra: list[cp_model.IntVar] = []
        #: The redundant capacity cuts (see :meth:`_energy_cuts`): (booked, chair slots), cap.
        self.cuts: list[tuple[tuple[tuple[cp_model.IntVar, int], ...], int]] = []
        intervals: list[cp_model.IntervalVar] = []
        m = self.model
        for cal in calendars:
            r = cal.referral
            assert cal.earliest is not None
            assert cal.latest is not None
            booked = m.new_bool_var(f"booked_{r.id}")
            length = slots_for(r.visit_minutes, self.slot)
            days: list[cp_model.IntVar] = []
            starts: list[cp_model.IntVar] = []
            for k in range(r.sessions):
                lo, hi = cal.earliest[k], cal.latest[k]
                allowed = [d for d in sorted(cal.windows) if lo <= d <= hi]
                day = m.new_int_var_from_domain(
                    cp_model.Domain.from_values(allowed), f"d_{r.id}_{k}"
                )
                spans = [
                    [
                        d * self.spd + cal.windows[d][0] // self.slot,
                        d * self.spd + cal.windows[d][1] // self.slot,
                    ]
                    for d in allowed
                ]
                start = m.new_int_var_from_domain(
                    cp_model.Domain.from_intervals(spans), f"t_{r.id}_{k}"
                )
                m.add(start >= self.spd * day)
                m.add(start <= self.spd * day + self.spd - 1)
                intervals.append(
                    m.new_optional_fixed_size_interval_var(start, length, booked, f"v_{r.id}_{k}")
                )
                days.append(day)
                starts.append(start)
            for g in cal.gaps:
                if g.lo_days > 0:
                    m.add(days[g.j] - days[g.i] >= g.lo_days)
                if g.hi_days is not None:
                    m.add(days[g.j] - days[g.i] <= g.hi_days)
            funded = centre.day_index(r.funded_on)
            unbooked_wait = centre.days - funded
            wait = m.new_int_var(0, max(unbooked_wait, 0), f"w_{r.id}")
            m.add(wait >= days[0] - funded)
            m.add(wait + unbooked_wait * booked >= unbooked_wait)
            tod_lo = m.new_int_var(0, self.spd, f"lo_{r.id}")
            tod_hi = m.new_int_var(0, self.spd, f"hi_{r.id}")
            for day, start in zip(days, starts, strict=True):
                m.add(start - self.spd * day >= tod_lo)
                m.add(start - self.spd * day <= tod_hi)
            spread = m.new_int_var(0, self.spd, f"s_{r.id}")
            m.add(spread >= tod_hi - tod_lo).only_enforce_if(booked)
            self.courses.append(
                _Course(cal, booked, days, starts, wait, tod_lo, tod_hi, spread, length)
            )
            self.vars += [booked, *days, *starts, wait, tod_lo, tod_hi, spread]
        demands = [1] * len(intervals)
        for first, length, used in self._taken_profile():
            intervals.append(m.new_fixed_size_interval_var(first, length, f"taken_{first}"))
            demands.append(used)
        if intervals:
            m.add_cumulative(intervals, demands, centre.chairs)
        self._energy_cuts()

    def _taken_profile(self) -> list[tuple[int, int, int]]:
        """Chairs already taken, as (first slot, slots, chairs) stretches of equal use.

        Fixed bookings take one chair each; a day with fewer chairs in service or fewer
        nurses' places than chairs loses the difference all day. Merged into a profile, a
        fully booked day is a handful of intervals instead of one per visit: the same
        capacity for the solver, ~10× fewer intervals when a few courses are re-booked
        around hundreds of fixed ones (:mod:`.lns`).
        """
        centre = self.problem.centre
        rows: dict[int, list[int]] = {}
        for index in range(centre.days):
            short = centre.chairs - centre.capacity_on(centre.date_of(index))
            if 0 < short < centre.chairs:
                rows[index] = [short] * self.spd
        for a in self.problem.fixed:
            index = centre.day_index(a.on)
            if not 0 <= index < centre.days:
                continue
            row = rows.setdefault(index, [0] * self.spd)
            for s in range(a.start_min // self.slot, slots_for(a.end_min, self.slot)):
                row[s] += 1
        out: list[tuple[int, int, int]] = []
        for index, row in sorted(rows.items()):
            s = 0
            while s < self.spd:
                end = s
                while end < self.spd and row[end] == row[s]:
                    end += 1
                if row[s]:
                    out.append((index * self.spd + s, end - s, row[s]))
                s = end
        return out

    def _energy_cuts(self) -> None:
        """Redundant cuts that give the LP (and so the bound) the capacity's shape.

        For every stretch of whole weeks and every band of the day that some patients are
        confined to, the chair time of the courses that must fall inside it is at most the
        chair time the stretch offers in that band (fixed bookings and blocks aside: a
        relaxation, so it never cuts off a schedule).
        """
        centre = self.problem.centre
        bands: set[tuple[int, int]] = set()
        inside: list[tuple[_Course, int, int, int, int]] = []
        for c in self.courses:
            cal = c.calendar
            assert cal.earliest is not None
            assert cal.latest is not None
            lo_min = min(w[0] for w in cal.windows.values())
            hi_min = max(w[1] for w in cal.windows.values()) + c.length_slots * self.slot
            bands.add((lo_min, hi_min))
            inside.append((c, cal.earliest[0], cal.latest[-1], lo_min, hi_min))
        weeks = centre.weeks
        for band_lo, band_hi in sorted(bands):
            per_day = []
            for index in range(centre.days):
                on = centre.date_of(index)
                hours = centre.hours_on(on.weekday())
                cap = centre.capacity_on(on)
                if hours is None or cap == 0:
                    per_day.append(0)
                    continue
                lo = max(band_lo, hours.open_min)
                hi = min(band_hi, hours.close_min)
                per_day.append(cap * max(0, hi - lo) // self.slot)
            for first_week in range(weeks):
                for last_week in range(first_week, weeks):
                    a, b = 7 * first_week, 7 * last_week + 6
                    terms = [
                        (c.booked, c.length_slots * c.calendar.referral.sessions)
                        for c, first, last, lo_min, hi_min in inside
                        if a <= first and last <= b and band_lo <= lo_min and hi_min <= band_hi
                    ]
                    if not terms:
                        continue
                    capacity = sum(per_day[a : b + 1])
                    if sum(e for _, e in terms) <= capacity:
                        continue
                    self.cuts.append((tuple(terms), capacity))
                    self.model.add(
                        cp_model.LinearExpr.weighted_sum(
                            [v for v, _ in terms], [e for _, e in terms]
                        )
                        <= capacity
                    )

    def relaxation_bound(self, settings: CpSatSettings, seconds: float) -> int | None:
        """At most how many courses can be booked, by the capacity cuts alone.

        A relaxation of the whole model (each cut holds in every schedule), small enough for
        CP-SAT to solve to optimality in well under a second where the whole model does not
        even finish its first linear relaxation within the time limit (600 referrals). Its
        optimum bounds the first stage; ``None`` if it is not proved within ``seconds``.
        """
        relaxed = cp_model.CpModel()
        booked = {c.booked.index: relaxed.new_bool_var(c.booked.name) for c in self.courses}
        for terms, capacity in self.cuts:
            relaxed.add(
                cp_model.LinearExpr.weighted_sum(
                    [booked[v.index] for v, _ in terms], [e for _, e in terms]
                )
                <= capacity
            )
        relaxed.maximize(cp_model.LinearExpr.sum(list(booked.values())))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, seconds)
        solver.parameters.num_workers = settings.workers
        solver.parameters.random_seed = settings.random_seed
        if solver.solve(relaxed) != cp_model.OPTIMAL:
            return None
        return round(solver.objective_value)

    # --- objectives ---------------------------------------------------------------------------
    def booked_count(self) -> cp_model.LinearExpr:
        return cp_model.LinearExpr.sum([c.booked for c in self.courses])

    def total_wait(self) -> cp_model.LinearExpr:
        return cp_model.LinearExpr.sum([c.wait for c in self.courses])

    def total_spread(self) -> cp_model.LinearExpr:
        return cp_model.LinearExpr.sum([c.spread for c in self.courses])

    # --- solutions ----------------------------------------------------------------------------
    def complete(self, chosen: dict[str, list[int]]) -> dict[int, int]:
        """A full assignment (by variable index) from booked courses' visit starts (slots).

        Referrals not in ``chosen`` are unbooked and take their earliest course, at the first
        start of each day: a valid hint, since the model's day bounds hold for it.
        """
        values: dict[int, int] = {}
        centre = self.problem.centre
        for c in self.courses:
            r = c.calendar.referral
            assert c.calendar.earliest is not None
            if r.id in chosen:
                starts = chosen[r.id]
                days = [s // self.spd for s in starts]
                booked = 1
            else:
                days = list(c.calendar.earliest)
                starts = [d * self.spd + c.calendar.windows[d][0] // self.slot for d in days]
                booked = 0
            tods = [s - d * self.spd for s, d in zip(starts, days, strict=True)]
            funded = centre.day_index(r.funded_on)
            unbooked_wait = centre.days - funded
            wait = days[0] - funded if booked else max(days[0] - funded, unbooked_wait)
            values[c.booked.index] = booked
            for var, value in zip(c.days, days, strict=True):
                values[var.index] = value
            for var, value in zip(c.starts, starts, strict=True):
                values[var.index] = value
            values[c.wait.index] = max(wait, 0)
            values[c.tod_lo.index] = min(tods)
            values[c.tod_hi.index] = max(tods)
            values[c.spread.index] = (max(tods) - min(tods)) if booked else 0
        return values

    def hint(self, values: dict[int, int]) -> None:
        self.model.clear_hints()  # type: ignore[no-untyped-call]  # untyped in OR-Tools 9.15
        for var in (*self.vars, *self.extra):
            if var.index in values:
                self.model.add_hint(var, values[var.index])

    def read(self, solver: cp_model.CpSolver) -> dict[int, int]:
        """The solver's booked courses, with waits and spreads made tight (see complete)."""
        chosen = {
            c.calendar.referral.id: [int(solver.value(t)) for t in c.starts]
            for c in self.courses
            if solver.value(c.booked)
        }
        values = self.complete(chosen)
        for var in self.extra:
            values[var.index] = int(solver.value(var))
        return values

    def appointments(self, values: dict[int, int]) -> list[Appointment]:
        """The booked visits (chair and nurse still to give) under an assignment."""
        centre = self.problem.centre
        out: list[Appointment] = []
        for c in self.courses:
            if not values[c.booked.index]:
                continue
            r = c.calendar.referral
            for n, start in enumerate(sorted(values[v.index] for v in c.starts), start=1):
                day, slot = divmod(start, self.spd)
                start_min = slot * self.slot
                out.append(
                    Appointment(
                        on=centre.date_of(day),
                        start_min=start_min,
                        end_min=start_min + r.visit_minutes,
                        chair=0,
                        referral=r.id,
                        n=n,
                        nurse="",
                    )
                )
        return out


def _evaluate_linear(expr: cp_model.LinearExpr, values: dict[int, int]) -> int:
    """Evaluate a linear expression of model variables under an assignment by index."""
    flat = cp_model.FlatIntExpr(expr)
    total = int(flat.offset)
    for var, coeff in zip(flat.vars, flat.coeffs, strict=True):
        total += int(coeff) * values[var.index]
    return total


def _key(stages: list[StageSpec], values: dict[int, int]) -> tuple[int, ...]:
    """Stages' values as one tuple to minimise (maximised ones negated)."""
    return tuple(
        -_evaluate_linear(s.expr, values) if s.maximise else _evaluate_linear(s.expr, values)
        for s in stages
    )


def unproved_bound(reported: int, value: int, trivial: int, *, maximise: bool) -> int:
    """The bound to report for a stage the solver left without a solution.

    It may not have bounded anything either (it then reports 0); had it proved the value, it
    would have said OPTIMAL. So its bound stands only strictly beyond the value and within
    the trivial bound; otherwise the trivial bound is all that is known.
    """
    informative = value < reported <= trivial if maximise else trivial <= reported < value
    return reported if informative else trivial


def _trivial_bound(expr: cp_model.LinearExpr, *, maximise: bool) -> int:
    """The objective's bound from its variables' domains alone (nothing solved)."""
    flat = cp_model.FlatIntExpr(expr)
    total = int(flat.offset)
    for var, coeff in zip(flat.vars, flat.coeffs, strict=True):
        domain = list(var.proto.domain)  # OR-Tools' repeated field has no negative index
        lo, hi = int(domain[0]), int(domain[-1])
        total += int(coeff) * (hi if (coeff > 0) == maximise else lo)
    return total


def starts_from_schedule(model: BookingModel, schedule: Schedule) -> dict[str, list[int]]:
    """Booked courses' visit starts (slots from the horizon's start) from a schedule."""
    centre = model.problem.centre
    out: dict[str, list[int]] = {}
    modelled = {c.calendar.referral.id for c in model.courses}
    for ref, visits in schedule.by_referral().items():
        if ref not in modelled:
            continue
        out[ref] = [centre.day_index(a.on) * model.spd + a.start_min // model.slot for a in visits]
    return out


@dataclass(frozen=True)
class StageSpec:
    """One lexicographic stage: its name, sense and objective expression."""

    name: str
    maximise: bool
    expr: cp_model.LinearExpr
    #: A bound proved beforehand (a relaxation's optimum): added as a cut, and reported when
    #: it is tighter than the solver's own.
    known_bound: int | None = None


def solve_stages(
    model: BookingModel,
    stages: list[StageSpec],
    start: dict[int, int],
    settings: CpSatSettings,
    deadline: float,
    hint: dict[int, int] | None = None,
) -> tuple[dict[int, int], list[Stage]]:
    """Solve the stages in order, each fixing its value for the next; hints carried along.

    ``start`` must be a feasible assignment (it stands when a stage finds nothing);
    ``hint`` (default ``start``) is only suggested to the first stage.
    """
    values = start
    hinted = hint if hint is not None else start
    done: list[Stage] = []
    for index, spec in enumerate(stages):
        share = STAGE_SHARES[min(index, len(STAGE_SHARES) - 1)]
        if index == len(stages) - 1:
            share = 1.0
        budget = max(0.05, (deadline - time.perf_counter()) * share)
        m = model.model
        if spec.known_bound is not None:
            m.add(spec.expr <= spec.known_bound if spec.maximise else spec.expr >= spec.known_bound)
        if spec.maximise:
            m.maximize(spec.expr)
        else:
            m.minimize(spec.expr)
        model.hint(hinted)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = budget
        solver.parameters.num_workers = settings.workers
        solver.parameters.random_seed = settings.random_seed
        began = time.perf_counter()
        code = solver.solve(m)
        seconds = time.perf_counter() - began
        previous = _evaluate_linear(spec.expr, values)
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = model.read(solver)
            value = _evaluate_linear(spec.expr, found)
            better = value >= previous if spec.maximise else value <= previous
            # On a tie the solver's answer may be worse on the stages still to come (it was
            # not asked about them): keep whichever is better on those, in order.
            if better and value == previous:
                better = _key(stages[index:], found) <= _key(stages[index:], values)
            if better:
                values = found
            else:
                value = previous
            bound = round(solver.best_objective_bound)
            optimal = code == cp_model.OPTIMAL and value == _evaluate_linear(spec.expr, found)
            status = Status.OPTIMAL if optimal else Status.FEASIBLE
        elif code == cp_model.INFEASIBLE:
            raise ValueError(
                "the booked appointments already use more chairs or nurses than the centre has"
            )
        else:
            value = previous
            bound = unproved_bound(
                round(solver.best_objective_bound),
                value,
                _trivial_bound(spec.expr, maximise=spec.maximise),
                maximise=spec.maximise,
            )
            status = Status.UNKNOWN
        hinted = values
        if spec.known_bound is not None:
            bound = min(bound, spec.known_bound) if spec.maximise else max(bound, spec.known_bound)
        if spec.maximise:
            bound = max(bound, value)
            m.add(spec.expr >= value)
        else:
            bound = min(bound, value)
            m.add(spec.expr <= value)
        done.append(
            Stage(spec.name, "max" if spec.maximise else "min", value, bound, status, seconds)
        )
    return values, done


def overall_status(stages: list[Stage]) -> Status:
    if stages and all(s.status is Status.OPTIMAL for s in stages):
        return Status.OPTIMAL
    return Status.FEASIBLE


def solve_cpsat(problem: Problem, settings: CpSatSettings = DEFAULT_SETTINGS) -> Schedule:
    """Book with CP-SAT (see the module doc); never lexicographically worse than greedy."""
    began = time.perf_counter()
    deadline = began + settings.seconds
    centre = problem.centre
    calendars = [course_calendar(centre, r) for r in problem.to_book]
    by_id = {c.referral.id: c for c in calendars}
    greedy = solve_greedy(problem, calendars=by_id)
    warm = min(
        (greedy, *(solve_greedy(problem, o, by_id, placement) for o, placement in WARM_STARTS)),
        key=lambda sch: objective_key(problem, sch),
    )
    unfit = [not_bookable(centre, c) for c in calendars if not c.bookable]
    model = BookingModel(problem, [c for c in calendars if c.bookable])
    relaxed = model.relaxation_bound(
        settings, seconds=min(RELAXATION_SECONDS, (deadline - time.perf_counter()) / 4)
    )
    to_place = sum(c.calendar.referral.sessions for c in model.courses)
    large = to_place > LARGE_MODEL_VISITS
    lns_seconds = (deadline - time.perf_counter()) * (LNS_SHARE_LARGE if large else LNS_SHARE)
    wait_seconds = 0.0 if large else lns_seconds * WAIT_SHARE
    more = book_more(
        problem,
        warm.by_referral(),
        by_id,
        seconds=lns_seconds - wait_seconds,
        seed=settings.random_seed,
        workers=settings.workers,
    )
    if wait_seconds:
        more = shorten_waits(
            problem,
            more,
            by_id,
            seconds=wait_seconds,
            seed=settings.random_seed,
            workers=settings.workers,
        )
    stages = [
        StageSpec("courses_booked", True, model.booked_count(), known_bound=relaxed),
        StageSpec("total_wait_days", False, model.total_wait()),
        StageSpec("time_of_day_spread_slots", False, model.total_spread()),
    ]
    start = model.complete(
        {
            ref: [centre.day_index(a.on) * model.spd + a.start_min // model.slot for a in visits]
            for ref, visits in more.items()
        }
    )
    values, done = solve_stages(model, stages, start, settings, deadline)
    visits = model.appointments(values)
    booked_ids = {a.referral for a in visits}
    unscheduled = unfit + [
        no_capacity(centre, c.calendar)
        for c in model.courses
        if c.calendar.referral.id not in booked_ids
    ]
    appointments = assign_chairs_and_nurses(
        centre, [*problem.fixed, *visits], keep=problem.fixed_referrals
    )
    schedule = Schedule(
        solver="cp-sat",
        status=overall_status(done),
        appointments=appointments,
        unscheduled=_in_input_order(problem, unscheduled),
        seconds=time.perf_counter() - began,
        stages=tuple(done),
        warm_start=objective_key(problem, warm)[:2],
    )
    if objective_key(problem, greedy) < objective_key(problem, schedule):
        return Schedule(
            solver="cp-sat",
            status=Status.FEASIBLE,
            appointments=greedy.appointments,
            unscheduled=greedy.unscheduled,
            seconds=time.perf_counter() - began,
            stages=tuple(done),
            note="the search found nothing better than its greedy starting point",
        )
    return schedule


def _in_input_order(problem: Problem, items: list[Unscheduled]) -> tuple[Unscheduled, ...]:
    order = {r.id: i for i, r in enumerate(problem.referrals)}
    return tuple(sorted(items, key=lambda u: order.get(u.referral, len(order))))
