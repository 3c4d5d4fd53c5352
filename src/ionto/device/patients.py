"""The virtual patient: skin, body, wetted areas, pain threshold, and what they do in the tray.

A patient is the circuit electrode → water → skin → body core → skin → water → electrode of
one region's electrode pairing (``therapy.regions``). This module holds what the patient *is*
(the resistances and areas at any tick, their scripted movements); :mod:`ionto.device.physics`
holds what the circuit *does* (the skin capacitance charging, the compliance voltage, the
waveforms) and what the patient *feels*.

Every number is either from ``shared/clinical-reference.md`` (named) or **derived** (marked
so, with the reasoning, and configurable by building a patient with ``dataclasses.replace``).
The calibration targets, both from clinical-reference §2:

* the body resistance across a pairing is 4–6 kΩ in practice (vendor shopping advice;
  makers rate their devices at 2 kΩ) — the population's median at the start of a session
  with 400 µS/cm water is ~4.5 kΩ (the distribution: :func:`VirtualPatient.from_seed`);
* at a constant ~8.5 V the current rose from 2 to 4.5 mA over 10 minutes as the skin
  hydrated (hobbyist measurement) — the median patient goes from 1.9 to 4.5 mA.

With these numbers a 15 mA session on the palms needs ~67 V at the very start (above a 60 V
compliance: the first half-minute is voltage-limited for the median patient) and ~23 V after
20 minutes, within the 20–30 V typical of practice (vendors; Sinclair 2023).

Time: ticks of :data:`ionto.device.load.TICK_S` (1 ms) from the start of the session, when the
limbs go into the water; the skin hydrates from tick 0.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from enum import StrEnum

from ionto.device.load import TICK_S
from ionto.therapy import regions
from ionto.therapy.regions import Electrode
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import AgeGroup, Region

# --- Sources of this module ------------------------------------------------------------------
BODY_RESISTANCE_CALIBRATION = Source(
    key="body_resistance_calibration",
    citation=(
        "Ionto derived: skin and body calibrated to 4–6 kΩ across a pairing (vendor advice) "
        "and to 2 → 4.5 mA at 8.5 V over 10 min (hobbyist measurement), clinical-reference §2; "
        "needs sign-off"
    ),
    grade="D",
)
SKIN_ELECTRICAL_LITERATURE = Source(
    key="skin_electrical_literature",
    citation=(
        "Ionto derived from skin-impedance literature (stratum corneum ~10 kΩ·cm² to "
        "~1 MΩ·cm² and ~0.02–0.06 µF/cm² at low frequency: Yamamoto & Yamamoto 1976; "
        "Rosell et al. 1988); internal body resistance a few hundred Ω (IEEE Std 80; "
        "IEC 60479-1); not in clinical-reference; needs sign-off"
    ),
    grade="D",
)
TRAY_GEOMETRY_DERIVED = Source(
    key="tray_geometry_derived",
    citation=(
        "Ionto derived: tray water 3–4 cm wetting only palms or soles (Fischer; Hyperhidrosis "
        "UK), the limb resting on a grid ~1 cm above the plate; needs sign-off"
    ),
    grade="D",
)

#: Conductivity of typical tap water (µS/cm): the contract's default. Soft water ~100 µS/cm,
#: hard ~800 µS/cm (derived: common ranges of European tap water; clinical-reference §2 says
#: only that soft water gives too little current).
TYPICAL_WATER_US_CM = 400.0


# --- The bath --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrayGeometry:
    """Where the water sits between the electrode plate and the skin (derived, configurable).

    The limb rests on an insulating grid over the plate, in 3–4 cm of water (Fischer;
    Hyperhidrosis UK). The current crosses about ``gap_cm`` of water over the whole wetted
    area: a slab of resistance ρ·gap/A. With 400 µS/cm water and a 130 cm² palm that is
    ~20 Ω per side — small beside the skin; the water matters mostly through the skin
    (:func:`water_skin_factor`).
    """

    gap_cm: float = 1.0
    source: Source = TRAY_GEOMETRY_DERIVED

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gap_cm) and self.gap_cm > 0):
            raise ValueError(f"the water gap must be positive, got {self.gap_cm}")


DEFAULT_TRAY = TrayGeometry()


def water_resistivity_ohm_cm(water_uS_cm: float) -> float:
    """Resistivity of the water (Ω·cm) from its conductivity (µS/cm): ρ = 10⁶ / σ."""
    if not (math.isfinite(water_uS_cm) and water_uS_cm > 0):
        raise ValueError(f"water conductivity must be positive, got {water_uS_cm}")
    return 1e6 / water_uS_cm


def bath_resistance_ohm(
    water_uS_cm: float, wetted_area_cm2: float, tray: TrayGeometry = DEFAULT_TRAY
) -> float:
    """Resistance of the water between one plate and its wetted skin (Ω): ρ · gap / area.

    Infinite when nothing is wetted (the limb is out of the water). Derived (see
    :class:`TrayGeometry`).
    """
    if wetted_area_cm2 <= 0:
        return math.inf
    return water_resistivity_ohm_cm(water_uS_cm) * tray.gap_cm / wetted_area_cm2


#: How strongly the skin's resistance follows the water's conductivity (derived). In tap
#: water the current crosses the skin mostly along sweat ducts and hydrated pathways filled
#: with the bath's water, so their conductance grows with the water's ions; a square root
#: (part of the skin, the lipid pathway, does not follow) makes soft water (~100 µS/cm) double
#: the skin's resistance and hard water (~800 µS/cm) lower it by 30%: soft water then "gives
#: too little current" (Fischer; IHS — clinical-reference §2), which the bath alone (~20 Ω)
#: could never do.
WATER_SKIN_EXPONENT = 0.5


def water_skin_factor(water_uS_cm: float, exponent: float = WATER_SKIN_EXPONENT) -> float:
    """Multiplier of the skin's specific resistance for this water against 400 µS/cm."""
    water_resistivity_ohm_cm(water_uS_cm)  # validates
    return float((TYPICAL_WATER_US_CM / water_uS_cm) ** exponent)


