"""What the current does in the patient, and what the patient feels: the simulated load.

The circuit of one region's pairing (the patient's values: :mod:`ionto.device.patients`)::

    plate ─ water ─┬─ R_skin(a) ─┬─ body core ─┬─ R_skin(b) ─┬─ water ─ plate
                   └─ C_skin(a) ─┘             └─ C_skin(b) ─┘

The water and the core are the series resistance R_s; each side's stratum corneum is a
resistance in parallel with a capacitance, both per wetted cm² (so R·C, 2–8 ms, does not
depend on the area), with a skin defect in parallel where one has opened.

:class:`PatientLoad` implements :class:`ionto.device.load.Load`. Each 1 ms tick the firmware
asks for a current; the load carries it unless the voltage that needs exceeds the compliance
voltage, in which case it carries the largest current the compliance allows (never more than
asked, never the opposite sign). The current is held constant over the tick (as a current
source's DAC does) and each skin capacitor's voltage follows its exact exponential for that
tick, so the terminal voltage lags a step in current by a few ticks and a compliance-limited
current is higher while the capacitors charge. The reported voltage is the terminal voltage
at the end of the tick — at the pulse peak for pulsed DC and AC with a DC offset, because that
is what the compliance voltage must bound (see :class:`WaveformShape`). An open circuit (a
limb out of the water) carries nothing, with the terminals at ±compliance.

:meth:`PatientLoad.advance` covers a stretch with no scripted change in a few dozen
evaluations instead of one per tick, consistently with ticking (tested to 1%).

The sensation model (:class:`SensationModel`, :func:`sensation`) turns the current density on
the smaller wetted electrode and its rate of change into a perceived intensity 0–10, so that
a session's tolerance is an outcome of what the device did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from ionto.device.load import TICK_S, LoadReading
from ionto.device.patients import VirtualPatient
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import Waveform

SENSATION_DERIVED = Source(
    key="sensation_derived",
    citation=(
        "Ionto derived sensation model: calibrated so that 10–18 mA on the hands is strong "
        "but tolerated (Fischer), a limb lifted with current flowing gives a shock (Hidrex "
        "DP450 manual), a 30 s ramp is not painful (Soterix IontoDC), pulsed DC is felt "
        "less (Reinauer 1995); needs sign-off"
    ),
    grade="D",
)
WAVEFORM_DERIVED = Source(
    key="waveform_derived",
    citation=(
        "Pulsed DC 5–10 kHz at 50% duty (Reinauer, Hautarzt 1995); AC with a DC offset "
        "(Reinauer, BJD 1993); the AC amplitude and the averaging are Ionto derived"
    ),
    grade="D",
)


# --- Waveforms -------------------------------------------------------------------------------
#: Pulsed DC: 5–10 kHz at 50% duty (Reinauer 1995).
PULSED_DUTY_CYCLE = 0.5
PULSED_FREQUENCY_HZ = 5000.0
#: AC with a DC offset: the AC amplitude as a fraction of the DC component (derived: the
#: sources give none; 1.0 swings the current between zero and twice the DC, never reversing).
AC_TO_DC_RATIO = 1.0


@dataclass(frozen=True)
class WaveformShape:
    """How the current within a tick relates to the tick's average, which the firmware sets.

    The demand of each tick is the *average* current (the therapeutic DC component), which
    is what Ionto displays, records and caps. Averaging, and why it is fair:

    * **pulsed DC** (5 kHz, 50% duty): pulses of average ÷ duty lasting 0.1 ms. The skin's
      time constant (2–8 ms) is 20–80 periods, so its capacitor integrates the pulses and
      carries the average (ripple ≤ ~0.4 V at 15 mA on the palms, neglected); the water and
      the core carry the full pulse. The peak terminal voltage is therefore
      ``peak_factor × I × R_s + v_skin``, and the compliance limit applies to it.
    * **AC with a DC offset**: the AC part (assumed well above the skin's corner frequency of
      20–80 Hz) passes the skin capacitors and so adds ``ac_ratio × I × R_s`` to the peak.
    * **DC**: the peak is the average.
    """

    waveform: Waveform
    duty_cycle: float = 1.0
    pulse_frequency_hz: float | None = None
    ac_ratio: float = 0.0
    source: Source = WAVEFORM_DERIVED

    def __post_init__(self) -> None:
        if not (0 < self.duty_cycle <= 1):
            raise ValueError(f"duty cycle must be in (0, 1], got {self.duty_cycle}")
        if not (math.isfinite(self.ac_ratio) and self.ac_ratio >= 0):
            raise ValueError(f"AC ratio must be ≥ 0, got {self.ac_ratio}")

    @property
    def peak_factor(self) -> float:
        """Peak current over the tick's average current in the water and the core."""
        return (1.0 + self.ac_ratio) / self.duty_cycle


def waveform_shape(waveform: Waveform, duty_cycle: float | None = None) -> WaveformShape:
    """The shape of a therapeutic waveform; pure AC is refused (Reinauer, BJD 1993)."""
    if waveform is Waveform.DC:
        return WaveformShape(Waveform.DC)
    if waveform is Waveform.PULSED_DC:
        duty = PULSED_DUTY_CYCLE if duty_cycle is None else duty_cycle
        return WaveformShape(Waveform.PULSED_DC, duty, PULSED_FREQUENCY_HZ)
    if waveform is Waveform.AC_DC_OFFSET:
        return WaveformShape(Waveform.AC_DC_OFFSET, ac_ratio=AC_TO_DC_RATIO)
    raise ValueError("pure AC has no therapeutic effect and is never delivered (Reinauer 1993)")


