"""Observations (diary, HDSS, gravimetry) and whole virtual courses with maintenance."""

from __future__ import annotations

import importlib.util
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import diary, frequency, response, virtual_course
from ionto.therapy.diary import DEFAULT_OBSERVATION, DiaryRating
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.response import Population
from ionto.therapy.verdict import (
    Assessment,
    CourseRecord,
    CourseSession,
    judge_course,
)
from ionto.therapy.virtual_course import (
    DAY_ZERO,
    NEVER,
    CourseResult,
    FixedInterval,
    NoMaintenance,
    PatientHistory,
    parse_policy,
)
from ionto.therapy.vocabulary import Region, Solution, VerdictKind

ADULT = 34.0
PALMS_DC = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT, preset="uk_halfway")
GLYCO = recommend_protocol(Region.PALMS, Solution.GLYCOPYRRONIUM, ADULT)


def population(n: int, seed: int = 0, region: Region = Region.PALMS) -> Population:
    return response.draw_population(n, region, ADULT, np.random.default_rng(seed))


def simulate(
    policy: virtual_course.MaintenancePolicy,
    *,
    n: int = 400,
    seed: int = 0,
    protocol: response.Protocol = PALMS_DC,
    keep_daily: bool = True,
) -> CourseResult:
    setup = virtual_course.course_setup(protocol, ADULT)
    return virtual_course.simulate_courses(
        setup,
        population(n, seed, protocol.region),
        policy,
        np.random.default_rng(seed + 1),
        keep_daily=keep_daily,
    )


# --- Observations ---------------------------------------------------------------------------
def test_bands_are_dry_at_or_below_the_cutoff_then_doubling() -> None:
    ratio = np.array([0.2, 1.0, 1.01, 2.0, 2.5, 4.0, 4.1, 30.0])
    assert diary.band(ratio).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [DiaryRating(c).words for c in range(4)] == [
        "dry",
        "slightly wet",
        "moderately wet",
        "very wet",
    ]


def test_the_diary_has_missing_and_contradictory_entries_at_the_set_rates() -> None:
    rng = np.random.default_rng(0)
    ratio = np.full(200_000, 0.3)  # plainly dry
    codes = diary.diary_entries(ratio, rng)
    missing = np.mean(codes == DiaryRating.MISSING)
    assert missing == pytest.approx(DEFAULT_OBSERVATION.diary_missing, abs=0.01)
    present = codes[codes != DiaryRating.MISSING]
    # Dry is seen as dry but for the random entries, 3 in 4 of which are not "dry".
    wrong = np.mean(present != DiaryRating.DRY)
    assert wrong == pytest.approx(0.75 * DEFAULT_OBSERVATION.diary_contradictory, abs=0.01)
    assert set(np.unique(codes).tolist()) <= {-1, 0, 1, 2, 3}


def test_hdss_answers_are_one_to_four_and_follow_the_sweating() -> None:
    rng = np.random.default_rng(1)
    scores = diary.hdss_scores(np.array([0.5] * 500 + [8.0] * 500), rng)
    assert set(np.unique(scores).tolist()) <= {1, 2, 3, 4}
    assert np.mean(scores[:500] == 1) > 0.95
    assert np.mean(scores[500:] == 4) > 0.95


def test_gravimetry_noise_is_multiplicative_and_unbiased_on_the_log_scale() -> None:
    rng = np.random.default_rng(2)
    rate = np.full(100_000, 40.0)
    measured = diary.gravimetry_mg_min(rate, rng)
    assert np.all(measured > 0)
    assert np.mean(np.log(measured / rate)) == pytest.approx(0.0, abs=0.005)
    assert np.std(np.log(measured / rate)) == pytest.approx(
        DEFAULT_OBSERVATION.gravimetry_sigma, abs=0.005
    )


def test_observation_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="band_edges"):
        diary.ObservationSettings(band_edges=(2.0, 1.0, 4.0))
    with pytest.raises(ValueError, match="diary_missing"):
        diary.ObservationSettings(diary_missing=1.0)


# --- Policies -------------------------------------------------------------------------------
def test_policies_by_name() -> None:
    assert parse_policy("none") == NoMaintenance()
    assert parse_policy("fixed:7") == FixedInterval(7)
    assert parse_policy("fixed:14").name == "fixed:14"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fixed:2", "twice a week to about monthly"),
        ("fixed:32", "twice a week to about monthly"),
        ("fixed:x", "whole number"),
        ("weekly", "unknown maintenance policy"),
    ],
)
def test_bad_policies_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_policy(text)


def test_adaptive_is_the_fitted_policy_never_a_silent_fallback() -> None:
    # Built in issue 6 (tests/therapy/test_response_fit.py tests it in depth).
    policy = parse_policy("adaptive")
    assert isinstance(policy, virtual_course.AdaptiveMaintenance)
    assert policy.name == "adaptive"
    assert policy.replans_daily
    assert not virtual_course.NOT_YET_AVAILABLE


