"""The physics of electrode-water-skin-body and the virtual patient: examples and properties.

Calibration tolerances (stated here because the targets are "~" values in the sources):
* drift at a constant 8.5 V (hobbyist measurement, clinical-reference §2): the median palms
  patient carries 2.0 ± 0.25 mA at the start and 4.5 ± 0.3 mA after 10 minutes;
* body resistance (vendor advice 4–6 kΩ): the median of 1,000 patients at the start with
  400 µS/cm water lies within 4–6 kΩ and the quartiles within 3–7 kΩ, for palms and soles;
* ``advance`` against ticking one by one: charge within 1% (+1 µA·ms per tick for the
  rounding of each tick's current), end current within 1% (+2 µA), end voltage within 1%
  (+20 mV), peak density within 1%.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ionto.device.load import Load, LoadReading
from ionto.device.patients import (
    DEFAULT_TRAY,
    AreaChange,
    Movement,
    VirtualPatient,
    bath_resistance_ohm,
    defect_resistance_ohm,
    water_skin_factor,
)
from ionto.device.physics import (
    DEFAULT_SENSATION,
    PatientLoad,
    is_painful,
    sensation,
    waveform_shape,
)
from ionto.therapy import regions
from ionto.therapy.regions import Electrode
from ionto.therapy.vocabulary import AgeGroup, Region, Waveform

ADULT = 34.0
CHILD = 10.0
COMPLIANCE_mV = 60_000  # tap water, therapy.limits default
MIN = 60_000  # ticks in a minute

seeds = st.integers(min_value=0, max_value=2**32 - 1)
region_st = st.sampled_from(list(Region))
waveform_st = st.sampled_from([Waveform.DC, Waveform.PULSED_DC, Waveform.AC_DC_OFFSET])
water_st = st.sampled_from([100.0, 400.0, 800.0])
demand_st = st.integers(min_value=-25_000, max_value=25_000)
compliance_st = st.integers(min_value=5_000, max_value=90_000)


def median_palms() -> VirtualPatient:
    return VirtualPatient.median(Region.PALMS, ADULT)


def ramp(load: PatientLoad, start: int, ticks: int, to_uA: int, compliance_mV: int) -> int:
    """Ramp from zero to ``to_uA`` over ``ticks`` ticks, tick by tick; the next tick."""
    for j in range(ticks):
        load.drive(start + j, round(to_uA * (j + 1) / ticks), compliance_mV)
    return start + ticks


def settled_at(load: PatientLoad, tick: int, demand_uA: int) -> int:
    """Bring the load to a steady state at ``demand_uA``: a 30 s ramp from ``tick``."""
    if tick > 0:
        load.advance(0, tick, 0, COMPLIANCE_mV)
    return ramp(load, tick, 30_000, demand_uA, COMPLIANCE_mV)


# --- The virtual patient --------------------------------------------------------------------
def test_the_load_is_a_load() -> None:
    load: Load = PatientLoad(median_palms())
    assert isinstance(load.drive(0, 1000, COMPLIANCE_mV), LoadReading)


@given(seed=seeds, region=region_st, age=st.floats(0, 100), water=water_st)
def test_the_same_seed_gives_the_same_patient(
    seed: int, region: Region, age: float, water: float
) -> None:
    state = random.getstate()
    first = VirtualPatient.from_seed(seed, region, age, water)
    second = VirtualPatient.from_seed(seed, region, age, water)
    assert first == second
    assert random.getstate() == state  # never the global random


def test_different_seeds_give_different_patients() -> None:
    patients = {VirtualPatient.from_seed(s, Region.PALMS, ADULT) for s in range(50)}
    assert len(patients) == 50


@given(seed=seeds, region=region_st)
def test_a_childs_wetted_area_is_smaller_than_an_adults(seed: int, region: Region) -> None:
    child = VirtualPatient.from_seed(seed, region, CHILD)
    adult = VirtualPatient.from_seed(seed, region, ADULT)
    assert child.group is AgeGroup.CHILD
    assert adult.group is AgeGroup.ADULT
    for side in (0, 1):
        assert child.full_area_cm2[side] < adult.full_area_cm2[side]


def test_children_are_smaller_across_the_population() -> None:
    children = [
        VirtualPatient.from_seed(s, Region.PALMS, CHILD).full_area_cm2[0] for s in range(300)
    ]
    adults = [VirtualPatient.from_seed(s, Region.PALMS, ADULT).full_area_cm2[0] for s in range(300)]
    assert max(children) < statistics.median(adults)
    assert statistics.median(children) == pytest.approx(70.0, rel=0.05)
    assert statistics.median(adults) == pytest.approx(130.0, rel=0.05)


@pytest.mark.parametrize("region", [Region.PALMS, Region.SOLES])
def test_population_total_resistance_is_4_to_6_kohm_at_the_start(region: Region) -> None:
    """Vendor advice: 4–6 kΩ across a pairing in practice (makers rate at 2 kΩ)."""
    totals = sorted(
        VirtualPatient.from_seed(s, region, ADULT).resistance_ohm_at(0) for s in range(1000)
    )
    quartiles = statistics.quantiles(totals, n=4)
    assert 4000 <= statistics.median(totals) <= 6000
    assert quartiles[0] >= 3000
    assert quartiles[2] <= 7000
    # Nobody is at the makers' 2 kΩ rating before the skin has hydrated.
    assert totals[len(totals) // 100] > 2000


def test_median_patient_hydrated_is_near_the_makers_2_kohm_rating() -> None:
    patient = median_palms()
    assert 1500 <= patient.resistance_ohm_at(20 * MIN) <= 2000


def test_soft_water_raises_and_hard_water_lowers_the_resistance() -> None:
    typical = median_palms()
    soft = typical.with_water(100.0).resistance_ohm_at(0)
    hard = typical.with_water(800.0).resistance_ohm_at(0)
    assert hard < typical.resistance_ohm_at(0) < soft
    # Soft water "gives too little current" (Fischer; IHS): 15 mA needs > 60 V at the start
    # and still > 30 V after ten minutes.
    assert 0.015 * soft > 60.0
    assert 0.015 * typical.with_water(100.0).resistance_ohm_at(10 * MIN) > 30.0


def test_bath_resistance_follows_the_slab_formula() -> None:
    # 400 µS/cm is 2500 Ω·cm; 1 cm of water over 125 cm²: 20 Ω.
    assert bath_resistance_ohm(400.0, 125.0) == pytest.approx(20.0)
    assert bath_resistance_ohm(100.0, 125.0) == pytest.approx(80.0)
    assert bath_resistance_ohm(400.0, 0.0) == math.inf
    assert DEFAULT_TRAY.gap_cm == 1.0
    assert water_skin_factor(100.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="conductivity"):
        bath_resistance_ohm(0.0, 10.0)


@given(seed=seeds, region=region_st, water=water_st, t1=st.integers(0, 40 * MIN))
def test_resistance_falls_monotonically_with_hydration(
    seed: int, region: Region, water: float, t1: int
) -> None:
    patient = VirtualPatient.from_seed(seed, region, ADULT, water)
    ticks = [0, t1 // 3, t1 // 2, t1, t1 + 1, t1 + MIN]
    values = [patient.resistance_ohm_at(t) for t in ticks]
    assert all(later <= earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] < values[0]


def test_hydration_lowers_the_voltage_at_a_constant_current() -> None:
    load = PatientLoad(median_palms())
    tick = settled_at(load, 0, 10_000)
    voltages = []
    for _ in range(10):
        voltages.append(load.advance(tick, MIN, 10_000, COMPLIANCE_mV).reading.voltage_mV)
        tick += MIN
    assert all(b <= a for a, b in itertools.pairwise(voltages))
    assert voltages[-1] < 0.7 * voltages[0]


# --- Calibration of the drift (hobbyist measurement) ----------------------------------------
def test_drift_at_constant_8_5_volts_is_2_to_4_5_mA_over_10_minutes() -> None:
    """At a constant 8.5 V the current rose from ~2 to ~4.5 mA in 10 min (clinical-ref §2).

    A current source asked for far more than flows *is* a constant-voltage source at its
    compliance, so 8.5 V compliance with a 1 A demand reproduces the measurement.
    """
    load = PatientLoad(median_palms())
    start = load.advance(0, 1000, 1_000_000, 8_500).reading  # after the capacitors charge
    later = load.advance(1000, 10 * MIN - 1000, 1_000_000, 8_500).reading
    assert start.voltage_mV == later.voltage_mV == 8_500
    assert start.current_uA == pytest.approx(2_000, abs=250)
    assert later.current_uA == pytest.approx(4_500, abs=300)


def test_a_session_at_15_mA_needs_typical_voltages() -> None:
    """Hands: 20–30 V typical once under way (vendors; Sinclair 2023)."""
    load = PatientLoad(median_palms())
    tick = settled_at(load, 5 * MIN, 15_000)
    reading = load.advance(tick, 15 * MIN - tick + 5 * MIN, 15_000, COMPLIANCE_mV).reading
    assert reading.current_uA == 15_000
    assert 20_000 <= reading.voltage_mV <= 30_000


# --- The load: what flows -------------------------------------------------------------------
@st.composite
def scripted_patients(draw: st.DrawFn) -> VirtualPatient:
    """A random patient with random lifts, dips and skin breaks in the first 3 s."""
    patient = VirtualPatient.from_seed(
        draw(seeds), draw(region_st), draw(st.sampled_from([CHILD, ADULT])), draw(water_st)
    )
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["lift", "dip", "break"]))
        t_s = draw(st.floats(0.0, 3.0))
        electrode = draw(st.sampled_from(patient.electrodes))
        if kind == "lift":
            patient = patient.lift(
                t_s, draw(st.floats(0.0, 1.0)), electrode=electrode, transition_s=0.1
            )
        elif kind == "dip":
            fraction = draw(st.floats(0.05, 1.5))
            patient = patient.dip(t_s, 0.5, fraction, electrode=electrode, transition_s=0.1)
        else:
            patient = patient.skin_break(t_s, electrode=electrode)
    return patient


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patient=scripted_patients(),
    waveform=waveform_st,
    compliance=compliance_st,
    demands=st.lists(st.tuples(demand_st, st.integers(1, 400)), min_size=1, max_size=12),
)
def test_every_tick_keeps_the_invariants(
    patient: VirtualPatient,
    waveform: Waveform,
    compliance: int,
    demands: list[tuple[int, int]],
) -> None:
    """Never more than asked, never the other sign, never beyond compliance; open: nothing."""
    load = PatientLoad(patient, waveform)
    tick = 0
    for demand, ticks in demands:
        for _ in range(ticks):
            reading = load.drive(tick, demand, compliance)
            assert abs(reading.current_uA) <= abs(demand)
            assert reading.current_uA * demand >= 0
            assert abs(reading.voltage_mV) <= compliance
            if abs(reading.current_uA) < abs(demand):
                # Short of the demand only when the compliance voltage is reached.
                assert abs(reading.voltage_mV) == compliance
            if patient.state_at(tick).open_circuit:
                assert reading.current_uA == 0
                assert reading.voltage_mV == (
                    0 if demand == 0 else math.copysign(compliance, demand)
                )
            assert 0.0 <= load.sensation <= 10.0
            tick += 1


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    region=region_st,
    waveform=waveform_st,
    demand=demand_st.filter(lambda d: d != 0),
    compliance=compliance_st,
    minutes=st.integers(0, 20),
)
def test_a_settled_current_never_exceeds_compliance_over_resistance(
    seed: int, region: Region, waveform: Waveform, demand: int, compliance: int, minutes: int
) -> None:
    patient = VirtualPatient.from_seed(seed, region, ADULT)
    load = PatientLoad(patient, waveform)
    start = minutes * MIN
    if start:
        load.advance(0, start, 0, compliance)
    reading = load.drive(start, demand, compliance)
    # The first tick: the uncharged skin passes at most compliance over the series part.
    series = load.shape.peak_factor * patient.series_ohm(start)
    assert abs(reading.current_uA) * 1e-6 <= compliance * 1e-3 / series * (1 + 1e-9) + 1e-6
    for tick in range(start + 1, start + 200):
        reading = load.drive(tick, demand, compliance)
    settled_limit = (
        compliance
        * 1e-3
        / (
            patient.resistance_ohm_at(tick)
            + (load.shape.peak_factor - 1) * patient.series_ohm(tick)
        )
    )
    assert abs(reading.current_uA) * 1e-6 <= settled_limit * 1.001 + 1e-6


def test_open_circuit_carries_nothing_at_full_compliance() -> None:
    patient = median_palms().lift(1.0, 2.0, transition_s=0.2)
    load = PatientLoad(patient)
    tick = ramp(load, 0, 1000, 10_000, COMPLIANCE_mV)
    for t in range(tick, 1200):
        load.drive(t, 10_000, COMPLIANCE_mV)
    assert patient.state_at(1200).open_circuit
    assert load.drive(1200, 10_000, COMPLIANCE_mV) == LoadReading(0, COMPLIANCE_mV)
    assert load.drive(1201, -10_000, COMPLIANCE_mV) == LoadReading(0, -COMPLIANCE_mV)
    assert load.drive(1202, 0, COMPLIANCE_mV) == LoadReading(0, 0)
    stretch = load.advance(1203, 1500, 10_000, COMPLIANCE_mV)
    assert stretch.charge_uA_ms == 0.0
    assert stretch.reading == LoadReading(0, COMPLIANCE_mV)
    assert stretch.first_limited_tick == 1203


def test_the_voltage_lags_a_step_in_current() -> None:
    """R ∥ C: after a step the voltage climbs over a few ticks (τ = r·c, 2–8 ms)."""
    load = PatientLoad(median_palms())
    volts = [load.drive(t, 5_000, COMPLIANCE_mV).voltage_mV for t in range(40)]
    assert volts[0] < 0.6 * volts[-1]
    assert all(b >= a for a, b in itertools.pairwise(volts))
    assert volts[-1] == pytest.approx(
        5_000e-6 * median_palms().resistance_ohm_at(39) * 1e3, rel=0.01
    )


def test_pulsed_dc_needs_a_higher_peak_voltage_for_the_same_average() -> None:
    patient = median_palms()
    dc = PatientLoad(patient, Waveform.DC)
    pulsed = PatientLoad(patient, Waveform.PULSED_DC)
    for load in (dc, pulsed):
        load.advance(0, 10 * MIN, 10_000, 90_000)
    extra_mV = (pulsed.shape.peak_factor - 1) * 0.010 * patient.series_ohm(10 * MIN) * 1e3
    dc_mV = dc.last_reading.voltage_mV
    assert pulsed.last_reading.voltage_mV == pytest.approx(dc_mV + extra_mV, abs=5)
    assert waveform_shape(Waveform.PULSED_DC).peak_factor == 2.0
    with pytest.raises(ValueError, match="pure AC"):
        waveform_shape(Waveform.AC)


# --- Skin defects and movements -------------------------------------------------------------
def test_a_skin_break_drops_the_resistance_sharply_on_a_small_area() -> None:
    patient = median_palms().skin_break(60.0, electrode=Electrode.LEFT_HAND)
    before = patient.resistance_ohm_at(60_000 - 1)
    after = patient.resistance_ohm_at(60_000)
    # Within one tick: that side's skin loses half its resistance, the pairing ≥ 15%. No
    # more, because in tap water the cut's own resistance is mostly the water spreading
    # into it; what hurts is the current crowding into 0.25 cm² (next test).
    assert after < 0.85 * before
    assert patient.side_skin_ohm(0, 60_000) < 0.6 * patient.side_skin_ohm(0, 60_000 - 1)
    assert patient.side_skin_ohm(1, 60_000) == pytest.approx(
        patient.side_skin_ohm(1, 60_000 - 1), rel=1e-4
    )
    assert patient.state_at(60_000).defect_area_cm2 == (0.25, 0.0)
    assert patient.next_change_tick(0) == 60_000
    assert defect_resistance_ohm(400.0, 0.25) == pytest.approx(
        2700 / (4 * math.sqrt(0.25 / math.pi))
    )


def test_a_skin_break_burns_where_the_intact_skin_did_not() -> None:
    """Burning at a skin defect (clinical-reference §4): tolerable 12 mA becomes painful."""
    patient = median_palms().skin_break(5 * 60.0)
    load = PatientLoad(patient)
    tick = settled_at(load, 0, 12_000)
    load.advance(tick, 5 * MIN - tick, 12_000, COMPLIANCE_mV)
    assert not load.painful
    load.drive(5 * MIN, 12_000, COMPLIANCE_mV)
    load.advance(5 * MIN + 1, 1000, 12_000, COMPLIANCE_mV)
    assert load.painful
    assert load.felt_density_mA_cm2 > 3 * load.density_mA_cm2


@given(
    start=st.integers(0, 5000),
    hold=st.integers(0, 3000),
    transition=st.integers(1, 400),
    fraction=st.floats(0.0, 2.0),
    probe=st.integers(0, 12_000),
)
def test_the_script_does_not_change_before_next_change_tick(
    start: int, hold: int, transition: int, fraction: float, probe: int
) -> None:
    change = AreaChange(Movement.DIP, 1, start, transition, hold, fraction)
    patient = replace(median_palms(), movements=(change,))
    nxt = patient.next_change_tick(probe)
    state = patient.state_at(probe)
    stop = probe + 50 if nxt is None else min(nxt, probe + 50)
    for tick in range(probe, stop):
        assert patient.state_at(tick) == state
    if nxt is not None:
        assert nxt > probe
    assert patient.state_at(change.end_tick).wetted_area_cm2 == patient.full_area_cm2


def test_a_lift_empties_the_electrode_smoothly_and_returns() -> None:
    patient = median_palms().lift(10.0, 3.0, transition_s=0.2)
    full = patient.full_area_cm2[1]
    areas = [patient.wetted_area_cm2_at(t)[1] for t in range(10_000, 10_200)]
    assert areas[0] < full
    assert areas[-1] == 0.0
    assert all(b <= a for a, b in itertools.pairwise(areas))
    assert patient.wetted_area_cm2_at(11_000) == (patient.full_area_cm2[0], 0.0)
    assert patient.state_at(13_199).open_circuit
    assert patient.wetted_area_cm2_at(13_400)[1] == full
    assert patient.next_change_tick(9_000) == 10_000
    assert patient.next_change_tick(10_500) == 13_200
    assert patient.next_change_tick(13_400) is None


def test_movements_name_a_side_of_the_pairing() -> None:
    patient = VirtualPatient.median(Region.FACE, ADULT)
    assert patient.electrodes == (Electrode.FACE, Electrode.RIGHT_HAND)
    assert patient.lift(1.0, 1.0).movements[0].side == 1  # the hand, by default
    assert patient.lift(1.0, 1.0, electrode=Electrode.FACE).movements[0].side == 0
    with pytest.raises(ValueError, match="not part of the face pairing"):
        patient.lift(1.0, 1.0, electrode=Electrode.LEFT_FOOT)
    # Density is computed on the smaller electrode: the hand against the mask.
    assert min(patient.full_area_cm2) == patient.full_area_cm2[1]
    assert (
        patient.full_area_cm2[1] == regions.ELECTRODE_AREA_CM2[Electrode.RIGHT_HAND][AgeGroup.ADULT]
    )


# --- Advance against ticking ----------------------------------------------------------------
def _ticked(
    load: PatientLoad, start: int, ticks: int, demand: int, compliance: int, slope: float
) -> tuple[int, LoadReading, float]:
    charge = 0
    peak = 0.0
    reading = LoadReading(0, 0)
    for j in range(ticks):
        reading = load.drive(start + j, round(demand + slope * j), compliance)
        charge += reading.current_uA
        peak = max(peak, load.density_mA_cm2)
    return charge, reading, peak


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    region=region_st,
    waveform=waveform_st,
    water=water_st,
    demand=st.integers(0, 25_000),
    negative=st.booleans(),
    compliance=compliance_st,
    warm_demand=st.integers(0, 25_000),
    start_s=st.integers(0, 900),
    ticks=st.integers(1, 20_000),
    slope=st.sampled_from([0.0, 0.0, 0.5, -0.5, 2.0]),
    skin_break=st.booleans(),
)
def test_advance_matches_ticking_one_by_one(
    seed: int,
    region: Region,
    waveform: Waveform,
    water: float,
    demand: int,
    negative: bool,
    compliance: int,
    warm_demand: int,
    start_s: int,
    ticks: int,
    slope: float,
    skin_break: bool,
) -> None:
    patient = VirtualPatient.from_seed(seed, region, ADULT, water)
    if skin_break:
        patient = patient.skin_break(0.0)
    if slope < 0:
        slope = max(slope, -demand / ticks)  # no sign change within the stretch
    sign = -1 if negative else 1
    fast, slow = PatientLoad(patient, waveform), PatientLoad(patient, waveform)
    start = start_s * 1000 + 100
    for load in (fast, slow):
        if start_s:
            load.advance(0, start - 100, 0, compliance)
        for t in range(start - 100, start):  # a disturbed start: the capacitors charging
            load.drive(t, sign * warm_demand, compliance)
    stretch = fast.advance(start, ticks, sign * demand, compliance, slope_uA_per_tick=sign * slope)
    charge, reading, peak = _ticked(slow, start, ticks, sign * demand, compliance, sign * slope)
    assert stretch.ticks == ticks
    assert stretch.charge_uA_ms == pytest.approx(charge, rel=0.01, abs=ticks)
    assert stretch.reading.current_uA == pytest.approx(reading.current_uA, rel=0.01, abs=2)
    assert stretch.reading.voltage_mV == pytest.approx(reading.voltage_mV, rel=0.01, abs=20)
    assert stretch.peak_density_mA_cm2 == pytest.approx(peak, rel=0.01, abs=1e-6)
    assert fast.sensation == pytest.approx(slow.sensation, abs=0.05)


def test_advance_matches_ticking_through_a_long_compliance_limited_stretch() -> None:
    """Soft water at the start: the voltage-limited current rises as the skin hydrates."""
    patient = VirtualPatient.median(Region.PALMS, ADULT, 100.0)
    fast, slow = PatientLoad(patient), PatientLoad(patient)
    stretch = fast.advance(0, 5 * MIN, 15_000, COMPLIANCE_mV)
    charge, reading, _ = _ticked(slow, 0, 5 * MIN, 15_000, COMPLIANCE_mV, 0.0)
    assert stretch.first_limited_tick is not None
    assert stretch.charge_uA_ms == pytest.approx(charge, rel=1e-3)
    assert stretch.reading.current_uA == pytest.approx(reading.current_uA, abs=2)


def test_advance_is_a_few_evaluations_not_one_per_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    load = PatientLoad(median_palms())
    tick = settled_at(load, 0, 15_000)
    calls = {"drive": 0, "current_at": 0}
    drive, current_at = load.drive, load._current_at

    def counting_drive(*args: int) -> LoadReading:
        calls["drive"] += 1
        return drive(*args)

    def counting_current_at(*args: float) -> object:
        calls["current_at"] += 1
        return current_at(*args)

    monkeypatch.setattr(load, "drive", counting_drive)
    monkeypatch.setattr(load, "_current_at", counting_current_at)
    stretch = load.advance(tick, 20 * MIN, 15_000, COMPLIANCE_mV)
    assert stretch.ticks == 20 * MIN
    assert calls["drive"] == 0
    assert calls["current_at"] <= 40


def test_advance_refuses_a_stretch_over_a_scripted_change_or_through_zero() -> None:
    load = PatientLoad(median_palms().lift(1.0, 1.0))
    with pytest.raises(ValueError, match="changes at tick 1000"):
        load.advance(0, 2000, 1000, COMPLIANCE_mV)
    with pytest.raises(ValueError, match="changes sign"):
        load.advance(0, 500, 100, COMPLIANCE_mV, slope_uA_per_tick=-1.0)
    with pytest.raises(ValueError, match="at least one tick"):
        load.advance(0, 0, 100, COMPLIANCE_mV)


def test_advance_can_stop_at_the_first_compliance_limited_tick() -> None:
    """A ramp that runs into the compliance: the simulator hands that tick to the firmware."""
    patient = median_palms()
    fast, slow = PatientLoad(patient), PatientLoad(patient)
    stretch = fast.advance(
        0, 40_000, 0, COMPLIANCE_mV, slope_uA_per_tick=0.5, stop_at_compliance=True
    )
    first = None
    for tick in range(40_000):
        demand = round(0.5 * tick)
        if abs(slow.drive(tick, demand, COMPLIANCE_mV).current_uA) < demand:
            first = tick
            break
    assert first is not None
    assert stretch.first_limited_tick is not None
    assert abs(stretch.first_limited_tick - first) <= 20
    assert stretch.ticks == stretch.first_limited_tick + 1
    assert stretch.reading.current_uA < round(0.5 * stretch.first_limited_tick)
    assert stretch.reading.voltage_mV == COMPLIANCE_mV


# --- Sensation ------------------------------------------------------------------------------
def test_hands_at_10_to_18_mA_are_strong_but_tolerated_by_the_median_patient() -> None:
    """Fischer: 10–18 mA on hands; strong pins-and-needles (UK centre), tolerated."""
    patient = median_palms()
    area = min(patient.full_area_cm2)
    felt = [sensation(mA / area, 0.0, Waveform.DC, patient) for mA in (10, 15, 18)]
    assert felt == sorted(felt)
    assert felt[0] >= 4.0
    assert felt[1] >= 5.0
    assert felt[2] < patient.pain_threshold
    assert not is_painful(15 / area, 0.0, Waveform.DC, patient)


def test_most_of_the_population_tolerates_15_mA_on_the_palms() -> None:
    tolerated = 0
    for seed in range(1000):
        patient = VirtualPatient.from_seed(seed, Region.PALMS, ADULT)
        density = 15 / min(patient.full_area_cm2)
        tolerated += not is_painful(density, 0.0, Waveform.DC, patient)
    assert 0.8 <= tolerated / 1000 < 1.0  # some do not: tolerance is an outcome


def test_pulsed_dc_is_felt_less_than_dc() -> None:
    patient = median_palms()
    for density in (0.05, 0.115, 0.3):
        assert sensation(density, 0.0, Waveform.PULSED_DC, patient) < sensation(
            density, 0.0, Waveform.DC, patient
        )
    assert sensation(0.1, 5.0, Waveform.PULSED_DC, patient) < sensation(
        0.1, 5.0, Waveform.DC, patient
    )


@given(
    density=st.floats(0.0, 5.0),
    more=st.floats(0.0, 5.0),
    rate=st.floats(-100.0, 100.0),
    waveform=waveform_st,
    seed=seeds,
)
def test_sensation_grows_with_density_and_with_a_rising_rate(
    density: float, more: float, rate: float, waveform: Waveform, seed: int
) -> None:
    patient = VirtualPatient.from_seed(seed, Region.PALMS, ADULT)
    felt = sensation(density, rate, waveform, patient)
    assert 0.0 <= felt <= 10.0
    assert sensation(density + more, rate, waveform, patient) >= felt
    if rate >= 0:
        assert sensation(density, rate + more, waveform, patient) >= felt
    # A fall is felt less than a rise of the same speed (make/break asymmetry).
    assert sensation(density, -abs(rate), waveform, patient) <= sensation(
        density, abs(rate), waveform, patient
    )


def test_a_30_second_ramp_is_not_painful_but_a_step_is() -> None:
    """Soterix's 30 s ramp; a current switched on at once is felt as a shock."""
    patient = median_palms()
    ramped = PatientLoad(patient)
    tick = settled_at(ramped, 10 * MIN, 15_000)
    steady = sensation(15 / min(patient.full_area_cm2), 0.0, Waveform.DC, patient)
    assert ramped.peak_sensation < steady + 0.05
    assert ramped.peak_sensation < patient.pain_threshold
    stepped = PatientLoad(patient)
    stepped.advance(0, 10 * MIN, 0, COMPLIANCE_mV)
    for t in range(10 * MIN, 10 * MIN + 100):
        stepped.drive(t, 15_000, COMPLIANCE_mV)
    assert stepped.peak_sensation > steady + 1.5
    assert stepped.peak_sensation > patient.pain_threshold
    assert tick == 10 * MIN + 30_000