# --- Sensation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SensationModel:
    """Perceived intensity (0–10) from current density and its rate of change (derived).

    ``drive = (w·s·ρ / ρ½)^p + s·w_r·ρ̇⁺ / ρ̇½ + s·w_r·b·ρ̇⁻ / ρ̇½`` and
    ``sensation = 10 − 10 / (1 + drive)``, with ρ the felt density (mA/cm²) on the
    smaller wetted electrode (or a skin defect's hot spot, see below), ρ̇ its rate of change
    (mA/cm² per s; ⁺ rising, ⁻ falling), s the patient's sensitivity and w, w_r the
    waveform's weights. The calibration, each a statement of clinical-reference §2:

    * steady DC: ρ½ = 0.10 mA/cm² feels "5" to the median patient; 15 mA on adult palms
      (0.115 mA/cm²) is ~5.5 and 18 mA ~6.2, below the median pain threshold of 7: strong
      pins-and-needles, tolerated (Fischer: 10–18 mA on hands, typical);
    * a change is felt more than a level: the rate term, with nerve accommodation — the rate
      is taken as (ρ − ρ̄)/τ with ρ̄ the density low-passed over ``accommodation_s`` (10 ms,
      derived: sensory accommodation), so a slow ramp of rate r counts as r and a step Δ as
      Δ/τ. A 30 s ramp to 15 mA on the palms adds < 0.01 (Soterix: not painful); the
      density rising over a lift's tens of milliseconds counts little; the same
      15 mA switched on at once peaks at ~7.8 (a shock for the median patient). Falls are
      felt less than rises (``break_weight``, the make/break asymmetry of nerve
      stimulation), so cutting the current is not itself a shock;
    * a limb lifted with current flowing: a current source keeps pushing the current through
      the shrinking area, the density rises several-fold within ~0.1 s (and more while the
      skin capacitance of the last wetted patch charges) and the sensation passes every
      patient's threshold (Hidrex DP450: an unpleasant shock). A device that cuts the
      current as the impedance starts to rise spares the patient most of it, not all: the
      lifting side is about a third of the impedance and its capacitance delays the voltage,
      so the density runs ~3× ahead of the impedance. Cutting at a 2% rise adds at most
      ~0.6 to the steady sensation, at 5% ~1.1, at 10% ~1.7 (tested);
    * pulsed DC is felt less (Reinauer 1995: fewer sensations, no shocks): its density
      counts ×0.7 and its rate ×0.3, so 15 mA at once peaks at ~5.9. A lift with pulsed
      current flowing is still a shock here: the density on the shrinking area is physics,
      not waveform. AC with a DC offset: as DC (sources silent);
    * a skin defect (clinical-reference §4: burning at a skin defect) crowds current into a
      small spot; its density counts × (spot area / side area)^0.5 for spatial summation.
    """

    half_density_mA_cm2: float = 0.10
    density_exponent: float = 1.5
    half_rate_mA_cm2_s: float = 5.0
    break_weight: float = 0.2
    accommodation_s: float = 0.01
    pulsed_density_weight: float = 0.7
    pulsed_rate_weight: float = 0.3
    ac_dc_density_weight: float = 1.0
    ac_dc_rate_weight: float = 1.0
    hotspot_area_exponent: float = 0.5
    #: Spatial summation: below this wetted area the felt density is the current over this
    #: area, not over the patch (derived: about a fingertip's pad and more — 100 µA of contact
    #: sense current on the first square millimetre of a returning hand is not felt, while a
    #: hand lifted under 15 mA still shocks long before its wet patch is this small).
    summation_area_cm2: float = 10.0
    source: Source = SENSATION_DERIVED

    def __post_init__(self) -> None:
        positives = (
            self.half_density_mA_cm2,
            self.density_exponent,
            self.half_rate_mA_cm2_s,
            self.accommodation_s,
            self.pulsed_density_weight,
            self.ac_dc_density_weight,
        )
        if not all(math.isfinite(v) and v > 0 for v in positives):
            raise ValueError("sensation scales and weights must be positive")
        for weight in (self.break_weight, self.pulsed_rate_weight, self.ac_dc_rate_weight):
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError("rate weights must be ≥ 0")

    def weights(self, waveform: Waveform) -> tuple[float, float]:
        """(density weight, rate weight) of a waveform. Pure AC counts as AC with offset."""
        if waveform is Waveform.PULSED_DC:
            return self.pulsed_density_weight, self.pulsed_rate_weight
        if waveform is Waveform.DC:
            return 1.0, 1.0
        return self.ac_dc_density_weight, self.ac_dc_rate_weight


DEFAULT_SENSATION = SensationModel()


def _intensity(drive: float) -> float:
    return 10.0 - 10.0 / (1.0 + drive)


def sensation(
    density_mA_cm2: float,
    d_density_per_s: float,
    waveform: Waveform,
    patient: VirtualPatient,
    model: SensationModel = DEFAULT_SENSATION,
) -> float:
    """Perceived intensity 0–10 of a felt density and its rate of change (see the model)."""
    density_w, rate_w = model.weights(waveform)
    x = patient.sensitivity * density_w * abs(density_mA_cm2) / model.half_density_mA_cm2
    rate = patient.sensitivity * rate_w * d_density_per_s / model.half_rate_mA_cm2_s
    drive = math.pow(x, model.density_exponent) + (rate if rate > 0 else -rate * model.break_weight)
    return _intensity(drive)


def is_painful(
    density_mA_cm2: float,
    d_density_per_s: float,
    waveform: Waveform,
    patient: VirtualPatient,
    model: SensationModel = DEFAULT_SENSATION,
) -> bool:
    """Whether the patient calls it painful: sensation at or above their pain threshold."""
    felt = sensation(density_mA_cm2, d_density_per_s, waveform, patient, model)
    return felt >= patient.pain_threshold


# --- A stretch advanced at once --------------------------------------------------------------
@dataclass(frozen=True)
class Stretch:
    """What a fast :meth:`PatientLoad.advance` over a stretch of ticks delivered."""

    #: What the firmware's ADCs see at the last tick of the stretch.
    reading: LoadReading
    #: Ticks covered: as asked, or fewer when stopped at the first compliance-limited tick.
    ticks: int
    #: Charge delivered (µA·ms, signed like the current; 60,000 µA·ms = 1 mA·min).
    charge_uA_ms: float
    peak_current_uA: int
    #: Highest density on the smaller wetted electrode (mA/cm²).
    peak_density_mA_cm2: float
    peak_sensation: float
    #: The first tick whose current fell short of the demand (compliance), if any: exact
    #: with ``stop_at_compliance``, else located on the quasi-static current (a few ticks
    #: early on a ramp, where the exact capacitors lag).
    first_limited_tick: int | None


#: Stretches this short are ticked one by one (the exact reference).
_DIRECT_TICKS = 64
#: Simpson segments over a longer stretch (even).
_SEGMENTS = 32
#: At most this many exact ticks to let the skin capacitors settle before integrating.
_SETTLE_TICKS = 120
_NEVER = 1 << 62
_NO_READING = LoadReading(0, 0)