# --- Skin ------------------------------------------------------------------------------------
#: Stratum corneum specific resistance of the median palm at the start of a session in
#: 400 µS/cm water (kΩ·cm²). Derived: it puts the median palms pairing at ~4.5 kΩ (vendor
#: advice 4–6 kΩ) and 1.9 mA at 8.5 V (hobbyist: 2 mA); within the 10 kΩ·cm²–1 MΩ·cm² of the
#: skin-impedance literature, high because palmar stratum corneum is thick.
SKIN_START_KOHM_CM2 = 255.0
#: Fully hydrated, the specific resistance falls to this fraction of its start (derived, with
#: the time constant below: 2 → 4.5 mA at 8.5 V over 10 min, hobbyist measurement).
HYDRATED_FRACTION = 0.24
#: Time constant of the exponential approach to the hydrated skin (s, derived, as above).
HYDRATION_TIME_CONSTANT_S = 300.0
#: Stratum corneum capacitance (µF/cm², derived: literature 0.02–0.06 µF/cm²). The time
#: constant R·C of the skin is then 2–8 ms, so a step in current shows in the voltage over a
#: few 1 ms ticks.
SKIN_CAPACITANCE_UF_CM2 = 0.03

#: Specific resistance of each electrode site against a palm (derived). Soles: the thickest
#: stratum corneum of the body; axillae, face and neck: thin skin with many glands.
SITE_SKIN_FACTOR: dict[Electrode, float] = {
    Electrode.LEFT_HAND: 1.0,
    Electrode.RIGHT_HAND: 1.0,
    Electrode.LEFT_FOOT: 1.3,
    Electrode.RIGHT_FOOT: 1.3,
    Electrode.LEFT_AXILLA: 0.5,
    Electrode.RIGHT_AXILLA: 0.5,
    Electrode.FACE: 0.5,
    Electrode.NECK: 0.6,
}

#: Resistance of the body core between a region's two electrode sites (Ω, median adult;
#: derived: "a few hundred Ω", IEEE Std 80 puts the internal body at ~300 Ω hand to feet).
#: The path runs through two limbs for hands and feet, shorter for the others.
CORE_RESISTANCE_OHM: dict[Region, float] = {
    Region.PALMS: 500.0,
    Region.SOLES: 600.0,
    Region.AXILLAE: 300.0,
    Region.FACE: 450.0,
    Region.NECK: 400.0,
}
#: Children's thinner limbs carry the current through less tissue (derived).
CHILD_CORE_FACTOR = 1.3

