"""Both solvers keep every rule on generated instances; CP-SAT never does worse than greedy.

The checker is the oracle: no test pins an exact schedule.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedule_cases import one_referral_input, problem_of, small_input

from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.metrics import metrics, objective_key, total_wait_days
from ionto.clinic.scheduling.problem import ChairOutage, Problem, Status

SOLVER_SECONDS = 1.0

instances = st.builds(
    lambda n, seed, weeks, chairs, nurses: problem_of(
        small_input(n, seed=seed, weeks=weeks, chairs=chairs, nurses=nurses)
    ),
    n=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    weeks=st.integers(5, 7),
    chairs=st.integers(1, 2),
    nurses=st.integers(1, 2),
)


def _with_outage(problem: Problem, day: int) -> Problem:
    centre = problem.centre
    outage = ChairOutage(1, centre.date_of(day % centre.days))
    return replace(problem, centre=replace(centre, out_of_service=frozenset({outage})))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 60), st.booleans())
def test_greedy_schedules_keep_every_rule(problem: Problem, day: int, outage: bool) -> None:
    if outage:
        problem = _with_outage(problem, day)
    schedule = solve_greedy(problem)
    assert check(problem, schedule) == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances, st.integers(0, 60), st.booleans())
def test_cpsat_keeps_every_rule_and_is_never_worse_than_greedy(
    problem: Problem, day: int, outage: bool
) -> None:
    if outage:
        problem = _with_outage(problem, day)
    greedy = solve_greedy(problem)
    cpsat = solve_cpsat(problem, CpSatSettings(seconds=SOLVER_SECONDS))
    assert check(problem, cpsat) == []
    assert objective_key(problem, cpsat) <= objective_key(problem, greedy)


def test_a_crowded_centre_books_more_with_cpsat_than_first_come() -> None:
    """Eight patients for one chair: first come, first served leaves some out; CP-SAT packs
    at least as many, never fewer, and says how sure it is."""
    problem = problem_of(small_input(8, seed=3, weeks=6, chairs=1, nurses=1))
    greedy = solve_greedy(problem)
    cpsat = solve_cpsat(problem, CpSatSettings(seconds=3.0))
    assert check(problem, cpsat) == []
    assert objective_key(problem, cpsat) <= objective_key(problem, greedy)
    assert cpsat.stages
    first = cpsat.stages[0]
    assert first.objective == "courses_booked"
    assert first.value <= first.bound
    assert cpsat.status in (Status.OPTIMAL, Status.FEASIBLE)


def test_fixed_bookings_stay_and_a_new_referral_fits_around_them() -> None:
    """The clinic's use: existing bookings fixed, one newly funded referral booked."""
    problem = problem_of(one_referral_input())
    first = solve_greedy(replace(problem, referrals=problem.referrals[:1]))
    fixed = first.appointments
    both = replace(problem, fixed=fixed)
    for schedule in (solve_greedy(both), solve_cpsat(both, CpSatSettings(seconds=2.0))):
        assert check(both, schedule) == []
        kept = {(a.referral, a.n, a.on, a.start_min) for a in schedule.appointments}
        assert {(a.referral, a.n, a.on, a.start_min) for a in fixed} <= kept
        assert "r2" in schedule.by_referral()


def test_metrics_have_the_contract_keys() -> None:
    problem = problem_of(one_referral_input())
    values = metrics(problem, solve_greedy(problem))
    assert {"median_wait_days", "courses_within_window", "chair_utilisation"} <= set(values)
    assert values["courses_within_window"] == 1.0


def test_a_referral_funded_after_the_horizon_waits_no_days_in_it() -> None:
    """It is not booked, and adds nothing (never a negative number) to the total wait."""
    data = one_referral_input()
    data["referrals"][1]["funded_on"] = "2099-01-01"
    problem = problem_of(data)
    for schedule in (solve_greedy(problem), solve_cpsat(problem, CpSatSettings(seconds=1.0))):
        assert [u.code for u in schedule.unscheduled] == ["funded_after_horizon"]
        waits = metrics(problem, schedule)
        assert total_wait_days(problem, schedule) == waits["median_wait_days"] == 0
    assert solve_cpsat(problem, CpSatSettings(seconds=1.0)).warm_start == (-1, 0)