def _lift_peak(patient: VirtualPatient, demand_uA: int, waveform: Waveform) -> float:
    """Peak sensation of a limb lifted at 10 min while a current source holds ``demand``."""
    lifted = patient.lift(10 * 60.0, 1.0)
    load = PatientLoad(lifted, waveform)
    tick = settled_at(load, 10 * MIN - 30_000, demand_uA)
    load.peak_sensation = 0.0
    for t in range(tick, tick + 1500):
        load.drive(t, demand_uA, COMPLIANCE_mV)
    return load.peak_sensation


@pytest.mark.parametrize("seed", range(12))
def test_a_limb_lifted_with_current_flowing_is_a_shock(seed: int) -> None:
    """Hidrex DP450: removing a limb with current flowing gives an unpleasant shock."""
    patient = VirtualPatient.from_seed(seed, Region.PALMS, ADULT)
    assert _lift_peak(patient, 12_000, Waveform.DC) > patient.pain_threshold


def test_a_lifted_limb_multiplies_the_density_on_the_smaller_electrode() -> None:
    lifted = median_palms().lift(10 * 60.0, 1.0, transition_s=0.2)
    load = PatientLoad(lifted)
    tick = settled_at(load, 10 * MIN - 30_000, 15_000)
    steady = load.density_mA_cm2
    peak = max(
        (load.drive(t, 15_000, COMPLIANCE_mV), load.density_mA_cm2)[1]
        for t in range(tick, tick + 400)
    )
    assert peak > 4 * steady


