"""The trial verdict: works (dryness and tolerance), does not work (why), or continue."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ionto.therapy import sources, verdict
from ionto.therapy.outcomes import DLQI_COPYRIGHT
from ionto.therapy.verdict import (
    DEFAULT_VERDICT,
    Assessment,
    CourseRecord,
    CourseSession,
    SideEffect,
    ToleranceStatus,
    VerdictSettings,
    judge_course,
    reason_codes,
    session_tolerated,
    therapeutic_current,
)
from ionto.therapy.vocabulary import (
    THERAPEUTIC_WAVEFORMS,
    AgeGroup,
    Condition,
    NextStep,
    Region,
    Solution,
    VerdictKind,
    Waveform,
)

BASELINE = Assessment(hdss=4, gravimetry_mg_min=80.0, dlqi=15)
FOLLOWUP = Assessment(hdss=2, gravimetry_mg_min=30.0, dlqi=4)
RANK = {VerdictKind.DOES_NOT_WORK: 0, VerdictKind.CONTINUE: 1, VerdictKind.WORKS: 2}


def session(
    day: int = 0,
    current_mA: float = 12.0,
    *,
    minutes: float = 20,
    waveform: Waveform | str = Waveform.DC,
    completed: bool = True,
    max_sensation: float | None = 5,
    pain_reports: int = 0,
    side_effects: tuple[Any, ...] = (),
) -> CourseSession:
    return CourseSession(
        day=day,
        current_mA=current_mA,
        minutes=minutes,
        waveform=waveform,  # type: ignore[arg-type]
        completed=completed,
        max_sensation=max_sensation,
        pain_reports=pain_reports,
        side_effects=side_effects,
    )


def course(
    sessions: tuple[CourseSession, ...] = (session(),),
    *,
    baseline: Assessment = BASELINE,
    followup: Assessment = FOLLOWUP,
    age_years: float = 34,
    region: Region = Region.PALMS,
    solution: Solution = Solution.TAP_WATER,
    conditions: frozenset[Condition] = frozenset(),
    funded: frozenset[Solution] = frozenset({Solution.TAP_WATER, Solution.GLYCOPYRRONIUM}),
) -> CourseRecord:
    return CourseRecord(
        age_years=age_years,
        region=region,
        solution=solution,
        baseline=baseline,
        sessions=sessions,
        followup=followup,
        conditions=conditions,
        funded=funded,
    )


def full_trial(n: int = 10, current_mA: float = 12.0, **kwargs: Any) -> tuple[CourseSession, ...]:
    return tuple(session(day=2 * i, current_mA=current_mA, **kwargs) for i in range(n))


NO_CHANGE = Assessment(hdss=4, gravimetry_mg_min=80.0)


# --- The contract example --------------------------------------------------------------------


def test_the_contract_example_works_with_a_weekly_home_plan() -> None:
    record = CourseRecord(
        age_years=34,
        region="palms",  # type: ignore[arg-type]
        solution="tap_water",  # type: ignore[arg-type]
        baseline=Assessment(hdss=4, gravimetry_mg_min=80.0, dlqi=15),
        sessions=(
            CourseSession(
                day=0,
                current_mA=12.0,
                minutes=20,
                waveform="dc",  # type: ignore[arg-type]
                completed=True,
                max_sensation=5,
                pain_reports=0,
                side_effects=(),
            ),
        ),
        followup=Assessment(hdss=2, gravimetry_mg_min=30.0, dlqi=4),
        conditions=frozenset(),
        funded=frozenset({"tap_water", "glycopyrronium"}),  # type: ignore[arg-type]
    )
    result = judge_course(record)
    out = result.as_contract()
    assert out["verdict"] == "works"
    assert out["next"] == "home_maintenance"
    assert out["home_plan"] == {
        "interval_days": 7,
        "current_mA": 12.0,
        "minutes": 20,
        "waveform": "dc",
    }
    assert result.reasons[0].code == "hdss_improved_2"
    assert "tolerated_therapeutic_current" in reason_codes(result.reasons)
    reasons = out["reasons"]
    assert isinstance(reasons, list)
    assert all(set(r) == {"code", "text", "source"} for r in reasons)


def test_dlqi_reasons_in_a_verdict_carry_the_copyright() -> None:
    result = judge_course(course())
    dlqi = [r for r in result.reasons if r.code.startswith("dlqi")]
    assert dlqi
    assert all(DLQI_COPYRIGHT in r.text for r in dlqi)


def test_a_childs_dlqi_is_flagged_not_banded() -> None:
    result = judge_course(course(age_years=12, sessions=(session(current_mA=6.0),)))
    assert "dlqi_not_valid_under_16" in reason_codes(result.reasons)
    assert "dlqi_improved" not in reason_codes(result.reasons)


# --- Continue --------------------------------------------------------------------------------


def test_too_early_before_the_trial_length() -> None:
    result = judge_course(course(full_trial(3), followup=NO_CHANGE))
    assert result.verdict is VerdictKind.CONTINUE
    assert result.next is NextStep.CONTINUE_COURSE
    assert result.home_plan is None
    codes = reason_codes(result.reasons)
    assert codes[:2] == ("too_early", "usually_no_change_before_4th_session")
    assert "hdss_unchanged" in codes


def test_improving_but_not_yet_to_2_continues_before_the_trial_length() -> None:
    result = judge_course(course(full_trial(6), followup=Assessment(hdss=3)))
    assert result.verdict is VerdictKind.CONTINUE
    assert {"too_early", "hdss_improved_1", "hdss_still_above_2"} <= set(
        reason_codes(result.reasons)
    )


def test_response_without_a_therapeutic_current_continues() -> None:
    # Adults' palms: 10 mA or more counts as a full treatment current.
    result = judge_course(course((session(current_mA=8.0),)))
    assert result.verdict is VerdictKind.CONTINUE
    assert result.next is NextStep.CONTINUE_COURSE
    assert "therapeutic_current_not_reached" in reason_codes(result.reasons)


def test_a_full_trial_below_a_therapeutic_current_is_not_a_fair_trial() -> None:
    result = judge_course(course(full_trial(10, current_mA=6.0), followup=NO_CHANGE))
    assert result.verdict is VerdictKind.CONTINUE
    assert "therapeutic_current_not_reached" in reason_codes(result.reasons)
    assert "too_early" not in reason_codes(result.reasons)


def test_pulsed_dc_trial_needs_12_sessions() -> None:
    early = judge_course(course(full_trial(10, waveform=Waveform.PULSED_DC), followup=NO_CHANGE))
    assert early.verdict is VerdictKind.CONTINUE
    assert early.reasons[0].source == sources.REINAUER_1995
    done = judge_course(course(full_trial(12, waveform=Waveform.PULSED_DC), followup=NO_CHANGE))
    assert done.verdict is VerdictKind.DOES_NOT_WORK


def test_missing_followup_after_a_full_trial_asks_for_it() -> None:
    result = judge_course(course(full_trial(10), followup=Assessment()))
    assert result.verdict is VerdictKind.CONTINUE
    codes = reason_codes(result.reasons)
    assert "followup_missing" in codes
    assert "too_early" not in codes


# --- Works -----------------------------------------------------------------------------------


def test_gravimetry_decides_only_where_hdss_is_missing_and_says_so() -> None:
    result = judge_course(
        course(
            baseline=Assessment(gravimetry_mg_min=80.0),
            followup=Assessment(hdss=2, gravimetry_mg_min=30.0),
        )
    )
    assert result.verdict is VerdictKind.WORKS
    assert reason_codes(result.reasons)[:2] == (
        "gravimetry_reduced_50",
        "hdss_missing_judged_on_gravimetry",
    )


def test_gravimetry_does_not_override_an_unchanged_hdss() -> None:
    result = judge_course(
        course(
            full_trial(10),
            followup=Assessment(hdss=4, gravimetry_mg_min=10.0),
        )
    )
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert "gravimetry_reduced_75" in reason_codes(result.reasons)


def test_a_child_works_at_a_childs_current() -> None:
    result = judge_course(course((session(current_mA=6.0, waveform="pulsed_dc"),), age_years=10))
    assert result.verdict is VerdictKind.WORKS
    assert result.home_plan is not None
    assert result.home_plan.waveform is Waveform.PULSED_DC


def test_home_plan_uses_the_median_tolerated_current_and_waveform() -> None:
    sessions = (
        session(0, 10.0),
        session(2, 12.0),
        session(4, 14.0),
        session(6, 18.0, pain_reports=1),  # not tolerated: not in the plan
    )
    result = judge_course(course(sessions))
    assert result.home_plan is not None
    assert result.home_plan.current_mA == 12.0
    assert result.home_plan.minutes == 20
    assert result.home_plan.solution is Solution.TAP_WATER


def test_dry_or_cracked_skin_means_treating_less_often() -> None:
    result = judge_course(course((session(side_effects=("cracking",)),)))
    assert result.home_plan is not None
    assert result.home_plan.interval_days == 14


def test_glycopyrronium_at_home_never_within_7_days() -> None:
    frequent = VerdictSettings(home_interval_days=3)
    glyco = course((session(current_mA=8.0, minutes=12),), solution=Solution.GLYCOPYRRONIUM)
    result = judge_course(glyco, frequent)
    assert result.home_plan is not None
    assert result.home_plan.interval_days == 7
    assert result.home_plan.min_interval_days == 7
    assert "glycopyrronium_min_days_apart" in reason_codes(result.home_plan.reasons)
    tap = judge_course(course(), frequent)
    assert tap.home_plan is not None
    assert tap.home_plan.interval_days == 3


# --- Does not work ---------------------------------------------------------------------------


def test_full_trial_without_response_escalates_to_funded_glycopyrronium() -> None:
    result = judge_course(course(full_trial(10), followup=NO_CHANGE))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.ESCALATE_GLYCOPYRRONIUM
    assert reason_codes(result.reasons)[0] == "no_response_after_full_trial"


def test_hdss_down_by_one_but_not_to_2_after_a_full_trial_does_not_work() -> None:
    result = judge_course(course(full_trial(10), followup=Assessment(hdss=3)))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert "hdss_still_above_2" in reason_codes(result.reasons)


def test_glycopyrronium_not_funded_refers_to_a_dermatologist() -> None:
    result = judge_course(
        course(full_trial(10), followup=NO_CHANGE, funded=frozenset({Solution.TAP_WATER}))
    )
    assert result.next is NextStep.REFER_DERMATOLOGIST
    assert {"glycopyrronium_not_funded", "refer_dermatologist"} <= set(reason_codes(result.reasons))


@pytest.mark.parametrize(
    "condition", [Condition.GLAUCOMA, Condition.PREGNANCY, Condition.GLYCOPYRRONIUM_ALLERGY]
)
def test_glycopyrronium_contraindicated_refers_with_screenings_reasons(
    condition: Condition,
) -> None:
    result = judge_course(
        course(full_trial(10), followup=NO_CHANGE, conditions=frozenset({condition}))
    )
    assert result.next is NextStep.REFER_DERMATOLOGIST
    codes = reason_codes(result.reasons)
    assert "glycopyrronium_contraindicated" in codes
    # The screening's own reason follows (its code is the screening's, not ours).
    after = codes[codes.index("glycopyrronium_contraindicated") + 1]
    assert after != "refer_dermatologist"


def test_glycopyrronium_failure_refers_to_a_dermatologist() -> None:
    result = judge_course(
        course(
            full_trial(4, current_mA=8.0, minutes=12),
            followup=NO_CHANGE,
            solution=Solution.GLYCOPYRRONIUM,
        )
    )
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.REFER_DERMATOLOGIST
    assert "glycopyrronium_failed" in reason_codes(result.reasons)


def test_no_change_after_one_month_does_not_work_even_with_few_sessions() -> None:
    weekly = tuple(session(day=7 * i) for i in range(5))  # days 0 … 28
    result = judge_course(course(weekly, followup=NO_CHANGE))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.reasons[0].code == "no_change_after_one_month"
    assert result.reasons[0].source == sources.SWEATLESS_CA
    switched_off = judge_course(
        course(weekly, followup=NO_CHANGE), VerdictSettings(no_change_days=None)
    )
    assert switched_off.verdict is VerdictKind.CONTINUE


def test_not_tolerated_on_dc_tries_pulsed_dc() -> None:
    painful = tuple(session(day=2 * i, current_mA=8.0, pain_reports=1) for i in range(3))
    result = judge_course(course(painful))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.TRY_PULSED_DC
    assert reason_codes(result.reasons)[:2] == ("not_tolerated", "try_pulsed_dc")


def test_not_tolerated_even_on_pulsed_dc_refers() -> None:
    painful = tuple(
        session(day=2 * i, current_mA=8.0, completed=False, waveform="pulsed_dc") for i in range(3)
    )
    result = judge_course(course(painful))
    assert result.next is NextStep.REFER_DERMATOLOGIST
    assert "not_tolerated_on_pulsed_dc" in reason_codes(result.reasons)


def test_glycopyrronium_not_tolerated_refers() -> None:
    painful = tuple(
        session(day=7 * i, current_mA=8.0, side_effects=("dry_mouth",)) for i in range(3)
    )
    result = judge_course(course(painful, solution=Solution.GLYCOPYRRONIUM))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.REFER_DERMATOLOGIST


def test_two_bad_sessions_are_not_yet_intolerance() -> None:
    painful = tuple(session(day=2 * i, current_mA=8.0, max_sensation=9) for i in range(2))
    assert judge_course(course(painful)).verdict is VerdictKind.CONTINUE


def test_a_burn_stops_treatment_until_reviewed() -> None:
    result = judge_course(course((session(side_effects=("burn",)),)))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.STOP
    assert result.reasons[0].code == "burn_reported"


# --- Tolerance and thresholds ----------------------------------------------------------------


def test_therapeutic_current_adult_palms_is_fischers_lower_end() -> None:
    assert therapeutic_current(34, Region.PALMS, Solution.TAP_WATER).value_mA == 10.0
    assert therapeutic_current(34, Region.PALMS, Solution.GLYCOPYRRONIUM).value_mA == 7.5


def test_therapeutic_current_can_be_overridden() -> None:
    custom = VerdictSettings(
        therapeutic_override_mA=MappingProxyType(
            {(AgeGroup.ADULT, Solution.TAP_WATER, Region.PALMS): 7.0}
        )
    )
    assert therapeutic_current(34, Region.PALMS, Solution.TAP_WATER, custom).value_mA == 7.0
    assert judge_course(course((session(current_mA=8.0),)), custom).verdict is VerdictKind.WORKS


@pytest.mark.parametrize("region", list(Region))
@pytest.mark.parametrize("solution", list(Solution))
def test_a_childs_therapeutic_current_is_never_above_an_adults(
    region: Region, solution: Solution
) -> None:
    child = therapeutic_current(10, region, solution).value_mA
    adult = therapeutic_current(30, region, solution).value_mA
    assert 0 < child <= adult


@pytest.mark.parametrize(
    ("changes", "tolerated"),
    [
        ({}, True),
        ({"completed": False}, False),
        ({"pain_reports": 1}, False),
        ({"max_sensation": 7}, False),
        ({"max_sensation": 6}, True),
        ({"max_sensation": None}, True),
        ({"side_effects": ("bruising",)}, False),
        ({"side_effects": ("redness", "tingling")}, True),
    ],
)
def test_session_tolerance(changes: dict[str, Any], tolerated: bool) -> None:
    assert session_tolerated(dataclasses.replace(session(), **changes)) is tolerated


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("day", {"day": -1}),
        ("current_mA", {"current_mA": -0.1}),
        ("current_mA", {"current_mA": 40.0}),
        ("current_mA", {"current_mA": float("nan")}),
        ("minutes", {"minutes": 0}),
        ("waveform", {"waveform": "ac"}),
        ("waveform", {"waveform": "square"}),
        ("completed", {"completed": "yes"}),
        ("max_sensation", {"max_sensation": 11}),
        ("pain_reports", {"pain_reports": -1}),
        ("side_effects", {"side_effects": ("sunburn",)}),
    ],
)
def test_session_validation_names_the_field(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=field):
        session(**kwargs)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("hdss", {"hdss": 5}),
        ("hdss", {"hdss": 0}),
        ("dlqi", {"dlqi": 31}),
        ("gravimetry_mg_min", {"gravimetry_mg_min": -1.0}),
    ],
)
def test_assessment_validation_names_the_field(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=field):
        Assessment(**kwargs)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("age_years", {"age_years": 200}),
        ("region", {"region": "generalised"}),
        ("funded", {"funded": frozenset({"botox"})}),
        ("conditions", {"conditions": frozenset({"flu"})}),
    ],
)
def test_course_validation_names_the_field(field: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=field):
        course(**kwargs)


def test_sessions_are_kept_in_day_order() -> None:
    record = course((session(day=4), session(day=0), session(day=2)))
    assert [s.day for s in record.sessions] == [0, 2, 4]


def test_a_home_plan_goes_only_with_works() -> None:
    works = judge_course(course())
    with pytest.raises(ValueError, match="home plan"):
        dataclasses.replace(works, verdict=VerdictKind.CONTINUE)


# --- Properties ------------------------------------------------------------------------------

_side_effect = st.sampled_from(
    [
        SideEffect.TINGLING,
        SideEffect.REDNESS,
        SideEffect.DRYNESS,
        SideEffect.BRUISING,
        SideEffect.DRY_MOUTH,
    ]
)
# Weighted towards plausible sessions, so that every verdict and next step is drawn often.
_session = st.builds(
    CourseSession,
    day=st.integers(0, 60),
    current_mA=st.floats(0, 25, allow_nan=False),
    minutes=st.sampled_from([10, 12, 20, 30]),
    waveform=st.sampled_from(sorted(THERAPEUTIC_WAVEFORMS)),
    completed=st.sampled_from([True, True, True, True, False]),
    max_sensation=st.one_of(st.none(), st.integers(0, 8)),
    pain_reports=st.sampled_from([0, 0, 0, 0, 1, 2]),
    side_effects=st.lists(_side_effect, max_size=1).map(tuple),
)
_assessment = st.builds(
    Assessment,
    hdss=st.one_of(st.none(), st.integers(1, 4)),
    gravimetry_mg_min=st.one_of(st.none(), st.floats(0, 200, allow_nan=False)),
    dlqi=st.one_of(st.none(), st.integers(0, 30)),
)
_course = st.builds(
    CourseRecord,
    age_years=st.sampled_from([7, 12, 15, 16, 34, 70]),
    region=st.sampled_from(list(Region)),
    solution=st.sampled_from(list(Solution)),
    baseline=_assessment,
    sessions=st.lists(_session, max_size=14).map(tuple),
    followup=_assessment,
    conditions=st.frozensets(st.sampled_from(list(Condition)), max_size=2),
    funded=st.frozensets(st.sampled_from(list(Solution))),
)


def _tolerated_therapeutic(record: CourseRecord) -> bool:
    threshold = therapeutic_current(record.age_years, record.region, record.solution)
    return any(session_tolerated(s) and s.current_mA >= threshold.value_mA for s in record.sessions)


@settings(max_examples=300, deadline=None)
@given(_course)
def test_never_works_without_tolerating_a_therapeutic_current(record: CourseRecord) -> None:
    result = judge_course(record)
    if not _tolerated_therapeutic(record):
        assert result.verdict is not VerdictKind.WORKS
    if all(not s.completed for s in record.sessions):
        assert result.verdict is not VerdictKind.WORKS


@settings(max_examples=300, deadline=None)
@given(_course)
def test_verdict_shape_is_consistent(record: CourseRecord) -> None:
    result = judge_course(record)
    stopped = bool(verdict.contraindications_now(record))
    assert (result.next is NextStep.HOME_MAINTENANCE) == (result.home_plan is not None)
    if result.verdict is VerdictKind.WORKS:
        expected = NextStep.STOP if stopped else NextStep.HOME_MAINTENANCE
        assert result.next is expected
    if result.verdict is VerdictKind.CONTINUE:
        expected = NextStep.STOP if stopped else NextStep.CONTINUE_COURSE
        assert result.next is expected
    if result.next is NextStep.HOME_MAINTENANCE:
        assert result.verdict is VerdictKind.WORKS
    if result.next is NextStep.ESCALATE_GLYCOPYRRONIUM:
        assert record.solution is Solution.TAP_WATER
    assert result.reasons
    assert all(r.source.citation for r in result.reasons)


@settings(max_examples=300, deadline=None)
@given(_course, st.data())
def test_adding_pain_reports_never_turns_a_verdict_into_works(
    record: CourseRecord, data: st.DataObject
) -> None:
    assume(record.sessions)
    index = data.draw(st.integers(0, len(record.sessions) - 1))
    extra = data.draw(st.integers(1, 3))
    sessions = list(record.sessions)
    sessions[index] = dataclasses.replace(
        sessions[index], pain_reports=sessions[index].pain_reports + extra
    )
    before = judge_course(record)
    after = judge_course(dataclasses.replace(record, sessions=tuple(sessions)))
    if after.verdict is VerdictKind.WORKS:
        assert before.verdict is VerdictKind.WORKS
    if before.verdict is VerdictKind.DOES_NOT_WORK:
        assert after.verdict is not VerdictKind.WORKS


@settings(max_examples=300, deadline=None)
@given(_course, st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
def test_a_better_followup_hdss_never_makes_the_verdict_worse(
    record: CourseRecord, baseline: int, f1: int, f2: int
) -> None:
    better, worse = min(f1, f2), max(f1, f2)
    base = dataclasses.replace(record.baseline, hdss=baseline)

    def judged(followup_hdss: int) -> VerdictKind:
        follow = dataclasses.replace(record.followup, hdss=followup_hdss)
        return judge_course(dataclasses.replace(record, baseline=base, followup=follow)).verdict

    assert RANK[judged(better)] >= RANK[judged(worse)]


@settings(max_examples=300, deadline=None)
@given(
    _course,
    st.frozensets(
        st.sampled_from(
            [Condition.GLAUCOMA, Condition.PREGNANCY, Condition.GLYCOPYRRONIUM_ALLERGY]
        ),
        min_size=1,
    ),
)
def test_glycopyrronium_never_proposed_when_contraindicated(
    record: CourseRecord, contraindications: frozenset[Condition]
) -> None:
    record = dataclasses.replace(record, conditions=record.conditions | contraindications)
    assert judge_course(record).next is not NextStep.ESCALATE_GLYCOPYRRONIUM


@settings(max_examples=300, deadline=None)
@given(_course)
def test_glycopyrronium_never_proposed_when_not_funded(record: CourseRecord) -> None:
    record = dataclasses.replace(record, funded=record.funded - {Solution.GLYCOPYRRONIUM})
    assert judge_course(record).next is not NextStep.ESCALATE_GLYCOPYRRONIUM


@settings(max_examples=300, deadline=None)
@given(_course)
def test_home_plan_current_never_exceeds_the_highest_completed(record: CourseRecord) -> None:
    plan = judge_course(record).home_plan
    if plan is None:
        return
    completed = [s for s in record.sessions if s.completed]
    assert plan.current_mA <= max(s.current_mA for s in completed)
    threshold = therapeutic_current(record.age_years, record.region, record.solution)
    assert plan.current_mA >= threshold.value_mA
    assert plan.waveform in {s.waveform for s in completed}
    if record.solution is Solution.GLYCOPYRRONIUM:
        assert plan.interval_days >= 7


@settings(max_examples=200, deadline=None)
@given(_course)
def test_a_burn_always_stops(record: CourseRecord) -> None:
    assume(record.sessions)
    burnt = dataclasses.replace(record.sessions[0], side_effects=(SideEffect.BURN,))
    record = dataclasses.replace(record, sessions=(burnt, *record.sessions[1:]))
    result = judge_course(record)
    assert result.next is NextStep.STOP
    assert result.home_plan is None


@settings(max_examples=200, deadline=None)
@given(_course)
def test_tolerance_status_matches_the_sessions(record: CourseRecord) -> None:
    finding = verdict.assess_tolerance(record)
    if finding.status is ToleranceStatus.TOLERATED:
        assert _tolerated_therapeutic(record)
    if finding.status is ToleranceStatus.NOT_TOLERATED:
        assert not _tolerated_therapeutic(record)
        assert len(finding.intolerable) >= DEFAULT_VERDICT.not_tolerated_after


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_session, min_size=1, max_size=12).map(tuple),
    st.sampled_from([7, 12, 34, 70]),
    st.sampled_from(list(Region)),
    st.sampled_from(list(Solution)),
)
def test_with_a_response_works_exactly_when_a_therapeutic_current_was_tolerated(
    sessions: tuple[CourseSession, ...], age: int, region: Region, solution: Solution
) -> None:
    record = course(sessions, age_years=age, region=region, solution=solution)
    burnt = any(SideEffect.BURN in s.side_effects for s in record.sessions)
    works = judge_course(record).verdict is VerdictKind.WORKS
    assert works == (_tolerated_therapeutic(record) and not burnt)


@settings(max_examples=300, deadline=None)
@given(
    st.frozensets(st.sampled_from(list(Condition)), max_size=3),
    st.frozensets(st.sampled_from(list(Solution))),
    st.sampled_from([Region.PALMS, Region.SOLES]),
    st.sampled_from([16, 34, 70]),
)
def test_escalation_exactly_when_funded_and_not_contraindicated(
    conditions: frozenset[Condition], funded: frozenset[Solution], region: Region, age: int
) -> None:
    # A tap-water course that was tolerated and did not help: the glycopyrronium question.
    record = course(
        full_trial(10),
        followup=NO_CHANGE,
        conditions=conditions,
        funded=funded,
        region=region,
        age_years=age,
    )
    result = judge_course(record)
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    glyco_blocks = {Condition.GLAUCOMA, Condition.PREGNANCY, Condition.GLYCOPYRRONIUM_ALLERGY}
    if result.next is NextStep.ESCALATE_GLYCOPYRRONIUM:
        assert Solution.GLYCOPYRRONIUM in funded
        assert not conditions & glyco_blocks
    else:
        assert result.next is NextStep.REFER_DERMATOLOGIST
    if Solution.GLYCOPYRRONIUM in funded and not conditions:
        assert result.next is NextStep.ESCALATE_GLYCOPYRRONIUM


# --- Holes found in review: caps on the home plan, contraindications that arise mid-course ----


def test_home_plan_never_exceeds_an_adults_cap() -> None:
    # The clinic recorded 25 mA (a typing slip or a device without Ionto's caps): the home plan
    # must not send the patient home with more than the adult cap of 20 mA (Doncaster).
    result = judge_course(course(full_trial(3, current_mA=25.0)))
    assert result.home_plan is not None
    assert result.home_plan.current_mA == 20.0
    lowered = next(r for r in result.home_plan.reasons if r.code == "home_current_lowered_to_cap")
    assert lowered.source == sources.DONCASTER


def test_home_plan_never_gives_a_child_an_adults_current() -> None:
    sessions = full_trial(3, current_mA=18.0, waveform="pulsed_dc")
    result = judge_course(course(sessions, age_years=10))
    assert result.home_plan is not None
    assert result.home_plan.current_mA <= 15.0


@pytest.mark.parametrize(
    "condition", [Condition.PREGNANCY, Condition.PACEMAKER, Condition.EPILEPSY]
)
def test_a_contraindication_now_stops_a_course_that_works(condition: Condition) -> None:
    result = judge_course(course(conditions=frozenset({condition})))
    assert result.verdict is VerdictKind.WORKS  # the skin did get drier, and it was tolerated
    assert result.next is NextStep.STOP
    assert result.home_plan is None
    codes = reason_codes(result.reasons)
    assert codes[0] == "contraindicated_now"
    assert condition.value in " ".join(codes) or "implanted" in " ".join(codes)


def test_a_contraindication_now_stops_a_course_that_would_continue() -> None:
    result = judge_course(
        course(full_trial(3), followup=NO_CHANGE, conditions=frozenset({Condition.PREGNANCY}))
    )
    assert result.verdict is VerdictKind.CONTINUE
    assert result.next is NextStep.STOP


def test_intolerance_with_a_pacemaker_is_not_sent_on_to_pulsed_current() -> None:
    painful = tuple(session(day=2 * i, current_mA=8.0, pain_reports=1) for i in range(3))
    result = judge_course(course(painful, conditions=frozenset({Condition.PACEMAKER})))
    assert result.verdict is VerdictKind.DOES_NOT_WORK
    assert result.next is NextStep.REFER_DERMATOLOGIST
    assert "pacemaker" in reason_codes(result.reasons)


def test_glaucoma_does_not_stop_a_tap_water_course() -> None:
    result = judge_course(course(conditions=frozenset({Condition.GLAUCOMA})))
    assert result.next is NextStep.HOME_MAINTENANCE


def test_a_child_under_the_minimum_age_is_not_sent_home_to_treat() -> None:
    result = judge_course(course((session(current_mA=6.0, waveform="pulsed_dc"),), age_years=4))
    assert result.next is NextStep.STOP
    assert "under_minimum_age" in reason_codes(result.reasons)


def test_home_glycopyrronium_rule_matches_the_frequency_rule() -> None:
    from ionto.therapy import frequency

    glyco = course((session(current_mA=8.0, minutes=12),), solution=Solution.GLYCOPYRRONIUM)
    result = judge_course(glyco)
    assert result.home_plan is not None
    rule = next(r for r in result.home_plan.reasons if r.code.startswith("glycopyrronium_"))
    assert rule.code == frequency.glycopyrronium_min_days_apart().code
    # The SmPC's 7 days count between treatments whatever the site (frequency.py's reading).
    assert "same site" not in rule.text
    assert "different site" in rule.text


@settings(max_examples=300, deadline=None)
@given(_course)
def test_home_plan_current_is_within_every_cap_for_the_patient(record: CourseRecord) -> None:
    from ionto.therapy import limits, protocols

    plan = judge_course(record).home_plan
    if plan is None:
        return
    duty = protocols.PULSE_DUTY_CYCLE if plan.waveform is Waveform.PULSED_DC else None
    caps = limits.current_caps(
        record.age_years, record.region, record.solution, waveform=plan.waveform, duty_cycle=duty
    )
    assert plan.current_mA <= limits.max_current_mA(caps)


@settings(max_examples=300, deadline=None)
@given(_course)
def test_a_contraindicated_patient_is_never_sent_on_with_treatment(record: CourseRecord) -> None:
    from ionto.therapy import screening
    from ionto.therapy.patient import PatientFacts

    facts = PatientFacts(
        age_years=record.age_years,
        treat=(record.region,),
        solution=record.solution,
        conditions=record.conditions,
    )
    blocks, _ = screening.patient_contraindications(facts, record.solution)
    result = judge_course(record)
    if blocks:
        assert result.next in (NextStep.STOP, NextStep.REFER_DERMATOLOGIST)
        assert result.home_plan is None
