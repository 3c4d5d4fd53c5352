"""Contraindications and precautions of iontophoresis, one table row per rule, each with a source.

The whole-patient list is the union of the makers' manuals and NHS leaflets (Hidrex, Saalmann,
Fischer, South Tees, Doncaster; Hölzle's chapter — clinical-reference §4); glycopyrronium adds
its own (Robinul SmPC). Rules that depend on where something lies use the current path of
:mod:`ionto.therapy.regions`. The functions here only *apply* the tables; which preset applies
(minimum age, breastfeeding) is chosen by :class:`ionto.therapy.screening.ScreeningSettings`.

A code means the same thing wherever it appears: ``metal_implant_in_path`` is a metal implant
on a body segment the current flows through, whatever the region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ionto.therapy import sources
from ionto.therapy.patient import Implant, SkinEntry
from ionto.therapy.reasons import Reason

# REGION_WORDS moved to regions (protocols and outcomes speak of regions too); kept here too.
from ionto.therapy.regions import REGION_WORDS as REGION_WORDS
from ionto.therapy.regions import REGIONS, Electrode, region_current_path
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import (
    METAL_IMPLANTS,
    Condition,
    ImplantKind,
    Region,
    SkinFinding,
    Solution,
)


class Effect(StrEnum):
    """What a rule does to a region: stop it, or let it go ahead with care."""

    BLOCK = "block"
    PRECAUTION = "precaution"


ALL_SOLUTIONS: frozenset[Solution] = frozenset(Solution)
GLYCOPYRRONIUM_ONLY: frozenset[Solution] = frozenset({Solution.GLYCOPYRRONIUM})


_IMPLANT_WORDS: dict[ImplantKind, str] = {
    ImplantKind.METAL_PLATE: "metal plate",
    ImplantKind.METAL_SCREW: "metal screw",
    ImplantKind.JOINT_REPLACEMENT: "joint replacement",
    ImplantKind.COPPER_IUD: "copper coil (IUD)",
    ImplantKind.HORMONAL_IUD: "hormonal coil (IUD)",
    ImplantKind.OTHER_METAL: "metal implant",
}


# --- Conditions (whole patient) --------------------------------------------------------------


@dataclass(frozen=True)
class ConditionRule:
    """One row of the conditions table: a condition, what it does, for which solutions."""

    condition: Condition
    effect: Effect
    code: str
    text: str
    source: Source
    #: The solutions the rule applies to (glycopyrronium adds its own contraindications).
    solutions: frozenset[Solution] = ALL_SOLUTIONS

    def reason(self) -> Reason:
        return Reason(self.code, self.text, self.source)


_MAKERS = sources.MAKERS_CONTRAINDICATIONS

#: The whole-patient conditions table (clinical-reference §4, Robinul SmPC). Breastfeeding is
#: not here: sources disagree, so it is a preset (see ``BREASTFEEDING_RULES``).
CONDITION_RULES: tuple[ConditionRule, ...] = (
    ConditionRule(
        Condition.PACEMAKER,
        Effect.BLOCK,
        "pacemaker",
        "A pacemaker is a contraindication: the treatment current could interfere with it.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.ICD,
        Effect.BLOCK,
        "implanted_defibrillator",
        "An implanted defibrillator (ICD) is a contraindication: the treatment current could"
        " interfere with it.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.PREGNANCY,
        Effect.BLOCK,
        "pregnancy",
        "Pregnancy: makers and NHS leaflets advise against iontophoresis while pregnant.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.CARDIAC_ARRHYTHMIA,
        Effect.BLOCK,
        "cardiac_arrhythmia",
        "An irregular heart rhythm (arrhythmia) is a contraindication to iontophoresis.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.HEART_DISEASE,
        Effect.BLOCK,
        "heart_disease",
        "Heart disease is a contraindication to iontophoresis in makers' and NHS guidance.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.EPILEPSY,
        Effect.BLOCK,
        "epilepsy",
        "Epilepsy is a contraindication to iontophoresis in makers' and NHS guidance.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.THROMBOSIS,
        Effect.BLOCK,
        "thrombosis",
        "A thrombosis (blood clot) is a contraindication to iontophoresis.",
        _MAKERS,
    ),
    ConditionRule(
        Condition.ELECTRICAL_SENSITIVITY,
        Effect.PRECAUTION,
        "electrical_sensitivity",
        "Sensitive to electric current: use pulsed current where the solution allows (fewer"
        " sensations and no shocks, though a few more sessions may be needed) and raise the"
        " current slowly, staying lower if it is uncomfortable.",
        sources.REINAUER_1995,
    ),
    ConditionRule(
        Condition.PREGNANCY,
        Effect.BLOCK,
        "glycopyrronium_pregnancy",
        "Glycopyrronium must not be used in pregnancy.",
        sources.ROBINUL_SMPC,
        GLYCOPYRRONIUM_ONLY,
    ),
    ConditionRule(
        Condition.GLAUCOMA,
        Effect.BLOCK,
        "glycopyrronium_glaucoma",
        "Glycopyrronium must not be used with glaucoma: it can raise the pressure in the eye.",
        sources.ROBINUL_SMPC,
        GLYCOPYRRONIUM_ONLY,
    ),
    ConditionRule(
        Condition.GLYCOPYRRONIUM_ALLERGY,
        Effect.BLOCK,
        "glycopyrronium_allergy",
        "Allergy to glycopyrronium: it must not be used.",
        sources.ROBINUL_SMPC,
        GLYCOPYRRONIUM_ONLY,
    ),
    ConditionRule(
        Condition.HEART_DISEASE,
        Effect.PRECAUTION,
        "glycopyrronium_heart_disease_caution",
        "Heart disease: glycopyrronium can speed up the heart, so use it with caution.",
        sources.ROBINUL_SMPC,
        GLYCOPYRRONIUM_ONLY,
    ),
)

#: Breastfeeding is listed by only some makers and leaflets (clinical-reference §4: "some add
#: breastfeeding, trying to conceive"), so each effect is a preset row.
BREASTFEEDING_RULES: dict[Effect, ConditionRule] = {
    Effect.BLOCK: ConditionRule(
        Condition.BREASTFEEDING,
        Effect.BLOCK,
        "breastfeeding",
        "Breastfeeding: some makers and NHS leaflets advise against iontophoresis while"
        " breastfeeding, so it is not started until breastfeeding ends (a clinician may choose"
        " otherwise).",
        _MAKERS,
    ),
    Effect.PRECAUTION: ConditionRule(
        Condition.BREASTFEEDING,
        Effect.PRECAUTION,
        "breastfeeding",
        "Breastfeeding: some makers and NHS leaflets advise against iontophoresis while"
        " breastfeeding; the clinician has chosen to allow it. Discuss it with the patient.",
        _MAKERS,
    ),
}


def condition_reasons(
    conditions: Iterable[Condition],
    solution: Solution,
    rules: tuple[ConditionRule, ...],
) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    """(contraindications, precautions) from the patient's conditions, in table order.

    Source: each row's own (makers' union, clinical-reference §4; Robinul SmPC for
    glycopyrronium).
    """
    present = frozenset(conditions)
    applying = [r for r in rules if r.condition in present and solution in r.solutions]
    blocks = tuple(r.reason() for r in applying if r.effect is Effect.BLOCK)
    cautions = tuple(r.reason() for r in applying if r.effect is Effect.PRECAUTION)
    return blocks, cautions


# --- Age --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinimumAge:
    """The youngest age at which iontophoresis is offered, per source."""

    years: float
    source: Source


#: Sources disagree: 6 years (Saalmann, Fischer) or 5 years (South Tees).
MINIMUM_AGE_SAALMANN_FISCHER = MinimumAge(6.0, sources.SAALMANN_FISCHER_AGE)
MINIMUM_AGE_SOUTH_TEES = MinimumAge(5.0, sources.SOUTH_TEES)


def under_minimum_age(age_years: float, minimum: MinimumAge) -> Reason | None:
    """A contraindication when the patient is younger than the preset's minimum age."""
    if age_years >= minimum.years:
        return None
    return Reason(
        "under_minimum_age",
        f"Too young: iontophoresis is offered from the age of {minimum.years:g}.",
        minimum.source,
    )