#: A skin defect (small cut, crack): the exposed tissue under it has no stratum corneum.
#: Area of a typical small cut (cm², derived: a 1 cm scratch 2–3 mm wide) and resistivity of
#: the exposed tissue (Ω·cm, derived: soft tissue ~100–300 Ω·cm).
DEFECT_AREA_CM2 = 0.25
TISSUE_RESISTIVITY_OHM_CM = 200.0


def defect_resistance_ohm(
    water_uS_cm: float,
    area_cm2: float = DEFECT_AREA_CM2,
    tissue_ohm_cm: float = TISSUE_RESISTIVITY_OHM_CM,
) -> float:
    """Resistance of a skin defect, in parallel with the intact skin of its side (Ω).

    Derived: the current spreads from the water into the defect and from the defect into the
    tissue, each a disc's spreading resistance ρ / (4a) with a the disc's radius. A 0.25 cm²
    cut in 400 µS/cm water: ~2.4 kΩ, about the intact skin of a palm at the start of a
    session, so the side's resistance roughly halves and much of the current crowds into
    the cut (the burning of clinical-reference §4).
    """
    if not (math.isfinite(area_cm2) and area_cm2 > 0):
        raise ValueError(f"a defect needs a positive area, got {area_cm2}")
    radius_cm = math.sqrt(area_cm2 / math.pi)
    return (water_resistivity_ohm_cm(water_uS_cm) + tissue_ohm_cm) / (4.0 * radius_cm)


def hydration_remaining(t_s: float, time_constant_s: float) -> float:
    """The fraction of the skin's hydration drop still to come at ``t_s``: exp(−t/τ)."""
    if t_s <= 0:
        return 1.0
    return math.exp(-t_s / time_constant_s)


# --- Scripted movements ----------------------------------------------------------------------
class Movement(StrEnum):
    LIFT = "lift"  # the limb leaves the water: the area falls to zero
    DIP = "dip"  # the limb goes partly out (fraction < 1) or deeper in (fraction > 1)


def smoothstep(u: float) -> float:
    """0 → 1 with zero slope at both ends: how a limb's wetted area changes (derived)."""
    if u <= 0:
        return 0.0
    if u >= 1:
        return 1.0
    return u * u * (3.0 - 2.0 * u)


def _between(a: float, b: float, s: float) -> float:
    """From ``a`` (s = 0) to ``b`` (s = 1), exactly at both ends."""
    return a * (1.0 - s) + b * s


@dataclass(frozen=True)
class AreaChange:
    """A scripted change of one electrode's wetted area, and the return to full immersion.

    Timeline in ticks: from ``start_tick`` the area moves smoothly (:func:`smoothstep`) to
    ``area_fraction`` of full over ``transition_ticks``; it stays there for ``hold_ticks``;
    then it moves back to full over another ``transition_ticks``. A lift for DUR s is out of
    the water (area zero) for DUR s, so the whole disturbance lasts DUR + 2 transitions.
    """

    movement: Movement
    side: int  # 0 or 1: which electrode of the pairing
    start_tick: int
    transition_ticks: int
    hold_ticks: int
    area_fraction: float

    def __post_init__(self) -> None:
        if self.side not in (0, 1):
            raise ValueError(f"side must be 0 or 1, got {self.side}")
        if self.start_tick < 0 or self.transition_ticks < 1 or self.hold_ticks < 0:
            raise ValueError("a movement needs a start ≥ 0, a transition ≥ 1 tick, a hold ≥ 0")
        if not (math.isfinite(self.area_fraction) and 0 <= self.area_fraction <= 2):
            raise ValueError(f"area fraction must be within 0–2, got {self.area_fraction}")

    @property
    def end_tick(self) -> int:
        """The first tick after the movement: the area is full again."""
        return self.start_tick + 2 * self.transition_ticks + self.hold_ticks

    def fraction_at(self, tick: int) -> float:
        """The multiplier of the full wetted area at ``tick``."""
        t0 = self.start_tick
        tr = self.transition_ticks
        if tick < t0 or tick >= self.end_tick:
            return 1.0
        back = t0 + tr + self.hold_ticks
        f = self.area_fraction
        if tick < t0 + tr:
            return _between(1.0, f, smoothstep((tick - t0 + 1) / tr))
        if tick < back:
            return f
        return _between(f, 1.0, smoothstep((tick - back + 1) / tr))

    def next_change_tick(self, after_tick: int) -> int | None:
        """The first tick after ``after_tick`` whose area differs from the tick before it."""
        t0 = self.start_tick
        tr = self.transition_ticks
        back = t0 + tr + self.hold_ticks
        for lo, hi in ((t0, t0 + tr), (back, back + tr)):
            candidate = max(lo, after_tick + 1)
            if candidate < hi:
                return candidate
        return None


