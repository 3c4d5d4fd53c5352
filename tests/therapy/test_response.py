"""The sweat-response model: its invariants, and its calibration against the sources."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import outcomes, regions, response, sources
from ionto.therapy.protocols import PRESETS, recommend_protocol
from ionto.therapy.response import (
    CALIBRATION,
    DEFAULT_RESPONSE,
    DEFAULT_TOLERANCE,
    HYPERBOLIC,
    SATURATION_SHAPES,
    SIDES,
    SIGMOID,
    LognormalSpread,
    Population,
    ResponseState,
)
from ionto.therapy.response_calibration import measure_calibration
from ionto.therapy.verdict import DEFAULT_VERDICT
from ionto.therapy.vocabulary import Region, Reversal, Solution, Waveform

ADULT = 34.0
PALMS_DC = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT, preset="uk_halfway")
GLYCO = recommend_protocol(Region.PALMS, Solution.GLYCOPYRRONIUM, ADULT, preset="glycopyrronium")
HIDREX = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT, preset="hidrex_one_side")
PULSED = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT, preset="pulsed_sensitive")
PROTOCOLS_BY_AGE = [
    (recommend_protocol(region, next(iter(p.solutions)), age, preset=name), age)
    for name, p in PRESETS.items()
    for region in Region
    for age in (10.0, ADULT)
]


def population(n: int = 200, seed: int = 0, region: Region = Region.PALMS) -> Population:
    return response.draw_population(n, region, ADULT, np.random.default_rng(seed))


def treated(
    pop: Population, sessions: int, protocol: response.Protocol = PALMS_DC
) -> ResponseState:
    state = ResponseState.untreated(pop.size)
    everyone = np.arange(pop.size)
    charge = response.session_charge_mA_min(protocol, np.full(pop.size, protocol.target_current_mA))
    for k in range(sessions):
        index = np.full(pop.size, k, dtype=np.int64)
        state = response.give_sessions(state, pop, protocol, everyone, charge, index)
        state = response.recover(state, pop, 2.5)
    return state


# --- Doses ----------------------------------------------------------------------------------------
def test_a_session_charge_is_the_controllers_plan() -> None:
    # 15 mA for 20 minutes, two polarity phases each with half of a 30 s ramp up and down:
    # 15 × (20 + 2 × 0.5) = 315 mA·min (the session controller's planned_mA_min).
    assert float(response.session_charge_mA_min(PALMS_DC, 15.0)) == pytest.approx(315.0)
    dose = response.session_dose(PALMS_DC, ADULT)
    assert dose.density_mA_min_cm2 == pytest.approx(315.0 / 130.0)


def test_glycopyrronium_treats_both_hands_one_site_at_a_time() -> None:
    # One site at a time, at most two a day (Robinul SmPC): two runs, each hand once.
    assert response.runs_per_session(GLYCO) == 2
    assert response.runs_per_session(PALMS_DC) == 1
    face = recommend_protocol(Region.FACE, Solution.GLYCOPYRRONIUM, ADULT)
    assert response.runs_per_session(face) == 1
    exposure = response.session_exposure(GLYCO, np.arange(4))
    assert exposure.drug.all()


@given(current=st.floats(0, 35), more=st.floats(0, 10))
def test_dose_is_never_negative_and_grows_with_current(current: float, more: float) -> None:
    for protocol in (PALMS_DC, GLYCO, PULSED):
        low = float(response.session_charge_mA_min(protocol, current))
        high = float(response.session_charge_mA_min(protocol, current + more))
        assert 0 <= low <= high


def test_a_negative_or_infinite_current_is_refused() -> None:
    with pytest.raises(ValueError, match="current_mA"):
        response.session_dose(PALMS_DC, ADULT, -1.0)
    with pytest.raises(ValueError, match="current_mA"):
        response.session_dose(PALMS_DC, ADULT, float("inf"))


def test_halfway_reversal_treats_both_sides_alike_and_one_side_alternates() -> None:
    index = np.arange(6, dtype=np.int64)
    halfway = response.session_exposure(PALMS_DC, index)
    assert np.all(halfway.load_weight[0] == halfway.load_weight[1])
    one_side = response.session_exposure(HIDREX, index)
    a, c = DEFAULT_RESPONSE.anode_weight, DEFAULT_RESPONSE.cathode_weight
    # The anode side responds slightly faster (Hidrex): the sides swap every session, so over
    # two sessions each side has had the same.
    assert list(one_side.load_weight[0]) == [a, c, a, c, a, c]
    assert np.allclose(one_side.load_weight.sum(axis=1), one_side.load_weight.sum(axis=1)[0])
    assert HIDREX.reversal is Reversal.NONE


def test_pulsed_dc_does_less_per_mA_min_and_pure_ac_nothing() -> None:
    weights = DEFAULT_RESPONSE.waveform_weight
    assert weights[Waveform.AC] == 0 < weights[Waveform.PULSED_DC] < weights[Waveform.DC] == 1
    # AC with a DC offset: ~11 sessions against ~10 (Reinauer 1993).
    assert weights[Waveform.AC_DC_OFFSET] == pytest.approx(10 / 11)


# --- Invariants -----------------------------------------------------------------------------------
STATE_PARTS = st.tuples(
    st.integers(0, 2**32 - 1),  # population seed
    st.integers(0, 14),  # sessions already given
    st.floats(0, 60),  # days since
)


def state_after(
    seed: int, sessions: int, days: float, protocol: response.Protocol = PALMS_DC
) -> tuple[Population, ResponseState]:
    pop = population(8, seed)
    state = response.recover(treated(pop, sessions, protocol), pop, days)
    return pop, state


@settings(max_examples=60, deadline=None)
@given(parts=STATE_PARTS, low=st.floats(0, 600), extra=st.floats(0, 600), glyco=st.booleans())
def test_more_dose_never_less_suppression(
    parts: tuple[int, int, float], low: float, extra: float, glyco: bool
) -> None:
    protocol = GLYCO if glyco else PALMS_DC
    pop, state = state_after(*parts, protocol=protocol)
    everyone = np.arange(pop.size)
    index = np.full(pop.size, parts[1], dtype=np.int64)

    def rate(charge: float) -> np.ndarray:
        after = response.give_sessions(
            state, pop, protocol, everyone, np.full(pop.size, charge), index
        )
        return response.sweat_rate_mg_min(after, pop)

    before = response.sweat_rate_mg_min(state, pop)
    assert np.all(rate(low) <= before + 1e-12)
    assert np.all(rate(low + extra) <= rate(low) + 1e-12)


@settings(max_examples=60, deadline=None)
@given(parts=STATE_PARTS, first=st.floats(0, 100), later=st.floats(0, 100), glyco=st.booleans())
def test_without_sessions_suppression_only_wears_off(
    parts: tuple[int, int, float], first: float, later: float, glyco: bool
) -> None:
    pop, state = state_after(*parts, protocol=GLYCO if glyco else PALMS_DC)
    a = response.recover(state, pop, first)
    b = response.recover(a, pop, later)
    assert np.all(response.suppression(b, pop) <= response.suppression(a, pop) + 1e-12)
    assert np.all(b.block <= a.block + 1e-12)
    assert np.all(response.sweat_rate_mg_min(b, pop) >= response.sweat_rate_mg_min(a, pop) - 1e-9)


@settings(max_examples=60, deadline=None)
@given(parts=STATE_PARTS, glyco=st.booleans())
def test_everything_stays_within_its_bounds(parts: tuple[int, int, float], glyco: bool) -> None:
    pop, state = state_after(*parts, protocol=GLYCO if glyco else PALMS_DC)
    u = response.suppression(state, pop)
    assert np.all(u >= 0)
    assert np.all(u < pop.max_suppression)
    assert np.all(pop.max_suppression < 1)
    assert np.all(state.block >= 0)
    assert np.all(state.block < 1)
    rate = response.sweat_rate_mg_min(state, pop)
    assert np.all(rate > 0)
    assert np.all(rate <= pop.baseline_mg_min + 1e-9)
    reduction = response.worse_side_reduction(state, pop)
    assert np.all(reduction >= -1e-12)
    assert np.all(reduction < 1)


def test_untreated_patients_sweat_at_their_baseline_above_the_cutoff() -> None:
    pop = population(500)
    state = ResponseState.untreated(pop.size)
    assert np.allclose(response.sweat_rate_mg_min(state, pop), pop.baseline_mg_min)
    # Referred patients sweat at least twice the normal cut-off (HDSS 3-4).
    assert np.all(response.worse_side_over_cutoff(state, pop) >= 2.0)


def test_a_population_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    a, b, c = population(50, 3), population(50, 3), population(50, 4)
    for name in ("baseline_mg_min", "sensitivity", "recovery_days", "pain_threshold"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert not np.array_equal(getattr(a, name), getattr(c, name))


def test_a_population_needs_a_patient_and_a_real_age() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        population(0)
    with pytest.raises(ValueError, match="age_years"):
        response.draw_population(5, Region.PALMS, float("nan"), np.random.default_rng(0))


def test_a_sigmoid_gives_less_than_a_hyperbola_early_and_the_same_at_half_effect() -> None:
    pop = population(50)
    hyperbolic = replace(DEFAULT_RESPONSE, saturation=HYPERBOLIC)
    for load, compare in ((0.3, np.less), (1.0, np.equal)):
        state = ResponseState(np.full((SIDES, pop.size), load), np.zeros((SIDES, pop.size)))
        sig = response.suppression(state, pop, replace(DEFAULT_RESPONSE, saturation=SIGMOID))
        hyp = response.suppression(state, pop, hyperbolic)
        assert np.all(compare(sig, hyp))
    assert set(SATURATION_SHAPES) == {"sigmoid", "hyperbolic"}
    assert DEFAULT_RESPONSE.saturation is SIGMOID
    assert SIGMOID.source.grade == "D"


def test_settings_refuse_what_makes_no_sense() -> None:
    with pytest.raises(ValueError, match="every region"):
        replace(DEFAULT_RESPONSE, responder_fraction={Region.PALMS: 0.8})
    with pytest.raises(ValueError, match="low <= median"):
        LognormalSpread(1.0, 0.2, 2.0, 3.0)
    with pytest.raises(ValueError, match=r"within \[0, 1\)"):
        replace(DEFAULT_RESPONSE, max_suppression_responder=response.UniformSpread(0.5, 1.0))


# --- The normal cut-off -------------------------------------------------------------------------
def test_the_normal_cutoff_is_the_references_per_region() -> None:
    palms, axillae, soles = (
        response.normal_cutoff(r) for r in (Region.PALMS, Region.AXILLAE, Region.SOLES)
    )
    assert (palms.mg_min, palms.source) == (20.0, sources.GERMAN_INSURERS)
    assert (axillae.mg_min, axillae.source) == (50.0, sources.GERMAN_INSURERS)
    # No German figure for the feet: Thorlacius' 100 mg in 5 minutes.
    assert soles.mg_min == outcomes.DEFAULT_GRAVIMETRY_CUTOFFS.thorlacius_mg_per_5_min / 5


# --- Tolerance ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("protocol", "age"),
    PROTOCOLS_BY_AGE,
    ids=[f"{p.preset}-{p.region}-{age:g}" for p, age in PROTOCOLS_BY_AGE],
)
def test_the_nurse_never_sets_more_than_the_target_nor_an_intolerable_current(
    protocol: response.Protocol, age: float
) -> None:
    pop = response.draw_population(300, protocol.region, age, np.random.default_rng(1))
    current = response.tolerated_current_mA(protocol, pop)
    assert np.all(current <= protocol.target_current_mA)
    assert np.all(current >= 0)
    assert np.all(np.isclose(current * 2, np.round(current * 2)))  # 0.5 mA steps
    area = regions.smaller_electrode_area_cm2(protocol.region, regions.age_group(pop.age_years))
    felt = DEFAULT_TOLERANCE.sensation(current / area, pop.felt_sensitivity, protocol.waveform)
    limit = np.minimum(pop.pain_threshold, DEFAULT_VERDICT.max_tolerable_sensation)
    assert np.all(felt <= limit + 1e-9)


def test_most_adults_tolerate_the_hand_target_and_pulsed_dc_is_felt_less() -> None:
    pop = population(4000)
    dc = response.tolerated_current_mA(PALMS_DC, pop)
    pulsed = response.tolerated_current_mA(PULSED, pop)
    assert np.mean(dc == PALMS_DC.target_current_mA) > 0.6
    assert np.all(pulsed >= dc)


# --- Calibration ----------------------------------------------------------------------------------
def test_every_calibration_target_names_its_source_and_a_range() -> None:
    codes = [t.code for t in CALIBRATION]
    assert len(codes) == len(set(codes))
    for target in CALIBRATION:
        assert target.low <= target.high
        assert target.source.grade in {"P", "S", "?", "D"}
        assert target.source.citation
        assert target.scenario
        assert target.target
        assert target.unit


def test_the_simulated_population_meets_every_calibration_target() -> None:
    results = measure_calibration(np.random.default_rng(2026), patients=2000)
    assert [r.target for r in results] == list(CALIBRATION)
    misses = [
        f"{r.target.code}: {r.simulated} not in [{r.target.low}, {r.target.high}]"
        for r in results
        if not r.holds
    ]
    assert not misses, misses
    assert all(r.patients >= 500 for r in results)


def test_calibration_is_deterministic_for_a_seed() -> None:
    a = measure_calibration(np.random.default_rng(5), patients=300)
    b = measure_calibration(np.random.default_rng(5), patients=300)
    assert [r.simulated for r in a] == [r.simulated for r in b]


DOC = Path(__file__).resolve().parents[2] / "docs" / "response-model.md"


def test_the_docs_print_every_parameter_and_target_as_the_code_has_them() -> None:
    text = DOC.read_text()
    for row in response.parameter_table():
        line = f"| {row.name} | {row.value} | {row.source.citation} ({row.source.grade}) |"
        assert line in text, f"docs/response-model.md is stale: {line}"
    for target in CALIBRATION:
        start = (
            f"| `{target.code}` | {target.target} | {target.low:g}–{target.high:g} {target.unit} |"
        )
        assert start in text, f"docs/response-model.md is stale: {start}"
        assert f"{target.source.citation} ({target.source.grade}) | {target.scenario} |" in text