# --- The course ------------------------------------------------------------------------------
def test_the_course_is_the_trial_services_and_glycopyrronium_weekly() -> None:
    tap = virtual_course.course_setup(PALMS_DC, ADULT)
    assert tap.induction_days == (0, 2, 4, 7, 9, 11, 14, 17, 21, 24)
    glyco = virtual_course.course_setup(GLYCO, ADULT)
    assert glyco.induction_days == (0, 7, 14, 21)


def test_every_patient_gets_the_course_then_the_policys_sessions() -> None:
    result = simulate(FixedInterval(7))
    assert result.session_on is not None
    finished = result.tolerated
    assert np.all(result.course_sessions[finished] == 10)
    home = result.course_works
    assert np.all(result.maintenance_sessions[home] == len(range(31, 182, 7)))
    assert np.all(result.maintenance_sessions[~home] == 0)
    days = np.flatnonzero(result.session_on[np.flatnonzero(home)[0]])
    assert days[10:].tolist() == list(range(31, 182, 7))


def test_a_patient_who_cannot_tolerate_stops_after_three_sessions() -> None:
    pop = population(3000, seed=4)
    # Make the first patients feel everything: nobody holds a therapeutic current.
    first = np.arange(pop.size) < 20
    pop = replace(
        pop,
        felt_sensitivity=np.where(first, 2.0, pop.felt_sensitivity),
        pain_threshold=np.where(first, 5.0, pop.pain_threshold),
    )
    setup = virtual_course.course_setup(PALMS_DC, ADULT)
    result = virtual_course.simulate_courses(setup, pop, FixedInterval(7), np.random.default_rng(0))
    stopped = ~result.tolerated
    assert stopped[:20].all()
    assert np.all(result.course_sessions[stopped] == 3)
    assert not result.course_works[stopped].any()
    assert np.all(result.sessions[stopped] == 3)


@pytest.mark.parametrize(
    ("protocol", "policy"),
    [(PALMS_DC, FixedInterval(3)), (GLYCO, FixedInterval(3)), (GLYCO, FixedInterval(10))],
)
def test_no_session_ever_breaks_a_frequency_cap(
    protocol: response.Protocol, policy: FixedInterval
) -> None:
    result = simulate(policy, n=150, protocol=protocol)
    assert result.session_on is not None
    for row in result.session_on:
        dates = [DAY_ZERO + timedelta(days=int(d)) for d in np.flatnonzero(row)]
        series = [frequency.SessionDate(d, protocol.solution) for d in dates]
        assert frequency.check_frequency(series) == ()
    if protocol.solution is Solution.GLYCOPYRRONIUM:
        # fixed:3 with glycopyrronium is held to the SmPC's 7 days.
        gaps = np.diff(np.flatnonzero(result.session_on[result.course_works][0]))
        assert gaps.min() >= 7


@dataclass(frozen=True)
class EveryNDaysByHistory:
    """The fixed policy written patient by patient, through the plain interface only."""

    interval_days: int
    replans_daily: bool = False

    @property
    def name(self) -> str:
        return f"history:{self.interval_days}"

    def next_session_day(self, history: PatientHistory) -> int | None:
        return history.session_days[-1] + self.interval_days


