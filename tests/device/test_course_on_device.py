"""Virtual courses on the session engine: the fast dose is what the device delivers, and the
response model's tolerance is the device simulator's sensation model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.device import patients as device_patients
from ionto.device.course import DeviceDose, run_course_session
from ionto.device.patients import VirtualPatient
from ionto.device.physics import DEFAULT_SENSATION, sensation
from ionto.therapy import response, virtual_course
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.response import DEFAULT_TOLERANCE
from ionto.therapy.virtual_course import NoMaintenance
from ionto.therapy.vocabulary import THERAPEUTIC_WAVEFORMS, Region, Solution, Waveform

ADULT = 34.0
PALMS_DC = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT, preset="uk_halfway")
GLYCO = recommend_protocol(Region.PALMS, Solution.GLYCOPYRRONIUM, ADULT)


@settings(max_examples=80, deadline=None)
@given(
    density=st.floats(0, 0.6),
    sensitivity=st.floats(0.5, 2.0),
    waveform=st.sampled_from(sorted(THERAPEUTIC_WAVEFORMS)),
)
def test_the_models_steady_sensation_is_the_device_simulators(
    density: float, sensitivity: float, waveform: Waveform
) -> None:
    patient = replace(VirtualPatient.median(Region.PALMS, ADULT), sensitivity=sensitivity)
    device = sensation(density, 0.0, waveform, patient, DEFAULT_SENSATION)
    model = float(DEFAULT_TOLERANCE.sensation(density, sensitivity, waveform))
    assert model == pytest.approx(device, abs=1e-9)


def test_the_models_pain_thresholds_are_the_device_populations() -> None:
    assert DEFAULT_TOLERANCE.pain_threshold_mean == device_patients.PAIN_THRESHOLD_MEDIAN
    assert DEFAULT_TOLERANCE.pain_threshold_sd == device_patients.PAIN_THRESHOLD_SD
    assert DEFAULT_TOLERANCE.pain_threshold_range == device_patients.PAIN_THRESHOLD_RANGE
    model = DEFAULT_TOLERANCE.felt_sensitivity.draw(np.random.default_rng(0), 20_000)
    device = np.array(
        [VirtualPatient.from_seed(s, Region.PALMS, ADULT).sensitivity for s in range(3000)]
    )
    assert np.median(model) == pytest.approx(np.median(device), abs=0.02)
    assert np.std(np.log(model)) == pytest.approx(np.std(np.log(device)), abs=0.02)


def test_a_course_on_the_device_delivers_the_fast_paths_dose() -> None:
    pop = response.draw_population(2, Region.PALMS, ADULT, np.random.default_rng(11))
    setup = virtual_course.course_setup(PALMS_DC, ADULT)
    engine = DeviceDose(PALMS_DC, pop, seed=3)
    on_device = virtual_course.simulate_courses(
        setup, pop, NoMaintenance(), np.random.default_rng(1), dose=engine
    )
    fast = virtual_course.simulate_courses(setup, pop, NoMaintenance(), np.random.default_rng(1))
    ran = engine.ran()
    assert len(ran) == 2 * len(setup.induction_days)
    planned = response.run_charge_mA_min(PALMS_DC, fast.current_mA)
    for session in ran:
        assert session.planned_mA_min == pytest.approx(planned[session.patient])
        if session.pain_reports == 0:
            assert session.state == "completed"
            assert session.delivered_mA_min == pytest.approx(planned[session.patient], rel=0.01)
    assert sum(s.pain_reports for s in ran) <= 2
    for name in ("responder", "first_dry_session", "noticed_session", "course_works"):
        assert np.array_equal(getattr(on_device, name), getattr(fast, name)), name


def test_glycopyrronium_on_the_device_runs_both_sites_and_the_session_is_cached() -> None:
    pop = response.draw_population(1, Region.PALMS, ADULT, np.random.default_rng(2))
    engine = DeviceDose(GLYCO, pop, seed=1)
    current = np.array([GLYCO.target_current_mA])
    first = engine.delivered_mA_min(np.array([0]), current, np.array([0]), day=0)
    again = engine.delivered_mA_min(np.array([0]), current, np.array([0]), day=0)
    assert [s.run for s in engine.ran()] == [0, 1]
    assert first[0] == again[0]
    assert first[0] == pytest.approx(float(response.session_charge_mA_min(GLYCO, 8.0)), rel=0.01)


def test_a_session_on_the_device_keeps_the_therapy_patients_tolerance() -> None:
    pop = response.draw_population(1, Region.PALMS, ADULT, np.random.default_rng(0))
    session = run_course_session(PALMS_DC, pop, 0, 15.0, 0, 0, seed=4)
    assert session.state == "completed"
    assert session.current_mA == 15.0
    assert 0 < session.max_sensation < 10