@dataclass(frozen=True)
class SkinBreak:
    """A skin defect that opens at ``tick`` on one side and stays open for the session."""

    side: int
    tick: int
    area_cm2: float = DEFECT_AREA_CM2

    def __post_init__(self) -> None:
        if self.side not in (0, 1):
            raise ValueError(f"side must be 0 or 1, got {self.side}")
        if self.tick < 0:
            raise ValueError(f"a skin break needs a tick ≥ 0, got {self.tick}")
        if not (math.isfinite(self.area_cm2) and 0 < self.area_cm2 <= 10):
            raise ValueError(f"a skin break is small: 0–10 cm², got {self.area_cm2}")


def tick_at(t_s: float) -> int:
    """The tick at ``t_s`` seconds from the start of the session."""
    if not (math.isfinite(t_s) and t_s >= 0):
        raise ValueError(f"time must be a non-negative number of seconds, got {t_s}")
    return round(t_s / TICK_S)


# --- Scripted state at a tick ----------------------------------------------------------------
@dataclass(frozen=True)
class ScriptedState:
    """What the script says at one tick: the wetted areas and any skin defects (per side)."""

    wetted_area_cm2: tuple[float, float]
    #: Area of the open skin defect on each side (cm²), 0 where the skin is intact.
    defect_area_cm2: tuple[float, float]

    @property
    def open_circuit(self) -> bool:
        return self.wetted_area_cm2[0] <= 0 or self.wetted_area_cm2[1] <= 0

    @property
    def smaller_area_cm2(self) -> float:
        return min(self.wetted_area_cm2)


# --- Population ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Draw:
    """One patient's deviations from the median patient (1.0 or 0 = median)."""

    skin: float
    skin_asymmetry: float
    hydrated: float
    hydration_time: float
    capacitance: float
    core: float
    area: float
    area_asymmetry: float
    sensitivity: float
    pain_threshold: float
    transition_s: float


#: The median patient: every deviation at its median.
_MEDIAN_DRAW = _Draw(
    skin=1.0,
    skin_asymmetry=1.0,
    hydrated=1.0,
    hydration_time=1.0,
    capacitance=1.0,
    core=1.0,
    area=1.0,
    area_asymmetry=1.0,
    sensitivity=1.0,
    pain_threshold=7.0,
    transition_s=0.2,
)

#: Median pain threshold on the 0–10 sensation scale and its spread (derived: typical
#: patients tolerate the strong pins-and-needles of 10–18 mA on the hands, Fischer).
PAIN_THRESHOLD_MEDIAN = 7.0
PAIN_THRESHOLD_SD = 0.7
PAIN_THRESHOLD_RANGE = (5.0, 9.0)


def _lognormal(rng: random.Random, sigma: float, low: float, high: float) -> float:
    return min(high, max(low, math.exp(rng.gauss(0.0, sigma))))


