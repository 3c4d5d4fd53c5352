"""Frequency caps: 1 a day, 5 a week (Dermadry), glycopyrronium (Robinul SmPC)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import sources
from ionto.therapy.frequency import (
    FREQUENCY_CAPS,
    FrequencyCaps,
    SessionDate,
    Violation,
    WeekKind,
    check_frequency,
    check_glycopyrronium_interval,
    check_glycopyrronium_sites_per_day,
    check_sessions_per_day,
    check_sessions_per_week,
    day_text,
    earliest_next_session,
    frequency_limits,
    glycopyrronium_min_days_apart,
    glycopyrronium_sites_at_once_cap,
    glycopyrronium_sites_per_day_cap,
    monday_of,
    next_session,
    sessions_per_day_cap,
    sessions_per_week_cap,
)
from ionto.therapy.vocabulary import Solution

MON = date(2027, 1, 4)  # a Monday
GLYCO = Solution.GLYCOPYRRONIUM
TAP = Solution.TAP_WATER
CALENDAR = FrequencyCaps(week=WeekKind.CALENDAR)


def day(n: int) -> date:
    return MON + timedelta(days=n)


def codes(violations: tuple[Violation, ...]) -> list[str]:
    return [v.code for v in violations]


# --- Limits ------------------------------------------------------------------------------------
def test_sessions_per_day_cap_is_one_from_dermadry() -> None:
    cap = sessions_per_day_cap()
    assert (cap.code, cap.value, cap.unit) == ("max_sessions_per_day", 1.0, "sessions/day")
    assert cap.source is sources.DERMADRY


def test_sessions_per_week_cap_is_five_in_any_seven_days_by_default() -> None:
    cap = sessions_per_week_cap()
    assert (cap.value, cap.unit, cap.source) == (5.0, "sessions/7 days", sources.DERMADRY)
    assert "any 7 days" in cap.text


def test_sessions_per_week_cap_follows_the_configured_week() -> None:
    cap = sessions_per_week_cap(FrequencyCaps(max_sessions_per_week=4, week=WeekKind.CALENDAR))
    assert (cap.value, cap.unit) == (4.0, "sessions/calendar week")
    assert "Monday to Sunday" in cap.text


def test_glycopyrronium_limits_come_from_the_smpc() -> None:
    at_once = glycopyrronium_sites_at_once_cap()
    per_day = glycopyrronium_sites_per_day_cap()
    apart = glycopyrronium_min_days_apart()
    assert (at_once.value, per_day.value, apart.value) == (1.0, 2.0, 7.0)
    assert {at_once.source, per_day.source, apart.source} == {sources.ROBINUL_SMPC}
    assert "different site" in apart.text


def test_frequency_limits_add_the_glycopyrronium_rules_only_for_glycopyrronium() -> None:
    tap = {limit.code for limit in frequency_limits(TAP)}
    glyco = {limit.code for limit in frequency_limits(GLYCO)}
    assert tap == {"max_sessions_per_day", "max_sessions_per_week"}
    assert glyco == tap | {
        "glycopyrronium_one_site_at_a_time",
        "glycopyrronium_max_sites_per_day",
        "glycopyrronium_min_days_apart",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_sessions_per_week": 0},
        {"max_sessions_per_week": 8},
        {"glycopyrronium_max_sites_per_day": 0},
        {"glycopyrronium_min_days_apart": 0},
    ],
)
def test_frequency_caps_refuse_meaningless_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        FrequencyCaps(**kwargs)  # type: ignore[arg-type]


def test_session_date_refuses_a_datetime_and_zero_sites() -> None:
    with pytest.raises(TypeError):
        SessionDate(datetime(2027, 1, 4, 9, 0))
    with pytest.raises(ValueError, match="at least one site"):
        SessionDate(MON, GLYCO, sites=0)


# --- One a day -----------------------------------------------------------------------------
def test_two_sessions_on_one_day_are_named_with_the_day() -> None:
    (v,) = check_sessions_per_day([day(0), day(2), day(2)])
    assert v.code == "two_sessions_same_day"
    assert v.dates == (day(2), day(2))
    assert v.reason.source is sources.DERMADRY
    assert "Wed 6 Jan 2027" in v.reason.text


def test_one_session_a_day_breaks_nothing() -> None:
    assert check_sessions_per_day([day(k) for k in range(7)]) == ()


# --- Five a week ---------------------------------------------------------------------------
def test_five_sessions_in_seven_days_are_allowed() -> None:
    assert check_sessions_per_week([day(k) for k in (0, 1, 2, 3, 4, 7, 8, 9, 10, 11)]) == ()


def test_six_sessions_in_seven_days_break_the_week_cap() -> None:
    (v,) = check_sessions_per_week([day(k) for k in (0, 1, 2, 3, 4, 6)])
    assert v.code == "more_than_5_in_a_week"
    assert v.dates == tuple(day(k) for k in (0, 1, 2, 3, 4, 6))
    assert v.period == (day(0), day(6))


def test_ten_days_in_a_row_are_one_violation_not_five() -> None:
    (v,) = check_sessions_per_week([day(k) for k in range(10)])
    assert v.dates == tuple(day(k) for k in range(10))
    assert v.period == (day(0), day(9))


def test_separate_crowded_stretches_are_separate_violations() -> None:
    crowded = [day(k) for k in range(6)] + [day(k) for k in range(30, 36)]
    assert len(check_sessions_per_week(crowded)) == 2


def test_rolling_week_sees_a_crowd_that_straddles_two_calendar_weeks() -> None:
    thu_to_tue = [day(k) for k in range(3, 9)]  # Thu, Fri, Sat, Sun, Mon, Tue
    assert codes(check_sessions_per_week(thu_to_tue)) == ["more_than_5_in_a_week"]
    assert check_sessions_per_week(thu_to_tue, CALENDAR) == ()


def test_calendar_week_counts_monday_to_sunday() -> None:
    (v,) = check_sessions_per_week([day(k) for k in (0, 1, 2, 3, 4, 6)], CALENDAR)
    assert v.period == (day(0), day(6))
    assert v.dates == tuple(day(k) for k in (0, 1, 2, 3, 4, 6))


def test_the_code_names_the_configured_weekly_cap() -> None:
    caps = FrequencyCaps(max_sessions_per_week=3)
    assert codes(check_sessions_per_week([day(0), day(1), day(2), day(3)], caps)) == [
        "more_than_3_in_a_week"
    ]


# --- Glycopyrronium ------------------------------------------------------------------------
def test_glycopyrronium_six_days_later_is_a_repeat_within_seven_days() -> None:
    (v,) = check_glycopyrronium_interval([SessionDate(day(0), GLYCO), SessionDate(day(6), GLYCO)])
    assert v.code == "glycopyrronium_within_7_days"
    assert v.dates == (day(0), day(6))
    assert v.reason.source is sources.ROBINUL_SMPC


def test_glycopyrronium_seven_days_later_is_allowed() -> None:
    sessions = [SessionDate(day(0), GLYCO), SessionDate(day(7), GLYCO)]
    assert check_frequency(sessions) == ()


def test_a_stricter_reading_of_within_seven_days_is_one_setting_away() -> None:
    sessions = [SessionDate(day(0), GLYCO), SessionDate(day(7), GLYCO)]
    caps = FrequencyCaps(glycopyrronium_min_days_apart=8)
    assert codes(check_frequency(sessions, caps)) == ["glycopyrronium_within_8_days"]


def test_tap_water_between_glycopyrronium_treatments_is_not_a_repeat() -> None:
    sessions = [SessionDate(day(0), GLYCO), day(2), day(4), SessionDate(day(7), GLYCO)]
    assert check_frequency(sessions) == ()


def test_the_seven_days_count_whatever_the_site() -> None:
    # Palms on Monday, soles on Wednesday: the drug acts on the whole body, so it is a repeat.
    sessions = [SessionDate(day(0), GLYCO, sites=2), SessionDate(day(2), GLYCO, sites=1)]
    assert "glycopyrronium_within_7_days" in codes(check_frequency(sessions))


def test_glycopyrronium_on_two_sites_a_day_is_allowed_three_is_not() -> None:
    assert check_frequency([SessionDate(day(0), GLYCO, sites=2)]) == ()
    (v,) = check_frequency([SessionDate(day(0), GLYCO, sites=3)])
    assert v.code == "glycopyrronium_more_than_2_sites_a_day"
    assert v.dates == (day(0),)


def test_glycopyrronium_sites_add_up_over_the_sessions_of_a_day() -> None:
    found = codes(
        check_frequency([SessionDate(day(0), GLYCO, sites=2), SessionDate(day(0), GLYCO)])
    )
    assert sorted(found) == ["glycopyrronium_more_than_2_sites_a_day", "two_sessions_same_day"]


def test_tap_water_has_no_site_limit() -> None:
    assert check_frequency([SessionDate(day(0), TAP, sites=4)]) == ()


def test_sites_per_day_check_takes_a_mapping() -> None:
    assert codes(check_glycopyrronium_sites_per_day({day(0): 2, day(7): 3})) == [
        "glycopyrronium_more_than_2_sites_a_day"
    ]


# --- check_frequency -----------------------------------------------------------------------
def test_check_frequency_accepts_dates_in_any_order_and_sorts_its_answer() -> None:
    sessions = [day(20), day(3), day(3), day(0), day(1), day(2), day(4), day(5)]
    found = check_frequency(sessions)
    assert codes(found) == ["more_than_5_in_a_week", "two_sessions_same_day"]
    assert [v.first_day for v in found] == sorted(v.first_day for v in found)


def test_an_empty_history_breaks_nothing() -> None:
    assert check_frequency([]) == ()


# --- earliest_next_session -----------------------------------------------------------------
def test_next_session_is_the_next_day_when_nothing_else_binds() -> None:
    nxt = next_session([day(0)])
    assert nxt.on == day(1)
    assert nxt.binding == ()


def test_after_five_daily_sessions_the_next_waits_for_the_week_to_roll() -> None:
    nxt = next_session([day(k) for k in range(5)])
    assert nxt.on == day(7)  # days 3..7 hold the last four plus this one: five
    assert [limit.code for limit in nxt.binding] == ["max_sessions_per_week"]


def test_calendar_week_lets_the_next_session_come_on_monday() -> None:
    history = [day(k) for k in range(5)]  # Mon..Fri
    assert earliest_next_session(history, caps=CALENDAR) == day(7)
    history = [day(k) for k in range(2, 7)]  # Wed..Sun
    assert earliest_next_session(history, caps=CALENDAR) == day(7)
    assert earliest_next_session(history) == day(9)


def test_glycopyrronium_waits_seven_days_after_the_last_glycopyrronium() -> None:
    history = [SessionDate(day(0), GLYCO), day(3)]
    nxt = next_session(history, GLYCO)
    assert nxt.on == day(7)
    assert [limit.code for limit in nxt.binding] == ["glycopyrronium_min_days_apart"]
    assert earliest_next_session(history, TAP) == day(4)


def test_not_before_moves_the_answer_later_but_never_earlier() -> None:
    assert earliest_next_session([day(0)], not_before=day(10)) == day(10)
    assert earliest_next_session([day(5)], not_before=day(0)) == day(6)
    nxt = next_session([SessionDate(day(0), GLYCO)], GLYCO, not_before=day(20))
    assert (nxt.on, nxt.binding) == (day(20), ())


def test_empty_history_needs_a_not_before() -> None:
    assert earliest_next_session([], not_before=day(3)) == day(3)
    with pytest.raises(ValueError, match="nothing to count from"):
        earliest_next_session([])


def test_glycopyrronium_on_more_sites_than_a_day_allows_is_never_possible() -> None:
    with pytest.raises(ValueError, match="at most 2 sites"):
        earliest_next_session([day(0)], GLYCO, sites=3)
    assert earliest_next_session([day(0)], TAP, sites=3) == day(1)


def test_next_session_refuses_a_datetime_not_before() -> None:
    with pytest.raises(TypeError):
        earliest_next_session([day(0)], not_before=datetime(2027, 1, 9, 8, 0))


def test_day_text_and_monday_of() -> None:
    assert day_text(date(2027, 1, 4)) == "Mon 4 Jan 2027"
    assert day_text(date(2027, 12, 26)) == "Sun 26 Dec 2027"
    assert monday_of(date(2027, 1, 10)) == date(2027, 1, 4)
    assert monday_of(date(2027, 1, 4)) == date(2027, 1, 4)


# --- Properties ----------------------------------------------------------------------------
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
offsets = st.lists(st.integers(min_value=0, max_value=60), max_size=25)
caps_strategy = st.builds(
    FrequencyCaps,
    max_sessions_per_week=st.integers(min_value=1, max_value=7),
    week=st.sampled_from(WeekKind),
    glycopyrronium_max_sites_per_day=st.integers(min_value=1, max_value=3),
    glycopyrronium_min_days_apart=st.integers(min_value=1, max_value=10),
)


@st.composite
def session_lists(draw: st.DrawFn) -> list[SessionDate]:
    start = draw(starts)
    return [
        SessionDate(
            start + timedelta(days=k),
            draw(st.sampled_from(Solution)),
            draw(st.integers(min_value=1, max_value=3)),
        )
        for k in draw(offsets)
    ]


def _day_and_week_dates(violations: tuple[Violation, ...]) -> set[date]:
    return {
        d
        for v in violations
        if v.code == "two_sessions_same_day" or v.code.startswith("more_than_")
        for d in v.dates
    }


@settings(max_examples=150, deadline=None)
@given(session_lists(), st.data())
def test_adding_a_session_on_a_day_that_has_one_is_always_two_sessions_same_day(
    sessions: list[SessionDate], data: st.DataObject
) -> None:
    if not sessions:
        sessions = [SessionDate(MON)]
    taken = data.draw(st.sampled_from(sessions)).on
    found = check_frequency([*sessions, SessionDate(taken)])
    assert any(v.code == "two_sessions_same_day" and taken in v.dates for v in found)


@settings(max_examples=150, deadline=None)
@given(session_lists(), caps_strategy, st.data())
def test_removing_sessions_never_creates_a_day_or_week_violation(
    sessions: list[SessionDate], caps: FrequencyCaps, data: st.DataObject
) -> None:
    kept = data.draw(st.lists(st.sampled_from(sessions), unique_by=id)) if sessions else []
    before = _day_and_week_dates(check_frequency(sessions, caps))
    after = _day_and_week_dates(check_frequency(kept, caps))
    assert after <= before


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=6, max_size=6, unique=True), starts, offsets)
def test_any_six_sessions_within_seven_days_break_the_week_cap(
    six: list[int], start: date, others: list[int]
) -> None:
    crowd = {start + timedelta(days=k) for k in six}
    rest = [start + timedelta(days=k - 30) for k in others]
    found = check_frequency([*crowd, *rest])
    assert any(v.code == "more_than_5_in_a_week" and crowd <= set(v.dates) for v in found)


@settings(max_examples=150, deadline=None)
@given(starts, st.integers(1, 6), session_lists())
def test_glycopyrronium_within_seven_days_is_always_flagged(
    first: date, gap: int, others: list[SessionDate]
) -> None:
    second = first + timedelta(days=gap)
    found = check_frequency([SessionDate(first, GLYCO), SessionDate(second, GLYCO), *others])
    flagged = {d for v in found if v.code == "glycopyrronium_within_7_days" for d in v.dates}
    assert {first, second} <= flagged


@settings(max_examples=100, deadline=None)
@given(st.data(), session_lists())
def test_the_order_of_the_sessions_does_not_matter(
    data: st.DataObject, sessions: list[SessionDate]
) -> None:
    shuffled = data.draw(st.permutations(sessions))
    assert check_frequency(shuffled) == check_frequency(sessions)


@settings(max_examples=150, deadline=None)
@given(session_lists(), st.integers(1, 7))
def test_the_rolling_week_is_never_looser_than_the_calendar_week(
    sessions: list[SessionDate], n: int
) -> None:
    rolling = FrequencyCaps(max_sessions_per_week=n)
    calendar = FrequencyCaps(max_sessions_per_week=n, week=WeekKind.CALENDAR)
    if not check_sessions_per_week(sessions, rolling):
        assert not check_sessions_per_week(sessions, calendar)


@st.composite
def valid_histories(draw: st.DrawFn, caps: FrequencyCaps) -> list[SessionDate]:
    """A history that keeps every cap, grown one session at a time from the earliest date."""
    history: list[SessionDate] = []
    start = draw(starts)
    for _ in range(draw(st.integers(0, 15))):
        solution = draw(st.sampled_from(Solution))
        sites = draw(st.integers(1, caps.glycopyrronium_max_sites_per_day))
        earliest = earliest_next_session(
            history, solution, not_before=start, sites=sites, caps=caps
        )
        on = earliest + timedelta(days=draw(st.integers(0, 4)))
        history.append(SessionDate(on, solution, sites))
    return history


@settings(max_examples=150, deadline=None)
@given(st.data(), caps_strategy, st.sampled_from(Solution), starts)
def test_earliest_next_session_is_never_too_early_and_never_later_than_needed(
    data: st.DataObject, caps: FrequencyCaps, solution: Solution, not_before: date
) -> None:
    history = data.draw(valid_histories(caps))
    assert check_frequency(history, caps) == ()
    nxt = earliest_next_session(history, solution, not_before=not_before, caps=caps)
    # A session on that date keeps every cap ...
    assert check_frequency([*history, SessionDate(nxt, solution)], caps) == ()
    # ... it is after the history and not before not_before ...
    assert nxt >= not_before
    assert all(nxt > s.on for s in history)
    # ... and every earlier date that is still "next" would break a cap.
    lowest = max([not_before, *(s.on + timedelta(days=1) for s in history)])
    candidate = lowest
    while candidate < nxt:
        assert check_frequency([*history, SessionDate(candidate, solution)], caps) != ()
        candidate += timedelta(days=1)


@settings(max_examples=100, deadline=None)
@given(st.data(), caps_strategy)
def test_binding_caps_are_only_named_when_they_moved_the_date(
    data: st.DataObject, caps: FrequencyCaps
) -> None:
    history = data.draw(valid_histories(caps))
    if not history:
        return
    nxt = next_session(history, GLYCO, caps=caps)
    day_after = max(s.on for s in history) + timedelta(days=1)
    assert bool(nxt.binding) == (nxt.on > day_after)


def test_default_caps_instance_is_the_documented_one() -> None:
    assert FrequencyCaps(5, WeekKind.ROLLING, 2, 7) == FREQUENCY_CAPS
