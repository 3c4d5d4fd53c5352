"""The current, density, device, voltage, ramp and waveform limits: examples and properties."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import limits, regions, sources
from ionto.therapy.limits import (
    CURRENT_CAP_MA,
    DEFAULT_LIMITS,
    DENSITY_ELECTROTHERAPY_MANUAL,
    DENSITY_IEC_WARNING,
    DENSITY_PRESETS,
    LimitSettings,
)
from ionto.therapy.vocabulary import AgeGroup, Region, Solution, Waveform

ADULT_AGE = 34.0
CHILD_AGE = 10.0

ages = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
adult_ages = st.floats(min_value=regions.CHILD_BELOW_YEARS, max_value=100.0)
child_ages = st.floats(min_value=0.0, max_value=regions.CHILD_BELOW_YEARS, exclude_max=True)
region_st = st.sampled_from(list(Region))
solution_st = st.sampled_from(list(Solution))
density_st = st.sampled_from(list(DENSITY_PRESETS.values()))
limit_settings_st = st.builds(
    LimitSettings,
    density=density_st,
    device_ceiling_mA=st.floats(min_value=1.0, max_value=34.0),
    device_ceiling_on_peak=st.booleans(),
    usual_hands_ceiling_mA=st.floats(min_value=1.0, max_value=30.0),
    usual_feet_ceiling_mA=st.floats(min_value=1.0, max_value=30.0),
    usual_ceilings_as_caps=st.booleans(),
    glycopyrronium_dry_mouth_cap_mA=st.none() | st.floats(min_value=1.0, max_value=20.0),
)
waveform_duty_st = st.one_of(
    st.tuples(st.sampled_from([Waveform.DC, Waveform.AC_DC_OFFSET]), st.none()),
    st.tuples(st.just(Waveform.PULSED_DC), st.floats(min_value=0.05, max_value=1.0)),
)


# --- The group caps --------------------------------------------------------------------------
def test_adult_cap_is_20_mA_from_doncaster() -> None:
    cap = limits.adult_current_cap()
    assert (cap.code, cap.value, cap.unit, cap.source) == (
        "adult_current_cap",
        20.0,
        "mA",
        sources.DONCASTER,
    )


def test_child_cap_is_15_mA_from_doncaster() -> None:
    cap = limits.child_current_cap()
    assert (cap.code, cap.value, cap.unit, cap.source) == (
        "child_current_cap",
        15.0,
        "mA",
        sources.DONCASTER,
    )


def test_glycopyrronium_caps_from_the_smpc() -> None:
    adult, child = limits.glycopyrronium_adult_cap(), limits.glycopyrronium_child_cap()
    assert (adult.code, adult.value, adult.source) == (
        "glycopyrronium_adult_cap",
        20.0,
        sources.ROBINUL_SMPC,
    )
    assert (child.code, child.value, child.source) == (
        "glycopyrronium_child_cap",
        10.0,
        sources.ROBINUL_SMPC,
    )


def test_the_table_covers_every_group_and_solution() -> None:
    assert set(CURRENT_CAP_MA) == {(g, s) for g in AgeGroup for s in Solution}
    assert all(cap.unit == "mA" for cap in CURRENT_CAP_MA.values())


@pytest.mark.parametrize(
    ("age", "expected"),
    [(0.0, "child_current_cap"), (15.99, "child_current_cap"), (16.0, "adult_current_cap")],
)
def test_children_are_the_regions_age_group(age: float, expected: str) -> None:
    caps = limits.current_caps(age, Region.PALMS, Solution.TAP_WATER)
    assert expected in {c.code for c in caps}


@pytest.mark.parametrize("group", list(AgeGroup))
def test_glycopyrronium_group_cap_never_above_tap_water(group: AgeGroup) -> None:
    glyco = CURRENT_CAP_MA[(group, Solution.GLYCOPYRRONIUM)].value
    assert glyco <= CURRENT_CAP_MA[(group, Solution.TAP_WATER)].value


@settings(max_examples=200, deadline=None)
@given(ages, region_st, limit_settings_st, waveform_duty_st)
def test_glycopyrronium_limit_never_above_tap_water_limit(
    age: float,
    region: Region,
    limit_settings: LimitSettings,
    waveform_duty: tuple[Waveform, float | None],
) -> None:
    waveform, duty = waveform_duty
    kwargs = {"waveform": waveform, "duty_cycle": duty}
    glyco = limits.current_caps(age, region, Solution.GLYCOPYRRONIUM, limit_settings, **kwargs)
    tap = limits.current_caps(age, region, Solution.TAP_WATER, limit_settings, **kwargs)
    assert limits.max_current_mA(glyco) <= limits.max_current_mA(tap)


# --- Usual ceilings: targets by default, caps when configured --------------------------------
def test_usual_ceilings_are_hands_15_and_feet_25() -> None:
    hands = limits.usual_region_ceiling(Region.PALMS)
    feet = limits.usual_region_ceiling(Region.SOLES)
    assert hands is not None
    assert feet is not None
    assert (hands.code, hands.value, hands.source) == (
        "usual_hands_ceiling",
        15.0,
        sources.WIKIPEDIA_DE,
    )
    assert (feet.code, feet.value) == ("usual_feet_ceiling", 25.0)
    assert limits.usual_region_ceiling(Region.AXILLAE) is None


def test_usual_ceilings_are_not_caps_by_default() -> None:
    assert limits.region_current_caps(Region.PALMS) == ()
    assert limits.limit_current(18.0, ADULT_AGE, Region.PALMS, Solution.TAP_WATER).value == 18.0


def test_usual_ceilings_become_caps_when_configured() -> None:
    as_caps = LimitSettings(usual_ceilings_as_caps=True)
    (cap,) = limits.region_current_caps(Region.PALMS, as_caps)
    assert cap.value == 15.0
    limited = limits.limit_current(18.0, ADULT_AGE, Region.PALMS, Solution.TAP_WATER, as_caps)
    assert limited.value == 15.0
    assert [c.code for c in limited.binding] == ["usual_hands_ceiling"]


# --- Density on the smaller electrode --------------------------------------------------------
def test_density_cap_uses_the_smaller_electrode() -> None:
    # Face mask (250 cm²) against a hand tray (130 cm²): the hand sets the cap.
    cap = limits.current_density_cap(Region.FACE, AgeGroup.ADULT)
    assert cap.value == pytest.approx(0.5 * 130.0)
    assert cap.code == "current_density_cap"
    assert cap.source == sources.DRUG_IONTO_DENSITY


def test_default_density_is_the_drug_iontophoresis_ceiling() -> None:
    assert DEFAULT_LIMITS.density.density_mA_cm2 == 0.5
    assert DENSITY_ELECTROTHERAPY_MANUAL.density_mA_cm2 == 0.1
    assert DENSITY_IEC_WARNING.density_mA_cm2 == 2.0


def test_electrotherapy_manual_density_binds_on_adult_soles() -> None:
    strict = LimitSettings(density=DENSITY_ELECTROTHERAPY_MANUAL)
    limited = limits.limit_current(20.0, ADULT_AGE, Region.SOLES, Solution.TAP_WATER, strict)
    assert limited.value == pytest.approx(16.0)  # 0.1 mA/cm² × 160 cm²
    assert [c.code for c in limited.binding] == ["current_density_cap"]


@given(
    density_st,
    st.floats(min_value=1.0, max_value=500.0),
    st.floats(min_value=1.01, max_value=10.0),
)
def test_density_cap_scales_with_the_smaller_area(
    preset: limits.DensityPreset, area_cm2: float, factor: float
) -> None:
    small = limits.density_cap_mA(preset.density_mA_cm2, area_cm2)
    large = limits.density_cap_mA(preset.density_mA_cm2, area_cm2 * factor)
    assert small == pytest.approx(preset.density_mA_cm2 * area_cm2)
    assert large == pytest.approx(small * factor)


@given(region_st, st.sampled_from(list(AgeGroup)), density_st)
def test_density_cap_matches_the_regions_smaller_area(
    region: Region, group: AgeGroup, preset: limits.DensityPreset
) -> None:
    cap = limits.current_density_cap(region, group, LimitSettings(density=preset))
    area = regions.smaller_electrode_area_cm2(region, group)
    assert cap.value == pytest.approx(preset.density_mA_cm2 * area)
    assert area <= regions.wetted_area_cm2(region, group)


def test_density_needs_a_positive_area() -> None:
    with pytest.raises(ValueError, match="area"):
        limits.density_cap_mA(0.5, 0.0)


# --- Device ceiling --------------------------------------------------------------------------
def test_device_ceiling_is_below_the_35_mA_trip() -> None:
    cap = limits.device_current_ceiling()
    assert cap.value == 30.0 < 35.0
    assert cap.source.grade == "D"
    assert cap.code == "device_current_ceiling"


def test_device_ceiling_bounds_the_pulse_peak() -> None:
    assert limits.device_current_ceiling(duty_cycle=0.5).value == 15.0
    on_average = LimitSettings(device_ceiling_on_peak=False)
    assert limits.device_current_ceiling(on_average, duty_cycle=0.5).value == 30.0


@given(st.floats(min_value=0.01, max_value=1.0))
def test_pulse_peak_never_exceeds_the_device_ceiling(duty: float) -> None:
    average = limits.device_current_ceiling(duty_cycle=duty).value
    assert average / duty <= DEFAULT_LIMITS.device_ceiling_mA + 1e-9


@pytest.mark.parametrize("duty", [0.0, -0.1, 1.5])
def test_duty_cycle_must_be_a_fraction(duty: float) -> None:
    with pytest.raises(ValueError, match="duty"):
        limits.device_current_ceiling(duty_cycle=duty)


def test_pulsed_dc_needs_its_duty_cycle() -> None:
    with pytest.raises(ValueError, match="duty"):
        limits.current_caps(
            ADULT_AGE, Region.PALMS, Solution.TAP_WATER, waveform=Waveform.PULSED_DC
        )


# --- Glycopyrronium dry mouth ----------------------------------------------------------------
def test_dry_mouth_is_no_cap_by_default() -> None:
    assert limits.glycopyrronium_dry_mouth_cap(Solution.GLYCOPYRRONIUM) is None


def test_dry_mouth_cap_under_its_preset_applies_to_glycopyrronium_only() -> None:
    low = LimitSettings(glycopyrronium_dry_mouth_cap_mA=limits.GLYCOPYRRONIUM_DRY_MOUTH_MA)
    cap = limits.glycopyrronium_dry_mouth_cap(Solution.GLYCOPYRRONIUM, low)
    assert cap is not None
    assert (cap.code, cap.value, cap.source) == (
        "glycopyrronium_dry_mouth_cap",
        8.0,
        sources.LEOW_TEY_2017,
    )
    assert limits.glycopyrronium_dry_mouth_cap(Solution.TAP_WATER, low) is None
    limited = limits.limit_current(12.0, ADULT_AGE, Region.PALMS, Solution.GLYCOPYRRONIUM, low)
    assert limited.value == 8.0


# --- Voltage, minutes, ramps -----------------------------------------------------------------
def test_compliance_voltage() -> None:
    tap = limits.compliance_voltage_cap(Solution.TAP_WATER)
    glyco = limits.compliance_voltage_cap(Solution.GLYCOPYRRONIUM)
    assert (tap.value, tap.unit, tap.source) == (60.0, "V", sources.VENDOR_VOLTAGE)
    assert (glyco.value, glyco.unit, glyco.source) == (90.0, "V", sources.ROBINUL_SMPC)
    levit = LimitSettings(tap_water_compliance_V=90.0)
    assert limits.compliance_voltage_cap(Solution.TAP_WATER, levit).value == 90.0


def test_minimum_session_is_10_minutes() -> None:
    floor = limits.minimum_session_minutes()
    assert (floor.value, floor.unit, floor.source) == (10.0, "min", sources.HIDREX_1994)


def test_ramps_default_to_30_seconds() -> None:
    up, down = limits.ramp_limits()
    assert (up.value, down.value, up.unit) == (30.0, 30.0, "s")
    assert up.source == sources.SOTERIX_IONTODC
    with pytest.raises(ValueError, match="ramp"):
        limits.RampPreset("instant", 0.0, 30.0, sources.DERIVED)


@pytest.mark.parametrize("field", ["device_ceiling_mA", "tap_water_compliance_V"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_settings_refuse_impossible_values(field: str, bad: float) -> None:
    with pytest.raises(ValueError, match=field):
        replace(DEFAULT_LIMITS, **{field: bad})


# --- Waveforms -------------------------------------------------------------------------------
def test_pure_ac_is_refused_with_its_source() -> None:
    reason = limits.refuse_pure_ac(Waveform.AC)
    assert reason is not None
    assert reason.code == "pure_ac_refused"
    assert reason.source == sources.REINAUER_1993
    assert not limits.is_therapeutic_waveform(Waveform.AC)


@pytest.mark.parametrize("waveform", [Waveform.DC, Waveform.PULSED_DC, Waveform.AC_DC_OFFSET])
def test_therapeutic_waveforms_pass(waveform: Waveform) -> None:
    assert limits.refuse_pure_ac(waveform) is None
    assert limits.waveform_refusal(waveform) is None
    assert limits.require_therapeutic_waveform(waveform) is waveform


@given(ages, region_st, solution_st)
def test_pure_ac_is_always_refused(age: float, region: Region, solution: Solution) -> None:
    assert limits.waveform_refusal(Waveform.AC) is not None
    with pytest.raises(ValueError, match="pure_ac_refused"):
        limits.current_caps(age, region, solution, waveform=Waveform.AC)
    with pytest.raises(ValueError, match="pure_ac_refused"):
        limits.limit_current(5.0, age, region, solution, waveform=Waveform.AC)


# --- All caps together -----------------------------------------------------------------------
def test_adult_soles_tap_water_limit_is_20_mA() -> None:
    limited = limits.limit_current(25.0, ADULT_AGE, Region.SOLES, Solution.TAP_WATER)
    assert limited.value == 20.0
    assert [c.code for c in limited.binding] == ["adult_current_cap"]
    assert {c.code for c in limited.applied} == {
        "adult_current_cap",
        "current_density_cap",
        "device_current_ceiling",
    }


def test_child_limit_is_15_mA_with_tap_water() -> None:
    limited = limits.limit_current(20.0, CHILD_AGE, Region.PALMS, Solution.TAP_WATER)
    assert limited.value == 15.0
    assert "child_current_cap" in {c.code for c in limited.binding}


def test_a_request_within_every_cap_is_kept() -> None:
    limited = limits.limit_current(12.0, ADULT_AGE, Region.PALMS, Solution.TAP_WATER)
    assert limited.value == 12.0
    assert not limited.was_limited


@pytest.mark.parametrize("age", [-1.0, math.nan, math.inf])
def test_impossible_ages_are_refused(age: float) -> None:
    with pytest.raises(ValueError, match="age"):
        limits.current_caps(age, Region.PALMS, Solution.TAP_WATER)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=200.0),
    ages,
    region_st,
    solution_st,
    limit_settings_st,
    waveform_duty_st,
)
def test_limited_value_never_exceeds_any_cap(
    requested: float,
    age: float,
    region: Region,
    solution: Solution,
    limit_settings: LimitSettings,
    waveform_duty: tuple[Waveform, float | None],
) -> None:
    waveform, duty = waveform_duty
    limited = limits.limit_current(
        requested, age, region, solution, limit_settings, waveform=waveform, duty_cycle=duty
    )
    assert limited.applied
    assert all(c.unit == "mA" for c in limited.applied)
    assert all(limited.value <= c.value for c in limited.applied)
    assert limited.value <= requested
    if limited.was_limited:
        assert limited.value == min(c.value for c in limited.applied)


@settings(max_examples=200, deadline=None)
@given(child_ages, adult_ages, region_st, solution_st, limit_settings_st, waveform_duty_st)
def test_a_childs_cap_is_never_above_an_adults(
    child_age: float,
    adult_age: float,
    region: Region,
    solution: Solution,
    limit_settings: LimitSettings,
    waveform_duty: tuple[Waveform, float | None],
) -> None:
    waveform, duty = waveform_duty
    kwargs = {"waveform": waveform, "duty_cycle": duty}
    child = limits.current_caps(child_age, region, solution, limit_settings, **kwargs)
    adult = limits.current_caps(adult_age, region, solution, limit_settings, **kwargs)
    assert limits.max_current_mA(child) <= limits.max_current_mA(adult)
    adult_by_code = {c.code.replace("adult", "child"): c.value for c in adult}
    for cap in child:
        assert cap.value <= adult_by_code[cap.code]


# --- The docs table --------------------------------------------------------------------------
def test_limits_table_lists_every_limit_with_its_source() -> None:
    rows = limits.limits_table()
    codes = {r.code for r in rows}
    assert {
        "adult_current_cap",
        "child_current_cap",
        "glycopyrronium_adult_cap",
        "glycopyrronium_child_cap",
        "usual_hands_ceiling",
        "usual_feet_ceiling",
        "current_density_cap",
        "device_current_ceiling",
        "compliance_voltage_cap",
        "minimum_session_minutes",
        "ramp_up_minimum",
        "ramp_down_minimum",
    } <= codes
    assert all(r.source and r.grade in {"P", "S", "?", "D"} for r in rows)
    density_rows = [r for r in rows if r.quantity == "current density cap"]
    assert len(density_rows) == len(AgeGroup) * len(Region)


def test_limits_table_follows_the_settings() -> None:
    low = LimitSettings(glycopyrronium_dry_mouth_cap_mA=8.0, usual_ceilings_as_caps=True)
    rows = limits.limits_table(low)
    assert "glycopyrronium_dry_mouth_cap" in {r.code for r in rows}
    assert any(r.quantity == "usual current (cap)" for r in rows)
    assert "glycopyrronium_dry_mouth_cap" not in {r.code for r in limits.limits_table()}


# --- Holes found in review: settings that would lift a hard limit ----------------------------
@pytest.mark.parametrize("ceiling", [35.0, 50.0])
def test_the_device_ceiling_cannot_be_set_at_or_above_the_fault_trip(ceiling: float) -> None:
    with pytest.raises(ValueError, match="35"):
        LimitSettings(device_ceiling_mA=ceiling)


def test_glycopyrronium_voltage_cannot_exceed_its_licence() -> None:
    with pytest.raises(ValueError, match="90"):
        LimitSettings(glycopyrronium_compliance_V=100.0)
