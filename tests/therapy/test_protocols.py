"""Protocol presets, target currents and the recommended protocol: examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import limits, regions, sources
from ionto.therapy.limits import DENSITY_PRESETS, LimitSettings
from ionto.therapy.protocols import (
    PRESETS,
    TARGET_CURRENT_MA,
    ProtocolPreset,
    SessionMinutes,
    recommend_protocol,
)
from ionto.therapy.vocabulary import AgeGroup, Region, Reversal, Solution, Waveform

ADULT_AGE = 34.0
CHILD_AGE = 10.0

ages = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
region_st = st.sampled_from(list(Region))
solution_st = st.sampled_from(list(Solution))
limit_settings_st = st.builds(
    LimitSettings,
    density=st.sampled_from(list(DENSITY_PRESETS.values())),
    device_ceiling_mA=st.floats(min_value=1.0, max_value=34.0),
    device_ceiling_on_peak=st.booleans(),
    usual_hands_ceiling_mA=st.floats(min_value=1.0, max_value=30.0),
    usual_feet_ceiling_mA=st.floats(min_value=1.0, max_value=30.0),
    usual_ceilings_as_caps=st.booleans(),
    glycopyrronium_dry_mouth_cap_mA=st.none() | st.floats(min_value=1.0, max_value=20.0),
)


def _fitting_presets(solution: Solution) -> list[str]:
    return sorted(name for name, p in PRESETS.items() if solution in p.solutions)


# --- The contract's example ------------------------------------------------------------------
def test_adult_soles_with_tap_water_is_the_contract_example() -> None:
    protocol = recommend_protocol(Region.SOLES, Solution.TAP_WATER, ADULT_AGE)
    shown = {
        "solution": protocol.solution.value,
        "waveform": protocol.waveform.value,
        "max_current_mA": protocol.max_current_mA,
        "target_current_mA": protocol.target_current_mA,
        "minutes": protocol.minutes,
        "reversal": protocol.reversal.value,
    }
    assert shown == {
        "solution": "tap_water",
        "waveform": "dc",
        "max_current_mA": 20.0,
        "target_current_mA": 15.0,
        "minutes": 30,
        "reversal": "halfway",
    }
    assert protocol.preset == "uk_halfway"
    assert protocol.limits[0].code == "adult_current_cap"


def test_adult_palms_uk_halfway() -> None:
    protocol = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT_AGE)
    assert (protocol.preset, protocol.minutes, protocol.target_current_mA) == (
        "uk_halfway",
        20,
        15.0,
    )
    assert (protocol.ramp_up_s, protocol.ramp_down_s) == (30.0, 30.0)
    assert protocol.pulse_frequency_hz is None
    assert protocol.duty_cycle is None


# --- Default preset choice -------------------------------------------------------------------
@pytest.mark.parametrize("region", list(Region))
def test_children_get_pulsed_dc(region: Region) -> None:
    protocol = recommend_protocol(region, Solution.TAP_WATER, CHILD_AGE)
    assert protocol.preset == "pulsed_child"
    assert protocol.waveform is Waveform.PULSED_DC
    assert protocol.duty_cycle == 0.5
    assert protocol.pulse_frequency_hz is not None
    assert 5000.0 <= protocol.pulse_frequency_hz <= 10000.0
    assert protocol.max_current_mA <= 15.0
    assert protocol.reasons[0].code == "child_pulsed_dc"


@pytest.mark.parametrize("age", [CHILD_AGE, ADULT_AGE])
@pytest.mark.parametrize("region", list(Region))
def test_glycopyrronium_gets_its_own_preset(age: float, region: Region) -> None:
    protocol = recommend_protocol(region, Solution.GLYCOPYRRONIUM, age)
    assert protocol.preset == "glycopyrronium"
    assert (protocol.waveform, protocol.reversal, protocol.minutes) == (
        Waveform.DC,
        Reversal.NONE,
        12,
    )
    assert protocol.source == sources.ROBINUL_SMPC
    assert protocol.max_current_mA <= (10.0 if age < regions.CHILD_BELOW_YEARS else 20.0)


@pytest.mark.parametrize("region", [Region.AXILLAE, Region.FACE, Region.NECK])
def test_adults_sensitive_regions_get_pulsed_dc(region: Region) -> None:
    protocol = recommend_protocol(region, Solution.TAP_WATER, ADULT_AGE)
    assert protocol.preset == "pulsed_sensitive"
    assert protocol.waveform is Waveform.PULSED_DC
    expected = "derived" if region is Region.NECK else "hidrex_dp450"
    assert protocol.reasons[0].source.key.endswith(expected)


def test_uk_minutes_per_region() -> None:
    minutes = {
        r: recommend_protocol(r, Solution.TAP_WATER, ADULT_AGE, preset="uk_halfway").minutes
        for r in Region
    }
    assert minutes[Region.PALMS] == 20
    assert minutes[Region.SOLES] == 30
    assert minutes[Region.AXILLAE] == 20
    derived = PRESETS["uk_halfway"].minutes
    assert derived[Region.FACE].source.grade == "D"
    assert derived[Region.NECK].source.grade == "D"
    assert derived[Region.PALMS].source.grade == "S"


def test_hidrex_one_side_does_not_reverse_and_alternates() -> None:
    protocol = recommend_protocol(
        Region.PALMS, Solution.TAP_WATER, ADULT_AGE, preset="hidrex_one_side"
    )
    assert protocol.reversal is Reversal.NONE
    assert protocol.alternate_between_sessions
    assert protocol.source == sources.HIDREX_POLARITY
    assert protocol.reasons[0].code == "preset_requested"


# --- Presets that do not exist or do not fit -------------------------------------------------
def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown protocol preset") as err:
        recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT_AGE, preset="nope")
    for name in PRESETS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["glycopyrronium", "glycopyrronium_low_dose"])
def test_glycopyrronium_preset_with_tap_water_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="glycopyrronium only"):
        recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT_AGE, preset=name)


@pytest.mark.parametrize("name", ["uk_halfway", "hidrex_one_side", "pulsed_child"])
def test_tap_water_presets_with_glycopyrronium_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Robinul SmPC"):
        recommend_protocol(Region.PALMS, Solution.GLYCOPYRRONIUM, ADULT_AGE, preset=name)


def test_a_tap_water_preset_under_10_minutes_cannot_be_built() -> None:
    short = {r: SessionMinutes(9, sources.DERIVED) for r in Region}
    with pytest.raises(ValueError, match="10 min"):
        ProtocolPreset(
            name="too_short",
            description="too short",
            waveform=Waveform.DC,
            reversal=Reversal.HALFWAY,
            alternate_between_sessions=False,
            minutes=short,
            solutions=frozenset({Solution.TAP_WATER}),
            source=sources.DERIVED,
        )


def test_a_preset_cannot_use_pure_ac() -> None:
    with pytest.raises(ValueError, match="pure_ac_refused"):
        ProtocolPreset(
            name="ac",
            description="pure AC",
            waveform=Waveform.AC,
            reversal=Reversal.NONE,
            alternate_between_sessions=False,
            minutes=PRESETS["uk_halfway"].minutes,
            solutions=frozenset({Solution.TAP_WATER}),
            source=sources.DERIVED,
        )


# --- Glycopyrronium targets and the dry-mouth preset -----------------------------------------
def test_glycopyrronium_targets_the_leow_tey_optimum_on_palms() -> None:
    protocol = recommend_protocol(Region.PALMS, Solution.GLYCOPYRRONIUM, ADULT_AGE)
    assert protocol.target_current_mA == 8.0
    assert protocol.max_current_mA == 20.0
    assert any(r.source == sources.LEOW_TEY_2017 for r in protocol.reasons)


def test_low_dose_preset_caps_glycopyrronium_at_8_mA() -> None:
    protocol = recommend_protocol(
        Region.SOLES, Solution.GLYCOPYRRONIUM, ADULT_AGE, preset="glycopyrronium_low_dose"
    )
    assert protocol.max_current_mA == 8.0
    assert protocol.limits[0].code == "glycopyrronium_dry_mouth_cap"


# --- Target table ----------------------------------------------------------------------------
def test_targets_cover_every_group_solution_and_region() -> None:
    assert set(TARGET_CURRENT_MA) == {(g, s, r) for g in AgeGroup for s in Solution for r in Region}


def test_sourced_and_derived_targets_are_marked() -> None:
    adult_palms = TARGET_CURRENT_MA[(AgeGroup.ADULT, Solution.TAP_WATER, Region.PALMS)]
    assert adult_palms.source == sources.FISCHER_WARNINGS
    assert 10.0 <= adult_palms.value_mA <= 18.0
    face = TARGET_CURRENT_MA[(AgeGroup.ADULT, Solution.TAP_WATER, Region.FACE)]
    assert face.source.grade == "D"


def test_target_table_rows() -> None:
    from ionto.therapy.protocols import target_table

    rows = target_table()
    assert len(rows) == len(TARGET_CURRENT_MA)
    assert all(r.code == "target_current" and r.unit == "mA" for r in rows)


@given(region_st, solution_st)
def test_a_childs_target_is_never_above_an_adults(region: Region, solution: Solution) -> None:
    child = TARGET_CURRENT_MA[(AgeGroup.CHILD, solution, region)].value_mA
    adult = TARGET_CURRENT_MA[(AgeGroup.ADULT, solution, region)].value_mA
    assert child <= adult


def test_a_lower_usual_hands_ceiling_lowers_the_target() -> None:
    cautious = LimitSettings(usual_hands_ceiling_mA=12.0)
    protocol = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT_AGE, settings=cautious)
    assert protocol.target_current_mA == 12.0
    assert protocol.max_current_mA == 20.0  # a target ceiling, not a cap
    assert "target_lowered_to_usual" in {r.code for r in protocol.reasons}


def test_a_binding_cap_lowers_the_target_with_a_reason() -> None:
    tight = LimitSettings(device_ceiling_mA=10.0)
    protocol = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT_AGE, settings=tight)
    assert protocol.target_current_mA == protocol.max_current_mA == 10.0
    assert "target_lowered_to_cap" in {r.code for r in protocol.reasons}


# --- Properties over random patients ---------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(ages, region_st, solution_st, limit_settings_st, st.data())
def test_target_within_max_within_every_cap(
    age: float,
    region: Region,
    solution: Solution,
    limit_settings: LimitSettings,
    data: st.DataObject,
) -> None:
    preset = data.draw(st.none() | st.sampled_from(_fitting_presets(solution)))
    protocol = recommend_protocol(region, solution, age, preset=preset, settings=limit_settings)
    assert 0 < protocol.target_current_mA <= protocol.max_current_mA
    assert protocol.limits
    assert all(protocol.max_current_mA <= c.value for c in protocol.limits)
    assert protocol.max_current_mA == min(c.value for c in protocol.limits)
    # every cap limits.current_caps gives for this patient is honoured
    dc_caps = limits.current_caps(age, region, solution, limit_settings)
    assert all(protocol.max_current_mA <= c.value for c in dc_caps)
    group_cap = limits.group_current_cap(regions.age_group(age), solution)
    assert group_cap in protocol.limits


@settings(max_examples=200, deadline=None)
@given(ages, region_st, solution_st, st.data())
def test_never_under_10_minutes_of_tap_water_and_never_pure_ac(
    age: float, region: Region, solution: Solution, data: st.DataObject
) -> None:
    preset = data.draw(st.none() | st.sampled_from(_fitting_presets(solution)))
    protocol = recommend_protocol(region, solution, age, preset=preset)
    assert protocol.waveform is not Waveform.AC
    assert limits.is_therapeutic_waveform(protocol.waveform)
    if solution is Solution.TAP_WATER:
        assert protocol.minutes >= 10
    assert all(r.source is not None for r in protocol.reasons)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=regions.CHILD_BELOW_YEARS, exclude_max=True),
    st.floats(min_value=regions.CHILD_BELOW_YEARS, max_value=100.0),
    region_st,
    solution_st,
)
def test_a_childs_protocol_is_never_stronger_than_an_adults(
    child_age: float, adult_age: float, region: Region, solution: Solution
) -> None:
    for preset in _fitting_presets(solution):
        child = recommend_protocol(region, solution, child_age, preset=preset)
        adult = recommend_protocol(region, solution, adult_age, preset=preset)
        assert child.max_current_mA <= adult.max_current_mA
        assert child.target_current_mA <= adult.target_current_mA


@given(ages, region_st)
def test_glycopyrronium_max_never_above_tap_water_max(age: float, region: Region) -> None:
    glyco = recommend_protocol(region, Solution.GLYCOPYRRONIUM, age)
    tap = recommend_protocol(region, Solution.TAP_WATER, age, preset="uk_halfway")
    assert glyco.max_current_mA <= tap.max_current_mA


@pytest.mark.parametrize("age", [-0.5, float("nan")])
def test_impossible_age_is_refused(age: float) -> None:
    with pytest.raises(ValueError, match="age"):
        recommend_protocol(Region.PALMS, Solution.TAP_WATER, age)
