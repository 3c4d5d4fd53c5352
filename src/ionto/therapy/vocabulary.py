"""The words Ionto speaks, exactly as the public contract (shared/CONTRACT.md) spells them.

Each vocabulary is a ``StrEnum`` so that its value *is* the contract's string: a value read
from JSON converts with ``Region("palms")`` and an unknown word raises ``ValueError``.
"""

from __future__ import annotations

from enum import StrEnum


class Region(StrEnum):
    """A body region that can be treated because an applicator exists for it."""

    PALMS = "palms"
    SOLES = "soles"
    AXILLAE = "axillae"
    FACE = "face"
    NECK = "neck"


class Solution(StrEnum):
    TAP_WATER = "tap_water"
    GLYCOPYRRONIUM = "glycopyrronium"  # 0.05% in distilled water, under the anode


class Waveform(StrEnum):
    DC = "dc"
    PULSED_DC = "pulsed_dc"
    AC_DC_OFFSET = "ac_dc_offset"
    # Pure AC is deliberately absent from the offered waveforms; see limits.refuse_pure_ac.
    AC = "ac"


#: The waveforms a protocol may use. Pure AC had virtually no effect (Reinauer, BJD 1993).
THERAPEUTIC_WAVEFORMS: frozenset[Waveform] = frozenset(
    {Waveform.DC, Waveform.PULSED_DC, Waveform.AC_DC_OFFSET}
)


class Reversal(StrEnum):
    HALFWAY = "halfway"  # reverse once at half time, ramping through zero
    NONE = "none"  # one polarity all session; the protocol alternates between sessions


class Condition(StrEnum):
    PACEMAKER = "pacemaker"
    ICD = "icd"
    PREGNANCY = "pregnancy"
    BREASTFEEDING = "breastfeeding"
    CARDIAC_ARRHYTHMIA = "cardiac_arrhythmia"
    HEART_DISEASE = "heart_disease"
    EPILEPSY = "epilepsy"
    GLAUCOMA = "glaucoma"
    THROMBOSIS = "thrombosis"
    GLYCOPYRRONIUM_ALLERGY = "glycopyrronium_allergy"
    ELECTRICAL_SENSITIVITY = "electrical_sensitivity"


class ImplantKind(StrEnum):
    METAL_PLATE = "metal_plate"
    METAL_SCREW = "metal_screw"
    JOINT_REPLACEMENT = "joint_replacement"
    COPPER_IUD = "copper_iud"
    HORMONAL_IUD = "hormonal_iud"  # no metal
    OTHER_METAL = "other_metal"


#: Implant kinds that contain metal and so matter when they lie in the current path.
METAL_IMPLANTS: frozenset[ImplantKind] = frozenset(
    {
        ImplantKind.METAL_PLATE,
        ImplantKind.METAL_SCREW,
        ImplantKind.JOINT_REPLACEMENT,
        ImplantKind.COPPER_IUD,
        ImplantKind.OTHER_METAL,
    }
)


class SkinFinding(StrEnum):
    SMALL_CUT = "small_cut"
    OPEN_WOUND = "open_wound"
    INFECTION = "infection"
    ECZEMA = "eczema"
    IMPAIRED_SENSATION = "impaired_sensation"
    MALIGNANCY = "malignancy"


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


class BodyLocation(StrEnum):
    """Where an implant sits. Midline locations have no side; limbs have ``left_``/``right_``."""

    HEAD = "head"
    NECK = "neck"
    CHEST = "chest"
    ABDOMEN = "abdomen"
    PELVIS = "pelvis"
    SPINE = "spine"
    LEFT_SHOULDER = "left_shoulder"
    LEFT_UPPER_ARM = "left_upper_arm"
    LEFT_ELBOW = "left_elbow"
    LEFT_FOREARM = "left_forearm"
    LEFT_WRIST = "left_wrist"
    LEFT_HAND = "left_hand"
    LEFT_HIP = "left_hip"
    LEFT_THIGH = "left_thigh"
    LEFT_KNEE = "left_knee"
    LEFT_LOWER_LEG = "left_lower_leg"
    LEFT_ANKLE = "left_ankle"
    LEFT_FOOT = "left_foot"
    RIGHT_SHOULDER = "right_shoulder"
    RIGHT_UPPER_ARM = "right_upper_arm"
    RIGHT_ELBOW = "right_elbow"
    RIGHT_FOREARM = "right_forearm"
    RIGHT_WRIST = "right_wrist"
    RIGHT_HAND = "right_hand"
    RIGHT_HIP = "right_hip"
    RIGHT_THIGH = "right_thigh"
    RIGHT_KNEE = "right_knee"
    RIGHT_LOWER_LEG = "right_lower_leg"
    RIGHT_ANKLE = "right_ankle"
    RIGHT_FOOT = "right_foot"


class AgeGroup(StrEnum):
    """The patient groups that limits are indexed by (AndroidAPS ``HardLimits`` style)."""

    CHILD = "child"
    ADULT = "adult"


class Diagnosis(StrEnum):
    PRIMARY_FOCAL = "primary_focal"
    POSSIBLE_SECONDARY = "possible_secondary"
    GENERALISED = "generalised"
    NOT_MET = "not_met"


class VerdictKind(StrEnum):
    WORKS = "works"
    DOES_NOT_WORK = "does_not_work"
    CONTINUE = "continue"


class NextStep(StrEnum):
    HOME_MAINTENANCE = "home_maintenance"
    CONTINUE_COURSE = "continue_course"
    TRY_PULSED_DC = "try_pulsed_dc"
    ESCALATE_GLYCOPYRRONIUM = "escalate_glycopyrronium"
    REFER_DERMATOLOGIST = "refer_dermatologist"
    STOP = "stop"


class SideEffect(StrEnum):
    """Side effects a nurse records after a session (clinical-reference §4)."""

    TINGLING = "tingling"
    BURNING_SENSATION = "burning_sensation"
    REDNESS = "redness"
    VESICLES = "vesicles"
    IRRITATION = "irritation"
    DRYNESS = "dryness"
    CRACKING = "cracking"
    BRUISING = "bruising"
    SHOCK = "shock"
    BURN = "burn"
    DRY_MOUTH = "dry_mouth"
    HEAT_INTOLERANCE = "heat_intolerance"
    OTHER = "other"