class PatientLoad:
    """A virtual patient in the trays, driven by the firmware: a :class:`~ionto.device.load.Load`.

    One object per session; ticks count from the start of the session. After each
    :meth:`drive` the attributes ``density_mA_cm2`` (smaller wetted electrode),
    ``felt_density_mA_cm2`` (with any skin defect's hot spot), ``density_rate_mA_cm2_s``,
    ``sensation`` and ``painful`` describe that tick; ``peak_sensation`` and
    ``peak_density_mA_cm2`` the session so far.
    """

    def __init__(
        self,
        patient: VirtualPatient,
        waveform: Waveform = Waveform.DC,
        *,
        duty_cycle: float | None = None,
        model: SensationModel = DEFAULT_SENSATION,
    ) -> None:
        self.patient = patient
        self.waveform = waveform
        self.shape = waveform_shape(waveform, duty_cycle)
        self.model = model
        self._k = self.shape.peak_factor
        density_w, rate_w = model.weights(waveform)
        self._level_gain = patient.sensitivity * density_w / model.half_density_mA_cm2
        self._exponent = model.density_exponent
        self._rate_up = patient.sensitivity * rate_w / model.half_rate_mA_cm2_s
        self._rate_down = self._rate_up * model.break_weight
        self._alpha = 1.0 - math.exp(-TICK_S / model.accommodation_s)
        #: Time constant of the discrete filter: a ramp of rate r settles at ρ − ρ̄ = r·τ.
        self._tau_eff = TICK_S * (1.0 - self._alpha) / self._alpha
        start = (patient.skin_ohm_cm2(0, 0.0), patient.skin_ohm_cm2(1, 0.0))
        self._r_hyd_a = start[0] * patient.hydrated_fraction
        self._r_hyd_b = start[1] * patient.hydrated_fraction
        self._r_span_a = start[0] - self._r_hyd_a
        self._r_span_b = start[1] - self._r_hyd_b
        self._tau_h_ticks = patient.hydration_time_constant_s / TICK_S
        self._h_step = math.exp(-1.0 / self._tau_h_ticks)
        self._h_tick = -2
        self._h = 1.0
        self._c_F_cm2 = patient.skin_capacitance_uF_cm2 * 1e-6
        # Skin capacitor voltages (V), signed like the current.
        self._v_a = 0.0
        self._v_b = 0.0
        # The accommodated (low-passed) felt density.
        self._acc = 0.0
        self._seg_lo = 0
        self._seg_hi = 0
        self._load_segment(0)
        self._reading = LoadReading(0, 0)
        self.density_mA_cm2 = 0.0
        self.felt_density_mA_cm2 = 0.0
        self.density_rate_mA_cm2_s = 0.0
        self.sensation = 0.0
        self.peak_sensation = 0.0
        self.peak_density_mA_cm2 = 0.0

    def open_at(self, tick: int) -> bool:
        """Whether a side is out of the water at ``tick`` (by the patient's script)."""
        if not (self._seg_lo <= tick < self._seg_hi):
            self._load_segment(tick)
        return self._open

    def next_change_tick(self, tick: int) -> int | None:
        """``patient.next_change_tick(tick)``, from the cached stretch of the script: the
        first change after the stretch's first tick is the first after any tick within it."""
        if not (self._seg_lo <= tick < self._seg_hi):
            self._load_segment(tick)
        return None if self._seg_hi == _NEVER else self._seg_hi

    @property
    def painful(self) -> bool:
        return self.sensation >= self.patient.pain_threshold

    @property
    def last_reading(self) -> LoadReading:
        return self._reading

    # --- The scripted state of a stretch --------------------------------------------------
    def _load_segment(self, tick: int) -> None:
        """Cache what stays constant until the patient's next scripted change."""
        patient = self.patient
        state = patient.state_at(tick)
        nxt = patient.next_change_tick(tick)
        self._seg_lo = tick
        self._seg_hi = _NEVER if nxt is None else nxt
        area_a, area_b = state.wetted_area_cm2
        self._open_a = area_a <= 0
        self._open_b = area_b <= 0
        self._open = self._open_a or self._open_b
        self._inv_area_a = 0.0 if self._open_a else 1.0 / area_a
        self._inv_area_b = 0.0 if self._open_b else 1.0 / area_b
        self._inv_small = 0.0 if self._open else 1.0 / min(area_a, area_b)
        # Spatial summation: a tiny wetted patch (a fingertip touching the water) is not felt
        # as its density alone would say; the felt density is spread over at least
        # ``summation_area_cm2``.
        self._inv_felt = (
            0.0 if self._open else 1.0 / max(min(area_a, area_b), self.model.summation_area_cm2)
        )
        self._rs = math.inf if self._open else patient.series_ohm(tick, state)
        self._cap_a = self._c_F_cm2 * area_a
        self._cap_b = self._c_F_cm2 * area_b
        self._rd_a, self._hot_a = self._defect(state.defect_area_cm2[0], area_a)
        self._rd_b, self._hot_b = self._defect(state.defect_area_cm2[1], area_b)

    def _defect(self, defect_cm2: float, side_cm2: float) -> tuple[float, float]:
        """(resistance Ω or 0 when intact, felt mA/cm² per volt across the side's skin)."""
        if defect_cm2 <= 0 or side_cm2 <= 0:
            return 0.0, 0.0
        resistance = self.patient.defect_ohm(defect_cm2)
        spatial = (defect_cm2 / side_cm2) ** self.model.hotspot_area_exponent
        return resistance, 1e3 / resistance / defect_cm2 * spatial

    def _hydration(self, tick: int) -> float:
        """exp(−t/τ) at ``tick``, by one multiplication when ticks come in order."""
        if tick == self._h_tick + 1:
            self._h *= self._h_step
        elif tick != self._h_tick:
            self._h = math.exp(-tick / self._tau_h_ticks) if tick > 0 else 1.0
        self._h_tick = tick
        return self._h

    def _skin_ohm(self, h: float) -> tuple[float, float]:
        """Each side's skin resistance (Ω) at hydration ``h``, with any defect in parallel."""
        ra = (self._r_hyd_a + self._r_span_a * h) * self._inv_area_a
        rb = (self._r_hyd_b + self._r_span_b * h) * self._inv_area_b
        if self._rd_a:
            ra = ra * self._rd_a / (ra + self._rd_a)
        if self._rd_b:
            rb = rb * self._rd_b / (rb + self._rd_b)
        return ra, rb

    # --- One tick -------------------------------------------------------------------------
    def drive(self, tick: int, demand_uA: int, compliance_mV: int) -> LoadReading:
        """Carry ``demand_uA`` for tick ``tick`` within ``compliance_mV``; report what flowed."""
        if not (self._seg_lo <= tick < self._seg_hi):
            self._load_segment(tick)
        vc = abs(compliance_mV) * 1e-3
        if self._open:
            return self._drive_open(tick, demand_uA, vc)
        ra, rb = self._skin_ohm(self._hydration(tick))
        ea = math.exp(-TICK_S / (ra * self._cap_a))
        eb = math.exp(-TICK_S / (rb * self._cap_b))
        va = self._v_a
        vb = self._v_b
        # End-of-tick voltage for a current i held over the tick: v = i·g + w.
        w = va * ea + vb * eb
        g = self._k * self._rs + ra * (1.0 - ea) + rb * (1.0 - eb)
        i = demand_uA * 1e-6
        v = i * g + w
        if v > vc or v < -vc:
            i, v = _limited(i, g, w, vc)
        self._v_a = i * ra + (va - i * ra) * ea
        self._v_b = i * rb + (vb - i * rb) * eb
        self._observe(abs(i) * 1e3)
        return self._read(round(i * 1e6), round(v * 1e3))

    def _drive_open(self, tick: int, demand_uA: int, vc: float) -> LoadReading:
        """Nothing flows; the wetted side's capacitor discharges through its own skin."""
        ra, rb = self._skin_ohm(self._hydration(tick))
        self._v_a = 0.0 if self._open_a else self._v_a * math.exp(-TICK_S / (ra * self._cap_a))
        self._v_b = 0.0 if self._open_b else self._v_b * math.exp(-TICK_S / (rb * self._cap_b))
        self._observe(0.0)
        volts = 0.0 if demand_uA == 0 else math.copysign(vc, demand_uA)
        return self._read(0, round(volts * 1e3))

    def _observe(self, current_mA: float) -> None:
        """Density, its accommodated rate of change, and the sensation of this tick."""
        density = current_mA * self._inv_small
        felt = current_mA * self._inv_felt
        if self._hot_a:
            felt = max(felt, abs(self._v_a) * self._hot_a)
        if self._hot_b:
            felt = max(felt, abs(self._v_b) * self._hot_b)
        acc = self._acc + self._alpha * (felt - self._acc)
        self._acc = acc
        rate = (felt - acc) / self._tau_eff
        s = self._sensation(felt, rate)
        self.density_mA_cm2 = density
        self.felt_density_mA_cm2 = felt
        self.density_rate_mA_cm2_s = rate
        self.sensation = s
        if s > self.peak_sensation:
            self.peak_sensation = s
        if density > self.peak_density_mA_cm2:
            self.peak_density_mA_cm2 = density

    def _sensation(self, felt: float, rate: float) -> float:
        x = felt * self._level_gain
        drive = math.pow(x, self._exponent) + (
            rate * self._rate_up if rate > 0 else -rate * self._rate_down
        )
        return 10.0 - 10.0 / (1.0 + drive)

    def _read(self, current_uA: int, voltage_mV: int) -> LoadReading:
        last = self._reading
        if last.current_uA != current_uA or last.voltage_mV != voltage_mV:
            self._reading = LoadReading(current_uA, voltage_mV)
        return self._reading

    # --- A stretch at once ----------------------------------------------------------------
    def advance(
        self,
        start_tick: int,
        ticks: int,
        demand_uA: int,
        compliance_mV: int,
        *,
        slope_uA_per_tick: float = 0.0,
        stop_at_compliance: bool = False,
    ) -> Stretch:
        """Carry a steady (or linearly ramping) demand over ``ticks`` ticks from ``start_tick``.

        Equivalent to ``drive(start_tick + j, round(demand_uA + slope_uA_per_tick * j),
        compliance_mV)`` for ``j`` in ``range(ticks)`` — to within 1% in charge, end current
        and end voltage (property-tested) — at the cost of a few dozen evaluations: the
        stretch must hold no scripted change (``patient.next_change_tick``) and the demand
        must not change sign (split a reversal at zero). A constant demand in regulation
        throughout (the usual case: at the target, or between two ramp steps) is computed in
        closed form at the stretch's ends (:meth:`_advance_regulated`). Otherwise: the first
        ticks are driven exactly while the skin capacitors settle; after that the state is
        quasi-static — the capacitors (τ of milliseconds) follow the skin hydrating over
        minutes, lagging a
        ramp by τ — so the current is the demand, or compliance / R(t) where that binds, and
        its sum over the ticks is a composite Simpson integral (32 segments) with the
        Euler–Maclaurin end correction; stretches of ≤ 64 ticks are ticked. Peak density and
        sensation are taken at the exact ticks and the Simpson nodes (the rate of change
        between nodes through the same accommodation filter). With ``stop_at_compliance``
        the stretch ends at the first tick whose current falls short of the demand (located
        by bisection), so that a simulator can hand that tick's reading to the firmware.
        """
        if ticks < 1:
            raise ValueError(f"a stretch needs at least one tick, got {ticks}")
        if start_tick < 0:
            raise ValueError(f"ticks count from 0, got {start_tick}")
        end_demand = demand_uA + slope_uA_per_tick * (ticks - 1)
        if demand_uA * end_demand < 0:
            raise ValueError("the demand changes sign within the stretch: split it at zero")
        nxt = self.next_change_tick(start_tick)
        if nxt is not None and nxt < start_tick + ticks:
            raise ValueError(
                f"the patient's script changes at tick {nxt}, inside the stretch "
                f"{start_tick}..{start_tick + ticks - 1}: advance up to it, then drive"
            )
        return self._advance_run(
            start_tick, ticks, demand_uA, compliance_mV, slope_uA_per_tick, stop_at_compliance
        ).stretch()

    def _advance_run(
        self,
        start_tick: int,
        ticks: int,
        demand_uA: int,
        compliance_mV: int,
        slope_uA_per_tick: float,
        stop_at_compliance: bool,
    ) -> _Run:
        """:meth:`advance` without its checks, its outcome left in the run (its ``reading``
        and ``ticks``) rather than built into a :class:`Stretch`: for a caller that has made
        the same checks and needs no more (the simulator, once per stretch)."""
        if not (self._seg_lo <= start_tick < self._seg_hi):
            self._load_segment(start_tick)
        run = _Run(start_tick, abs(compliance_mV) * 1e-3)
        if slope_uA_per_tick == 0.0 and ticks >= 2:
            settled = self._advance_regulated(run, ticks, demand_uA, compliance_mV)
            if settled is not None:
                return settled
        if not self._open and self._ticks_inline():
            return self._advance_closed(
                run, ticks, demand_uA, slope_uA_per_tick, compliance_mV, stop_at_compliance
            )
        j = 0
        # Exact ticks: short stretches, and the first ticks while the capacitors settle.
        while j < ticks and (
            ticks - j <= _DIRECT_TICKS
            or self._open
            or (j < _SETTLE_TICKS and not self._settled(run, j, demand_uA, slope_uA_per_tick))
        ):
            if self._open and j >= 1 and ticks - j > _DIRECT_TICKS:
                return self._advance_open(run, ticks, demand_uA, slope_uA_per_tick, compliance_mV)
            demand = round(demand_uA + slope_uA_per_tick * j)
            reading = self.drive(start_tick + j, demand, compliance_mV)
            run.add_tick(reading, demand, self.density_mA_cm2, self.sensation)
            j += 1
            if stop_at_compliance and run.first_limited_tick is not None:
                return run.result(reading)
        if j == ticks:
            return run.result(self._reading)
        return self._advance_quasi_static(
            run, j, ticks, demand_uA, slope_uA_per_tick, compliance_mV, stop_at_compliance
        )

    def _ticks_inline(self) -> bool:
        """Whether a stretch's exact ticks may run in :meth:`_exact_ticks`: only while
        ``drive`` is this class's own. A subclass or a test that watches ``drive`` sees every
        tick through it, as before."""
        return getattr(self.drive, "__func__", None) is _PLAIN_DRIVE

    def _advance_closed(
        self,
        run: _Run,
        ticks: int,
        demand_uA: int,
        slope: float,
        compliance_mV: int,
        stop_at_compliance: bool,
    ) -> _Run:
        """:meth:`advance` with both limbs in the water, its exact ticks in one loop each
        (:meth:`_exact_ticks`): the same ticks, in the same order, with the same arithmetic."""
        direct_from = ticks - _DIRECT_TICKS  # from here on every tick is exact
        j = 0
        while j < direct_from and j < _SETTLE_TICKS and not self._settled(run, j, demand_uA, slope):
            j = self._exact_ticks(
                run, j, j + 1, demand_uA, slope, compliance_mV, stop_at_compliance
            )
            if stop_at_compliance and run.first_limited_tick is not None:
                return run.result(self._reading)
        if j >= direct_from:
            self._exact_ticks(run, j, ticks, demand_uA, slope, compliance_mV, stop_at_compliance)
            return run.result(self._reading)
        return self._advance_quasi_static(
            run, j, ticks, demand_uA, slope, compliance_mV, stop_at_compliance
        )

    def _exact_ticks(
        self,
        run: _Run,
        j: int,
        j_end: int,
        demand_uA: int,
        slope: float,
        compliance_mV: int,
        stop_at_compliance: bool,
    ) -> int:
        """Ticks ``j`` … ``j_end − 1`` of a run with both limbs in the water, exactly as
        :meth:`drive` and ``_Run.add_tick`` compute them one call at a time (the same float
        operations in the same order, so the same bits), in one loop with the load's state in
        local variables. Stops after the first compliance-limited tick with
        ``stop_at_compliance``. Returns the next ``j``.

        Only for a stretch within one segment of the script (no scripted change) and a load
        whose ``drive`` is this class's: a subclass that watches ``drive`` sees every tick."""
        if j >= j_end:
            return j
        exp = math.exp
        power = math.pow
        start = run.start_tick
        vc = abs(compliance_mV) * 1e-3
        tick = start + j
        h = self._hydration(tick)
        h_step = self._h_step
        r_hyd_a, r_span_a, inv_area_a, rd_a = (
            self._r_hyd_a,
            self._r_span_a,
            self._inv_area_a,
            self._rd_a,
        )
        r_hyd_b, r_span_b, inv_area_b, rd_b = (
            self._r_hyd_b,
            self._r_span_b,
            self._inv_area_b,
            self._rd_b,
        )
        cap_a, cap_b = self._cap_a, self._cap_b
        series = self._k * self._rs
        va, vb, acc = self._v_a, self._v_b, self._acc
        alpha, tau_eff = self._alpha, self._tau_eff
        inv_small, inv_felt, hot_a, hot_b = (
            self._inv_small,
            self._inv_felt,
            self._hot_a,
            self._hot_b,
        )
        level_gain, exponent = self._level_gain, self._exponent
        rate_up, rate_down = self._rate_up, self._rate_down
        peak_sensation, peak_density = self.peak_sensation, self.peak_density_mA_cm2
        charge, peak_current = run.charge_A_ticks, run.peak_current_A
        run_density, run_sensation = run.peak_density, run.peak_sensation
        limited_tick, count = run.first_limited_tick, run.ticks
        demand = demand_uA
        wanted = abs(demand)
        i_demand = demand * 1e-6
        neg_tick_s = -TICK_S
        hot = hot_a != 0.0 or hot_b != 0.0
        # What follows from a tick's current alone is worked out again only when the current
        # changes (a ramp, or the compliance voltage holding it back): the same values.
        i_seen = math.nan
        current_mA = density = felt_i = magnitude_A = level_term = 0.0
        current = magnitude = 0
        felt = rate = s = v = 0.0
        while True:
            if slope:
                demand = round(demand_uA + slope * j)
                wanted = abs(demand)
                i_demand = demand * 1e-6
            # drive(): the skin at this tick's hydration, the current held over the tick.
            ra = (r_hyd_a + r_span_a * h) * inv_area_a
            rb = (r_hyd_b + r_span_b * h) * inv_area_b
            if rd_a:
                ra = ra * rd_a / (ra + rd_a)
            if rd_b:
                rb = rb * rd_b / (rb + rd_b)
            ea = exp(neg_tick_s / (ra * cap_a))
            eb = exp(neg_tick_s / (rb * cap_b))
            w = va * ea + vb * eb
            g = series + ra * (1.0 - ea) + rb * (1.0 - eb)
            i = i_demand
            v = i * g + w
            if v > vc or v < -vc:
                i, v = _limited(i, g, w, vc)
            va = i * ra + (va - i * ra) * ea
            vb = i * rb + (vb - i * rb) * eb
            # _observe(), _read() and _Run.add_tick()
            if i != i_seen:
                i_seen = i
                current_mA = abs(i) * 1e3
                density = current_mA * inv_small
                felt_i = current_mA * inv_felt
                current = round(i * 1e6)
                magnitude = abs(current)
                magnitude_A = magnitude * 1e-6
                if not hot:
                    level_term = power(felt_i * level_gain, exponent)
            felt = felt_i
            if hot:
                if hot_a:
                    spot = abs(va) * hot_a
                    if spot > felt:
                        felt = spot
                if hot_b:
                    spot = abs(vb) * hot_b
                    if spot > felt:
                        felt = spot
                level_term = power(felt * level_gain, exponent)
            acc = acc + alpha * (felt - acc)
            rate = (felt - acc) / tau_eff
            drive = level_term + (rate * rate_up if rate > 0 else -rate * rate_down)
            s = 10.0 - 10.0 / (1.0 + drive)
            if s > peak_sensation:
                peak_sensation = s
            if density > peak_density:
                peak_density = density
            charge += current * 1e-6
            if magnitude_A > peak_current:
                peak_current = magnitude_A
            if density > run_density:
                run_density = density
            if s > run_sensation:
                run_sensation = s
            if magnitude < wanted and limited_tick is None:
                limited_tick = start + count
            count += 1
            j += 1
            if j >= j_end or (stop_at_compliance and limited_tick is not None):
                break
            tick += 1
            h *= h_step  # _hydration() of the next tick
        self._h = h
        self._h_tick = tick
        self._v_a, self._v_b, self._acc = va, vb, acc
        self.density_mA_cm2 = density
        self.felt_density_mA_cm2 = felt
        self.density_rate_mA_cm2_s = rate
        self.sensation = s
        self.peak_sensation = peak_sensation
        self.peak_density_mA_cm2 = peak_density
        self._read(current, round(v * 1e3))
        run.charge_A_ticks, run.peak_current_A = charge, peak_current
        run.peak_density, run.peak_sensation = run_density, run_sensation
        run.first_limited_tick, run.ticks = limited_tick, count
        return j

    def _current_at(self, tick: float, demand_A: float, vc: float, step_A: float) -> _Steady:
        """The quasi-static state at a (fractional) tick, the demand ramping by ``step_A``.

        On a ramp each skin capacitor lags: the held-per-tick update u ← i·r·(1 − e) + u·e
        settles at u = r·(i − step·e/(1 − e)), a lag of e/(1 − e) ≈ τ − ½ tick; the voltage
        the demand needs is lower by that much on a rising ramp. When the compliance binds,
        the current follows the slowly hydrating skin, not the ramp: no lag.
        """
        h = math.exp(-tick / self._tau_h_ticks) if tick > 0 else 1.0
        ra, rb = self._skin_ohm(h)
        total = self._k * self._rs + ra + rb
        ua = demand_A * ra
        ub = demand_A * rb
        if step_A:
            ea = math.exp(-TICK_S / (ra * self._cap_a))
            eb = math.exp(-TICK_S / (rb * self._cap_b))
            ua -= step_A * ra * ea / (1.0 - ea)
            ub -= step_A * rb * eb / (1.0 - eb)
        needed = self._k * self._rs * demand_A + ua + ub
        if -vc <= needed <= vc:
            return _Steady(demand_A, ua, ub, ra, rb, False)
        i = math.copysign(vc / total, demand_A)
        return _Steady(i, i * ra, i * rb, ra, rb, True)

    def _steady_at(self, run: _Run, j: float, demand_uA: int, slope: float) -> _Steady:
        return self._current_at(
            run.start_tick + j, (demand_uA + slope * j) * 1e-6, run.compliance_V, slope * 1e-6
        )

    def _advance_regulated(
        self, run: _Run, ticks: int, demand_uA: int, compliance_mV: int
    ) -> _Run | None:
        """A short stretch at a constant demand, inside the compliance voltage throughout: the
        current *is* the demand at every tick (a current source in regulation), so only the
        skin capacitors' voltages need following, and for a constant current through a skin
        resistance that drifts over minutes they relax geometrically tick by tick
        (v ← i·r + (v − i·r)·e, e = exp(−1 ms/rC)) — n ticks at once is e**n. The accommodation
        filter of the sensation relaxes the same way. So the stretch is computed at its ends
        instead of tick by tick (a ramp's 20 ms steps are such stretches: ticked, the ramps
        cost most of a session's simulation time). ``None`` when a condition fails: the
        caller ticks exactly."""
        if self._open or self._hot_a or self._hot_b or demand_uA == 0:
            return None
        # (_skin_ohm and _sensation inline, with the same arithmetic: this runs for every
        # ramp step of a session)
        i = demand_uA * 1e-6
        first = run.start_tick
        last = first + ticks - 1
        vc = abs(compliance_mV) * 1e-3
        series = self._k * self._rs
        r_hyd_a, r_span_a, inv_area_a, rd_a = (
            self._r_hyd_a,
            self._r_span_a,
            self._inv_area_a,
            self._rd_a,
        )
        r_hyd_b, r_span_b, inv_area_b, rd_b = (
            self._r_hyd_b,
            self._r_span_b,
            self._inv_area_b,
            self._rd_b,
        )
        h = self._hydration(first)
        ra0 = (r_hyd_a + r_span_a * h) * inv_area_a
        rb0 = (r_hyd_b + r_span_b * h) * inv_area_b
        if rd_a:
            ra0 = ra0 * rd_a / (ra0 + rd_a)
        if rd_b:
            rb0 = rb0 * rd_b / (rb0 + rd_b)
        va, vb = self._v_a, self._v_b
        # The voltage moves monotonically from where the capacitors are towards the
        # quasi-static i·(series + ra + rb), which only falls as the skin hydrates: both
        # bounds within the compliance voltage (with a sliver for rounding) ⇒ regulated.
        bound = 0.9995 * vc
        if abs(i * series + va + vb) > bound or abs(i) * (series + ra0 + rb0) > bound:
            return None
        h = self._hydration(last)
        ra1 = (r_hyd_a + r_span_a * h) * inv_area_a
        rb1 = (r_hyd_b + r_span_b * h) * inv_area_b
        if rd_a:
            ra1 = ra1 * rd_a / (ra1 + rd_a)
        if rd_b:
            rb1 = rb1 * rd_b / (rb1 + rd_b)
        ea = math.exp(-TICK_S * ticks / (ra1 * self._cap_a))
        eb = math.exp(-TICK_S * ticks / (rb1 * self._cap_b))
        va = i * ra1 + (va - i * ra1) * ea
        vb = i * rb1 + (vb - i * rb1) * eb
        self._v_a, self._v_b = va, vb
        v = i * series + va + vb
        density = abs(i) * 1e3 * self._inv_small
        felt = abs(i) * 1e3 * self._inv_felt
        alpha, tau_eff = self._alpha, self._tau_eff
        rate_up, rate_down = self._rate_up, self._rate_down
        level_term = math.pow(felt * self._level_gain, self._exponent)
        acc = self._acc
        acc_first = acc + alpha * (felt - acc)
        rate = (felt - acc_first) / tau_eff
        drive = level_term + (rate * rate_up if rate > 0 else -rate * rate_down)
        first_sensation = 10.0 - 10.0 / (1.0 + drive)
        acc = felt + (acc - felt) * (1.0 - alpha) ** ticks
        self._acc = acc
        rate = (felt - acc) / tau_eff
        drive = level_term + (rate * rate_up if rate > 0 else -rate * rate_down)
        s = 10.0 - 10.0 / (1.0 + drive)
        self.density_mA_cm2 = density
        self.felt_density_mA_cm2 = felt
        self.density_rate_mA_cm2_s = rate
        self.sensation = s
        # The rate term fades monotonically, so the stretch's extremes are at its ends.
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

    def _settled(self, run: _Run, j: int, demand_uA: int, slope: float) -> bool:
        """Whether the skin capacitors are within 0.1% (+1 mV) of the quasi-static state."""
        # The capacitors hold the end of tick j − 1.
        state = self._steady_at(run, j - 1, demand_uA, slope)
        off = abs(self._v_a - state.va) + abs(self._v_b - state.vb)
        return off <= 1e-3 * (abs(state.va) + abs(state.vb)) + 1e-3

    def _advance_open(
        self, run: _Run, ticks: int, demand_uA: int, slope: float, compliance_mV: int
    ) -> _Run:
        """An open circuit: nothing flows, the capacitors and the accommodation decay."""
        j = run.ticks
        span = ticks - j
        last = run.start_tick + ticks - 1
        ra, rb = self._skin_ohm(self._hydration(last))
        if not self._open_a:
            self._v_a *= math.exp(-span * TICK_S / (ra * self._cap_a))
        else:
            self._v_a = 0.0
        if not self._open_b:
            self._v_b *= math.exp(-span * TICK_S / (rb * self._cap_b))
        else:
            self._v_b = 0.0
        self._acc *= (1.0 - self._alpha) ** span
        felt = 0.0
        rate = (felt - self._acc) / self._tau_eff
        self.density_mA_cm2 = 0.0
        self.felt_density_mA_cm2 = 0.0
        self.density_rate_mA_cm2_s = rate
        self.sensation = self._sensation(felt, rate)
        demand = round(demand_uA + slope * (ticks - 1))
        volts_mV = 0 if demand == 0 else round(math.copysign(abs(compliance_mV), demand))
        reading = self._read(0, volts_mV)
        if run.first_limited_tick is None and demand != 0:
            # The demand's magnitude grows monotonically (no sign change): find where it
            # first rounds to a non-zero current, which the open circuit cannot carry.
            first = j
            if round(demand_uA + slope * j) == 0:
                first = max(j, math.ceil((0.5 - abs(demand_uA)) / abs(slope)))
            run.first_limited_tick = run.start_tick + min(first, ticks - 1)
        run.ticks = ticks
        return run.result(reading)

    def _advance_quasi_static(
        self,
        run: _Run,
        j0: int,
        ticks: int,
        demand_uA: int,
        slope: float,
        compliance_mV: int,
        stop_at_compliance: bool,
    ) -> _Run:
        vc = run.compliance_V
        start = run.start_tick
        last_j = ticks - 1
        if run.first_limited_tick is None:
            limited_j = self._first_limited(run, j0, last_j, demand_uA, slope)
            if limited_j is not None and stop_at_compliance:
                # Integrate up to the tick before, then drive exactly until a tick is
                # limited (near the boundary the exact and quasi-static ticks may differ).
                if limited_j > j0:
                    self._integrate(run, j0, limited_j - 1, demand_uA, slope)
                j = limited_j
                if self._ticks_inline():
                    j = self._exact_ticks(
                        run,
                        j,
                        min(ticks, limited_j + _SETTLE_TICKS),
                        demand_uA,
                        slope,
                        compliance_mV,
                        True,
                    )
                    if run.first_limited_tick is not None or j == ticks:
                        return run.result(self._reading)
                    return self._advance_quasi_static(
                        run, j, ticks, demand_uA, slope, compliance_mV, stop_at_compliance
                    )
                while True:
                    demand = round(demand_uA + slope * j)
                    reading = self.drive(start + j, demand, compliance_mV)
                    run.add_tick(reading, demand, self.density_mA_cm2, self.sensation)
                    j += 1
                    if run.first_limited_tick is not None or j == ticks:
                        return run.result(reading)
                    if j - limited_j >= _SETTLE_TICKS:
                        return self._advance_quasi_static(
                            run, j, ticks, demand_uA, slope, compliance_mV, stop_at_compliance
                        )
            if limited_j is not None:
                run.first_limited_tick = start + limited_j
                if limited_j > j0:
                    # A ramp peaks where the compliance starts to bind, between two nodes.
                    kink = self._steady_at(run, limited_j - 1, demand_uA, slope)
                    run.peak_current_A = max(run.peak_current_A, abs(kink.i))
                    run.peak(abs(kink.i) * 1e3 * self._inv_small, 0.0)
        end = self._integrate(run, j0, last_j, demand_uA, slope)
        if end.limited:
            voltage = math.copysign(vc, end.i)
        else:
            voltage = self._k * self._rs * end.i + self._v_a + self._v_b
            voltage = max(-vc, min(vc, voltage))
        reading = self._read(round(end.i * 1e6), round(voltage * 1e3))
        return run.result(reading)

    def _first_limited(
        self, run: _Run, j0: int, j1: int, demand_uA: int, slope: float
    ) -> int | None:
        """The first j in [j0, j1] whose quasi-static current is compliance-limited."""

        def limited(j: float) -> bool:
            return self._steady_at(run, j, demand_uA, slope).limited

        if limited(j0):
            return j0
        if slope == 0.0:
            # A steady demand on hydrating skin: the voltage it needs only falls.
            return None
        nodes = _nodes(j0, j1)
        previous = j0
        for node in nodes[1:]:
            at = round(node)
            if limited(at):
                lo, hi = previous, at  # lo not limited, hi limited
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if limited(mid):
                        hi = mid
                    else:
                        lo = mid
                return hi
            previous = at
        return None

    def _integrate(self, run: _Run, j0: int, j1: int, demand_uA: int, slope: float) -> _Steady:
        """Sum the quasi-static currents of ticks j0..j1; leave the load at the end of j1."""
        nodes = _nodes(j0, j1)
        values: list[float] = []
        acc = self._acc
        peak_i = 0.0
        felt = density = rate = 0.0
        previous_felt = 0.0
        previous_node = float(j0) - 1.0
        # How far the capacitors are from the quasi-static state as the stretch begins: that
        # difference dies away by e per tick.
        before = self._steady_at(run, j0 - 1, demand_uA, slope)
        span_s = (j1 - j0 + 1) * TICK_S
        off_a = (self._v_a - before.va) * math.exp(-span_s / (before.ra * self._cap_a))
        off_b = (self._v_b - before.vb) * math.exp(-span_s / (before.rb * self._cap_b))
        state = before
        # Per node: _steady_at (_current_at, _skin_ohm), _follow, _sensation and _Run.peak
        # inline, with the same arithmetic (a long stretch's cost is this loop).
        exp = math.exp
        power_of = math.pow
        start = run.start_tick
        vc = run.compliance_V
        step_A = slope * 1e-6
        series = self._k * self._rs
        tau_h = self._tau_h_ticks
        r_hyd_a, r_span_a, inv_area_a, rd_a = (
            self._r_hyd_a,
            self._r_span_a,
            self._inv_area_a,
            self._rd_a,
        )
        r_hyd_b, r_span_b, inv_area_b, rd_b = (
            self._r_hyd_b,
            self._r_span_b,
            self._inv_area_b,
            self._rd_b,
        )
        cap_a, cap_b = self._cap_a, self._cap_b
        inv_small, inv_felt, hot_a, hot_b = (
            self._inv_small,
            self._inv_felt,
            self._hot_a,
            self._hot_b,
        )
        alpha, tau_eff = self._alpha, self._tau_eff
        level_gain, exponent = self._level_gain, self._exponent
        rate_up, rate_down = self._rate_up, self._rate_down
        run_density, run_sensation = run.peak_density, run.peak_sensation
        for index, node in enumerate(nodes):
            # _current_at(start + node, demand at node, vc, step)
            tick = start + node
            demand_A = (demand_uA + slope * node) * 1e-6
            h = exp(-tick / tau_h) if tick > 0 else 1.0
            ra = (r_hyd_a + r_span_a * h) * inv_area_a
            rb = (r_hyd_b + r_span_b * h) * inv_area_b
            if rd_a:
                ra = ra * rd_a / (ra + rd_a)
            if rd_b:
                rb = rb * rd_b / (rb + rd_b)
            ua = demand_A * ra
            ub = demand_A * rb
            if step_A:
                ea = exp(-TICK_S / (ra * cap_a))
                eb = exp(-TICK_S / (rb * cap_b))
                ua -= step_A * ra * ea / (1.0 - ea)
                ub -= step_A * rb * eb / (1.0 - eb)
            needed = series * demand_A + ua + ub
            if -vc <= needed <= vc:
                state = _Steady(demand_A, ua, ub, ra, rb, False)
            else:
                i = math.copysign(vc / (series + ra + rb), demand_A)
                state = _Steady(i, i * ra, i * rb, ra, rb, True)
            i = state.i
            values.append(i)
            magnitude_A = abs(i)
            current_mA = magnitude_A * 1e3
            if magnitude_A > peak_i:
                peak_i = magnitude_A
            density = current_mA * inv_small
            felt = current_mA * inv_felt
            if hot_a:
                spot = abs(state.va) * hot_a
                if spot > felt:
                    felt = spot
            if hot_b:
                spot = abs(state.vb) * hot_b
                if spot > felt:
                    felt = spot
            if index == 0:
                # The first node is one tick after the last exact tick: the filter's own step.
                acc = acc + alpha * (felt - acc)
            else:
                # _follow(acc, previous_felt, felt, node - previous_node, tau_eff)
                span_s = (node - previous_node) * TICK_S
                lag = (felt - previous_felt) / span_s * tau_eff
                acc = felt - lag + (acc - previous_felt + lag) * exp(-span_s / tau_eff)
            rate = (felt - acc) / tau_eff
            drive = power_of(felt * level_gain, exponent) + (
                rate * rate_up if rate > 0 else -rate * rate_down
            )
            felt_now = 10.0 - 10.0 / (1.0 + drive)
            if density > run_density:
                run_density = density
            if felt_now > run_sensation:
                run_sensation = felt_now
            previous_felt = felt
            previous_node = node
        run.peak_density, run.peak_sensation = run_density, run_sensation
        run.charge_A_ticks += _sum_over_ticks(nodes, values)
        run.peak_current_A = max(run.peak_current_A, peak_i)
        run.ticks = j1 + 1
        # The load's state at the end of tick j1.
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