# --- Metal implants in the current path -------------------------------------------------------


def implant_reasons(implants: Iterable[Implant], region: Region) -> tuple[Reason, ...]:
    """One ``metal_implant_in_path`` per metal implant on a body segment the current crosses.

    Source: makers' and NHS leaflets (metal implants in the current path; a copper IUD for the
    feet only, which the current path reproduces: two feet cross the pelvis, two hands do not).
    Sinclair 2023 found no heating or corrosion in vitro at 70 V, but makers still list metal
    implants, so they block; the text says so.
    """
    path = region_current_path(region)
    found: list[Reason] = []
    for implant in implants:
        if implant.kind not in METAL_IMPLANTS or implant.location not in path:
            continue
        where = implant.location.value.replace("_", " ")
        source = (
            sources.COPPER_IUD_FEET
            if implant.kind is ImplantKind.COPPER_IUD
            else sources.MAKERS_CONTRAINDICATIONS
        )
        found.append(
            Reason(
                "metal_implant_in_path",
                f"The {_IMPLANT_WORDS[implant.kind]} in the {where} lies in the path of the"
                f" current when treating the {REGION_WORDS[region]}; makers advise against"
                " passing current through metal implants. (A laboratory study found no heating"
                " of metal implants, Sinclair 2023, but makers still list them.)",
                source,
            )
        )
    return unique_reasons(found)


# --- Skin findings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SkinRule:
    """One row of the skin-findings table."""

    finding: SkinFinding
    effect: Effect
    #: A "not now" finding: the region can be treated once it has healed.
    temporary: bool
    code: str
    #: Text with ``{where}`` for the region's words.
    text: str
    source: Source
    solutions: frozenset[Solution] = ALL_SOLUTIONS


