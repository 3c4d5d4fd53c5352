"""Screening: may this patient have iontophoresis, on which regions, and with what care?

The output is the shape of ``ionto screen`` (shared/CONTRACT.md). Three questions, each with
its source:

1. **Diagnosis** — primary focal hyperhidrosis by Hornberger et al. (JAAD 2004), red flags of a
   secondary cause (clinical-reference §6), generalised sweating (§1, §6).
2. **Whole-patient contraindications** — the makers' and NHS union (§4), glycopyrronium's own
   (Robinul SmPC), the minimum age (a preset: 6 years Saalmann/Fischer, 5 years South Tees).
3. **Per region** — metal implants in the current path, skin findings under the electrodes,
   and the precautions of the region, the patient's age and the solution.

Decisions where the sources leave it to us (documented here and in the report):

- ``possible_secondary`` and ``not_met`` put ``possible_secondary_cause`` / ``criteria_not_met``
  into ``blocking``: the treatment is for primary focal hyperhidrosis, and a clinician who
  disagrees corrects the facts. ``generalised`` without red flags does not block.
- A region's ``reasons`` hold *everything* that stops it today, whole-patient reasons
  included, so ``allowed`` always means "may be treated now" even to a reader who looks at one
  region only. ``blocking`` repeats the whole-patient ones once.
- ``precautions`` are listed only for allowed regions (as in the contract's example: blocked
  palms with a small cut show none); they are given again when the region is screened anew.
- Missing history facts count as not met; an unrecorded ``generalised`` counts as focal (the
  patient names the regions to treat), and an unrecorded red flag as absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ionto.therapy import protocols, sources
from ionto.therapy.contraindications import (
    BREASTFEEDING_RULES,
    CONDITION_RULES,
    MINIMUM_AGE_SAALMANN_FISCHER,
    MINIMUM_AGE_SOUTH_TEES,
    SKIN_RULES,
    TEMPORARY_CODES,
    ConditionRule,
    Effect,
    MinimumAge,
    condition_reasons,
    implant_reasons,
    skin_reasons,
    under_minimum_age,
    unique_reasons,
)
from ionto.therapy.frequency import FREQUENCY_CAPS
from ionto.therapy.patient import History, PatientFacts
from ionto.therapy.protocols import Protocol
from ionto.therapy.reasons import Reason
from ionto.therapy.regions import REGION_WORDS, REGIONS, age_group
from ionto.therapy.vocabulary import AgeGroup, Condition, Diagnosis, Region, Solution

# --- Settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningSettings:
    """The screening presets where sources disagree.

    - ``minimum_age``: 6 years (Saalmann, Fischer) or 5 years (South Tees).
    - ``breastfeeding``: only some makers and leaflets list it. Default ``BLOCK``: Ionto's
      contraindications are the union of its sources (clinical-reference §4), and an elective
      treatment can wait; ``PRECAUTION`` lets a clinician allow it with a warning.
    - ``protocol_preset``: passed to :func:`protocols.recommend_protocol` (``None``: its default).
    """

    name: str = "saalmann_fischer"
    minimum_age: MinimumAge = MINIMUM_AGE_SAALMANN_FISCHER
    breastfeeding: Effect = Effect.BLOCK
    protocol_preset: str | None = None

    def condition_rules(self) -> tuple[ConditionRule, ...]:
        return (*CONDITION_RULES, BREASTFEEDING_RULES[self.breastfeeding])


DEFAULT_SCREENING = ScreeningSettings()
SOUTH_TEES_SCREENING = ScreeningSettings(name="south_tees", minimum_age=MINIMUM_AGE_SOUTH_TEES)
SCREENING_PRESETS: dict[str, ScreeningSettings] = {
    s.name: s for s in (DEFAULT_SCREENING, SOUTH_TEES_SCREENING)
}


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionScreening:
    region: Region
    allowed: bool
    #: Why not allowed (empty when allowed).
    reasons: tuple[Reason, ...]
    precautions: tuple[Reason, ...]
    #: ``None`` when not allowed.
    protocol: Protocol | None
    #: True when every blocking reason is a "not now" one (wound, infection, rash); False when
    #: the region is allowed.
    temporary: bool


@dataclass(frozen=True)
class Screening:
    eligible: bool
    diagnosis: Diagnosis
    #: Reasons that apply to the whole patient.
    blocking: tuple[Reason, ...]
    #: Checks and referrals (causes to exclude).
    refer: tuple[Reason, ...]
    #: One entry per requested region, in the order of ``facts.treat`` (most bothersome first).
    regions: dict[Region, RegionScreening]
    #: How the diagnosis was reached: red flags, criteria met, unmet or not recorded.
    diagnosis_reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class DiagnosisFinding:
    diagnosis: Diagnosis
    reasons: tuple[Reason, ...]
    blocking: tuple[Reason, ...]
    refer: tuple[Reason, ...]


# --- Diagnosis --------------------------------------------------------------------------------

#: Hornberger et al. 2004: at least this long, and at least this many of the six features.
MINIMUM_DURATION_MONTHS = 6.0
MINIMUM_FEATURES = 2
#: Onset before 25 is a feature; onset from 25 on is a red flag ("onset later in life").
ONSET_BEFORE_YEARS = 25.0
MINIMUM_EPISODES_PER_WEEK = 1.0


@dataclass(frozen=True)
class _Criterion:
    key: str
    met: bool | None  # None: not recorded
    words: str  # what the criterion asks, in plain words


def _criteria(history: History) -> tuple[_Criterion, tuple[_Criterion, ...]]:
    """The duration criterion and the six features of Hornberger et al. (JAAD 2004)."""

    def at_least(value: float | None, bound: float) -> bool | None:
        return None if value is None else value >= bound

    onset = history.onset_age_years
    duration = _Criterion(
        "duration_6_months",
        at_least(history.duration_months, MINIMUM_DURATION_MONTHS),
        "excessive sweating for at least 6 months",
    )
    features = (
        _Criterion(
            "bilateral_symmetric",
            history.bilateral_symmetric,
            "sweating on both sides and roughly symmetric",
        ),
        _Criterion(
            "impairs_daily_activities",
            history.impairs_daily_activities,
            "sweating gets in the way of daily activities",
        ),
        _Criterion(
            "weekly_episodes",
            at_least(history.episodes_per_week, MINIMUM_EPISODES_PER_WEEK),
            "at least one episode a week",
        ),
        _Criterion(
            "onset_before_25",
            None if onset is None else onset < ONSET_BEFORE_YEARS,
            "started before the age of 25",
        ),
        _Criterion("family_history", history.family_history, "a family history of it"),
        _Criterion("stops_during_sleep", history.stops_during_sleep, "sweating stops during sleep"),
    )
    return duration, features


def _criterion_reason(c: _Criterion) -> Reason:
    src = sources.HORNBERGER_2004
    if c.met is None:
        return Reason(f"missing_{c.key}", f"Not recorded (counts as not met): {c.words}.", src)
    if c.met:
        return Reason(f"met_{c.key}", f"Met: {c.words}.", src)
    return Reason(f"unmet_{c.key}", f"Not met: {c.words}.", src)


def red_flags(history: History) -> tuple[Reason, ...]:
    """Signs of a possible secondary cause (clinical-reference §6; Hornberger 2004; NICE CKS).

    Only recorded facts raise a flag: an unrecorded fact is not a red flag.
    """
    src = sources.SECONDARY_CAUSES
    flags: list[Reason] = []
    onset = history.onset_age_years
    if onset is not None and onset >= ONSET_BEFORE_YEARS:
        flags.append(
            Reason(
                "red_flag_late_onset",
                f"Sweating started at {onset:g}, later in life (25 or over): look for a cause.",
                src,
            )
        )
    if history.bilateral_symmetric is False:
        flags.append(
            Reason(
                "red_flag_asymmetric",
                "Sweating on one side only or clearly uneven: look for a cause.",
                src,
            )
        )
    if history.night_sweats:
        flags.append(Reason("red_flag_night_sweats", "Night sweats: look for a cause.", src))
    if history.systemic_symptoms:
        flags.append(
            Reason(
                "red_flag_systemic_symptoms",
                "Fever, weight loss or swollen glands: look for a cause.",
                src,
            )
        )
    return tuple(flags)


#: The causes to exclude before treating sweating that may be secondary (clinical-reference §6).
CAUSE_CHECKS: tuple[Reason, ...] = tuple(
    Reason(code, text, sources.SECONDARY_CAUSES)
    for code, text in (
        ("check_overactive_thyroid", "Check for an overactive thyroid."),
        ("check_diabetes_hypoglycaemia", "Check for diabetes and low blood sugar episodes."),
        ("check_phaeochromocytoma", "Consider phaeochromocytoma (an adrenal tumour)."),
        ("check_menopause", "Consider the menopause."),
        ("check_infection", "Check for infections such as tuberculosis or endocarditis."),
        ("check_lymphoma", "Consider lymphoma."),
        ("check_parkinsons", "Consider Parkinson's disease."),
        ("check_spinal_cord_injury", "Consider a spinal cord injury."),
        (
            "check_medicines",
            "Review medicines: antidepressants (SSRIs, SNRIs), opioids and their withdrawal,"
            " cholinergic drugs.",
        ),
    )
)


def diagnose(history: History, treat: Iterable[Region] = ()) -> DiagnosisFinding:
    """The diagnosis, how it was reached, what blocks treatment and what to check.

    Sources: Hornberger et al., JAAD 2004 (criteria); clinical-reference §6 (red flags, causes
    to exclude); §1 and the derived rule for generalised sweating (treat only the regions with
    an applicator, most bothersome first). Any red flag → ``possible_secondary``, generalised
    or not; generalised without one → ``generalised``; otherwise Hornberger decides.
    """
    duration, features = _criteria(history)
    met_count = sum(1 for f in features if f.met)
    criteria_met = bool(duration.met) and met_count >= MINIMUM_FEATURES
    summary = (
        Reason(
            "hornberger_criteria_met",
            f"Criteria for primary focal hyperhidrosis met: sweating for at least 6 months and"
            f" {met_count} of 6 features (at least {MINIMUM_FEATURES} needed).",
            sources.HORNBERGER_2004,
        )
        if criteria_met
        else Reason(
            "hornberger_criteria_not_met",
            f"Criteria for primary focal hyperhidrosis not met: they need sweating for at least"
            f" 6 months and at least {MINIMUM_FEATURES} of 6 features; {met_count} recorded as"
            " present. Facts not recorded count as not met.",
            sources.HORNBERGER_2004,
        )
    )
    criteria_reasons = (summary, *(_criterion_reason(c) for c in (duration, *features)))
    flags = red_flags(history)
    generalised = bool(history.generalised)
    generalised_reason = Reason(
        "generalised_sweating",
        "Sweating over much of the body is a reason to look for an underlying cause.",
        sources.SECONDARY_CAUSES,
    )

    if flags:
        return DiagnosisFinding(
            Diagnosis.POSSIBLE_SECONDARY,
            reasons=(*flags, *((generalised_reason,) if generalised else ()), *criteria_reasons),
            blocking=(
                Reason(
                    "possible_secondary_cause",
                    "Signs of a possible underlying cause: iontophoresis is for primary focal"
                    " hyperhidrosis, so it is not started until the cause has been looked for."
                    " Correct the history if a sign was recorded by mistake.",
                    sources.SECONDARY_CAUSES,
                ),
            ),
            refer=(
                Reason(
                    "refer_for_cause",
                    "Refer to the GP or a dermatologist to look for an underlying cause.",
                    sources.SECONDARY_CAUSES,
                ),
                *CAUSE_CHECKS,
            ),
        )
    if generalised:
        named = [REGION_WORDS[r] for r in dict.fromkeys(treat) if r in REGIONS]
        regions_words = ", ".join(named) if named else "the regions asked for"
        return DiagnosisFinding(
            Diagnosis.GENERALISED,
            reasons=(
                generalised_reason,
                Reason(
                    "generalised_treat_focal_only",
                    "Generalised sweating cannot be treated as a whole with iontophoresis: only"
                    f" regions with an applicator are treated ({regions_words}), most"
                    " bothersome first. The rest of the body cannot be treated this way;"
                    " partial success still improves quality of life.",
                    sources.GENERALISED_FOCAL_ONLY,
                ),
                *criteria_reasons,
            ),
            blocking=(),
            refer=CAUSE_CHECKS,
        )
    if criteria_met:
        return DiagnosisFinding(
            Diagnosis.PRIMARY_FOCAL, reasons=criteria_reasons, blocking=(), refer=()
        )
    return DiagnosisFinding(
        Diagnosis.NOT_MET,
        reasons=criteria_reasons,
        blocking=(
            Reason(
                "criteria_not_met",
                "The criteria for primary focal hyperhidrosis are not met, so iontophoresis is"
                " not started. Missing facts count as not met: complete the history.",
                sources.HORNBERGER_2004,
            ),
        ),
        refer=(),
    )


# --- Whole patient and per region -------------------------------------------------------------


def patient_contraindications(
    facts: PatientFacts, solution: Solution, settings: ScreeningSettings = DEFAULT_SCREENING
) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    """(contraindications, precautions) for the whole patient with this solution.

    Sources: the conditions table (makers' union, clinical-reference §4; Robinul SmPC) and the
    minimum-age preset (Saalmann/Fischer or South Tees).
    """
    blocks, cautions = condition_reasons(facts.conditions, solution, settings.condition_rules())
    too_young = under_minimum_age(facts.age_years, settings.minimum_age)
    if too_young is not None:
        blocks = (*blocks, too_young)
    return blocks, cautions


def _region_precautions(region: Region, solution: Solution) -> tuple[Reason, ...]:
    """Precautions of the region itself (clinical-reference §1, §2 waveforms, §3 success).

    Pulsed current is advised exactly where the protocols make it the adults' default
    (:data:`protocols.PULSED_REGIONS`, with its source), and only with tap water:
    glycopyrronium is licensed as continuous DC (Robinul SmPC).
    """
    cautions: list[Reason] = []
    if not REGIONS[region].in_clinic:
        cautions.append(
            Reason(
                "home_treatment_only",
                f"The centre's trial course treats hands and feet only: the {REGION_WORDS[region]}"
                " are treated at home with the maker's attachment.",
                sources.TREATMENT_CENTRE,
            )
        )
    if region in protocols.PULSED_REGIONS and solution is Solution.TAP_WATER:
        cautions.append(
            Reason(
                "pulsed_dc_preferred",
                f"Pulsed current is preferred for the {REGION_WORDS[region]}: it is more"
                " comfortable on this sensitive skin.",
                protocols.PULSED_REGIONS[region],
            )
        )
    if region is Region.AXILLAE:
        cautions.append(
            Reason(
                "axillae_less_effective",
                "Armpits respond less well than hands and feet: up to 65% of patients improve.",
                sources.HYPERHIDROSIS_UK,
            )
        )
    return tuple(cautions)


#: Children (Doncaster: accompanied; the UK centre: must sit still through the treatment).
CHILD_PRECAUTIONS: tuple[Reason, ...] = (
    Reason(
        "child_accompanied",
        "A child must be accompanied by an adult throughout the treatment.",
        sources.DONCASTER,
    ),
    Reason(
        "child_sit_still",
        "The child must be able to sit still through a slightly uncomfortable treatment.",
        sources.TREATMENT_CENTRE,
    ),
)

#: Every treatment (clinical-reference §4 precautions; Hidrex DP450 on the shock).
STANDARD_PRECAUTIONS: tuple[Reason, ...] = (
    Reason(
        "remove_jewellery_and_nail_polish",
        "Remove rings, watches, other jewellery and nail polish before treatment.",
        sources.PRECAUTIONS_LEAFLETS,
    ),
    Reason(
        "keep_in_contact_while_current_flows",
        "Keep hands, feet or pads in place while the current flows: lifting them out gives an"
        " unpleasant shock. Let the device turn the current down first.",
        sources.HIDREX_DP450,
    ),
    Reason(
        "do_not_touch_electrodes",
        "Never touch the metal electrodes during treatment.",
        sources.PRECAUTIONS_LEAFLETS,
    ),
)

#: Above this many regions a day with glycopyrronium, they must be spread over days. The
#: number, the 7 days and their reading ("whatever the site") are the frequency rules'
#: (:mod:`ionto.therapy.frequency`, Robinul SmPC), so screening and course checks agree.
GLYCOPYRRONIUM_MAX_SITES_A_DAY = FREQUENCY_CAPS.glycopyrronium_max_sites_per_day
_GLYCOPYRRONIUM_DAYS_APART = FREQUENCY_CAPS.glycopyrronium_min_days_apart

GLYCOPYRRONIUM_ONE_SITE = Reason(
    "glycopyrronium_one_site_at_a_time",
    f"Glycopyrronium: treat one site at a time, at most {GLYCOPYRRONIUM_MAX_SITES_A_DAY} sites a"
    f" day, and no glycopyrronium treatment again within {_GLYCOPYRRONIUM_DAYS_APART} days,"
    " even on a different site.",
    sources.ROBINUL_SMPC,
)

#: The same code as :func:`ionto.therapy.frequency.check_glycopyrronium_sites_per_day` uses.
_GLYCOPYRRONIUM_TOO_MANY_SITES_CODE = (
    f"glycopyrronium_more_than_{GLYCOPYRRONIUM_MAX_SITES_A_DAY}_sites_a_day"
)


def _glycopyrronium_too_many_sites(count: int) -> Reason:
    return Reason(
        _GLYCOPYRRONIUM_TOO_MANY_SITES_CODE,
        f"{count} regions are planned with glycopyrronium but at most"
        f" {GLYCOPYRRONIUM_MAX_SITES_A_DAY} sites may be treated in a day, and the next"
        f" treatment must wait {_GLYCOPYRRONIUM_DAYS_APART} days: treat the most bothersome"
        " first.",
        sources.ROBINUL_SMPC,
    )


def _region_reasons(
    facts: PatientFacts, region: Region, solution: Solution, settings: ScreeningSettings
) -> tuple[tuple[Reason, ...], tuple[Reason, ...]]:
    """(contraindications, precautions) for one region, the diagnosis left aside."""
    patient_blocks, patient_cautions = patient_contraindications(facts, solution, settings)
    skin_blocks, skin_cautions = skin_reasons(facts.skin, region, solution)
    blocks = (*patient_blocks, *implant_reasons(facts.implants, region), *skin_blocks)
    cautions = (
        *patient_cautions,
        *skin_cautions,
        *_region_precautions(region, solution),
        *(CHILD_PRECAUTIONS if age_group(facts.age_years) is AgeGroup.CHILD else ()),
        *((GLYCOPYRRONIUM_ONE_SITE,) if solution is Solution.GLYCOPYRRONIUM else ()),
        *STANDARD_PRECAUTIONS,
    )
    return unique_reasons(blocks), unique_reasons(cautions)


def _region_screening(
    facts: PatientFacts,
    region: Region,
    solution: Solution,
    settings: ScreeningSettings,
    blocks: tuple[Reason, ...],
    cautions: tuple[Reason, ...],
) -> RegionScreening:
    if blocks:
        temporary = all(r.code in TEMPORARY_CODES for r in blocks)
        return RegionScreening(region, False, blocks, (), None, temporary)
    protocol = protocols.recommend_protocol(
        region, solution, facts.age_years, preset=_protocol_preset(facts, solution, settings)
    )
    return RegionScreening(region, True, (), cautions, protocol, False)


def _protocol_preset(
    facts: PatientFacts, solution: Solution, settings: ScreeningSettings
) -> str | None:
    """The preset asked of :func:`protocols.recommend_protocol`.

    The settings' preset when one is set; otherwise pulsed DC for an adult sensitive to electric
    current with tap water (fewer sensations, no shocks: Reinauer 1995; Hidrex DP450 for
    sensitive skin). Children get pulsed DC by default already, and glycopyrronium is licensed
    as continuous DC only (Robinul SmPC), so neither is changed.
    """
    if settings.protocol_preset is not None:
        return settings.protocol_preset
    if (
        Condition.ELECTRICAL_SENSITIVITY in facts.conditions
        and solution is Solution.TAP_WATER
        and age_group(facts.age_years) is AgeGroup.ADULT
    ):
        return protocols.PULSED_SENSITIVE.name
    return None


def region_suitability(
    facts: PatientFacts,
    region: Region,
    solution: Solution,
    settings: ScreeningSettings = DEFAULT_SCREENING,
) -> RegionScreening:
    """May this patient have ``solution`` on ``region``? The diagnosis is left aside.

    Everything that stops the region is in ``reasons``: whole-patient contraindications
    (makers' union, clinical-reference §4; Robinul SmPC; minimum-age preset), metal implants in
    the current path, and skin findings under either electrode. When allowed, ``protocol`` is
    :func:`protocols.recommend_protocol`'s, already within every cap.
    """
    blocks, cautions = _region_reasons(facts, region, solution, settings)
    return _region_screening(facts, region, solution, settings, blocks, cautions)


def screen_patient(
    facts: PatientFacts, settings: ScreeningSettings = DEFAULT_SCREENING
) -> Screening:
    """Screen a patient for the regions they ask to be treated, with their chosen solution.

    Sources: see :func:`diagnose` and :func:`region_suitability`; Robinul SmPC for at most two
    glycopyrronium sites a day (counted over the regions allowed, since only they are treated).
    ``eligible``: at least one requested region allowed and nothing in ``blocking``.
    """
    solution = facts.solution
    finding = diagnose(facts.history, facts.treat)
    patient_blocks, _ = patient_contraindications(facts, solution, settings)
    blocking = unique_reasons((*finding.blocking, *patient_blocks))

    requested = tuple(dict.fromkeys(facts.treat))
    reasons: dict[Region, tuple[tuple[Reason, ...], tuple[Reason, ...]]] = {}
    for region in requested:
        blocks, cautions = _region_reasons(facts, region, solution, settings)
        reasons[region] = (unique_reasons((*finding.blocking, *blocks)), cautions)

    allowed_count = sum(1 for blocks, _ in reasons.values() if not blocks)
    if solution is Solution.GLYCOPYRRONIUM and allowed_count > GLYCOPYRRONIUM_MAX_SITES_A_DAY:
        too_many = _glycopyrronium_too_many_sites(allowed_count)
        reasons = {r: (b, (*c, too_many)) for r, (b, c) in reasons.items()}

    regions = {
        region: _region_screening(facts, region, solution, settings, blocks, cautions)
        for region, (blocks, cautions) in reasons.items()
    }
    return Screening(
        eligible=not blocking and any(s.allowed for s in regions.values()),
        diagnosis=finding.diagnosis,
        blocking=blocking,
        refer=finding.refer,
        regions=regions,
        diagnosis_reasons=finding.reasons,
    )


# --- The codes screening can emit (for docs and the contract's consumers) ---------------------

_CRITERION_KEYS = (
    "duration_6_months",
    "bilateral_symmetric",
    "impairs_daily_activities",
    "weekly_episodes",
    "onset_before_25",
    "family_history",
    "stops_during_sleep",
)

#: Every reason code screening can emit; each means the same thing wherever it appears.
SCREENING_CODES: frozenset[str] = frozenset(
    {
        *(r.code for r in CONDITION_RULES),
        *(r.code for r in BREASTFEEDING_RULES.values()),
        *(r.code for r in SKIN_RULES),
        "under_minimum_age",
        "metal_implant_in_path",
        "hornberger_criteria_met",
        "hornberger_criteria_not_met",
        *(f"{state}_{key}" for state in ("met", "unmet", "missing") for key in _CRITERION_KEYS),
        "red_flag_late_onset",
        "red_flag_asymmetric",
        "red_flag_night_sweats",
        "red_flag_systemic_symptoms",
        "generalised_sweating",
        "generalised_treat_focal_only",
        "possible_secondary_cause",
        "criteria_not_met",
        "refer_for_cause",
        *(r.code for r in CAUSE_CHECKS),
        "home_treatment_only",
        "pulsed_dc_preferred",
        "axillae_less_effective",
        *(r.code for r in CHILD_PRECAUTIONS),
        *(r.code for r in STANDARD_PRECAUTIONS),
        GLYCOPYRRONIUM_ONE_SITE.code,
        _GLYCOPYRRONIUM_TOO_MANY_SITES_CODE,
    }
)
