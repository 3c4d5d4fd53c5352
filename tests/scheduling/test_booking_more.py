"""Quiet-time placement, booking more piece by piece, and the bounds CP-SAT reports.

Each test has a schedule the receptionist's first fit gets wrong on purpose: a patient who
can come at any time sits in the only hour another patient can come.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model
from schedule_cases import problem_of, small_input

from ionto.clinic.scheduling.calendar import course_calendar
from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.cpsat import (
    BookingModel,
    CpSatSettings,
    StageSpec,
    _trivial_bound,
    solve_cpsat,
    solve_stages,
    unproved_bound,
)
from ionto.clinic.scheduling.diary import assign_chairs_and_nurses
from ionto.clinic.scheduling.greedy import Placement, solve_greedy
from ionto.clinic.scheduling.lns import book_more, shorten_waits
from ionto.clinic.scheduling.problem import Appointment, Problem, Schedule, Status


def _one_chair_two_patients() -> dict[str, Any]:
    """One chair over three weeks of weekdays, two hour-long courses of ten visits.

    ``any`` (funded first) can come all day; ``early`` only 09:00–10:00. First fit gives
    ``any`` the 09:00 hour on its first ten weekdays, and ``early`` cannot fit ten visits in
    the five days left. Both fit when ``any`` comes after 10:00.
    """
    days = ["mon", "tue", "wed", "thu", "fri"]
    return {
        "start": "2027-01-04",
        "weeks": 3,
        "chairs": 1,
        "hours": {d: ["09:00", "17:00"] for d in days},
        "nurses": [{"id": "n1", "days": days}],
        "referrals": [
            {
                "id": "any",
                "funded_on": "2027-01-04",
                "regions": ["palms", "soles"],
                "sessions": 10,
                "within_days": 28,
                "available": days,
                "earliest": "09:00",
                "latest": "17:00",
            },
            {
                "id": "early",
                "funded_on": "2027-01-05",
                "regions": ["palms", "soles"],
                "sessions": 10,
                "within_days": 28,
                "available": days,
                "earliest": "09:00",
                "latest": "10:00",
            },
        ],
    }


def _any_in_the_early_hour() -> Problem:
    return problem_of(_one_chair_two_patients())


def test_first_fit_leaves_the_early_patient_out_and_quiet_placement_books_both() -> None:
    problem = _any_in_the_early_hour()
    first_fit = solve_greedy(problem)
    assert set(first_fit.by_referral()) == {"any"}
    assert [u.referral for u in first_fit.unscheduled] == ["early"]
    quiet = solve_greedy(problem, placement=Placement.QUIET)
    assert set(quiet.by_referral()) == {"any", "early"}
    assert check(problem, quiet) == []
    # The early patient's days (from the 5th, funding) leave her the 09:00 hour.
    early_days = {a.on for a in quiet.by_referral()["early"]}
    assert all(a.start_min >= 10 * 60 for a in quiet.by_referral()["any"] if a.on in early_days)


def test_booking_more_moves_the_course_in_the_way() -> None:
    """From first fit's schedule, re-booking around the waiting patient fits both."""
    problem = _any_in_the_early_hour()
    first_fit = solve_greedy(problem)
    calendars = {r.id: course_calendar(problem.centre, r) for r in problem.to_book}
    more = book_more(problem, first_fit.by_referral(), calendars, seconds=5.0)
    assert set(more) == {"any", "early"}
    schedule = Schedule(
        "test",
        Status.FEASIBLE,
        tuple(sorted(a for visits in more.values() for a in visits)),
        (),
    )
    # Chairs and nurses are given afterwards; the checker needs them: one chair, one nurse.
    schedule = replace(
        schedule,
        appointments=tuple(replace(a, chair=1, nurse="n1") for a in schedule.appointments),
    )
    assert check(problem, schedule) == []


def test_cpsat_books_both_and_proves_it() -> None:
    problem = _any_in_the_early_hour()
    schedule = solve_cpsat(problem, CpSatSettings(seconds=5.0))
    assert set(schedule.by_referral()) == {"any", "early"}
    assert check(problem, schedule) == []
    first = schedule.stages[0]
    assert (first.value, first.bound) == (2, 2)


