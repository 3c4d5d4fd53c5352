"""Regions, their applicators, wetted areas and the body segments in the current path.

Sources: applicators for generalised hyperhidrosis (trays, axillary pads, face mask, neck
cushion) from the UK centre's service description (clinical-reference §1); tray water 3–4 cm
wetting only palms or soles (Fischer; Hyperhidrosis UK). Wetted areas are *derived*: no
source publishes them, so they are configurable defaults from anthropometry (an adult palm
with fingers ~ 120–150 cm², a sole ~ 150–180 cm²), marked ``DERIVED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ionto.therapy import sources
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import AgeGroup, BodyLocation, Region

#: Plain words for regions, as a patient says them (every text a nurse or parent reads).
REGION_WORDS: dict[Region, str] = {
    Region.PALMS: "palms (hands)",
    Region.SOLES: "soles (feet)",
    Region.AXILLAE: "armpits",
    Region.FACE: "face",
    Region.NECK: "neck",
}


class Applicator(StrEnum):
    HAND_TRAY = "hand_tray"
    FOOT_TRAY = "foot_tray"
    AXILLARY_PAD = "axillary_pad"
    FACE_MASK = "face_mask"
    NECK_CUSHION = "neck_cushion"


class Electrode(StrEnum):
    """One side of the circuit: where one electrode touches the patient."""

    LEFT_HAND = "left_hand"
    RIGHT_HAND = "right_hand"
    LEFT_FOOT = "left_foot"
    RIGHT_FOOT = "right_foot"
    LEFT_AXILLA = "left_axilla"
    RIGHT_AXILLA = "right_axilla"
    FACE = "face"
    NECK = "neck"


@dataclass(frozen=True)
class RegionInfo:
    region: Region
    applicator: Applicator
    #: The two sides of the circuit in the standard set-up for this region.
    pairing: tuple[Electrode, Electrode]
    #: Wetted skin area on *one* electrode, in cm², per age group.
    wetted_area_cm2: dict[AgeGroup, float]
    #: Whether a hospital trial course can use it (the UK centre: hands and feet only).
    in_clinic: bool
    source: Source
    #: The wetted areas are not published anywhere: derived from anthropometry.
    area_source: Source = sources.DERIVED


#: One row per region. The UK centre treats hands and feet; armpits, face and neck are
#: treated at home with the right applicator (clinical-reference §1).
REGIONS: dict[Region, RegionInfo] = {
    Region.PALMS: RegionInfo(
        Region.PALMS,
        Applicator.HAND_TRAY,
        (Electrode.LEFT_HAND, Electrode.RIGHT_HAND),
        {AgeGroup.ADULT: 130.0, AgeGroup.CHILD: 70.0},
        in_clinic=True,
        source=sources.TREATMENT_CENTRE,
    ),
    Region.SOLES: RegionInfo(
        Region.SOLES,
        Applicator.FOOT_TRAY,
        (Electrode.LEFT_FOOT, Electrode.RIGHT_FOOT),
        {AgeGroup.ADULT: 160.0, AgeGroup.CHILD: 90.0},
        in_clinic=True,
        source=sources.TREATMENT_CENTRE,
    ),
    Region.AXILLAE: RegionInfo(
        Region.AXILLAE,
        Applicator.AXILLARY_PAD,
        (Electrode.LEFT_AXILLA, Electrode.RIGHT_AXILLA),
        {AgeGroup.ADULT: 60.0, AgeGroup.CHILD: 35.0},
        in_clinic=False,
        source=sources.TREATMENT_CENTRE,
    ),
    Region.FACE: RegionInfo(
        Region.FACE,
        Applicator.FACE_MASK,
        (Electrode.FACE, Electrode.RIGHT_HAND),
        {AgeGroup.ADULT: 250.0, AgeGroup.CHILD: 150.0},
        in_clinic=False,
        source=sources.TREATMENT_CENTRE,
    ),
    Region.NECK: RegionInfo(
        Region.NECK,
        Applicator.NECK_CUSHION,
        (Electrode.NECK, Electrode.RIGHT_HAND),
        {AgeGroup.ADULT: 100.0, AgeGroup.CHILD: 60.0},
        in_clinic=False,
        source=sources.TREATMENT_CENTRE,
    ),
}

#: Wetted area of each electrode site (cm², one side), for pairings whose two sides differ:
#: a face mask against a hand tray puts about twice the face's density through the hand.
ELECTRODE_AREA_CM2: dict[Electrode, dict[AgeGroup, float]] = {
    Electrode.LEFT_HAND: REGIONS[Region.PALMS].wetted_area_cm2,
    Electrode.RIGHT_HAND: REGIONS[Region.PALMS].wetted_area_cm2,
    Electrode.LEFT_FOOT: REGIONS[Region.SOLES].wetted_area_cm2,
    Electrode.RIGHT_FOOT: REGIONS[Region.SOLES].wetted_area_cm2,
    Electrode.LEFT_AXILLA: REGIONS[Region.AXILLAE].wetted_area_cm2,
    Electrode.RIGHT_AXILLA: REGIONS[Region.AXILLAE].wetted_area_cm2,
    Electrode.FACE: REGIONS[Region.FACE].wetted_area_cm2,
    Electrode.NECK: REGIONS[Region.NECK].wetted_area_cm2,
}

_B = BodyLocation

#: The chain of body segments from each electrode site to the trunk, ending at the point
#: where it joins the core. The current path between two sites is one chain, the trunk
#: between them, and the other chain reversed.
_CHAIN_TO_TRUNK: dict[Electrode, tuple[BodyLocation, ...]] = {
    Electrode.LEFT_HAND: (
        _B.LEFT_HAND,
        _B.LEFT_WRIST,
        _B.LEFT_FOREARM,
        _B.LEFT_ELBOW,
        _B.LEFT_UPPER_ARM,
        _B.LEFT_SHOULDER,
    ),
    Electrode.RIGHT_HAND: (
        _B.RIGHT_HAND,
        _B.RIGHT_WRIST,
        _B.RIGHT_FOREARM,
        _B.RIGHT_ELBOW,
        _B.RIGHT_UPPER_ARM,
        _B.RIGHT_SHOULDER,
    ),
    Electrode.LEFT_FOOT: (
        _B.LEFT_FOOT,
        _B.LEFT_ANKLE,
        _B.LEFT_LOWER_LEG,
        _B.LEFT_KNEE,
        _B.LEFT_THIGH,
        _B.LEFT_HIP,
    ),
    Electrode.RIGHT_FOOT: (
        _B.RIGHT_FOOT,
        _B.RIGHT_ANKLE,
        _B.RIGHT_LOWER_LEG,
        _B.RIGHT_KNEE,
        _B.RIGHT_THIGH,
        _B.RIGHT_HIP,
    ),
    Electrode.LEFT_AXILLA: (_B.LEFT_SHOULDER,),
    Electrode.RIGHT_AXILLA: (_B.RIGHT_SHOULDER,),
    Electrode.FACE: (_B.HEAD, _B.NECK),
    Electrode.NECK: (_B.NECK,),
}

#: Which trunk segments the current crosses between where two chains join the core.
#: Arms and axillae join at the upper chest; legs at the pelvis; head and neck at the neck.
_TRUNK_ENTRY: dict[Electrode, str] = {
    Electrode.LEFT_HAND: "upper",
    Electrode.RIGHT_HAND: "upper",
    Electrode.LEFT_AXILLA: "upper",
    Electrode.RIGHT_AXILLA: "upper",
    Electrode.LEFT_FOOT: "lower",
    Electrode.RIGHT_FOOT: "lower",
    Electrode.FACE: "top",
    Electrode.NECK: "top",
}

_TRUNK_BETWEEN: dict[frozenset[str], tuple[BodyLocation, ...]] = {
    frozenset({"upper"}): (_B.CHEST,),
    frozenset({"lower"}): (_B.PELVIS,),
    frozenset({"top"}): (),
    frozenset({"upper", "lower"}): (_B.CHEST, _B.ABDOMEN, _B.SPINE, _B.PELVIS),
    frozenset({"top", "upper"}): (_B.CHEST,),
    frozenset({"top", "lower"}): (_B.CHEST, _B.ABDOMEN, _B.SPINE, _B.PELVIS),
}


def current_path(a: Electrode, b: Electrode) -> frozenset[BodyLocation]:
    """The body segments the treatment current flows through between electrode sites a and b.

    Anatomical simplification (derived): current takes the limb chains to the trunk and the
    trunk segments between their entry points. Two hands: both arms and the chest. Two feet:
    both legs and the pelvis (so a copper IUD lies in the path of the soles, not the palms:
    makers' and NHS leaflets). A hand and a foot: the arm, the whole trunk and the leg.
    """
    if a == b:
        raise ValueError("an electrode pairing needs two different sites")
    trunk = _TRUNK_BETWEEN[frozenset({_TRUNK_ENTRY[a], _TRUNK_ENTRY[b]})]
    return frozenset(_CHAIN_TO_TRUNK[a]) | frozenset(trunk) | frozenset(_CHAIN_TO_TRUNK[b])


def region_current_path(region: Region) -> frozenset[BodyLocation]:
    """The body segments in the current path for a region's standard electrode pairing."""
    a, b = REGIONS[region].pairing
    return current_path(a, b)


#: Age below which a patient gets the child limits (derived; see ``age_group``).
CHILD_BELOW_YEARS: float = 16.0


def age_group(age_years: float, *, child_below_years: float = CHILD_BELOW_YEARS) -> AgeGroup:
    """Children are under 16 for limits (Doncaster: child cap; DLQI from 16, CDLQI below).

    The UK leaflets say "children" without an age; 16 matches the DLQI/CDLQI boundary and
    NHS paediatric services. Configurable via ``child_below_years``.
    """
    return AgeGroup.CHILD if age_years < child_below_years else AgeGroup.ADULT


def wetted_area_cm2(region: Region, group: AgeGroup) -> float:
    """Wetted skin area on one electrode for a region (derived default, configurable)."""
    return REGIONS[region].wetted_area_cm2[group]


def smaller_electrode_area_cm2(region: Region, group: AgeGroup) -> float:
    """The smaller of the two wetted areas of a region's pairing: density is computed on it.

    Source: Bindner (unequal electrodes), clinical-reference §2 — with a face mask against a
    hand tray the hand is the smaller electrode and gets about twice the face's density.
    """
    a, b = REGIONS[region].pairing
    return min(ELECTRODE_AREA_CM2[a][group], ELECTRODE_AREA_CM2[b][group])
