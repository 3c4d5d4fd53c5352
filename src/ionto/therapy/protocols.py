"""Treatment protocols: named presets, each with its source, and the one recommended.

A :class:`Protocol` is what one session delivers on one region. :func:`recommend_protocol`
picks a named preset (:data:`PRESETS`), a target current from :data:`TARGET_CURRENT_MA`, and
the maximum current as the tightest of every cap in :mod:`ionto.therapy.limits`.

Currents are **average** currents. With pulsed DC Ionto shows, records and caps the
duty-cycle-averaged current (at 50% duty the pulse peak is twice the value shown); only the
device ceiling is applied to the peak (see :mod:`ionto.therapy.limits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ionto.therapy import limits, regions, sources
from ionto.therapy.limits import DEFAULT_LIMITS, LimitRow, LimitSettings
from ionto.therapy.reasons import Limit, Reason, limit_value
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import AgeGroup, Region, Reversal, Solution, Waveform


@dataclass(frozen=True)
class Protocol:
    """What one session delivers on one region. Currents already within every cap."""

    preset: str
    region: Region
    solution: Solution
    waveform: Waveform
    target_current_mA: float
    max_current_mA: float
    minutes: int
    reversal: Reversal
    #: With ``Reversal.NONE``: the treated side alternates from one session to the next.
    alternate_between_sessions: bool
    ramp_up_s: float
    ramp_down_s: float
    #: Pulsed DC only: pulse frequency and duty cycle (the current shown is the average).
    pulse_frequency_hz: float | None
    duty_cycle: float | None
    source: Source
    #: Every cap that applied to ``max_current_mA``, tightest first.
    limits: tuple[Limit, ...] = ()
    #: Why this preset, this target and these minutes, each with its source.
    reasons: tuple[Reason, ...] = ()


# --- Sources of this module ------------------------------------------------------------------
UK_HALFWAY_SOURCE = Source(
    key="uk_halfway",
    citation=(
        "Hyperhidrosis UK iontophoresis protocol; British Association of Dermatologists "
        "patient leaflet"
    ),
    grade="S",
)
PULSED_DC_SOURCE = Source(
    key="pulsed_dc",
    citation=(
        "Reinauer et al., Hautarzt 1995 (pulsed DC 5–10 kHz, 50% duty); Hidrex DP450 manual "
        "(for children, axillae, face, sensitive skin)"
    ),
    grade="P",
)
MINUTES_DERIVED = Source(
    key="minutes_derived",
    citation=(
        "Ionto derived: 20 min as for hands and axillae (Hyperhidrosis UK), above the 10 min "
        "minimum (Hidrex 1994); needs sign-off"
    ),
    grade="D",
)
NECK_PULSED_DERIVED = Source(
    key="neck_pulsed_derived",
    citation=(
        "Ionto derived: pulsed DC for the neck as for the face and sensitive skin "
        "(Hidrex DP450 manual names face, axillae, children); needs sign-off"
    ),
    grade="D",
)
TARGET_DENSITY_DERIVED = Source(
    key="target_density_derived",
    citation=(
        "Ionto derived: the adult palms target's current density on the smaller electrode "
        "(Fischer 10–18 mA; Leow & Tey 2017 for glycopyrronium); needs sign-off"
    ),
    grade="D",
)

#: Pulsed DC at 5–10 kHz, 50% duty (Reinauer 1995). No source prefers a frequency in the
#: range; Ionto uses its lower end (derived, configurable by defining another preset).
PULSE_FREQUENCY_HZ = 5000.0
PULSE_DUTY_CYCLE = 0.5


# --- Session minutes per region --------------------------------------------------------------
@dataclass(frozen=True)
class SessionMinutes:
    minutes: int
    source: Source


#: UK NHS practice: hands 20, feet 30, axillae 20 min (Hyperhidrosis UK; BAD). The sources
#: give nothing for face and neck: 20 min, derived.
UK_MINUTES: dict[Region, SessionMinutes] = {
    Region.PALMS: SessionMinutes(20, UK_HALFWAY_SOURCE),
    Region.SOLES: SessionMinutes(30, UK_HALFWAY_SOURCE),
    Region.AXILLAE: SessionMinutes(20, UK_HALFWAY_SOURCE),
    Region.FACE: SessionMinutes(20, MINUTES_DERIVED),
    Region.NECK: SessionMinutes(20, MINUTES_DERIVED),
}

#: Glycopyrronium: 12 minutes per site, one site at a time (Robinul SmPC).
GLYCOPYRRONIUM_MINUTES: dict[Region, SessionMinutes] = {
    region: SessionMinutes(12, sources.ROBINUL_SMPC) for region in Region
}


# --- Presets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolPreset:
    """A named way of giving a session, with its source. Currents come from the limits."""

    name: str
    description: str
    waveform: Waveform
    reversal: Reversal
    alternate_between_sessions: bool
    minutes: dict[Region, SessionMinutes] = field(hash=False)
    solutions: frozenset[Solution]
    source: Source
    pulse_frequency_hz: float | None = None
    duty_cycle: float | None = None
    #: Cap glycopyrronium at the Leow & Tey dry-mouth threshold (8 mA), not only target it.
    dry_mouth_cap: bool = False

    def __post_init__(self) -> None:
        limits.require_therapeutic_waveform(self.waveform)
        pulsed = self.waveform is Waveform.PULSED_DC
        if pulsed != (self.pulse_frequency_hz is not None and self.duty_cycle is not None):
            raise ValueError(f"{self.name}: pulse frequency and duty cycle go with pulsed DC")
        if set(self.minutes) != set(Region):
            raise ValueError(f"{self.name}: minutes needed for every region")
        floor = limits.MINIMUM_TAP_WATER_MINUTES
        if Solution.TAP_WATER in self.solutions and any(
            m.minutes < floor for m in self.minutes.values()
        ):
            raise ValueError(f"{self.name}: tap-water sessions under {floor} min do not work")
        if self.dry_mouth_cap and self.solutions != {Solution.GLYCOPYRRONIUM}:
            raise ValueError(f"{self.name}: the dry-mouth cap is for glycopyrronium only")


_TAP = frozenset({Solution.TAP_WATER})
_GLYCO = frozenset({Solution.GLYCOPYRRONIUM})

UK_HALFWAY = ProtocolPreset(
    name="uk_halfway",
    description=(
        "Continuous DC; hands 20 min, feet 30 min, armpits 20 min; polarity reversed "
        "halfway through the session, ramping through zero."
    ),
    waveform=Waveform.DC,
    reversal=Reversal.HALFWAY,
    alternate_between_sessions=False,
    minutes=UK_MINUTES,
    solutions=_TAP,
    source=UK_HALFWAY_SOURCE,
)

#: Hidrex: no reversal within a session (more pain, lower tolerated dose); anode on the
#: dominant side until dry, then switch, then alternate per session. Hidrex gives no session
#: length, so the UK minutes are used.
HIDREX_ONE_SIDE = ProtocolPreset(
    name="hidrex_one_side",
    description=(
        "Continuous DC, one polarity all session: positive pole on the dominant side until "
        "it is dry, then switch; in maintenance alternate the side from session to session."
    ),
    waveform=Waveform.DC,
    reversal=Reversal.NONE,
    alternate_between_sessions=True,
    minutes=UK_MINUTES,
    solutions=_TAP,
    source=sources.HIDREX_POLARITY,
)

#: Pulsed DC 5–10 kHz at 50% duty: fewer sensations, no shocks, ~12 sessions instead of ~10
#: (Reinauer 1995); recommended for children (Hidrex DP450). Reversal and minutes follow UK
#: practice (Hyperhidrosis UK also recommends pulsed DC for children).
PULSED_CHILD = ProtocolPreset(
    name="pulsed_child",
    description=(
        "Pulsed DC (5 kHz, 50% duty) for children: fewer sensations and no shocks, "
        "slightly more sessions; UK session lengths, polarity reversed halfway."
    ),
    waveform=Waveform.PULSED_DC,
    reversal=Reversal.HALFWAY,
    alternate_between_sessions=False,
    minutes=UK_MINUTES,
    solutions=_TAP,
    source=PULSED_DC_SOURCE,
    pulse_frequency_hz=PULSE_FREQUENCY_HZ,
    duty_cycle=PULSE_DUTY_CYCLE,
)

#: The same pulsed DC for armpits, face and sensitive skin (Hidrex DP450 manual).
PULSED_SENSITIVE = replace(
    PULSED_CHILD,
    name="pulsed_sensitive",
    description=(
        "Pulsed DC (5 kHz, 50% duty) for armpits, face, neck and sensitive skin; UK session "
        "lengths, polarity reversed halfway."
    ),
)

#: Glycopyrronium 0.05% under the anode, the other limb in tap water on the cathode; 12 min
#: per site, one site at a time, no reversal (Robinul SmPC). Which site is treated next is a
#: course rule, so the protocol does not alternate by itself.
GLYCOPYRRONIUM = ProtocolPreset(
    name="glycopyrronium",
    description=(
        "Glycopyrronium 0.05% under the positive pole, continuous DC, 12 minutes per site, "
        "one site at a time, no reversal."
    ),
    waveform=Waveform.DC,
    reversal=Reversal.NONE,
    alternate_between_sessions=False,
    minutes=GLYCOPYRRONIUM_MINUTES,
    solutions=_GLYCO,
    source=sources.ROBINUL_SMPC,
)

#: Glycopyrronium with the Leow & Tey 8 mA dry-mouth threshold as a cap, not only a target.
GLYCOPYRRONIUM_LOW_DOSE = replace(
    GLYCOPYRRONIUM,
    name="glycopyrronium_low_dose",
    description=("As glycopyrronium, but never above 8 mA: dry mouth is more frequent above 8 mA."),
    source=sources.LEOW_TEY_2017,
    dry_mouth_cap=True,
)

PRESETS: dict[str, ProtocolPreset] = {
    p.name: p
    for p in (
        UK_HALFWAY,
        HIDREX_ONE_SIDE,
        PULSED_CHILD,
        PULSED_SENSITIVE,
        GLYCOPYRRONIUM,
        GLYCOPYRRONIUM_LOW_DOSE,
    )
}

#: Regions where pulsed DC is the default for adults with tap water: axillae and face
#: (Hidrex DP450), and the neck (derived: as sensitive as the face).
PULSED_REGIONS: dict[Region, Source] = {
    Region.AXILLAE: sources.HIDREX_DP450,
    Region.FACE: sources.HIDREX_DP450,
    Region.NECK: NECK_PULSED_DERIVED,
}


# --- Target currents -------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetCurrent:
    """The current a session aims at, before the caps; the nurse titrates to tolerance."""

    value_mA: float
    text: str
    source: Source


#: Targets with a published basis: hands and feet 10–18 mA (Fischer), and hands usually
#: ≤ 15 mA (German Wikipedia), so 15 mA for adults; glycopyrronium on the palms: observed
#: optimum 7.5–8 mA, dry mouth more frequent above 8 mA (Leow & Tey 2017), so 8 mA. That is
#: below the licensed adult range of 10–20 mA (Robinul SmPC): the SmPC sets the cap, Leow &
#: Tey the starting point.
SOURCED_TARGETS: dict[tuple[AgeGroup, Solution, Region], TargetCurrent] = {
    (AgeGroup.ADULT, Solution.TAP_WATER, Region.PALMS): TargetCurrent(
        15.0, "Hands: 15 mA, within the maker's 10–18 mA.", sources.FISCHER_WARNINGS
    ),
    (AgeGroup.ADULT, Solution.TAP_WATER, Region.SOLES): TargetCurrent(
        15.0, "Feet: 15 mA, within the maker's 10–18 mA.", sources.FISCHER_WARNINGS
    ),
    (AgeGroup.ADULT, Solution.GLYCOPYRRONIUM, Region.PALMS): TargetCurrent(
        8.0,
        "Glycopyrronium: 8 mA, the best observed; above it dry mouth is more frequent.",
        sources.LEOW_TEY_2017,
    ),
}


def round_down_half_mA(value_mA: float) -> float:
    """A current rounded down to the 0.5 mA steps a nurse sets on a device (never rounded up)."""
    return math.floor(value_mA * 2.0) / 2.0


def derived_target(group: AgeGroup, solution: Solution, region: Region) -> TargetCurrent:
    """A target where no source gives one: the adult palms target's density, kept.

    Derived (needs sign-off): the adult palms target for the solution, scaled by the
    smaller wetted electrode of the region and group against an adult's palm, rounded down to
    0.5 mA — the skin under the smaller electrode then feels what an adult's palm feels at its
    target. Glycopyrronium never exceeds 8 mA (Leow & Tey 2017: dry mouth is systemic).
    """
    reference = SOURCED_TARGETS[(AgeGroup.ADULT, solution, Region.PALMS)]
    reference_area_cm2 = regions.smaller_electrode_area_cm2(Region.PALMS, AgeGroup.ADULT)
    area_cm2 = regions.smaller_electrode_area_cm2(region, group)
    value_mA = round_down_half_mA(reference.value_mA * area_cm2 / reference_area_cm2)
    if solution is Solution.GLYCOPYRRONIUM:
        value_mA = min(value_mA, limits.GLYCOPYRRONIUM_DRY_MOUTH_MA)
    return TargetCurrent(
        value_mA,
        f"{value_mA:g} mA: the same current density as the adult hand target "
        f"on the smaller electrode ({area_cm2:g} cm²).",
        TARGET_DENSITY_DERIVED,
    )


#: The target current for every group, solution and region (sourced, else derived).
TARGET_CURRENT_MA: dict[tuple[AgeGroup, Solution, Region], TargetCurrent] = {
    (group, solution, region): SOURCED_TARGETS.get(
        (group, solution, region), derived_target(group, solution, region)
    )
    for group in AgeGroup
    for solution in Solution
    for region in Region
}


def target_table() -> tuple[LimitRow, ...]:
    """Rows of :data:`TARGET_CURRENT_MA` in the same shape as ``limits.limits_table``."""
    return tuple(
        LimitRow(
            quantity="target current",
            group=group.value,
            applies_to=f"{solution.value}/{region.value}",
            value=target.value_mA,
            unit=limits.MA,
            code="target_current",
            source=target.source.citation,
            grade=target.source.grade,
        )
        for (group, solution, region), target in TARGET_CURRENT_MA.items()
    )


# --- Choosing and applying a preset ----------------------------------------------------------
def default_preset(region: Region, solution: Solution, age_years: float) -> tuple[str, Reason]:
    """The preset Ionto recommends, and why.

    Glycopyrronium → ``glycopyrronium`` whatever the age (the SmPC licenses DC, with child
    currents 2–10 mA); children → ``pulsed_child`` (Hidrex DP450; Reinauer 1995); adults'
    axillae and face → ``pulsed_sensitive`` (Hidrex DP450), neck too (derived); otherwise
    ``uk_halfway`` (Hyperhidrosis UK; BAD).
    """
    if solution is Solution.GLYCOPYRRONIUM:
        return GLYCOPYRRONIUM.name, Reason(
            "glycopyrronium_protocol",
            "Glycopyrronium is given under the positive pole, 12 minutes per site, "
            "one site at a time, without reversing.",
            sources.ROBINUL_SMPC,
        )
    if limits.patient_group(age_years) is AgeGroup.CHILD:
        return PULSED_CHILD.name, Reason(
            "child_pulsed_dc",
            "Children are treated with pulsed current: it tingles less and gives no shocks.",
            sources.HIDREX_DP450,
        )
    if region in PULSED_REGIONS:
        return PULSED_SENSITIVE.name, Reason(
            "sensitive_region_pulsed_dc",
            f"Pulsed current is used on the {regions.REGION_WORDS[region]}: it is gentler on"
            " sensitive skin.",
            PULSED_REGIONS[region],
        )
    return UK_HALFWAY.name, Reason(
        "uk_halfway_protocol",
        "Direct current, with the polarity reversed halfway through the session.",
        UK_HALFWAY_SOURCE,
    )


def preset_misfit(preset: ProtocolPreset, solution: Solution) -> str | None:
    """Why a preset cannot be used with a solution, or ``None`` when it fits."""
    if solution in preset.solutions:
        return None
    if solution is Solution.GLYCOPYRRONIUM:
        return (
            "glycopyrronium is licensed only as continuous DC under the positive pole, "
            "12 minutes per site, without reversing (Robinul SmPC): use 'glycopyrronium' "
            "or 'glycopyrronium_low_dose'"
        )
    return f"the {preset.name} preset is for glycopyrronium only, not {solution.value}"


def get_preset(name: str) -> ProtocolPreset:
    """The named preset, or ``ValueError`` naming the known presets."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown protocol preset {name!r}; known presets: {known}") from None


