"""The course rules as day gaps say exactly what the therapy core's validate_course says."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.clinic.scheduling.rules import (
    course_gaps,
    earliest_course_days,
    gaps_hold,
    latest_course_days,
)
from ionto.therapy import sources
from ionto.therapy.course import CourseRules, validate_course
from ionto.therapy.frequency import FrequencyCaps

MONDAY = date(2027, 1, 4)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=10, unique=True),
    st.integers(1, 35),
    st.integers(1, 3),
    st.integers(3, 5),
)
def test_gaps_agree_with_validate_course(
    offsets: list[int], window: int, min_per_week: int, max_per_week: int
) -> None:
    days = sorted(offsets)
    rules = CourseRules(
        "test",
        sources.DERIVED,
        max_sessions=len(days),
        window_days=window,
        min_per_week=min_per_week,
        caps=FrequencyCaps(max_sessions_per_week=max_per_week),
    )
    broken = validate_course([MONDAY + timedelta(days=d) for d in days], rules)
    gaps = course_gaps(len(days), window, min_per_week, max_per_week)
    assert gaps_hold(days, gaps) == (broken == ())


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, 16), min_size=1),
    st.integers(1, 5),
    st.integers(4, 14),
)
def test_earliest_and_latest_courses_bound_every_course(
    candidates: set[int], sessions: int, window: int
) -> None:
    gaps = course_gaps(sessions, window, 2, 5)
    every = [c for c in combinations(sorted(candidates), sessions) if gaps_hold(c, gaps)]
    earliest = earliest_course_days(sorted(candidates), gaps, sessions)
    latest = latest_course_days(sorted(candidates), gaps, sessions)
    if not every:
        assert earliest is None
        assert latest is None
        return
    assert earliest is not None
    assert latest is not None
    assert earliest in every
    assert latest in every
    for course in every:
        assert all(e <= d <= la for e, d, la in zip(earliest, course, latest, strict=True))