def test_the_patient_by_patient_path_equals_the_vectorised_one() -> None:
    fast = simulate(FixedInterval(10), n=300, keep_daily=False)
    slow = simulate(EveryNDaysByHistory(10), n=300, keep_daily=False)
    for name in ("sessions", "first_dry_day", "dry_home_days", "relapse_day", "course_works"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name


@dataclass
class WhenClammy:
    """A diary-driven policy (the hook an adaptive plan uses): a session the morning after the
    diary says wetter than dry, else at most a month after the last. It checks that it is
    never shown a day ahead of the one it is asked about."""

    replans_daily: bool = True
    seen: list[tuple[int, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "when-clammy"

    def next_session_day(self, history: PatientHistory) -> int | None:
        self.seen.append((history.today, history.diary.shape[0]))
        last = history.session_days[-1]
        if history.today > last and history.diary[-1] > DiaryRating.DRY:
            return history.today + 1
        return last + 30


def test_a_daily_policy_sees_only_the_past_and_is_held_to_the_caps() -> None:
    policy = WhenClammy()
    result = simulate(policy, n=120)
    assert policy.seen
    assert all(length == today + 1 for today, length in policy.seen)
    assert result.session_on is not None
    for row in result.session_on:
        dates = [DAY_ZERO + timedelta(days=int(d)) for d in np.flatnonzero(row)]
        assert frequency.check_frequency([frequency.SessionDate(d) for d in dates]) == ()
    # It reacts: patients in maintenance get sessions on wet days, and more often than monthly.
    assert result.maintenance_sessions[result.course_works].mean() > 6


def test_the_same_seed_gives_the_same_courses_and_another_seed_others() -> None:
    a, b = simulate(FixedInterval(7), seed=3), simulate(FixedInterval(7), seed=3)
    c = simulate(FixedInterval(7), seed=4)
    assert a.daily_ratio is not None
    assert b.daily_ratio is not None
    assert np.array_equal(a.daily_ratio, b.daily_ratio)
    assert np.array_equal(a.hdss_end, b.hdss_end)
    assert not np.array_equal(a.first_dry_day, c.first_dry_day)


def test_the_policy_does_not_change_the_patients_nor_the_course() -> None:
    weekly, none = simulate(FixedInterval(7)), simulate(NoMaintenance())
    for name in ("responder", "hdss_end", "course_works", "course_end_day"):
        assert np.array_equal(getattr(weekly, name), getattr(none, name)), name
    assert none.maintenance_sessions.sum() == 0


def test_without_maintenance_responders_relapse_and_weekly_keeps_more_days_dry() -> None:
    weekly, fortnightly, none = (
        simulate(p, keep_daily=False)
        for p in (FixedInterval(7), FixedInterval(14), NoMaintenance())
    )
    figures = [virtual_course.population_figures(r, none) for r in (weekly, fortnightly, none)]
    w, f, n = figures
    assert w.dry_days_fraction > f.dry_days_fraction > n.dry_days_fraction
    assert w.maintenance_sessions_per_patient > f.maintenance_sessions_per_patient > 0
    assert n.maintenance_sessions_per_patient == 0
    assert 0.5 < w.relapsed_by_26w_without_maintenance <= 1


def test_the_simulated_verdict_is_the_therapy_cores_verdict() -> None:
    result = simulate(NoMaintenance(), n=300, seed=8)
    assert result.session_on is not None
    full = np.flatnonzero(result.tolerated & (result.course_sessions == 10))
    sensation = response.DEFAULT_TOLERANCE.sensation(
        result.current_mA / 130.0, result.population.felt_sensitivity, PALMS_DC.waveform
    )
    for i in full[:150].tolist():
        record = CourseRecord(
            age_years=ADULT,
            region=Region.PALMS,
            solution=Solution.TAP_WATER,
            baseline=Assessment(hdss=int(result.hdss_baseline[i])),
            followup=Assessment(hdss=int(result.hdss_end[i])),
            sessions=tuple(
                CourseSession(
                    day=int(d),
                    current_mA=float(result.current_mA[i]),
                    minutes=float(PALMS_DC.minutes),
                    waveform=PALMS_DC.waveform,
                    completed=True,
                    max_sensation=round(float(sensation[i]), 2),
                )
                for d in np.flatnonzero(result.session_on[i])
            ),
        )
        kind = judge_course(record).verdict
        assert (kind is VerdictKind.WORKS) == bool(result.course_works[i]), (i, kind)


def test_figures_have_the_contracts_shape() -> None:
    none = simulate(NoMaintenance(), keep_daily=False)
    f = virtual_course.population_figures(simulate(FixedInterval(7), keep_daily=False), none)
    assert f.patients == 400
    for share in (
        f.responders,
        f.tolerated,
        f.dry_days_fraction,
        f.relapsed_by_26w_without_maintenance,
    ):
        assert 0 <= share <= 1
    assert isinstance(f.sessions_to_dry_median, int)
    assert isinstance(f.sessions_to_dry_p90, int)
    assert f.sessions_to_dry_median <= f.sessions_to_dry_p90


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(st.integers(NEVER, 40), min_size=1, max_size=12),
    start=st.integers(0, 5),
)
def test_a_censored_median_is_none_once_half_are_censored(events: list[int], start: int) -> None:
    e = np.asarray([x if x == NEVER else max(x, start) for x in events], dtype=np.int64)
    starts = np.full(e.size, start, dtype=np.int64)
    median = virtual_course.censored_median_days(e, starts, 182)
    censored = int(np.sum(e == NEVER))
    if censored == 0:
        assert median == float(np.median(e - starts))
    if censored * 2 > e.size:
        assert median is None
    if median is not None:
        assert 0 <= median <= 40


def test_ten_thousand_patients_for_26_weeks_take_seconds_not_minutes() -> None:
    # The budget is 60 s on this 2-core machine; the benchmark measures it
    # (benchmarks/bench_response.py). This only guards against losing the vectorisation.
    began = time.perf_counter()
    none = simulate(NoMaintenance(), n=10_000, keep_daily=False)
    weekly = simulate(FixedInterval(7), n=10_000, keep_daily=False)
    virtual_course.population_figures(weekly, none)
    assert time.perf_counter() - began < 15.0


def test_the_benchmark_runs_small_and_draws_four_patients() -> None:
    # benchmarks/bench_response.py must not rot: its pieces, small.
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_response.py"
    spec = importlib.util.spec_from_file_location("bench_response", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert len(bench.time_runs(200, 0, 1)) == 1
    rows = bench.compare_policies(300, 0)
    assert [r["policy"] for r in rows] == list(bench.POLICIES)
    root = ET.fromstring(bench.plot_svg(0))
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    assert len(paths) == 4
    assert all(len(p.attrib["d"].split()) == virtual_course.HORIZON_DAYS for p in paths)
    assert "| code |" in bench.markdown_table([{"code": "x", "value": 1}])