#: ``PatientLoad.drive`` itself, bound once: anything else in its place (a subclass's, or one
#: patched on the class or the instance to watch it) sees every tick (:meth:`_ticks_inline`).
_PLAIN_DRIVE = PatientLoad.drive


class _Steady(NamedTuple):
    """The quasi-static state at a tick: current (A), capacitor voltages (V), skin (Ω)."""

    i: float
    va: float
    vb: float
    ra: float
    rb: float
    limited: bool


def _limited(i: float, g: float, w: float, vc: float) -> tuple[float, float]:
    """The current a compliance of ±vc allows when ``i`` would need more: same sign as
    ``i`` and never larger; and the end-of-tick voltage, clipped to the compliance."""
    if i == 0.0:
        return 0.0, max(-vc, min(vc, w))
    s = 1.0 if i > 0 else -1.0
    allowed = (s * vc - w) / g
    if allowed * s <= 0.0:
        allowed = 0.0
    elif allowed * s > i * s:
        allowed = i
    v = allowed * g + w
    return allowed, max(-vc, min(vc, v))


def _nodes(j0: int, j1: int) -> list[float]:
    """Evaluation points over ticks j0..j1: every tick when few, else Simpson nodes."""
    if j1 - j0 + 1 <= _DIRECT_TICKS:
        return [float(j) for j in range(j0, j1 + 1)]
    h = (j1 - j0) / _SEGMENTS
    return [j0 + k * h for k in range(_SEGMENTS + 1)]


