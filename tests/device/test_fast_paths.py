"""The simulator's speed-ups compute exactly what the plain formulation computes, bit for bit.

A session's outcome (events, dose to the last µA·ms, peak, trace) must not depend on how fast
it is simulated. The speed-ups of ``benchmarks/README.md`` "Simulation speed" skip no tick
that was not skipped before; they only do the same arithmetic with less Python around it:

* :meth:`PatientLoad._exact_ticks` runs a stretch's exact ticks in one loop instead of one
  ``drive`` call each. Its reference: the same load with a ``drive`` of its own, which
  ``advance`` then calls for every exact tick, as it always did;
* :meth:`PatientLoad._advance_regulated` and :meth:`PatientLoad._integrate` have their
  helpers (``_skin_ohm``, ``_sensation``, ``_steady_at``, ``_follow``, ``_Run.peak``) inline.
  Their reference: the per-call formulation they had, kept below (:class:`ReferenceLoad`);
* the simulator takes a plain load's stretch without building a :class:`Stretch`, and a
  watched load's (``advance`` or ``drive`` overridden or patched) through ``advance``.

Floats are compared by their bits (``float.hex``), so that even a zero's sign would show.
The firmware's fast path is unchanged in what it skips; ``test_firmware.py`` pins it tick for
tick against single ticks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ionto.device import simulator
from ionto.device.load import TICK_S, LoadReading
from ionto.device.patients import VirtualPatient
from ionto.device.physics import (
    PatientLoad,
    Stretch,
    _follow,
    _nodes,
    _Run,
    _Steady,
    _sum_over_ticks,
)
from ionto.device.session import EventKind, ScriptedEvent, SessionRequest, run_session
from ionto.therapy.vocabulary import Region, Waveform


class ReferenceLoad(PatientLoad):
    """The physics before its hot loops were inlined: every exact tick of a stretch through
    ``drive``, and the closed-form and integrated stretches with their helpers called per
    evaluation (the code as it was, 2026-11-22)."""

    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        return super().drive(tick, demand_uA, compliance_mV)

    def _advance_regulated(
        self, run: _Run, ticks: int, demand_uA: int, compliance_mV: int
    ) -> _Run | None:
        if self._open or self._hot_a or self._hot_b or demand_uA == 0:
            return None
        i = demand_uA * 1e-6
        first = run.start_tick
        last = first + ticks - 1
        vc = abs(compliance_mV) * 1e-3
        series = self._k * self._rs
        ra0, rb0 = self._skin_ohm(self._hydration(first))
        bound = 0.9995 * vc
        if abs(i * series + self._v_a + self._v_b) > bound or abs(i) * (series + ra0 + rb0) > bound:
            return None
        ra1, rb1 = self._skin_ohm(self._hydration(last))
        ea = math.exp(-TICK_S * ticks / (ra1 * self._cap_a))
        eb = math.exp(-TICK_S * ticks / (rb1 * self._cap_b))
        self._v_a = i * ra1 + (self._v_a - i * ra1) * ea
        self._v_b = i * rb1 + (self._v_b - i * rb1) * eb
        v = i * series + self._v_a + self._v_b
        density = abs(i) * 1e3 * self._inv_small
        felt = abs(i) * 1e3 * self._inv_felt
        acc_first = self._acc + self._alpha * (felt - self._acc)
        first_sensation = self._sensation(felt, (felt - acc_first) / self._tau_eff)
        self._acc = felt + (self._acc - felt) * (1.0 - self._alpha) ** ticks
        rate = (felt - self._acc) / self._tau_eff
        s = self._sensation(felt, rate)
        self.density_mA_cm2 = density
        self.felt_density_mA_cm2 = felt
        self.density_rate_mA_cm2_s = rate
        self.sensation = s
        top = max(first_sensation, s)
        if top > self.peak_sensation:
            self.peak_sensation = top
        if density > self.peak_density_mA_cm2:
            self.peak_density_mA_cm2 = density
        run.charge_A_ticks += i * ticks
        run.peak_current_A = max(run.peak_current_A, abs(i))
        run.peak(density, top)
        run.ticks = ticks
        return run.result(self._read(demand_uA, round(v * 1e3)))

    def _integrate(self, run: _Run, j0: int, j1: int, demand_uA: int, slope: float) -> _Steady:
        nodes = _nodes(j0, j1)
        values: list[float] = []
        acc = self._acc
        peak_i = 0.0
        felt = density = rate = 0.0
        previous_felt = 0.0
        previous_node = float(j0) - 1.0
        before = self._steady_at(run, j0 - 1, demand_uA, slope)
        span_s = (j1 - j0 + 1) * TICK_S
        off_a = (self._v_a - before.va) * math.exp(-span_s / (before.ra * self._cap_a))
        off_b = (self._v_b - before.vb) * math.exp(-span_s / (before.rb * self._cap_b))
        state = before
        for index, node in enumerate(nodes):
            state = self._steady_at(run, node, demand_uA, slope)
            values.append(state.i)
            current_mA = abs(state.i) * 1e3
            peak_i = max(peak_i, abs(state.i))
            density = current_mA * self._inv_small
            felt = current_mA * self._inv_felt
            if self._hot_a:
                felt = max(felt, abs(state.va) * self._hot_a)
            if self._hot_b:
                felt = max(felt, abs(state.vb) * self._hot_b)
            if index == 0:
                acc = acc + self._alpha * (felt - acc)
            else:
                acc = _follow(acc, previous_felt, felt, node - previous_node, self._tau_eff)
            rate = (felt - acc) / self._tau_eff
            run.peak(density, self._sensation(felt, rate))
            previous_felt = felt
            previous_node = node
        run.charge_A_ticks += _sum_over_ticks(nodes, values)
        run.peak_current_A = max(run.peak_current_A, peak_i)
        run.ticks = j1 + 1
        self._v_a = state.va + off_a
        self._v_b = state.vb + off_b
        self._acc = acc
        self._h_tick = -2
        self.density_mA_cm2 = density
        self.felt_density_mA_cm2 = felt
        self.density_rate_mA_cm2_s = rate
        self.sensation = self._sensation(felt, rate)
        self.peak_sensation = max(self.peak_sensation, run.peak_sensation)
        self.peak_density_mA_cm2 = max(self.peak_density_mA_cm2, run.peak_density)
        return state


def bits(value: object) -> object:
    """A value with its floats as their exact bits."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, tuple | list):
        return tuple(bits(v) for v in value)
    return value