def test_sensation_model_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        replace(DEFAULT_SENSATION, half_density_mA_cm2=0.0)
    with pytest.raises(ValueError, match="≥ 0"):
        replace(DEFAULT_SENSATION, break_weight=-1.0)


def _lift_with_detector(patient: VirtualPatient, rise: float, transition_s: float) -> float:
    """How much a lift adds to the steady sensation when the device cuts the current as soon
    as the measured impedance has risen by ``rise`` (or the compliance binds)."""
    area = min(patient.full_area_cm2)
    current_mA = 15.0  # the highest tolerated current up to 15 mA, 0.5 below the threshold
    while sensation(current_mA / area, 0.0, Waveform.DC, patient) > patient.pain_threshold - 0.5:
        current_mA -= 0.5
    demand = round(current_mA * 1000)
    lifted = patient.lift(10 * 60.0, 1.0, transition_s=transition_s)
    load = PatientLoad(lifted)
    load.advance(0, 10 * MIN - 30_000, 0, COMPLIANCE_mV)
    load.advance(10 * MIN - 30_000, 30_000, 0, COMPLIANCE_mV, slope_uA_per_tick=demand / 30_000)
    steady = load.sensation
    impedance = load.last_reading.voltage_mV / load.last_reading.current_uA
    load.peak_sensation = 0.0
    for tick in range(10 * MIN, 10 * MIN + 600):
        reading = load.drive(tick, demand, COMPLIANCE_mV)
        if demand and (
            reading.current_uA < demand or reading.voltage_mV > rise * impedance * demand
        ):
            demand = 0
    return load.peak_sensation - steady