def _sum_over_ticks(nodes: list[float], values: list[float]) -> float:
    """Σ f(j) over the integer ticks the nodes span (the nodes of :func:`_nodes`)."""
    if len(nodes) < _SEGMENTS + 1 or nodes[1] - nodes[0] == 1.0:
        return math.fsum(values)
    h = nodes[1] - nodes[0]
    odd = math.fsum(values[1:-1:2])
    even = math.fsum(values[2:-1:2])
    integral = h / 3.0 * (values[0] + 4.0 * odd + 2.0 * even + values[-1])
    return integral + 0.5 * (values[0] + values[-1])


def _follow(acc: float, felt_from: float, felt_to: float, span_ticks: float, tau: float) -> float:
    """The accommodation filter after ``span_ticks`` of a felt density ramping linearly."""
    span_s = span_ticks * TICK_S
    rate = (felt_to - felt_from) / span_s
    lag = rate * tau
    decay = math.exp(-span_s / tau)
    return felt_to - lag + (acc - felt_from + lag) * decay


class _Run:
    """What a stretch has delivered so far."""

    __slots__ = (
        "charge_A_ticks",
        "compliance_V",
        "first_limited_tick",
        "peak_current_A",
        "peak_density",
        "peak_sensation",
        "reading",
        "start_tick",
        "ticks",
    )

    def __init__(self, start_tick: int, compliance_V: float) -> None:
        self.start_tick = start_tick
        self.compliance_V = compliance_V
        self.ticks = 0
        self.charge_A_ticks = 0.0
        self.peak_current_A = 0.0
        self.peak_density = 0.0
        self.peak_sensation = 0.0
        self.first_limited_tick: int | None = None
        self.reading = _NO_READING  # the last tick's, once the stretch has ended

    def add_tick(
        self, reading: LoadReading, demand_uA: int, density: float, sensation_now: float
    ) -> None:
        """One exact tick: its reading, the demand it had, and its density and sensation."""
        current = reading.current_uA
        self.charge_A_ticks += current * 1e-6
        self.peak_current_A = max(self.peak_current_A, abs(current) * 1e-6)
        self.peak(density, sensation_now)
        if self.first_limited_tick is None and abs(current) < abs(demand_uA):
            self.first_limited_tick = self.start_tick + self.ticks
        self.ticks += 1

    def peak(self, density: float, sensation_now: float) -> None:
        self.peak_density = max(self.peak_density, density)
        self.peak_sensation = max(self.peak_sensation, sensation_now)

    def result(self, reading: LoadReading) -> _Run:
        """The stretch ends with this reading."""
        self.reading = reading
        return self

    def stretch(self) -> Stretch:
        return Stretch(
            reading=self.reading,
            ticks=self.ticks,
            charge_uA_ms=self.charge_A_ticks * 1e6 * (TICK_S * 1e3),
            peak_current_uA=round(self.peak_current_A * 1e6),
            peak_density_mA_cm2=self.peak_density,
            peak_sensation=self.peak_sensation,
            first_limited_tick=self.first_limited_tick,
        )