instances = st.builds(
    lambda n, seed, chairs: problem_of(small_input(n, seed=seed, weeks=5, chairs=chairs)),
    n=st.integers(2, 10),
    seed=st.integers(0, 10_000),
    chairs=st.integers(1, 2),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_the_capacity_relaxation_never_bounds_below_a_schedule(problem: Problem) -> None:
    """A bound that a real schedule beats would be a wrong cut: greedy and CP-SAT both stay
    at or under it, and quiet placement keeps every rule."""
    calendars = [course_calendar(problem.centre, r) for r in problem.to_book]
    model = BookingModel(problem, [c for c in calendars if c.bookable])
    bound = model.relaxation_bound(CpSatSettings(), seconds=5.0)
    assert bound is not None
    quiet = solve_greedy(problem, placement=Placement.QUIET)
    assert check(problem, quiet) == []
    cpsat = solve_cpsat(problem, CpSatSettings(seconds=1.0))
    for schedule in (solve_greedy(problem), quiet, cpsat):
        assert len(schedule.by_referral()) <= bound
    first = cpsat.stages[0]
    assert first.value <= first.bound <= bound


def test_an_overfull_centre_is_bounded_below_its_referrals() -> None:
    """Twenty hour-long courses at 09:00–10:00 for one chair cannot all fit: the cuts say
    so (the trivial bound would be 20)."""
    data = _one_chair_two_patients()
    template = data["referrals"][1]
    data["referrals"] = [{**template, "id": f"r{i}"} for i in range(20)]
    problem = problem_of(data)
    calendars = [course_calendar(problem.centre, r) for r in problem.to_book]
    model = BookingModel(problem, [c for c in calendars if c.bookable])
    bound = model.relaxation_bound(CpSatSettings(), seconds=5.0)
    assert bound is not None
    assert bound < 20
    schedule = solve_cpsat(problem, CpSatSettings(seconds=3.0))
    assert schedule.stages[0].bound <= bound


def test_a_stage_stopped_before_any_solution_reports_a_true_bound() -> None:
    """No solution and nothing proved: the solver reports a bound of 0, which for a stage
    kept at 0 courses booked would read as a 0% gap. The trivial bound is reported instead;
    a bound the solver did prove beyond the value stands."""
    assert unproved_bound(0, 0, 10, maximise=True) == 10
    assert unproved_bound(0, 4, 10, maximise=True) == 10
    assert unproved_bound(7, 4, 10, maximise=True) == 7
    assert unproved_bound(0, 25, 0, maximise=False) == 0
    assert unproved_bound(12, 25, 0, maximise=False) == 12
    assert unproved_bound(25, 25, 0, maximise=False) == 0


def test_a_stage_given_no_time_keeps_a_feasible_start_and_a_bound_above_it() -> None:
    problem = problem_of(small_input(10, seed=1, weeks=5, chairs=1))
    calendars = [course_calendar(problem.centre, r) for r in problem.to_book]
    model = BookingModel(problem, [c for c in calendars if c.bookable])
    start = model.complete({})
    stages = [StageSpec("courses_booked", True, model.booked_count())]
    _, done = solve_stages(model, stages, start, CpSatSettings(), deadline=0.0)
    stage = done[0]
    assert stage.bound >= max(stage.value, 1)
    if stage.status is Status.UNKNOWN:
        assert stage.bound == len(model.courses)


def test_trivial_bounds_come_from_the_domains() -> None:
    m = cp_model.CpModel()
    a, b = m.new_int_var(2, 5, "a"), m.new_int_var(-1, 3, "b")
    expr = 2 * a - b
    assert _trivial_bound(expr, maximise=True) == 2 * 5 + 1
    assert _trivial_bound(expr, maximise=False) == 2 * 2 - 3


def _schedule_of(
    problem: Problem, booked: dict[str, list[Appointment]], unscheduled: Schedule | None = None
) -> Schedule:
    visits = [a for course in booked.values() for a in course]
    return Schedule(
        "test",
        Status.FEASIBLE,
        assign_chairs_and_nurses(problem.centre, visits),
        unscheduled.unscheduled if unscheduled is not None else (),
    )


def test_a_course_booked_late_for_no_reason_is_brought_forward() -> None:
    """One patient, an empty centre, her course booked as late as it could go: shortening
    waits starts it on her funding day (or the first open day she can come)."""
    problem = _any_in_the_early_hour()
    problem = replace(problem, referrals=problem.referrals[:1])
    r = problem.referrals[0]
    calendar = course_calendar(problem.centre, r)
    assert calendar.latest is not None
    assert calendar.earliest is not None
    late = {
        r.id: [
            Appointment(
                problem.centre.date_of(day), 9 * 60, 9 * 60 + r.visit_minutes, 1, r.id, n, "n1"
            )
            for n, day in enumerate(calendar.latest, start=1)
        ]
    }
    assert check(problem, _schedule_of(problem, late)) == []
    sooner = shorten_waits(problem, late, {r.id: calendar}, seconds=3.0)
    assert sooner[r.id][0].on == problem.centre.date_of(calendar.earliest[0])
    assert check(problem, _schedule_of(problem, sooner)) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances)
def test_shortening_waits_keeps_every_course_and_rule_and_never_waits_longer(
    problem: Problem,
) -> None:
    greedy = solve_greedy(problem)
    calendars = {r.id: course_calendar(problem.centre, r) for r in problem.to_book}
    booked = {k: list(v) for k, v in greedy.by_referral().items()}
    after = shorten_waits(problem, booked, calendars, seconds=1.0)
    assert set(after) == set(booked)
    assert check(problem, _schedule_of(problem, after, greedy)) == []
    before_wait = sum((v[0].on - problem.referral(k).funded_on).days for k, v in booked.items())
    after_wait = sum(
        (sorted(v)[0].on - problem.referral(k).funded_on).days for k, v in after.items()
    )
    assert after_wait <= before_wait
