"""Course rules: induction presets, validation of a series of dates, maintenance."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import sources
from ionto.therapy.course import (
    DEFAULT_INDUCTION,
    DEFAULT_MAINTENANCE,
    GLYCOPYRRONIUM_COURSE,
    INDUCTION_SCHEDULES,
    MAINTENANCE_BOUNDS,
    MAINTENANCE_PLANS,
    TRIAL_COURSE,
    CourseRules,
    InductionImpossibleError,
    InductionSchedule,
    MaintenanceBounds,
    MaintenancePlan,
    ReinductionSettings,
    adjust_for_dry_skin,
    induction_dates,
    induction_schedule,
    next_maintenance_date,
    reinduction_after_relapse,
    validate_course,
)
from ionto.therapy.frequency import (
    FrequencyCaps,
    SessionDate,
    Violation,
    WeekKind,
    check_frequency,
)
from ionto.therapy.vocabulary import Solution

MON = date(2027, 1, 4)  # a Monday
WEEKDAYS = frozenset(range(5))
GLYCO = Solution.GLYCOPYRRONIUM


def day(n: int) -> date:
    return MON + timedelta(days=n)


def days(*ns: int) -> list[date]:
    return [day(n) for n in ns]


def codes(violations: tuple[Violation, ...]) -> list[str]:
    return [v.code for v in violations]


TRIAL_DAYS = days(0, 2, 4, 7, 9, 11, 14, 17, 21, 24)


# --- CourseRules and the trial default ---------------------------------------------------------
def test_the_trial_course_is_the_uk_centres_service() -> None:
    assert TRIAL_COURSE.max_sessions == 10
    assert TRIAL_COURSE.window_days == 28
    assert TRIAL_COURSE.min_per_week == 2
    assert TRIAL_COURSE.caps.max_sessions_per_week == 5
    assert TRIAL_COURSE.source is sources.TREATMENT_CENTRE
    assert {limit.code for limit in TRIAL_COURSE.limits()} == {
        "max_course_sessions",
        "course_window_days",
        "min_sessions_per_week",
    }


@pytest.mark.parametrize(
    "kwargs",
    [{"max_sessions": 0}, {"window_days": 0}, {"min_per_week": 0}, {"min_per_week": 6}],
)
def test_course_rules_refuse_meaningless_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        CourseRules(name="x", source=sources.DERIVED, **kwargs)  # type: ignore[arg-type]


def test_rules_switched_off_are_not_limits() -> None:
    rules = CourseRules("open", sources.DERIVED, None, None, None)
    assert rules.limits() == ()


# --- validate_course: one example per code -----------------------------------------------------
def test_an_empty_series_is_valid() -> None:
    assert validate_course([]) == ()


def test_the_trial_pattern_breaks_nothing() -> None:
    assert validate_course(TRIAL_DAYS, funded_on=day(0)) == ()


def test_an_eleventh_session_is_too_many() -> None:
    (v,) = validate_course([*TRIAL_DAYS, day(26)])
    assert v.code == "too_many_sessions"
    assert v.dates == (day(26),)
    assert v.reason.source is sources.TREATMENT_CENTRE


def test_the_window_is_the_28_days_that_start_with_the_first_session() -> None:
    assert validate_course(days(0, 3, 7, 10, 14, 17, 21, 24, 27)) == ()
    (v,) = validate_course(days(0, 3, 7, 10, 14, 17, 21, 24, 28))
    assert v.code == "outside_course_window"
    assert v.dates == (day(28),)
    assert v.period == (day(0), day(27))


def test_a_gap_that_straddles_two_blocks_is_fewer_than_2_in_a_week() -> None:
    # Counted in blocks from the first session this would pass (2 + 2); rolling it does not.
    (v,) = validate_course(days(0, 1, 12, 13))
    assert v.code == "fewer_than_2_in_a_week"
    assert v.period == (day(1), day(12))
    assert v.dates == (day(1), day(12))


def test_the_start_and_end_of_a_course_are_not_short_of_sessions() -> None:
    assert validate_course(days(0)) == ()
    assert validate_course(days(0, 6)) == ()
    # Once a week: days 1 to 7 lie within the course and hold one session.
    assert codes(validate_course(days(0, 7))) == ["fewer_than_2_in_a_week"]


def test_twice_a_week_monday_thursday_keeps_the_minimum() -> None:
    assert validate_course(days(0, 3, 7, 10, 14, 17, 21, 24)) == ()


def test_calendar_weeks_check_only_whole_weeks_inside_the_course() -> None:
    rules = CourseRules("calendar", sources.DERIVED, caps=FrequencyCaps(week=WeekKind.CALENDAR))
    # Fri, Mon (week 2: only one), Mon, Thu: the whole week 2 holds one session.
    (v,) = validate_course(days(4, 7, 14, 17), rules)
    assert v.code == "fewer_than_2_in_a_week"
    assert v.period == (day(7), day(13))


def test_a_session_before_funding_is_named() -> None:
    (v,) = validate_course(TRIAL_DAYS, funded_on=day(1))
    assert v.code == "before_funding"
    assert v.dates == (day(0),)
    assert v.reason.source is sources.TREATMENT_CENTRE


def test_without_a_funding_date_the_funding_rule_is_not_checked() -> None:
    assert validate_course(TRIAL_DAYS) == ()


def test_two_sessions_on_one_day_in_a_course() -> None:
    (v,) = validate_course([*days(0, 2, 4, 7), day(7)])
    assert v.code == "two_sessions_same_day"
    assert v.dates == (day(7), day(7))


def test_six_sessions_in_a_week_in_a_course() -> None:
    (v,) = validate_course(days(0, 1, 2, 3, 4, 5))
    assert v.code == "more_than_5_in_a_week"


def test_glycopyrronium_twice_a_week_is_flagged() -> None:
    found = validate_course(days(0, 3, 7, 10), solution=GLYCO)
    assert codes(found).count("glycopyrronium_within_7_days") == 3
    assert all(v.reason.source is sources.ROBINUL_SMPC for v in found)


def test_a_weekly_glycopyrronium_course_under_its_own_rules_is_valid() -> None:
    weekly = days(0, 7, 14, 21)
    assert validate_course(weekly, GLYCOPYRRONIUM_COURSE, solution=GLYCO) == ()
    # Under the tap-water trial rules it honestly cannot keep "at least 2 a week".
    assert set(codes(validate_course(weekly, solution=GLYCO))) == {"fewer_than_2_in_a_week"}


def test_glycopyrronium_sites_per_day() -> None:
    weekly = days(0, 7, 14)
    assert validate_course(weekly, GLYCOPYRRONIUM_COURSE, solution=GLYCO, sites_per_day={}) == ()
    (v,) = validate_course(weekly, GLYCOPYRRONIUM_COURSE, solution=GLYCO, sites_per_day={day(7): 3})
    assert v.code == "glycopyrronium_more_than_2_sites_a_day"
    assert v.dates == (day(7),)


def test_sites_per_day_must_name_session_days_and_is_ignored_for_tap_water() -> None:
    with pytest.raises(ValueError, match="without a session"):
        validate_course(days(0, 7), solution=GLYCO, sites_per_day={day(1): 1})
    with pytest.raises(ValueError, match="at least one site"):
        validate_course([day(0), day(0)], solution=GLYCO, sites_per_day={day(0): 1})
    assert validate_course(TRIAL_DAYS, sites_per_day={day(0): 5}) == ()


def test_validate_course_refuses_datetimes() -> None:
    with pytest.raises(TypeError):
        validate_course([datetime(2027, 1, 4, 9, 0)])
    with pytest.raises(TypeError):
        validate_course(TRIAL_DAYS, funded_on=datetime(2027, 1, 4, 9, 0))


def test_violations_are_sorted_earliest_first() -> None:
    found = validate_course([*days(0, 0, 1, 2, 3, 4, 5, 30)], funded_on=day(1))
    assert [v.first_day for v in found] == sorted(v.first_day for v in found)
    assert set(codes(found)) == {
        "before_funding",
        "two_sessions_same_day",
        "more_than_5_in_a_week",
        "fewer_than_2_in_a_week",
        "outside_course_window",
    }


# --- Induction presets -------------------------------------------------------------------------
def test_the_registry_holds_the_six_presets_by_their_names() -> None:
    assert set(INDUCTION_SCHEDULES) == {
        "uk_7_sessions",
        "mon_wed_fri_4_weeks",
        "three_a_week_3_weeks",
        "kent_medway_7",
        "five_a_week",
        "trial_10_in_4_weeks",
    }
    assert DEFAULT_INDUCTION == "trial_10_in_4_weeks"
    for name, schedule in INDUCTION_SCHEDULES.items():
        assert schedule.name == name
        assert schedule.source.citation
        assert schedule.rules.max_sessions == schedule.sessions


def test_each_preset_names_its_published_source() -> None:
    by_name = INDUCTION_SCHEDULES
    assert by_name["uk_7_sessions"].source is sources.HYPERHIDROSIS_UK
    assert by_name["mon_wed_fri_4_weeks"].source is sources.SIAH_HAMPTON_2013
    assert "Rotherham" in by_name["three_a_week_3_weeks"].source.citation
    assert "Kent & Medway" in by_name["kent_medway_7"].source.citation
    assert "Swiss and German" in by_name["five_a_week"].source.citation
    assert by_name["trial_10_in_4_weeks"].rules is TRIAL_COURSE


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: five_a_week, kent_medway_7"):
        induction_dates("weekly_forever", MON)
    with pytest.raises(ValueError, match="uk_7_sessions"):
        induction_schedule("nope")


def test_uk_7_sessions_fall_on_days_1_2_4_7_10_15_22() -> None:
    assert induction_dates("uk_7_sessions", MON) == tuple(days(0, 1, 3, 6, 9, 14, 21))


def test_uk_7_sessions_honestly_break_two_a_week_from_day_10() -> None:
    uk = induction_dates("uk_7_sessions", MON)
    (v,) = validate_course(uk, TRIAL_COURSE, funded_on=MON)
    assert v.code == "fewer_than_2_in_a_week"
    assert v.dates == tuple(days(9, 14, 21))  # protocol days 10, 15, 22
    assert validate_course(uk, INDUCTION_SCHEDULES["uk_7_sessions"].rules) == ()


def test_mon_wed_fri_falls_on_mondays_wednesdays_and_fridays() -> None:
    dates = induction_dates("mon_wed_fri_4_weeks", day(1))  # start on a Tuesday
    assert len(dates) == 12
    assert {d.weekday() for d in dates} == {0, 2, 4}
    assert dates[0] == day(2)


def test_five_a_week_is_monday_to_friday() -> None:
    dates = induction_dates("five_a_week", day(5))  # a Saturday: starts Monday
    assert dates == tuple(days(7, 8, 9, 10, 11, 14, 15, 16, 17, 18))


def test_the_trial_preset_is_three_a_week_then_two_a_week() -> None:
    assert induction_dates("trial_10_in_4_weeks", MON) == tuple(TRIAL_DAYS)


@pytest.mark.parametrize("name", sorted(INDUCTION_SCHEDULES))
@pytest.mark.parametrize("weekdays", [None, WEEKDAYS])
def test_every_preset_keeps_its_own_rules_from_any_weekday(
    name: str, weekdays: frozenset[int] | None
) -> None:
    schedule = INDUCTION_SCHEDULES[name]
    for offset in range(7):
        start = day(offset)
        dates = induction_dates(name, start, weekdays=weekdays)
        assert len(dates) == schedule.sessions
        assert validate_course(dates, schedule.rules, funded_on=start) == ()
        if weekdays is not None:
            assert all(d.weekday() < 5 for d in dates)


@pytest.mark.parametrize(
    "name",
    ["mon_wed_fri_4_weeks", "three_a_week_3_weeks", "kent_medway_7", "trial_10_in_4_weeks"],
)
def test_hospital_presets_also_keep_the_trial_pace(name: str) -> None:
    dates = induction_dates(name, MON, weekdays=WEEKDAYS)
    found = validate_course(dates, TRIAL_COURSE, funded_on=MON)
    # Only the session count may differ (Newcastle gives 12).
    assert set(codes(found)) <= {"too_many_sessions"}


def test_a_closed_day_moves_that_session_to_the_next_open_day() -> None:
    dates = induction_dates("trial_10_in_4_weeks", MON, closed=frozenset({day(2)}))
    assert dates[:3] == (day(0), day(3), day(4))
    assert dates[3:] == tuple(TRIAL_DAYS[3:])


def test_a_closed_first_day_moves_the_whole_preset() -> None:
    dates = induction_dates("uk_7_sessions", MON, closed=frozenset({MON}))
    assert dates == tuple(days(1, 2, 4, 7, 10, 15, 22))


def test_a_move_never_puts_two_sessions_on_one_day() -> None:
    # Protocol days 2 and 3 closed: its 2nd session moves to day 4, pushing the 3rd to day 5.
    dates = induction_dates("uk_7_sessions", MON, closed=frozenset({day(1), day(2)}))
    assert dates[:3] == (day(0), day(3), day(4))
    assert len(set(dates)) == len(dates)


def test_a_bank_holiday_in_five_a_week_on_weekdays_is_impossible_and_says_why() -> None:
    with pytest.raises(InductionImpossibleError, match="five_a_week") as caught:
        induction_dates("five_a_week", MON, closed=frozenset({day(2)}), weekdays=WEEKDAYS)
    assert "fewer_than_5_in_a_week" in codes(caught.value.violations)
    assert caught.value.later_start == day(3)  # Thursday: the closed Wednesday is behind it
    assert "Starting on Thu 7 Jan 2027 would keep them" in str(caught.value)
    # With Saturdays open the week can still hold five sessions.
    dates = induction_dates("five_a_week", MON, closed=frozenset({day(2)}))
    assert day(2) not in dates


def test_a_long_closure_breaks_the_trial_window_and_says_so() -> None:
    christmas = frozenset(day(k) for k in range(7, 17))
    with pytest.raises(InductionImpossibleError) as caught:
        induction_dates("trial_10_in_4_weeks", MON, closed=christmas)
    assert "fewer_than_2_in_a_week" in codes(caught.value.violations)
    later = caught.value.later_start
    assert later is not None
    assert later > day(2)
    assert induction_dates("trial_10_in_4_weeks", later, closed=christmas)


def test_an_impossible_pace_has_no_later_start() -> None:
    # Tuesdays only cannot give three sessions a week, whenever the course starts.
    with pytest.raises(InductionImpossibleError) as caught:
        induction_dates("mon_wed_fri_4_weeks", MON, weekdays=frozenset({1}))
    assert caught.value.later_start is None


def test_weekdays_must_name_real_days() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        induction_dates("uk_7_sessions", MON, weekdays=frozenset())
    with pytest.raises(ValueError, match="weekdays"):
        induction_dates("uk_7_sessions", MON, weekdays=frozenset({7}))


def test_an_induction_schedule_must_be_well_formed() -> None:
    with pytest.raises(ValueError, match="either"):
        InductionSchedule("x", "x", 2, sources.DERIVED, TRIAL_COURSE)
    with pytest.raises(ValueError, match="increase"):
        InductionSchedule("x", "x", 2, sources.DERIVED, TRIAL_COURSE, day_offsets=(0, 0))
    with pytest.raises(ValueError, match="first being 0"):
        InductionSchedule("x", "x", 2, sources.DERIVED, TRIAL_COURSE, day_offsets=(1, 2))
    with pytest.raises(ValueError, match="Monday"):
        InductionSchedule("x", "x", 2, sources.DERIVED, TRIAL_COURSE, on_weekdays=frozenset({9}))


# --- Maintenance -------------------------------------------------------------------------------
def test_maintenance_presets_lie_within_twice_a_week_and_about_monthly() -> None:
    assert (MAINTENANCE_BOUNDS.min_interval_days, MAINTENANCE_BOUNDS.max_interval_days) == (3, 31)
    assert MAINTENANCE_BOUNDS.source is sources.HYPERHIDROSIS_UK
    for plan in MAINTENANCE_PLANS.values():
        assert MAINTENANCE_BOUNDS.clamp(plan.interval_days) == plan.interval_days
    assert DEFAULT_MAINTENANCE.interval_days == 7
    assert DEFAULT_MAINTENANCE.source is sources.TREATMENT_CENTRE


def test_bounds_clamp_and_refuse_nonsense() -> None:
    assert MAINTENANCE_BOUNDS.clamp(1) == 3
    assert MAINTENANCE_BOUNDS.clamp(90) == 31
    with pytest.raises(ValueError, match="min_interval_days"):
        MaintenanceBounds(min_interval_days=10, max_interval_days=5)
    with pytest.raises(ValueError, match="at least 1"):
        MaintenancePlan("never", 0, sources.DERIVED)


def test_dry_skin_steps_to_the_next_longer_published_interval() -> None:
    ladder = [MAINTENANCE_PLANS["twice_a_week"]]
    while True:
        adjusted = adjust_for_dry_skin(ladder[-1])
        if adjusted.reason.code == "skin_dry_longest_interval":
            assert adjusted.plan == ladder[-1]
            break
        assert adjusted.reason.code == "skin_dry_treat_less_often"
        assert adjusted.reason.source is sources.HYPERHIDROSIS_UK
        ladder.append(adjusted.plan)
    assert [p.interval_days for p in ladder] == [4, 7, 14, 28, 31]


def test_dry_skin_respects_narrower_bounds() -> None:
    tight = MaintenanceBounds(min_interval_days=3, max_interval_days=10)
    assert adjust_for_dry_skin(DEFAULT_MAINTENANCE, tight).plan.interval_days == 10


def test_next_maintenance_date_follows_the_plan_within_the_caps() -> None:
    assert next_maintenance_date([day(0)]) == day(7)
    twice = MAINTENANCE_PLANS["twice_a_week"]
    glyco_history = [SessionDate(day(0), GLYCO)]
    assert next_maintenance_date(glyco_history, twice, solution=GLYCO) == day(7)
    with pytest.raises(ValueError, match="empty"):
        next_maintenance_date([])


def test_reinduction_after_relapse_is_four_sessions_every_other_day() -> None:
    plan = reinduction_after_relapse(MON)
    assert plan.dates == tuple(days(0, 2, 4, 6))
    assert plan.reason.code == "reinduction_after_relapse"
    assert "Hyperhidrosis UK" in plan.reason.source.citation


def test_reinduction_skips_closed_days_and_keeps_glycopyrronium_apart() -> None:
    plan = reinduction_after_relapse(MON, closed=frozenset({day(2)}), weekdays=WEEKDAYS)
    assert plan.dates == tuple(days(0, 3, 7, 9))
    glyco = reinduction_after_relapse(MON, solution=GLYCO, settings=ReinductionSettings(sessions=3))
    assert glyco.dates == tuple(days(0, 7, 14))


def test_reinduction_is_three_or_four_sessions() -> None:
    with pytest.raises(ValueError, match="3–4"):
        ReinductionSettings(sessions=5)
    with pytest.raises(ValueError, match="3–4"):
        ReinductionSettings(sessions=2)


# --- Properties --------------------------------------------------------------------------------
starts = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
preset_names = st.sampled_from(sorted(INDUCTION_SCHEDULES))
weekday_sets = st.none() | st.frozensets(st.integers(0, 6), min_size=1)
day_lists = st.lists(st.integers(0, 40), max_size=14)


@settings(max_examples=300, deadline=None)
@given(preset_names, starts, st.frozensets(st.integers(0, 45), max_size=12), weekday_sets)
def test_induction_dates_keep_their_own_rules_or_say_why_not(
    name: str, start: date, closed_offsets: frozenset[int], weekdays: frozenset[int] | None
) -> None:
    schedule = INDUCTION_SCHEDULES[name]
    closed = frozenset(start + timedelta(days=k) for k in closed_offsets)
    try:
        dates = induction_dates(name, start, closed=closed, weekdays=weekdays)
    except InductionImpossibleError as error:
        impossible = error
    else:
        impossible = None
    if impossible is not None:
        assert impossible.violations
        assert str(impossible).startswith(name)
        if impossible.later_start is not None:
            assert impossible.later_start > start
            later = induction_dates(name, impossible.later_start, closed=closed, weekdays=weekdays)
            assert validate_course(later, schedule.rules, funded_on=impossible.later_start) == ()
        return
    assert len(dates) == schedule.sessions
    assert list(dates) == sorted(set(dates))
    assert dates[0] >= start
    assert not set(dates) & closed
    assert weekdays is None or all(d.weekday() in weekdays for d in dates)
    assert validate_course(dates, schedule.rules, funded_on=start) == ()


@settings(max_examples=200, deadline=None)
@given(preset_names, starts, st.sampled_from([None, WEEKDAYS]))
def test_without_closed_days_every_preset_can_always_be_laid_out(
    name: str, start: date, weekdays: frozenset[int] | None
) -> None:
    dates = induction_dates(name, start, weekdays=weekdays)
    assert validate_course(dates, INDUCTION_SCHEDULES[name].rules, funded_on=start) == ()


@settings(max_examples=200, deadline=None)
@given(day_lists, st.data())
def test_adding_a_session_on_a_booked_day_is_always_two_sessions_same_day(
    offsets: list[int], data: st.DataObject
) -> None:
    dates = [day(k) for k in offsets] or [MON]
    taken = data.draw(st.sampled_from(dates))
    found = validate_course([*dates, taken])
    assert any(v.code == "two_sessions_same_day" and taken in v.dates for v in found)


def _day_or_week(violations: tuple[Violation, ...]) -> set[date]:
    return {
        d
        for v in violations
        if v.code in {"two_sessions_same_day", "more_than_5_in_a_week"}
        for d in v.dates
    }


@settings(max_examples=200, deadline=None)
@given(day_lists, st.data())
def test_removing_sessions_never_creates_a_day_or_week_violation(
    offsets: list[int], data: st.DataObject
) -> None:
    dates = [day(k) for k in offsets]
    kept = [d for d in dates if data.draw(st.booleans())]
    assert _day_or_week(validate_course(kept)) <= _day_or_week(validate_course(dates))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=6, max_size=6, unique=True), day_lists)
def test_six_sessions_within_seven_days_always_break_the_course(
    six: list[int], others: list[int]
) -> None:
    crowd = {day(k + 20) for k in six}
    found = validate_course([*crowd, *(day(k) for k in others)])
    assert any(v.code == "more_than_5_in_a_week" and crowd <= set(v.dates) for v in found)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.integers(1, 6), day_lists)
def test_glycopyrronium_within_seven_days_is_always_flagged(
    first: int, gap: int, others: list[int]
) -> None:
    pair = {day(first), day(first + gap)}
    found = validate_course(
        [*pair, *(day(k) for k in others)], GLYCOPYRRONIUM_COURSE, solution=GLYCO
    )
    flagged = {d for v in found if v.code == "glycopyrronium_within_7_days" for d in v.dates}
    assert pair <= flagged


@settings(max_examples=200, deadline=None)
@given(preset_names, starts, st.data())
def test_every_first_part_of_a_valid_course_is_valid(
    name: str, start: date, data: st.DataObject
) -> None:
    schedule = INDUCTION_SCHEDULES[name]
    dates = induction_dates(name, start)
    cut = data.draw(st.integers(0, len(dates)))
    assert validate_course(dates[:cut], schedule.rules, funded_on=start) == ()


@settings(max_examples=150, deadline=None)
@given(day_lists, st.data())
def test_the_order_of_the_dates_does_not_matter(offsets: list[int], data: st.DataObject) -> None:
    dates = [day(k) for k in offsets]
    shuffled = data.draw(st.permutations(dates))
    assert validate_course(shuffled, funded_on=day(3)) == validate_course(dates, funded_on=day(3))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60))
def test_dry_skin_never_means_treating_more_often_nor_beyond_the_bounds(
    interval: int, max_interval: int
) -> None:
    bounds = MaintenanceBounds(min_interval_days=1, max_interval_days=max_interval)
    plan = MaintenancePlan("any", interval, sources.DERIVED)
    adjusted = adjust_for_dry_skin(plan, bounds).plan
    assert adjusted.interval_days >= interval
    if interval < max_interval:
        assert interval < adjusted.interval_days <= max_interval


@settings(max_examples=150, deadline=None)
@given(
    starts,
    st.sampled_from(Solution),
    st.frozensets(st.integers(0, 30), max_size=8),
    weekday_sets,
    st.lists(st.integers(-20, -1), max_size=4, unique=True),
)
def test_reinduction_keeps_every_frequency_cap_with_the_history(
    start: date,
    solution: Solution,
    closed_offsets: frozenset[int],
    weekdays: frozenset[int] | None,
    history_offsets: list[int],
) -> None:
    history = [SessionDate(start + timedelta(days=k * 7), solution) for k in history_offsets]
    closed = frozenset(start + timedelta(days=k) for k in closed_offsets)
    plan = reinduction_after_relapse(
        start, history=history, solution=solution, closed=closed, weekdays=weekdays
    )
    assert len(plan.dates) == 4
    assert plan.dates[0] >= start
    assert not set(plan.dates) & closed
    assert weekdays is None or all(d.weekday() in weekdays for d in plan.dates)
    assert check_frequency([*history, *(SessionDate(d, solution) for d in plan.dates)]) == ()