def recommend_protocol(
    region: Region,
    solution: Solution,
    age_years: float,
    *,
    preset: str | None = None,
    settings: LimitSettings = DEFAULT_LIMITS,
) -> Protocol:
    """The session protocol for a region, solution and age: preset, currents, minutes, ramps.

    ``max_current_mA`` is the tightest of every cap of ``limits.current_caps`` (kept in
    ``limits``, tightest first); ``target_current_mA`` is the target of
    :data:`TARGET_CURRENT_MA`, not above the region's usual ceiling (German Wikipedia) and
    never above ``max_current_mA``. Currents are averages (pulsed DC: duty-cycle-averaged).
    Unknown preset → ``ValueError`` naming the known ones; a preset that does not fit the
    solution → ``ValueError`` saying why.
    """
    group = limits.patient_group(age_years)
    if preset is None:
        name, why = default_preset(region, solution, age_years)
    else:
        name = preset
        why = Reason(
            "preset_requested",
            f"The {preset.replace('_', ' ')} protocol was chosen by the clinician.",
            get_preset(preset).source,
        )
    chosen = get_preset(name)
    misfit = preset_misfit(chosen, solution)
    if misfit is not None:
        raise ValueError(f"protocol preset {name!r} does not fit {solution.value}: {misfit}")

    effective = settings
    if chosen.dry_mouth_cap:
        current = settings.glycopyrronium_dry_mouth_cap_mA
        cap_mA = limits.GLYCOPYRRONIUM_DRY_MOUTH_MA
        effective = replace(
            settings,
            glycopyrronium_dry_mouth_cap_mA=cap_mA if current is None else min(current, cap_mA),
        )
    caps = limits.current_caps(
        age_years,
        region,
        solution,
        effective,
        waveform=chosen.waveform,
        duty_cycle=chosen.duty_cycle,
    )
    max_mA = limits.max_current_mA(caps)

    target = TARGET_CURRENT_MA[(group, solution, region)]
    reasons: list[Reason] = [
        why,
        Reason("target_current", f"Aim for {target.value_mA:g} mA. {target.text}", target.source),
    ]
    requested_mA = target.value_mA
    usual = limits.usual_region_ceiling(region, effective)
    if usual is not None and usual.value < requested_mA:
        requested_mA = usual.value
        reasons.append(
            Reason(
                "target_lowered_to_usual",
                f"Aim lowered to {usual.value:g} mA. {usual.text}",
                usual.source,
            )
        )
    limited = limit_value(requested_mA, caps)
    for cap in limited.binding:
        reasons.append(
            Reason(
                "target_lowered_to_cap", f"Aim lowered to {cap.value:g} mA. {cap.text}", cap.source
            )
        )

    minutes = chosen.minutes[region]
    if solution is Solution.TAP_WATER and minutes.minutes < limits.MINIMUM_TAP_WATER_MINUTES:
        raise ValueError(f"{name}: tap-water sessions under 10 minutes do not work (Hidrex 1994)")
    reasons.append(
        Reason(
            "session_minutes",
            f"{minutes.minutes} minutes on the {regions.REGION_WORDS[region]}.",
            minutes.source,
        )
    )
    ramp = effective.ramp
    return Protocol(
        preset=chosen.name,
        region=region,
        solution=solution,
        waveform=chosen.waveform,
        target_current_mA=limited.value,
        max_current_mA=max_mA,
        minutes=minutes.minutes,
        reversal=chosen.reversal,
        alternate_between_sessions=chosen.alternate_between_sessions,
        ramp_up_s=ramp.up_s,
        ramp_down_s=ramp.down_s,
        pulse_frequency_hz=chosen.pulse_frequency_hz,
        duty_cycle=chosen.duty_cycle,
        source=chosen.source,
        limits=limited.applied,
        reasons=tuple(reasons),
    )
