"""Caps on what a session may deliver: one small pure function per cap, each with its source.

The current that reaches the device is the smallest of the caps for the patient's group, the
region and the solution (OpenAPS oref0 style); the result keeps every cap and which one bit
(:func:`limit_current`, built on :func:`ionto.therapy.reasons.limit_value`).

Pulsed DC: every current here is the **average** (duty-cycle-averaged) current, which is
what Ionto displays and records. The clinical caps (Doncaster, Robinul SmPC, density) come
from continuous-DC practice, where average and peak are the same; the average is the dose, so
they apply to it. The device ceiling is a hardware ceiling below a fault trip that sees the
instantaneous current, so by default it applies to the *peak* (average ÷ duty cycle): at 50%
duty a 30 mA ceiling allows a 15 mA average (:func:`device_current_ceiling`; derived,
configurable with ``LimitSettings.device_ceiling_on_peak``).

Where sources disagree or are silent, the value is a named preset in :class:`LimitSettings`
(density ceiling, device ceiling, compliance voltage, ramps, the hand/foot "usual" ceilings
and the glycopyrronium dry-mouth cap); :data:`DEFAULT_LIMITS` is the default instance.
Session-frequency caps (≤ 1 a day, ≤ 5 a week, glycopyrronium ≥ 7 days apart) are course
rules and live with the course, not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ionto.therapy import regions, sources
from ionto.therapy.reasons import Limit, Limited, Reason, limit_value
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import (
    THERAPEUTIC_WAVEFORMS,
    AgeGroup,
    Region,
    Solution,
    Waveform,
)

MA = "mA"
VOLT = "V"
MA_PER_CM2 = "mA/cm2"
MINUTES = "min"
SECONDS = "s"

# --- Derived sources (Ionto's proposals built on a published figure; need sign-off) ---------
DEVICE_CEILING_DERIVED = Source(
    key="device_ceiling_derived",
    citation=(
        "Ionto derived: 5 mA below the 35 mA fault trip of a commercial device "
        "(Hidrex safety concept); needs sign-off"
    ),
    grade="D",
)
USUAL_CEILING_AS_CAP = Source(
    key="usual_ceiling_as_cap",
    citation='German Wikipedia "Leitungswasseriontophorese" (usual values), applied as a cap',
    grade="?",
)


#: A commercial device stops therapy at 35 mA (Hidrex safety concept): Ionto's ceiling stays below.
FAULT_TRIP_MA = 35.0
#: Glycopyrronium iontophoresis is licensed at up to 90 V DC (Robinul SmPC).
GLYCOPYRRONIUM_MAX_V = 90.0


# --- Presets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DensityPreset:
    """A ceiling on current density (mA per cm² of the *smaller* wetted electrode).

    Sources disagree and none is specific to tap water, so the ceiling is a named preset:

    * ``drug_iontophoresis`` — 0.5 mA/cm², the usual drug-iontophoresis ceiling (**default**);
    * ``electrotherapy_manual`` — 0.1 mA/cm², one electrotherapy manual's advice;
    * ``iec_warning`` — 2 mA/cm², where IEC 60601-2-10 asks for a warning.

    Why 0.5 is the default: it is the only figure used in practice as an iontophoresis
    ceiling. 0.1 mA/cm² would cap an adult's palms (130 cm² derived) at 13 mA, below the
    currents tap-water practice has long used safely on hands and feet (Fischer 10–18 mA,
    Doncaster 20 mA), and would change the soles of the public contract's example (16 mA
    instead of 20 mA); 2 mA/cm² is a labelling threshold, not a treatment ceiling. With the
    default the density cap rarely binds on full immersion: it is the safeguard for small
    electrodes (axillary pads, children) and for whoever changes the wetted areas.
    """

    name: str
    density_mA_cm2: float
    source: Source

    def __post_init__(self) -> None:
        if not self.density_mA_cm2 > 0:
            raise ValueError(f"density ceiling must be positive, got {self.density_mA_cm2}")


DENSITY_DRUG_IONTOPHORESIS = DensityPreset("drug_iontophoresis", 0.5, sources.DRUG_IONTO_DENSITY)
DENSITY_ELECTROTHERAPY_MANUAL = DensityPreset(
    "electrotherapy_manual", 0.1, sources.ELECTROTHERAPY_MANUAL
)
DENSITY_IEC_WARNING = DensityPreset("iec_warning", 2.0, sources.IEC_60601_2_10)

DENSITY_PRESETS: dict[str, DensityPreset] = {
    p.name: p
    for p in (DENSITY_DRUG_IONTOPHORESIS, DENSITY_ELECTROTHERAPY_MANUAL, DENSITY_IEC_WARNING)
}


@dataclass(frozen=True)
class RampPreset:
    """How slowly the current rises from zero and falls back to zero.

    Output starts from zero, slowly, only once the circuit is closed (Hidrex immersion
    monitoring) and ramps down at the end (Fischer R13); neither gives a duration. The only
    published duration is 30 s up and 30 s down (Soterix IontoDC), hence the default.
    """

    name: str
    up_s: float
    down_s: float
    source: Source

    def __post_init__(self) -> None:
        if not (self.up_s > 0 and self.down_s > 0):
            raise ValueError("ramps must take some time: the current never jumps")


RAMP_SOTERIX = RampPreset("soterix_30s", 30.0, 30.0, sources.SOTERIX_IONTODC)


@dataclass(frozen=True)
class LimitSettings:
    """Every configurable cap, with the default and why in the field's comment."""

    #: Density ceiling on the smaller wetted electrode (see :class:`DensityPreset`).
    density: DensityPreset = DENSITY_DRUG_IONTOPHORESIS
    #: Absolute current ceiling of the device (mA). Derived: below the 35 mA fault trip of
    #: a commercial device (Hidrex safety) with a 5 mA margin.
    device_ceiling_mA: float = 30.0
    #: Whether the device ceiling bounds the pulse *peak* (average ÷ duty) rather than the
    #: average. Derived, conservative: a fault trip sees the instantaneous current.
    device_ceiling_on_peak: bool = True
    #: "Usually ≤ 15 mA" on hands and "≤ 25 mA" on feet (German Wikipedia). By default these
    #: bound the *target*, not the maximum: see :func:`usual_region_ceiling`.
    usual_hands_ceiling_mA: float = 15.0
    usual_feet_ceiling_mA: float = 25.0
    usual_ceilings_as_caps: bool = False
    #: Glycopyrronium: more dry mouth above 8 mA (Leow & Tey 2017). ``None``: a target only
    #: (the default); a number: also a cap (the ``glycopyrronium_low_dose`` protocol preset).
    glycopyrronium_dry_mouth_cap_mA: float | None = None
    #: Compliance voltage (V). Home devices give 30–60 V (vendors), the Levit/Fischer method
    #: ~90 V; glycopyrronium is licensed at up to 90 V DC (Robinul SmPC).
    tap_water_compliance_V: float = 60.0
    glycopyrronium_compliance_V: float = 90.0
    ramp: RampPreset = RAMP_SOTERIX

    def __post_init__(self) -> None:
        for name in (
            "device_ceiling_mA",
            "usual_hands_ceiling_mA",
            "usual_feet_ceiling_mA",
            "tap_water_compliance_V",
            "glycopyrronium_compliance_V",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        # A setting may tighten a hard limit, never lift it.
        if self.device_ceiling_mA >= FAULT_TRIP_MA:
            raise ValueError(
                f"device_ceiling_mA must stay below the {FAULT_TRIP_MA:g} mA fault trip"
                f" (Hidrex safety concept), got {self.device_ceiling_mA:g}"
            )
        if self.glycopyrronium_compliance_V > GLYCOPYRRONIUM_MAX_V:
            raise ValueError(
                "glycopyrronium_compliance_V must not exceed the licensed"
                f" {GLYCOPYRRONIUM_MAX_V:g} V (Robinul SmPC),"
                f" got {self.glycopyrronium_compliance_V:g}"
            )
        cap = self.glycopyrronium_dry_mouth_cap_mA
        if cap is not None and not (math.isfinite(cap) and cap > 0):
            raise ValueError(f"glycopyrronium_dry_mouth_cap_mA must be positive, got {cap}")


DEFAULT_LIMITS = LimitSettings()

#: Leow & Tey 2017: palms' observed optimum 7.5–8 mA; above 8 mA dry mouth more frequent.
GLYCOPYRRONIUM_DRY_MOUTH_MA = 8.0

#: Sessions shorter than this had no effect (Hidrex 1994 study summary).
MINIMUM_TAP_WATER_MINUTES = 10


# --- The group caps: one table, indexed by (group, solution) (AndroidAPS HardLimits) ---------
CURRENT_CAP_MA: dict[tuple[AgeGroup, Solution], Limit] = {
    (AgeGroup.ADULT, Solution.TAP_WATER): Limit(
        code="adult_current_cap",
        value=20.0,
        unit=MA,
        text="Adults: at most 20 mA with tap water.",
        source=sources.DONCASTER,
    ),
    (AgeGroup.CHILD, Solution.TAP_WATER): Limit(
        code="child_current_cap",
        value=15.0,
        unit=MA,
        text="Children: at most 15 mA with tap water, with an adult present.",
        source=sources.DONCASTER,
    ),
    (AgeGroup.ADULT, Solution.GLYCOPYRRONIUM): Limit(
        code="glycopyrronium_adult_cap",
        value=20.0,
        unit=MA,
        text="Glycopyrronium, adults: at most 20 mA (licensed range 10–20 mA).",
        source=sources.ROBINUL_SMPC,
    ),
    (AgeGroup.CHILD, Solution.GLYCOPYRRONIUM): Limit(
        code="glycopyrronium_child_cap",
        value=10.0,
        unit=MA,
        text="Glycopyrronium, children: at most 10 mA (licensed range 2–10 mA).",
        source=sources.ROBINUL_SMPC,
    ),
}


def adult_current_cap() -> Limit:
    """Adults with tap water: at most 20 mA (Doncaster & Bassetlaw NHS leaflet)."""
    return CURRENT_CAP_MA[(AgeGroup.ADULT, Solution.TAP_WATER)]


def child_current_cap() -> Limit:
    """Children with tap water: at most 15 mA, accompanied by an adult (Doncaster leaflet).

    Children are ``regions.age_group(age) == AgeGroup.CHILD``.
    """
    return CURRENT_CAP_MA[(AgeGroup.CHILD, Solution.TAP_WATER)]


def glycopyrronium_adult_cap() -> Limit:
    """Glycopyrronium, adults: 10–20 mA at up to 90 V DC, so at most 20 mA (Robinul SmPC)."""
    return CURRENT_CAP_MA[(AgeGroup.ADULT, Solution.GLYCOPYRRONIUM)]


def glycopyrronium_child_cap() -> Limit:
    """Glycopyrronium, children: 2–10 mA at up to 90 V DC, so at most 10 mA (Robinul SmPC)."""
    return CURRENT_CAP_MA[(AgeGroup.CHILD, Solution.GLYCOPYRRONIUM)]


def group_current_cap(group: AgeGroup, solution: Solution) -> Limit:
    """The current cap of a patient group with a solution: one row of :data:`CURRENT_CAP_MA`."""
    return CURRENT_CAP_MA[(group, solution)]


# --- The hand and foot "usual" ceilings ------------------------------------------------------
def usual_region_ceiling(region: Region, settings: LimitSettings = DEFAULT_LIMITS) -> Limit | None:
    """Hands usually ≤ 15 mA, feet usually ≤ 25 mA (German Wikipedia); other regions: none.

    Target or cap? By default a bound on the **target**, not on the maximum: the source says
    what is *usually* used, not what is safe; as a cap the hands' 15 mA would contradict the
    maker's 10–18 mA on hands (Fischer) and the NHS adult cap of 20 mA (Doncaster), and the
    feet's 25 mA can never bind an adult (cap 20 mA) anyway. So the protocol starts at or
    below these values and the nurse may titrate up to the safety caps when the patient
    tolerates it. A centre that reads them as caps sets ``usual_ceilings_as_caps=True``
    (then :func:`region_current_caps` returns them).
    """
    if region is Region.PALMS:
        value, what = settings.usual_hands_ceiling_mA, "hands"
    elif region is Region.SOLES:
        value, what = settings.usual_feet_ceiling_mA, "feet"
    else:
        return None
    source = USUAL_CEILING_AS_CAP if settings.usual_ceilings_as_caps else sources.WIKIPEDIA_DE
    return Limit(
        code=f"usual_{what}_ceiling",
        value=value,
        unit=MA,
        text=f"On the {what}, the current used is usually at most {value:g} mA.",
        source=source,
    )


def region_current_caps(
    region: Region, settings: LimitSettings = DEFAULT_LIMITS
) -> tuple[Limit, ...]:
    """The region's usual ceiling as a cap, only when configured so (see above)."""
    if not settings.usual_ceilings_as_caps:
        return ()
    ceiling = usual_region_ceiling(region, settings)
    return () if ceiling is None else (ceiling,)


# --- Density on the smaller electrode --------------------------------------------------------
def density_cap_mA(density_mA_cm2: float, smaller_area_cm2: float) -> float:
    """Current (mA) that puts the given density on the smaller wetted electrode."""
    if smaller_area_cm2 <= 0:
        raise ValueError(f"wetted area must be positive, got {smaller_area_cm2}")
    return density_mA_cm2 * smaller_area_cm2


def current_density_cap(
    region: Region, group: AgeGroup, settings: LimitSettings = DEFAULT_LIMITS
) -> Limit:
    """Density ceiling × the *smaller* wetted electrode area of the region's pairing (mA).

    Density is computed on the smaller electrode (Bindner; clinical-reference §2): with a face
    mask against a hand tray the hand carries about twice the face's density. The ceiling is
    the ``settings.density`` preset (see :class:`DensityPreset`); the areas are the derived
    defaults of :mod:`ionto.therapy.regions`.
    """
    area_cm2 = regions.smaller_electrode_area_cm2(region, group)
    preset = settings.density
    value = density_cap_mA(preset.density_mA_cm2, area_cm2)
    return Limit(
        code="current_density_cap",
        value=value,
        unit=MA,
        text=(
            f"At most {preset.density_mA_cm2:g} mA per cm² on the smaller electrode "
            f"({area_cm2:g} cm²): {value:g} mA."
        ),
        source=preset.source,
    )


# --- Device ceiling --------------------------------------------------------------------------
def device_current_ceiling(
    settings: LimitSettings = DEFAULT_LIMITS, duty_cycle: float | None = None
) -> Limit:
    """The device's absolute ceiling, below the 35 mA fault trip of a commercial device.

    Source: Hidrex safety concept (therapy stops at ≥ 35 mA); the 30 mA default is derived
    (a 5 mA margin) and configurable. For pulsed DC (``duty_cycle`` < 1) the ceiling bounds
    the peak by default, so the cap on the average is ceiling × duty cycle (derived).
    """
    ratio = _average_to_peak(duty_cycle)
    if not settings.device_ceiling_on_peak or ratio == 1.0:
        return Limit(
            code="device_current_ceiling",
            value=settings.device_ceiling_mA,
            unit=MA,
            text=f"The device never gives more than {settings.device_ceiling_mA:g} mA.",
            source=DEVICE_CEILING_DERIVED,
        )
    value = settings.device_ceiling_mA * ratio
    return Limit(
        code="device_current_ceiling",
        value=value,
        unit=MA,
        text=(
            f"The device never gives more than {settings.device_ceiling_mA:g} mA at the pulse "
            f"peak: at {ratio:.0%} duty that is {value:g} mA on average."
        ),
        source=DEVICE_CEILING_DERIVED,
    )


def _average_to_peak(duty_cycle: float | None) -> float:
    if duty_cycle is None:
        return 1.0
    if not (0 < duty_cycle <= 1):
        raise ValueError(f"duty cycle must be in (0, 1], got {duty_cycle}")
    return duty_cycle


# --- Glycopyrronium dry mouth ----------------------------------------------------------------
def glycopyrronium_dry_mouth_cap(
    solution: Solution, settings: LimitSettings = DEFAULT_LIMITS
) -> Limit | None:
    """Glycopyrronium above 8 mA brings more dry mouth (Leow & Tey 2017, palms, 7.5–8 mA optimum).

    By default this is a target (see ``ionto.therapy.protocols``), not a cap: the licence
    allows adults up to 20 mA (Robinul SmPC). Under the ``glycopyrronium_low_dose`` protocol
    preset (``settings.glycopyrronium_dry_mouth_cap_mA`` set) it is also a cap, for every
    site and age, because dry mouth is a systemic effect of the drug absorbed.
    """
    cap = settings.glycopyrronium_dry_mouth_cap_mA
    if solution is not Solution.GLYCOPYRRONIUM or cap is None:
        return None
    return Limit(
        code="glycopyrronium_dry_mouth_cap",
        value=cap,
        unit=MA,
        text=f"Glycopyrronium: at most {cap:g} mA, as dry mouth is more frequent above 8 mA.",
        source=sources.LEOW_TEY_2017,
    )


# --- Voltage, session length, ramps ----------------------------------------------------------
def compliance_voltage_cap(solution: Solution, settings: LimitSettings = DEFAULT_LIMITS) -> Limit:
    """The most voltage the device may apply to drive the set current.

    Tap water: 60 V by default, the top of home devices' 30–60 V (vendor specifications);
    the Levit/Fischer method uses about 90 V (Levit, Cutis 1980), configurable. Hands usually
    need < 15 V, 20–30 V is typical. Glycopyrronium: up to 90 V DC (Robinul SmPC).
    """
    if solution is Solution.GLYCOPYRRONIUM:
        volts = settings.glycopyrronium_compliance_V
        return Limit(
            code="compliance_voltage_cap",
            value=volts,
            unit=VOLT,
            text=f"Glycopyrronium: the device applies at most {volts:g} V.",
            source=sources.ROBINUL_SMPC,
        )
    volts = settings.tap_water_compliance_V
    return Limit(
        code="compliance_voltage_cap",
        value=volts,
        unit=VOLT,
        text=f"The device applies at most {volts:g} V to reach the set current.",
        source=sources.VENDOR_VOLTAGE,
    )


def minimum_session_minutes() -> Limit:
    """Tap-water sessions under 10 minutes were ineffective (Hidrex 1994 study summary).

    A floor, not a cap: protocols never plan fewer minutes of tap water than this.
    """
    return Limit(
        code="minimum_session_minutes",
        value=float(MINIMUM_TAP_WATER_MINUTES),
        unit=MINUTES,
        text="Tap-water sessions shorter than 10 minutes do not work.",
        source=sources.HIDREX_1994,
    )


def ramp_limits(settings: LimitSettings = DEFAULT_LIMITS) -> tuple[Limit, Limit]:
    """The shortest ramp up from zero and down to zero (see :class:`RampPreset`).

    Floors, not caps: a ramp may be slower, never faster. Lowering the current to zero before
    a limb leaves the water avoids the shock (Hidrex DP450 manual).
    """
    ramp = settings.ramp
    return (
        Limit(
            code="ramp_up_minimum",
            value=ramp.up_s,
            unit=SECONDS,
            text=f"The current rises slowly from zero, over at least {ramp.up_s:g} seconds.",
            source=ramp.source,
        ),
        Limit(
            code="ramp_down_minimum",
            value=ramp.down_s,
            unit=SECONDS,
            text=f"At the end the current falls slowly to zero, over {ramp.down_s:g} seconds.",
            source=ramp.source,
        ),
    )


# --- Waveforms -------------------------------------------------------------------------------
def refuse_pure_ac(waveform: Waveform) -> Reason | None:
    """Pure AC is refused: it had virtually no effect (Reinauer et al., Br J Dermatol 1993).

    AC with a DC offset worked like DC and is allowed.
    """
    if waveform is not Waveform.AC:
        return None
    return Reason(
        code="pure_ac_refused",
        text="Pure alternating current does not reduce sweating, so it is never used.",
        source=sources.REINAUER_1993,
    )


def is_therapeutic_waveform(waveform: Waveform) -> bool:
    """DC, pulsed DC and AC with a DC offset work; pure AC does not (Reinauer 1993, 1995)."""
    return waveform in THERAPEUTIC_WAVEFORMS


def waveform_refusal(waveform: Waveform) -> Reason | None:
    """Why a waveform may not be offered, or ``None`` when it is therapeutic (Reinauer 1993)."""
    refusal = refuse_pure_ac(waveform)
    if refusal is not None or is_therapeutic_waveform(waveform):
        return refusal
    return Reason(
        code="waveform_not_therapeutic",
        text=f"The waveform {waveform.value} is not a treatment waveform.",
        source=sources.REINAUER_1993,
    )


def require_therapeutic_waveform(waveform: Waveform) -> Waveform:
    """The waveform itself, or ``ValueError`` with the plain reason when it is refused."""
    refusal = waveform_refusal(waveform)
    if refusal is not None:
        raise ValueError(f"{refusal.code}: {refusal.text} ({refusal.source})")
    return waveform


# --- All current caps together ---------------------------------------------------------------
def current_caps(
    age_years: float,
    region: Region,
    solution: Solution,
    settings: LimitSettings = DEFAULT_LIMITS,
    *,
    waveform: Waveform = Waveform.DC,
    duty_cycle: float | None = None,
) -> tuple[Limit, ...]:
    """Every current cap (mA, average current) for this patient group, region and solution.

    The group cap (Doncaster or Robinul SmPC), the density cap on the smaller electrode, the
    device ceiling, and — when configured — the region's usual ceiling and the glycopyrronium
    dry-mouth cap. ``waveform``/``duty_cycle`` only matter for the device ceiling on pulse
    peaks; pulsed DC needs its duty cycle. Pure AC raises ``ValueError`` (Reinauer 1993).
    """
    group = patient_group(age_years)
    require_therapeutic_waveform(waveform)
    if waveform is Waveform.PULSED_DC and duty_cycle is None:
        raise ValueError("pulsed DC needs its duty cycle to bound the pulse peak")
    caps: list[Limit] = [
        group_current_cap(group, solution),
        current_density_cap(region, group, settings),
        device_current_ceiling(settings, duty_cycle if waveform is Waveform.PULSED_DC else None),
        *region_current_caps(region, settings),
    ]
    dry_mouth = glycopyrronium_dry_mouth_cap(solution, settings)
    if dry_mouth is not None:
        caps.append(dry_mouth)
    return tuple(caps)


def limit_current(
    requested_mA: float,
    age_years: float,
    region: Region,
    solution: Solution,
    settings: LimitSettings = DEFAULT_LIMITS,
    *,
    waveform: Waveform = Waveform.DC,
    duty_cycle: float | None = None,
) -> Limited:
    """The requested current lowered to the tightest cap, every cap kept with its reason."""
    caps = current_caps(
        age_years, region, solution, settings, waveform=waveform, duty_cycle=duty_cycle
    )
    return limit_value(requested_mA, caps)


def max_current_mA(caps: tuple[Limit, ...]) -> float:
    """The largest current every cap allows."""
    if not caps:
        raise ValueError("a current needs at least one cap")
    return min(c.value for c in caps)


def patient_group(age_years: float) -> AgeGroup:
    """The limits' patient group of an age (``regions.age_group``), refusing impossible ages."""
    if not (math.isfinite(age_years) and age_years >= 0):
        raise ValueError(f"age must be a non-negative number of years, got {age_years}")
    return regions.age_group(age_years)


# --- The docs table of every limit -----------------------------------------------------------
@dataclass(frozen=True)
class LimitRow:
    """One row of the generated docs table of limits."""

    quantity: str
    group: str  # "child", "adult" or "all"
    applies_to: str  # a solution, a region, "solution/region" or "all"
    value: float
    unit: str
    code: str
    source: str
    grade: str


def _row(quantity: str, group: str, applies_to: str, limit: Limit) -> LimitRow:
    return LimitRow(
        quantity=quantity,
        group=group,
        applies_to=applies_to,
        value=limit.value,
        unit=limit.unit,
        code=limit.code,
        source=limit.source.citation,
        grade=limit.source.grade,
    )


def limits_table(settings: LimitSettings = DEFAULT_LIMITS) -> tuple[LimitRow, ...]:
    """Every limit under ``settings``, one row each, in a stable order for the docs."""
    rows: list[LimitRow] = [
        _row("current cap", group.value, solution.value, cap)
        for (group, solution), cap in CURRENT_CAP_MA.items()
    ]
    for region in Region:
        ceiling = usual_region_ceiling(region, settings)
        if ceiling is not None:
            kind = "cap" if settings.usual_ceilings_as_caps else "target ceiling"
            rows.append(_row(f"usual current ({kind})", "all", region.value, ceiling))
    density = settings.density
    rows.append(
        LimitRow(
            quantity=f"current density ({density.name})",
            group="all",
            applies_to="smaller electrode",
            value=density.density_mA_cm2,
            unit=MA_PER_CM2,
            code="current_density_cap",
            source=density.source.citation,
            grade=density.source.grade,
        )
    )
    for group in AgeGroup:
        for region in Region:
            cap = current_density_cap(region, group, settings)
            rows.append(_row("current density cap", group.value, region.value, cap))
    rows.append(_row("device ceiling (DC)", "all", "all", device_current_ceiling(settings)))
    rows.append(
        _row(
            "device ceiling (pulsed DC, 50% duty)",
            "all",
            Waveform.PULSED_DC.value,
            device_current_ceiling(settings, 0.5),
        )
    )
    dry_mouth = glycopyrronium_dry_mouth_cap(Solution.GLYCOPYRRONIUM, settings)
    if dry_mouth is not None:
        rows.append(_row("current cap", "all", Solution.GLYCOPYRRONIUM.value, dry_mouth))
    for solution in Solution:
        rows.append(
            _row(
                "compliance voltage",
                "all",
                solution.value,
                compliance_voltage_cap(solution, settings),
            )
        )
    rows.append(
        _row("session length (minimum)", "all", Solution.TAP_WATER.value, minimum_session_minutes())
    )
    up, down = ramp_limits(settings)
    rows.append(_row("ramp up (minimum)", "all", "all", up))
    rows.append(_row("ramp down (minimum)", "all", "all", down))
    return tuple(rows)