_LEAFLETS = sources.PRECAUTIONS_LEAFLETS

#: The skin-findings table (clinical-reference §4; Robinul SmPC for skin infection).
SKIN_RULES: tuple[SkinRule, ...] = (
    SkinRule(
        SkinFinding.SMALL_CUT,
        Effect.PRECAUTION,
        False,
        "cover_small_cuts",
        "Small cuts on the {where}: cover them with petroleum jelly before treatment, and again"
        " at the break when the polarity changes, so the current does not sting or burn there.",
        _LEAFLETS,
    ),
    SkinRule(
        SkinFinding.OPEN_WOUND,
        Effect.BLOCK,
        True,
        "open_wound",
        "An open wound on the {where} that cannot be covered: not now. Treat once it has healed.",
        _MAKERS,
    ),
    SkinRule(
        SkinFinding.INFECTION,
        Effect.BLOCK,
        True,
        "skin_infection",
        "A skin infection on the {where}: not now. Treat once it has cleared.",
        _MAKERS,
    ),
    SkinRule(
        SkinFinding.ECZEMA,
        Effect.BLOCK,
        True,
        "rash_or_inflammation",
        "Eczema, a rash or inflammation on the {where}: not now. Treat once it has settled.",
        _MAKERS,
    ),
    SkinRule(
        SkinFinding.IMPAIRED_SENSATION,
        Effect.BLOCK,
        False,
        "impaired_sensation",
        "Reduced feeling in the {where} (for example neuropathy): the patient could not feel a"
        " burn, so this region is not treated.",
        _MAKERS,
    ),
    SkinRule(
        SkinFinding.MALIGNANCY,
        Effect.BLOCK,
        False,
        "malignancy_in_area",
        "A skin cancer or other malignancy in the {where}: this region is not treated.",
        _MAKERS,
    ),
    SkinRule(
        SkinFinding.INFECTION,
        Effect.BLOCK,
        True,
        "glycopyrronium_skin_infection",
        "Glycopyrronium must not be applied to infected skin ({where}). Treat once it has cleared.",
        sources.ROBINUL_SMPC,
        GLYCOPYRRONIUM_ONLY,
    ),
)

#: Codes of the "not now" reasons: the region may be treated once the skin has healed.
TEMPORARY_CODES: frozenset[str] = frozenset(r.code for r in SKIN_RULES if r.temporary)

#: Which region's skin each electrode touches. A face mask or neck cushion is paired with a
#: hand in a tray, so the palms' skin matters when treating the face or neck (derived from the
#: pairings in :data:`ionto.therapy.regions.REGIONS`).
ELECTRODE_SKIN_REGION: dict[Electrode, Region] = {
    Electrode.LEFT_HAND: Region.PALMS,
    Electrode.RIGHT_HAND: Region.PALMS,
    Electrode.LEFT_FOOT: Region.SOLES,
    Electrode.RIGHT_FOOT: Region.SOLES,
    Electrode.LEFT_AXILLA: Region.AXILLAE,
    Electrode.RIGHT_AXILLA: Region.AXILLAE,
    Electrode.FACE: Region.FACE,
    Electrode.NECK: Region.NECK,
}


def skin_contact_regions(region: Region) -> tuple[Region, ...]:
    """The regions whose skin touches an electrode when treating ``region``: itself first.

    Derived: burns happen at skin defects under *either* electrode (clinical-reference §4,
    side effects), so a wound on the hand matters when the hand is the face mask's partner.
    """
    touched = [region] + [ELECTRODE_SKIN_REGION[e] for e in REGIONS[region].pairing]
    return tuple(dict.fromkeys(touched))


def skin_reasons(
    skin: Iterable[SkinEntry], region: Region, solution: Solution
) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    """(contraindications, precautions) from skin findings under the region's electrodes.

    Source: each row's own (makers' and NHS leaflets, clinical-reference §4; Robinul SmPC).
    """
    touched = skin_contact_regions(region)
    entries = [e for e in skin if e.region in touched]
    blocks: list[Reason] = []
    cautions: list[Reason] = []
    for entry in sorted(entries, key=lambda e: touched.index(e.region)):
        where = REGION_WORDS[entry.region]
        if entry.region is not region:
            where += f", where the other electrode sits when treating the {REGION_WORDS[region]}"
        for rule in SKIN_RULES:
            if rule.finding is not entry.finding or solution not in rule.solutions:
                continue
            reason = Reason(rule.code, rule.text.format(where=where), rule.source)
            (blocks if rule.effect is Effect.BLOCK else cautions).append(reason)
    return unique_reasons(blocks), unique_reasons(cautions)


def unique_reasons(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    """The reasons without repeats, first occurrence kept (a finding entered twice says once)."""
    return tuple(dict.fromkeys(reasons))