def _draw(rng: random.Random) -> _Draw:
    """The population of virtual patients (every spread derived, see ``from_seed``)."""
    return _Draw(
        skin=_lognormal(rng, 0.30, 0.4, 2.5),
        skin_asymmetry=_lognormal(rng, 0.08, 0.8, 1.25),
        hydrated=_lognormal(rng, 0.25, 0.5, 2.0),
        hydration_time=_lognormal(rng, 0.30, 0.4, 2.5),
        capacitance=_lognormal(rng, 0.20, 0.5, 2.0),
        core=_lognormal(rng, 0.15, 0.6, 1.6),
        area=min(1.25, max(0.75, rng.gauss(1.0, 0.10))),
        area_asymmetry=min(1.1, max(0.9, rng.gauss(1.0, 0.04))),
        sensitivity=_lognormal(rng, 0.20, 0.5, 2.0),
        pain_threshold=min(
            PAIN_THRESHOLD_RANGE[1],
            max(PAIN_THRESHOLD_RANGE[0], rng.gauss(PAIN_THRESHOLD_MEDIAN, PAIN_THRESHOLD_SD)),
        ),
        transition_s=rng.uniform(0.1, 0.3),
    )


# --- The patient -----------------------------------------------------------------------------
@dataclass(frozen=True)
class VirtualPatient:
    """One virtual patient on one region's electrode pairing, with their scripted movements.

    Build with :meth:`from_seed` (a random patient of the population) or :meth:`median`
    (every value at the population's median); script movements with :meth:`lift`,
    :meth:`dip` and :meth:`skin_break`, each returning a new patient.
    """

    region: Region
    age_years: float
    group: AgeGroup
    water_uS_cm: float
    #: The two electrode sites of the region's pairing (``therapy.regions``).
    electrodes: tuple[Electrode, Electrode]
    #: Wetted area of each side when fully immersed (cm²).
    full_area_cm2: tuple[float, float]
    #: Stratum corneum specific resistance of each side at the start, in 400 µS/cm water.
    skin_start_kohm_cm2: tuple[float, float]
    #: The fully hydrated skin's specific resistance as a fraction of its start.
    hydrated_fraction: float
    hydration_time_constant_s: float
    skin_capacitance_uF_cm2: float
    core_resistance_ohm: float
    #: Multiplier of the density the patient feels (1 = median; 1.2 = feels 20% more).
    sensitivity: float
    #: Sensation (0–10) at and above which the patient calls it painful.
    pain_threshold: float
    #: How long this patient takes to take a limb out or put it back (s).
    transition_s: float
    seed: int | None = None
    tray: TrayGeometry = DEFAULT_TRAY
    movements: tuple[AreaChange, ...] = ()
    skin_breaks: tuple[SkinBreak, ...] = ()

    def __post_init__(self) -> None:
        water_resistivity_ohm_cm(self.water_uS_cm)
        positives = (
            *self.full_area_cm2,
            *self.skin_start_kohm_cm2,
            self.hydrated_fraction,
            self.hydration_time_constant_s,
            self.skin_capacitance_uF_cm2,
            self.core_resistance_ohm,
            self.sensitivity,
            self.transition_s,
        )
        if not all(math.isfinite(v) and v > 0 for v in positives):
            raise ValueError("areas, resistances, time constants and sensitivity must be > 0")
        if self.hydrated_fraction > 1:
            raise ValueError("hydration lowers the skin's resistance: fraction must be ≤ 1")
        if not (0 < self.pain_threshold <= 10):
            raise ValueError(f"pain threshold must be within (0, 10], got {self.pain_threshold}")

    # --- Construction ---------------------------------------------------------------------
    @classmethod
    def from_seed(
        cls,
        seed: int,
        region: Region,
        age_years: float,
        water_uS_cm: float = TYPICAL_WATER_US_CM,
    ) -> VirtualPatient:
        """A patient of the population, the same for the same arguments.

        The population (every spread derived; medians as in the module's calibration):
        skin specific resistance lognormal σ 0.30 (clipped ×0.4–2.5), a 8% asymmetry between
        sides; hydrated fraction σ 0.25 and hydration time σ 0.30 (lognormal); capacitance
        σ 0.20; core resistance σ 0.15 (×1.3 for children); wetted area normal ±10% (clipped
        ±25%) of the region's area for the age group, ±4% between sides; felt-density
        sensitivity lognormal σ 0.20; pain threshold normal 7.0 ± 0.7 (clipped 5–9); a limb
        moves in or out over 0.1–0.3 s. Total resistance at the start with 400 µS/cm water:
        median ~4.5 kΩ, quartiles ~3.7 and ~5.5 kΩ on the palms (vendor advice: 4–6 kΩ).
        """
        return cls._build(region, age_years, water_uS_cm, _draw(random.Random(seed)), seed)

    @classmethod
    def median(
        cls, region: Region, age_years: float, water_uS_cm: float = TYPICAL_WATER_US_CM
    ) -> VirtualPatient:
        """The population's median patient: the one the calibration targets describe."""
        return cls._build(region, age_years, water_uS_cm, _MEDIAN_DRAW, None)

    @classmethod
    def _build(
        cls, region: Region, age_years: float, water_uS_cm: float, d: _Draw, seed: int | None
    ) -> VirtualPatient:
        if not (math.isfinite(age_years) and age_years >= 0):
            raise ValueError(f"age must be a non-negative number of years, got {age_years}")
        group = regions.age_group(age_years)
        pairing = regions.REGIONS[region].pairing
        areas = tuple(regions.ELECTRODE_AREA_CM2[e][group] * d.area for e in pairing)
        skins = tuple(SKIN_START_KOHM_CM2 * SITE_SKIN_FACTOR[e] * d.skin for e in pairing)
        core = CORE_RESISTANCE_OHM[region] * d.core
        if group is AgeGroup.CHILD:
            core *= CHILD_CORE_FACTOR
        return cls(
            region=region,
            age_years=age_years,
            group=group,
            water_uS_cm=water_uS_cm,
            electrodes=pairing,
            full_area_cm2=(areas[0] * d.area_asymmetry, areas[1] / d.area_asymmetry),
            skin_start_kohm_cm2=(skins[0] * d.skin_asymmetry, skins[1] / d.skin_asymmetry),
            hydrated_fraction=min(1.0, HYDRATED_FRACTION * d.hydrated),
            hydration_time_constant_s=HYDRATION_TIME_CONSTANT_S * d.hydration_time,
            skin_capacitance_uF_cm2=SKIN_CAPACITANCE_UF_CM2 * d.capacitance,
            core_resistance_ohm=core,
            sensitivity=d.sensitivity,
            pain_threshold=d.pain_threshold,
            transition_s=d.transition_s,
            seed=seed,
        )

    def with_water(self, water_uS_cm: float) -> VirtualPatient:
        """The same patient in other water (soft ~100, typical 400, hard ~800 µS/cm)."""
        return replace(self, water_uS_cm=water_uS_cm)

    # --- Scripted movements ---------------------------------------------------------------
    def _side(self, electrode: Electrode | None) -> int:
        """Which side moves: by default the second site of the pairing (a hand in every
        pairing but the feet), which is the limb a patient takes out to scratch or answer."""
        if electrode is None:
            return 1
        if electrode not in self.electrodes:
            raise ValueError(f"{electrode.value} is not part of the {self.region.value} pairing")
        return self.electrodes.index(electrode)

    def _transition_ticks(self, transition_s: float | None) -> int:
        seconds = self.transition_s if transition_s is None else transition_s
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a movement takes some time, got {seconds} s")
        return max(1, round(seconds / TICK_S))

    def lift(
        self,
        t_s: float,
        duration_s: float,
        *,
        electrode: Electrode | None = None,
        transition_s: float | None = None,
    ) -> VirtualPatient:
        """The limb starts leaving the water at ``t_s`` and is out for ``duration_s``."""
        change = AreaChange(
            Movement.LIFT,
            self._side(electrode),
            tick_at(t_s),
            self._transition_ticks(transition_s),
            tick_at(duration_s),
            0.0,
        )
        return replace(self, movements=(*self.movements, change))

    def dip(
        self,
        t_s: float,
        duration_s: float,
        area_fraction: float,
        *,
        electrode: Electrode | None = None,
        transition_s: float | None = None,
    ) -> VirtualPatient:
        """The limb goes partly out (``area_fraction`` < 1) or deeper in (> 1) for a while."""
        change = AreaChange(
            Movement.DIP,
            self._side(electrode),
            tick_at(t_s),
            self._transition_ticks(transition_s),
            tick_at(duration_s),
            area_fraction,
        )
        return replace(self, movements=(*self.movements, change))

    def skin_break(
        self, t_s: float, *, electrode: Electrode | None = None, area_cm2: float = DEFECT_AREA_CM2
    ) -> VirtualPatient:
        """A skin defect opens at ``t_s`` (a crack, a scratch) and stays open."""
        defect = SkinBreak(self._side(electrode), tick_at(t_s), area_cm2)
        return replace(self, skin_breaks=(*self.skin_breaks, defect))

    # --- The script at a tick -------------------------------------------------------------
    def state_at(self, tick: int) -> ScriptedState:
        """The wetted areas and skin defects at ``tick``. Overlapping movements multiply."""
        fractions = [1.0, 1.0]
        for change in self.movements:
            fractions[change.side] *= change.fraction_at(tick)
        defects = [0.0, 0.0]
        for defect in self.skin_breaks:
            if tick >= defect.tick:
                # A defect leaves the water with its limb: never more of it than is wetted.
                defects[defect.side] += defect.area_cm2 * min(1.0, fractions[defect.side])
        return ScriptedState(
            wetted_area_cm2=(
                self.full_area_cm2[0] * fractions[0],
                self.full_area_cm2[1] * fractions[1],
            ),
            defect_area_cm2=(defects[0], defects[1]),
        )

    def wetted_area_cm2_at(self, tick: int) -> tuple[float, float]:
        return self.state_at(tick).wetted_area_cm2

    def next_change_tick(self, after_tick: int) -> int | None:
        """The first tick after ``after_tick`` at which the script changes anything.

        Between ``after_tick`` and that tick (exclusive) the areas and the skin defects are
        those of ``after_tick``: a fast :meth:`PatientLoad.advance` may cover that stretch.
        During a movement every tick is a change. The skin's hydration is not scripted: it
        changes every tick, smoothly, and ``advance`` integrates it.
        """
        candidates: list[int] = []
        for change in self.movements:
            nxt = change.next_change_tick(after_tick)
            if nxt is not None:
                candidates.append(nxt)
        candidates.extend(d.tick for d in self.skin_breaks if d.tick > after_tick)
        return min(candidates) if candidates else None

    # --- Electrical values ----------------------------------------------------------------
    def skin_ohm_cm2(self, side: int, t_s: float) -> float:
        """Specific resistance of one side's stratum corneum at ``t_s`` in this water (Ω·cm²)."""
        start = self.skin_start_kohm_cm2[side] * 1e3 * water_skin_factor(self.water_uS_cm)
        hydrated = start * self.hydrated_fraction
        return hydrated + (start - hydrated) * hydration_remaining(
            t_s, self.hydration_time_constant_s
        )

    def defect_ohm(self, area_cm2: float) -> float:
        """Resistance of a skin defect of ``area_cm2`` in this water (Ω)."""
        return defect_resistance_ohm(self.water_uS_cm, area_cm2)

    def side_skin_ohm(self, side: int, tick: int, state: ScriptedState | None = None) -> float:
        """The skin resistance of one side at ``tick`` (Ω): intact skin ∥ any defect."""
        state = self.state_at(tick) if state is None else state
        area = state.wetted_area_cm2[side]
        if area <= 0:
            return math.inf
        intact = self.skin_ohm_cm2(side, tick * TICK_S) / area
        defect = state.defect_area_cm2[side]
        if defect <= 0:
            return intact
        parallel = self.defect_ohm(defect)
        return intact * parallel / (intact + parallel)

    def series_ohm(self, tick: int, state: ScriptedState | None = None) -> float:
        """Water on both sides plus the body core (Ω): the part without capacitance."""
        state = self.state_at(tick) if state is None else state
        a, b = state.wetted_area_cm2
        return (
            self.core_resistance_ohm
            + bath_resistance_ohm(self.water_uS_cm, a, self.tray)
            + bath_resistance_ohm(self.water_uS_cm, b, self.tray)
        )

    def resistance_ohm_at(self, tick: int) -> float:
        """Total DC resistance across the pairing at ``tick`` (Ω); infinite on open circuit."""
        state = self.state_at(tick)
        if state.open_circuit:
            return math.inf
        return (
            self.series_ohm(tick, state)
            + self.side_skin_ohm(0, tick, state)
            + self.side_skin_ohm(1, tick, state)
        )
