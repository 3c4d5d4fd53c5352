"""Re-planning keeps the rules, keeps the courses, and moves only what it must.

The checker is the oracle; no test pins an exact schedule. Properties over random small
centres and random changes: every result keeps every rule, a patient's cancelled days are
left, and a change that only frees room (no change at all, or withdrawals) moves nothing.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_cases import problem_of, small_input

from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.problem import Appointment, ChairOutage, Problem, Schedule
from ionto.clinic.scheduling.reschedule import (
    Rescheduled,
    check_with_history,
    reschedule,
)

SETTINGS = CpSatSettings(seconds=3.0)
PROBLEM = problem_of(small_input(6, seed=5, weeks=6, chairs=2, nurses=2))
BEFORE = solve_cpsat(PROBLEM, SETTINGS)


def _without(problem: Problem, withdrawn: set[str]) -> Problem:
    return replace(problem, referrals=tuple(r for r in problem.referrals if r.id not in withdrawn))


def _with_outages(problem: Problem, outages: set[ChairOutage]) -> Problem:
    return replace(problem, centre=replace(problem.centre, out_of_service=frozenset(outages)))


def _places(appointments: tuple[Appointment, ...]) -> set[tuple[str, date, int]]:
    return {(a.referral, a.on, a.start_min) for a in appointments}


def test_a_withdrawn_course_moves_nothing_else() -> None:
    gone = next(iter(BEFORE.by_referral()))
    after = reschedule(PROBLEM, BEFORE, cancelled_courses=[gone], settings=SETTINGS)
    assert check(_without(PROBLEM, {gone}), after.schedule) == []
    assert after.moved == ()
    assert after.dropped == ()
    assert after.withdrawn == (gone,)
    assert gone not in after.schedule.by_referral()


def test_a_chair_out_of_service_moves_few_visits_and_keeps_every_course() -> None:
    busiest = max(
        {a.on for a in BEFORE.appointments},
        key=lambda on: sum(1 for a in BEFORE.appointments if a.on == on),
    )
    problem = _with_outages(PROBLEM, {ChairOutage(1, busiest)})
    after = reschedule(problem, BEFORE, settings=SETTINGS)
    assert check(problem, after.schedule) == []
    assert after.dropped == ()
    on_that_day = sum(1 for a in BEFORE.appointments if a.on == busiest)
    # Only visits of the day itself have to change, and at most half of them (two chairs).
    assert 1 <= len(after.moved) <= on_that_day
    assert {m.before.on for m in after.moved} == {busiest}
    for move in after.moved:
        assert move.after is not None


def test_a_patient_who_cannot_come_on_a_day_is_moved_off_it_and_nothing_else_moves() -> None:
    referral, visits = next(iter(BEFORE.by_referral().items()))
    day = visits[3].on
    after = reschedule(PROBLEM, BEFORE, cancelled_days={referral: [day]}, settings=SETTINGS)
    assert check(PROBLEM, after.schedule) == []
    assert day not in {a.on for a in after.schedule.by_referral()[referral]}
    # One visit leaves the day; the rest of the course stays (renumbered, not moved).
    assert [(m.referral, m.before.on) for m in after.moved] == [(referral, day)]


def test_the_receptionists_repair_alone_keeps_every_rule_too() -> None:
    busiest = max(BEFORE.appointments, key=lambda a: a.on).on
    problem = _with_outages(PROBLEM, {ChairOutage(1, busiest), ChairOutage(2, busiest)})
    after = reschedule(problem, BEFORE, solver="repair")
    assert check(problem, after.schedule) == []
    assert after.schedule.solver == "repair"
    assert after.schedule.stages == ()
    assert busiest not in {a.on for a in after.schedule.appointments}


# --- Re-planning from a later start: the past is history ---------------------------------------
def _from(problem: Problem, weeks_later: int) -> Problem:
    centre = problem.centre
    return replace(
        problem,
        centre=replace(
            centre,
            start=centre.start + timedelta(days=7 * weeks_later),
            weeks=centre.weeks - weeks_later,
        ),
    )


def test_visits_before_the_start_are_kept_as_they_are_and_the_courses_go_on() -> None:
    later = _from(PROBLEM, 2)
    past = {a for a in BEFORE.appointments if a.on < later.centre.start}
    assert past
    first_day = later.centre.start
    problem = _with_outages(later, {ChairOutage(1, first_day), ChairOutage(2, first_day)})
    after = reschedule(problem, BEFORE, settings=SETTINGS)
    assert set(after.history) == past
    assert past <= set(after.schedule.appointments)
    assert check_with_history(problem, after.schedule) == []
    # The plain checker sees past visits outside the horizon, and nothing else.
    assert {v.code for v in check(problem, after.schedule)} == {"outside_horizon"}
    assert all(m.before.on >= first_day for m in after.moved)
    assert first_day not in {a.on for a in after.schedule.appointments}
    assert after.dropped == ()


def test_the_rest_of_a_running_course_keeps_the_rules_with_its_past() -> None:
    """A running course whose last past visit is the day before the start: the rest cannot
    pack five visits into the first days (≤ 5 in any 7 days across the start)."""
    later = _from(PROBLEM, 1)
    running = [
        ref
        for ref, visits in BEFORE.by_referral().items()
        if visits[0].on < later.centre.start <= visits[-1].on
    ]
    assert running
    after = reschedule(later, BEFORE, settings=SETTINGS)
    assert check_with_history(later, after.schedule) == []
    assert after.moved == ()
    assert set(running) <= set(after.schedule.by_referral())


def test_check_with_history_is_the_checker_when_there_is_no_history() -> None:
    broken = replace(BEFORE, appointments=BEFORE.appointments[1:])
    assert check_with_history(PROBLEM, broken) == check(PROBLEM, broken)
    assert check_with_history(PROBLEM, broken) != []


# --- Properties over random centres and changes -------------------------------------------------
instances = st.builds(
    lambda n, seed, weeks, chairs: problem_of(
        small_input(n, seed=seed, weeks=weeks, chairs=chairs, nurses=2)
    ),
    n=st.integers(2, 7),
    seed=st.integers(0, 10_000),
    weeks=st.integers(5, 6),
    chairs=st.integers(1, 2),
)


def _changes(
    problem: Problem, plan: Schedule, seed: int
) -> tuple[Problem, set[str], dict[str, list[date]]]:
    """Random chair outages, withdrawn courses and patients' cancelled days."""
    rng = random.Random(seed)
    booked = sorted(plan.by_referral())
    visits = sorted(plan.appointments)
    outages = {
        ChairOutage(rng.randint(1, problem.centre.chairs), rng.choice(visits).on)
        for _ in range(rng.randint(0, 2))
        if visits
    }
    withdrawn = set(rng.sample(booked, rng.randint(0, min(2, len(booked)))))
    days: dict[str, list[date]] = {}
    for a in rng.sample(visits, min(len(visits), rng.randint(0, 3))):
        if a.referral not in withdrawn:
            days.setdefault(a.referral, []).append(a.on)
    return _with_outages(problem, outages), withdrawn, days


