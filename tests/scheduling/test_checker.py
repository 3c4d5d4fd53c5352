"""The checker catches each kind of broken rule when one is planted in a valid schedule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from schedule_cases import one_referral_input, problem_of

from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.problem import (
    Appointment,
    ChairOutage,
    Problem,
    Schedule,
    Unscheduled,
)

PROBLEM = problem_of(one_referral_input())
VALID = solve_greedy(PROBLEM)


def _visits(schedule: Schedule, referral: str) -> list[Appointment]:
    return sorted(a for a in schedule.appointments if a.referral == referral)


def _swap(schedule: Schedule, old: Appointment, new: Appointment) -> Schedule:
    rest = [a for a in schedule.appointments if a != old]
    return replace(schedule, appointments=tuple(sorted([*rest, new])))


def _renumber(schedule: Schedule) -> Schedule:
    out: list[Appointment] = []
    for visits in schedule.by_referral().values():
        ordered = sorted(visits, key=lambda a: (a.on, a.start_min))
        out += [replace(a, n=i) for i, a in enumerate(ordered, start=1)]
    return replace(schedule, appointments=tuple(sorted(out)))


def _move(referral: str, n: int, **changes: object) -> Callable[[Problem, Schedule], Schedule]:
    def plant(_problem: Problem, schedule: Schedule) -> Schedule:
        visit = next(a for a in _visits(schedule, referral) if a.n == n)
        return _renumber(_swap(schedule, visit, replace(visit, **changes)))  # type: ignore[arg-type]

    return plant


def _shift_days(referral: str, n: int, days: int) -> Callable[[Problem, Schedule], Schedule]:
    def plant(problem: Problem, schedule: Schedule) -> Schedule:
        visit = next(a for a in _visits(schedule, referral) if a.n == n)
        return _move(referral, n, on=visit.on + timedelta(days=days))(problem, schedule)

    return plant


def _same_day_as_previous(_problem: Problem, schedule: Schedule) -> Schedule:
    visits = _visits(schedule, "r1")
    second = next(a for a in visits if a.n == 2)
    first = next(a for a in visits if a.n == 1)
    moved = replace(second, on=first.on, start_min=first.end_min, end_min=first.end_min + 60)
    return _renumber(_swap(schedule, second, moved))


def _six_in_a_week(_problem: Problem, schedule: Schedule) -> Schedule:
    # r2 comes Monday to Thursday: put six of its visits on six days in a row.
    visits = sorted(_visits(schedule, "r2"), key=lambda a: a.n)
    start = visits[0].on
    out = [a for a in schedule.appointments if a.referral != "r2"]
    for k, a in enumerate(visits):
        out.append(replace(a, on=start + timedelta(days=k if k < 6 else 7 + k)))
    return _renumber(replace(schedule, appointments=tuple(sorted(out))))


def _drop_last(_problem: Problem, schedule: Schedule) -> Schedule:
    last = max(_visits(schedule, "r1"), key=lambda a: a.n)
    return replace(schedule, appointments=tuple(a for a in schedule.appointments if a != last))


def _chair_clash(_problem: Problem, schedule: Schedule) -> Schedule:
    a = _visits(schedule, "r1")[0]
    b = next(v for v in _visits(schedule, "r2") if v.on.weekday() in (0, 2))
    moved = replace(a, on=b.on, start_min=b.start_min, end_min=b.start_min + 60, chair=b.chair)
    return _renumber(_swap(schedule, a, moved))


def _nurse_overload(_problem: Problem, schedule: Schedule) -> Schedule:
    # Three visits at once for one nurse who looks after two chairs.
    a = _visits(schedule, "r2")[0]
    extra = [
        replace(a, referral="r1", n=1, chair=1, start_min=a.start_min, end_min=a.start_min + 60),
        replace(a, referral="r1", n=2, chair=2, start_min=a.start_min, end_min=a.start_min + 60),
    ]
    return replace(schedule, appointments=tuple(sorted([*schedule.appointments, *extra])))


CASES: dict[str, Callable[[Problem, Schedule], Schedule]] = {
    "two_sessions_same_day": _same_day_as_previous,
    "more_than_5_in_a_week": _six_in_a_week,
    "fewer_than_2_in_a_week": _shift_days("r1", 10, 14),
    "outside_course_window": _shift_days("r1", 10, 7),
    "before_funding": _shift_days("r2", 1, -7),
    "centre_closed": _move("r1", 1, on=VALID.appointments[0].on - timedelta(days=1)),
    "outside_opening_hours": _move("r1", 1, start_min=8 * 60, end_min=9 * 60),
    "patient_unavailable": _shift_days("r1", 1, 1),
    "outside_patient_times": _move("r2", 1, start_min=14 * 60, end_min=14 * 60 + 30),
    "wrong_visit_length": _move("r1", 1, end_min=VALID.appointments[0].start_min + 20),
    "unknown_chair": _move("r1", 1, chair=9),
    "unknown_nurse": _move("r1", 1, nurse="n9"),
    "nurse_not_rostered": lambda p, s: _move(
        "r1", next(a.n for a in _visits(s, "r1") if a.on.weekday() == 4), nurse="n2"
    )(p, s),
    "chair_double_booked": _chair_clash,
    "incomplete_course": _drop_last,
    "visits_misnumbered": lambda _p, s: replace(
        s,
        appointments=tuple(
            replace(a, n=a.n + 1) if a.referral == "r1" and a.n == 1 else a for a in s.appointments
        ),
    ),
    "referral_missing": lambda _p, s: replace(
        s, appointments=tuple(a for a in s.appointments if a.referral != "r1")
    ),
    "booked_and_unscheduled": lambda _p, s: replace(
        s, unscheduled=(Unscheduled("r1", "no_capacity", "test"),)
    ),
    "unknown_referral": lambda _p, s: replace(
        s, unscheduled=(Unscheduled("r404", "no_capacity", "test"),)
    ),
}


def test_the_valid_schedule_is_valid() -> None:
    assert {a.referral for a in VALID.appointments} == {"r1", "r2"}
    assert check(PROBLEM, VALID) == []


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_planted_violation_is_caught(code: str) -> None:
    broken = CASES[code](PROBLEM, VALID)
    found = check(PROBLEM, broken)
    assert code in {v.code for v in found}, [v.code for v in found]
    for v in found:
        assert v.text
        assert v.source.citation


def test_a_nurse_with_more_visits_at_once_than_her_chairs_is_caught() -> None:
    problem = replace(PROBLEM, centre=replace(PROBLEM.centre, chairs=3, chairs_per_nurse=2))
    broken = _nurse_overload(problem, VALID)
    assert "nurse_double_booked" in {v.code for v in check(problem, broken)}


def test_a_chair_out_of_service_is_caught() -> None:
    a = VALID.appointments[0]
    centre = replace(PROBLEM.centre, out_of_service=frozenset({ChairOutage(a.chair, a.on)}))
    problem = replace(PROBLEM, centre=centre)
    assert "chair_out_of_service" in {v.code for v in check(problem, VALID)}
