"""Re-planning keeps the rules, keeps the courses, and moves only what it must."""

from __future__ import annotations

from dataclasses import replace

from schedule_cases import problem_of, small_input

from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.problem import ChairOutage
from ionto.clinic.scheduling.reschedule import reschedule

SETTINGS = CpSatSettings(seconds=3.0)
PROBLEM = problem_of(small_input(6, seed=5, weeks=6, chairs=2, nurses=2))
BEFORE = solve_cpsat(PROBLEM, SETTINGS)


def test_a_withdrawn_course_moves_nothing_else() -> None:
    gone = next(iter(BEFORE.by_referral()))
    after = reschedule(PROBLEM, BEFORE, cancelled_courses=[gone], settings=SETTINGS)
    problem = replace(PROBLEM, referrals=tuple(r for r in PROBLEM.referrals if r.id != gone))
    assert check(problem, after.schedule) == []
    assert after.moved == ()
    assert after.dropped == ()
    assert gone not in after.schedule.by_referral()


def test_a_chair_out_of_service_moves_few_visits_and_keeps_every_course() -> None:
    busiest = max(
        {a.on for a in BEFORE.appointments},
        key=lambda on: sum(1 for a in BEFORE.appointments if a.on == on),
    )
    centre = replace(PROBLEM.centre, out_of_service=frozenset({ChairOutage(1, busiest)}))
    problem = replace(PROBLEM, centre=centre)
    after = reschedule(problem, BEFORE, settings=SETTINGS)
    assert check(problem, after.schedule) == []
    assert after.dropped == ()
    on_that_day = sum(1 for a in BEFORE.appointments if a.on == busiest)
    # Only visits of the day itself have to change; the rules may drag a few along.
    assert len(after.moved) <= 2 * on_that_day
    for move in after.moved:
        assert move.after is not None


def test_a_patient_who_cannot_come_on_a_day_is_moved_off_it() -> None:
    referral, visits = next(iter(BEFORE.by_referral().items()))
    day = visits[3].on
    after = reschedule(PROBLEM, BEFORE, cancelled_days={referral: [day]}, settings=SETTINGS)
    assert check(PROBLEM, after.schedule) == []
    assert day not in {a.on for a in after.schedule.by_referral()[referral]}
    assert any(m.referral == referral for m in after.moved)