def _assert_valid(problem: Problem, result: Rescheduled, days: dict[str, list[date]]) -> None:
    assert check(_without(problem, set(result.withdrawn)), result.schedule) == []
    for ref, visits in result.schedule.by_referral().items():
        assert not {a.on for a in visits} & set(days.get(ref, ()))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 10_000))
def test_any_change_gives_a_schedule_that_keeps_every_rule(problem: Problem, seed: int) -> None:
    plan = solve_greedy(problem)
    changed, withdrawn, days = _changes(problem, plan, seed)
    result = reschedule(
        changed,
        plan,
        cancelled_courses=withdrawn,
        cancelled_days=days,
        settings=CpSatSettings(seconds=1.0),
    )
    _assert_valid(changed, result, days)
    # Never worse than the receptionist's repair on the first two objectives.
    baseline = reschedule(
        changed, plan, cancelled_courses=withdrawn, cancelled_days=days, solver="repair"
    )
    _assert_valid(changed, baseline, days)
    assert (len(result.dropped), len(result.moved)) <= (len(baseline.dropped), len(baseline.moved))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 10_000))
def test_no_change_moves_nothing_and_a_withdrawal_moves_nothing_else(
    problem: Problem, seed: int
) -> None:
    plan = solve_greedy(problem)
    same = reschedule(problem, plan, settings=CpSatSettings(seconds=1.0))
    assert check(problem, same.schedule) == []
    assert same.moved == ()
    assert same.dropped == ()
    assert _places(plan.appointments) <= _places(same.schedule.appointments)
    booked = sorted(plan.by_referral())
    if not booked:
        return
    gone = random.Random(seed).choice(booked)
    fewer = reschedule(problem, plan, cancelled_courses=[gone], settings=CpSatSettings(seconds=1.0))
    assert check(_without(problem, {gone}), fewer.schedule) == []
    assert fewer.moved == ()
    assert fewer.dropped == ()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(1, 3), st.integers(0, 10_000))
def test_replanning_from_a_later_start_keeps_the_past_and_every_rule(
    problem: Problem, weeks_later: int, seed: int
) -> None:
    plan = solve_greedy(problem)
    later = _from(problem, weeks_later)
    changed, withdrawn, days = _changes(later, plan, seed)
    days = {ref: [d for d in ds if d >= later.centre.start] for ref, ds in days.items()}
    result = reschedule(
        changed,
        plan,
        cancelled_courses=withdrawn,
        cancelled_days=days,
        settings=CpSatSettings(seconds=1.0),
    )
    now = _without(changed, withdrawn)
    assert check_with_history(now, result.schedule) == []
    kept = set(result.schedule.by_referral())
    past = {a for a in plan.appointments if a.on < later.centre.start and a.referral in kept}
    assert set(result.history) == past
    assert all(m.before.on >= later.centre.start for m in result.moved)


def test_the_benchmark_runs_small() -> None:
    """benchmarks/bench_reschedule.py on a small centre, so that its table cannot rot."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_reschedule.py"
    spec = importlib.util.spec_from_file_location("bench_reschedule", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.bench(12, seed=2, initial="greedy", initial_seconds=1.0, seconds=0.5, weeks=6)
    rows = report["rows"]
    assert [(r["scenario"], r["solver"]) for r in rows[:2]] == [
        ("chair_week", "repair"),
        ("chair_week", "cp-sat"),
    ]
    assert len(rows) == 8
    assert all(r["violations"] == 0 for r in rows)
    assert all(r["moved"] == 0 for r in rows if r["scenario"] == "cancel_10")
    assert "| days_20 | cp-sat |" in bench.markdown(report)