def stretch_bits(stretch: Stretch) -> object:
    return bits(
        (
            stretch.reading,
            stretch.ticks,
            stretch.charge_uA_ms,
            stretch.peak_current_uA,
            stretch.peak_density_mA_cm2,
            stretch.peak_sensation,
            stretch.first_limited_tick,
        )
    )


def state_bits(load: PatientLoad) -> object:
    """Everything of the load that a later tick or stretch depends on, or a caller reads."""
    return bits(
        (
            load._v_a,
            load._v_b,
            load._acc,
            load._h,
            load._h_tick,
            load.last_reading,
            load.density_mA_cm2,
            load.felt_density_mA_cm2,
            load.density_rate_mA_cm2_s,
            load.sensation,
            load.peak_sensation,
            load.peak_density_mA_cm2,
        )
    )


@dataclass(frozen=True)
class Step:
    """One call on a load: a single ``drive``, or an ``advance`` of up to ``ticks`` ticks."""

    ticks: int  # 1: a drive
    demand_uA: int
    compliance_mV: int
    slope_uA_per_tick: float
    stop_at_compliance: bool


steps_st = st.lists(
    st.builds(
        Step,
        ticks=st.one_of(st.integers(1, 80), st.integers(81, 3_000), st.integers(3_001, 40_000)),
        demand_uA=st.integers(0, 25_000),
        compliance_mV=st.sampled_from([8_000, 20_000, 40_000, 60_000, 90_000]),
        slope_uA_per_tick=st.sampled_from([0.0, 0.0, 0.0, 0.5, -0.5, 3.0]),
        stop_at_compliance=st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


def run_steps(load: PatientLoad, steps: list[Step], sign: int) -> list[object]:
    """Run the steps from tick 0, each ``advance`` cut at the script's next change and kept
    from changing sign; what each call returned and the load's state after it."""
    seen: list[object] = []
    tick = 0
    for step in steps:
        demand = sign * step.demand_uA
        if step.ticks == 1:
            seen.append(bits(load.drive(tick, demand, step.compliance_mV)))
            tick += 1
        else:
            nxt = load.next_change_tick(tick)
            ticks = step.ticks if nxt is None else max(1, min(step.ticks, nxt - tick))
            slope = sign * step.slope_uA_per_tick
            if slope * sign < 0:
                slope = -sign * min(step.demand_uA / ticks, abs(slope))
            stretch = load.advance(
                tick,
                ticks,
                demand,
                step.compliance_mV,
                slope_uA_per_tick=slope,
                stop_at_compliance=step.stop_at_compliance,
            )
            seen.append(stretch_bits(stretch))
            tick += stretch.ticks
        seen.append(state_bits(load))
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    region=st.sampled_from([Region.PALMS, Region.SOLES, Region.AXILLAE]),
    waveform=st.sampled_from([Waveform.DC, Waveform.PULSED_DC, Waveform.AC_DC_OFFSET]),
    water=st.sampled_from([100.0, 400.0, 800.0]),
    skin_break_s=st.one_of(st.none(), st.floats(0.0, 20.0)),
    lift_s=st.one_of(st.none(), st.floats(0.0, 5.0)),
    steps=steps_st,
    negative=st.booleans(),
)
def test_the_inlined_physics_is_the_reference_bit_for_bit(
    seed: int,
    region: Region,
    waveform: Waveform,
    water: float,
    skin_break_s: float | None,
    lift_s: float | None,
    steps: list[Step],
    negative: bool,
) -> None:
    """Random calls — single ticks, short stretches (ticked), long ones (settling, then closed
    form or Simpson), ramps, compliance-limited stretches stopped or not, skin defects (their
    hot spots), a lift (open circuit) — give the same stretches and leave the same state."""
    patient = VirtualPatient.from_seed(seed, region, 34.0, water)
    if skin_break_s is not None:
        patient = patient.skin_break(skin_break_s)
    if lift_s is not None:
        # Moving in 3 ms: a few single ticks, so that the calls reach the limb out of the water.
        patient = patient.lift(lift_s, 0.5, transition_s=0.003)
    sign = -1 if negative else 1
    fast = run_steps(PatientLoad(patient, waveform), steps, sign)
    reference = run_steps(ReferenceLoad(patient, waveform), steps, sign)
    assert fast == reference


def test_the_reference_takes_the_slow_paths_and_the_plain_load_the_fast_ones() -> None:
    """Not a tautology: the property above compares two different computations."""
    patient = VirtualPatient.median(Region.PALMS, 34.0).skin_break(0.0)
    plain, reference = PatientLoad(patient), ReferenceLoad(patient)
    assert plain._ticks_inline()
    assert not reference._ticks_inline()
    counts = {"plain": 0, "reference": 0}

    def counting(name: str, load: PatientLoad) -> Any:
        drive = load.drive

        def watched(tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
            counts[name] += 1
            return drive(tick, demand_uA, compliance_mV)

        return watched

    # Watching drive on the instance also makes the plain load tick through it.
    plain.drive = counting("plain", plain)  # type: ignore[method-assign]
    reference.drive = counting("reference", reference)  # type: ignore[method-assign]
    plain.advance(0, 50, 10_000, 60_000)  # a skin defect: ticked, 50 exact ticks
    reference.advance(0, 50, 10_000, 60_000)
    assert counts == {"plain": 50, "reference": 50}
    assert state_bits(plain) == state_bits(reference)


def test_a_plain_load_ticks_without_drive_calls_and_a_watched_one_through_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patient = VirtualPatient.median(Region.PALMS, 34.0).skin_break(0.0)
    load = PatientLoad(patient)
    calls = 0
    original = PatientLoad.drive

    def counted(self: PatientLoad, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        nonlocal calls
        calls += 1
        return original(self, tick, demand_uA, compliance_mV)

    monkeypatch.setattr(PatientLoad, "_ticks_inline", lambda _self: True)
    monkeypatch.setattr(PatientLoad, "drive", counted)
    load.advance(0, 50, 10_000, 60_000)  # a skin defect: 50 exact ticks, none through drive
    assert calls == 0
    monkeypatch.undo()
    monkeypatch.setattr(PatientLoad, "drive", counted)
    load.advance(50, 50, 10_000, 60_000)  # drive watched on the class: every tick through it
    assert calls == 50


#: Short sessions that take every path: lifts (open circuit, the guard), pain, a skin break
#: (hot spots: no closed form), compliance-limited ramps (soft water, soles), each waveform.
SESSIONS = (
    SessionRequest(
        minutes=2.0,
        seed=2,
        events=(
            ScriptedEvent(EventKind.LIFT, 20.0, 1.5),
            ScriptedEvent(EventKind.PAIN, 40.0),
            ScriptedEvent(EventKind.SKIN_BREAK, 70.0),
            ScriptedEvent(EventKind.LIFT, 80.0, 0.3),
        ),
    ),
    SessionRequest(minutes=2.0, seed=5, water_uS_cm=100.0, trace_hz=20),
    SessionRequest(
        region=Region.SOLES,
        minutes=1.5,
        seed=11,
        waveform=Waveform.PULSED_DC,
        events=(ScriptedEvent(EventKind.LIFT, 50.0, 0.4),),
    ),
    SessionRequest(
        minutes=1.5,
        seed=7,
        waveform=Waveform.AC_DC_OFFSET,
        events=(ScriptedEvent(EventKind.SKIN_BREAK, 10.0),),
        trace_hz=50,
    ),
)


@pytest.mark.parametrize("request_", SESSIONS)
def test_a_session_is_the_same_on_the_reference_physics(
    request_: SessionRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole session — record, trace, what the patient felt — on the plain load and on
    the reference load (which the simulator drives through ``advance`` and ``drive``)."""
    fast = run_session(request_)
    monkeypatch.setattr(simulator, "PatientLoad", ReferenceLoad)
    reference = run_session(request_)
    assert fast.record == reference.record
    assert fast.samples == reference.samples
    assert bits((fast.max_sensation, fast.peak_density_mA_cm2)) == bits(
        (reference.max_sensation, reference.peak_density_mA_cm2)
    )


def test_a_watched_advance_sees_every_stretch() -> None:
    """A load whose ``advance`` is patched on the instance (as the tests' lift watch does) gets
    every stretch through it, not the simulator's shortcut."""
    device = simulator.SimulatedDevice(VirtualPatient.median(Region.PALMS, 34.0))
    load = device.load
    seen: list[int] = []
    advance = load.advance

    def watched(start_tick: int, ticks: int, *args: int, **kw: bool) -> Stretch:
        seen.append(start_tick)
        return advance(start_tick, ticks, *args, **kw)

    load.advance = watched  # type: ignore[method-assign,assignment]
    stretching = simulator._StretchingLoad(load)
    stretch = stretching.advance(0, 200, 5_000, 60_000)
    assert seen == [0]
    assert stretch.ticks >= 1