def test_a_device_that_cuts_early_spares_the_patient_the_shock() -> None:
    """What an anti-shock guard must achieve: cut within a 2% impedance rise."""
    added = {
        rise: max(
            _lift_with_detector(VirtualPatient.from_seed(seed, Region.PALMS, ADULT), rise, tr)
            for seed in range(8)
            for tr in (0.1, 0.3)
        )
        for rise in (1.02, 1.05, 1.10)
    }
    assert added[1.02] < 0.7 < added[1.05] < 1.3 < added[1.10] < 2.0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 5_000),
    start_s=st.floats(0.0, 900.0),
    ticks=st.integers(2, 5_000),
    demand_uA=st.integers(200, 15_000),
    step_uA=st.integers(-300, 300),
)
def test_a_regulated_stretch_at_once_matches_ticking(
    seed: int, start_s: float, ticks: int, demand_uA: int, step_uA: int
) -> None:
    """The closed form for a constant demand in regulation: the same charge to the µA·ms and
    the same end voltage (within 0.1%) as ticking, even right after a ramp step."""
    patient = VirtualPatient.from_seed(seed, Region.PALMS, 34.0)
    start = 50 + round(start_s * 1000)
    fast, slow = PatientLoad(patient), PatientLoad(patient)
    before = max(0, demand_uA - step_uA)
    for load in (fast, slow):
        for t in range(start - 50, start):
            load.drive(t, before, 90_000)
    stretch = fast.advance(start, ticks, demand_uA, 90_000)
    charge = 0
    reading = None
    for t in range(start, start + ticks):
        reading = slow.drive(t, demand_uA, 90_000)
        charge += reading.current_uA
    assert reading is not None
    if reading.current_uA != demand_uA:
        return  # not in regulation: the exact path was taken (checked elsewhere)
    assert stretch.charge_uA_ms == pytest.approx(charge, rel=1e-9)
    assert stretch.reading.current_uA == reading.current_uA
    assert stretch.reading.voltage_mV == pytest.approx(reading.voltage_mV, rel=1e-3, abs=2)
    assert fast.sensation == pytest.approx(slow.sensation, rel=1e-3, abs=1e-3)
