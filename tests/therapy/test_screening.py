"""Screening: diagnosis, contraindications, per-region verdicts and precautions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ionto.therapy import sources
from ionto.therapy.contraindications import (
    MINIMUM_AGE_SAALMANN_FISCHER,
    MINIMUM_AGE_SOUTH_TEES,
    TEMPORARY_CODES,
    Effect,
    skin_contact_regions,
)
from ionto.therapy.patient import History, Implant, PatientFacts, SkinEntry
from ionto.therapy.reasons import Reason
from ionto.therapy.regions import region_current_path
from ionto.therapy.screening import (
    CAUSE_CHECKS,
    DEFAULT_SCREENING,
    SCREENING_CODES,
    SCREENING_PRESETS,
    SOUTH_TEES_SCREENING,
    Screening,
    ScreeningSettings,
    diagnose,
    region_suitability,
    screen_patient,
)
from ionto.therapy.vocabulary import (
    METAL_IMPLANTS,
    BodyLocation,
    Condition,
    Diagnosis,
    ImplantKind,
    Region,
    SkinFinding,
    Solution,
    Waveform,
)

PRIMARY = History(
    duration_months=60,
    onset_age_years=12,
    bilateral_symmetric=True,
    impairs_daily_activities=True,
    episodes_per_week=7,
    family_history=True,
    stops_during_sleep=True,
    night_sweats=False,
    generalised=False,
    systemic_symptoms=False,
)
HANDS_AND_FEET = (Region.PALMS, Region.SOLES)
BLOCKING_FINDINGS = frozenset(SkinFinding) - {SkinFinding.SMALL_CUT}
NOT_CONTRAINDICATIONS = frozenset({Condition.ELECTRICAL_SENSITIVITY})


def adult(**changes: object) -> PatientFacts:
    base = PatientFacts(age_years=34, treat=HANDS_AND_FEET, history=PRIMARY)
    return replace(base, **changes)  # type: ignore[arg-type]


def codes(reasons: Iterable[Reason]) -> list[str]:
    return [r.code for r in reasons]


def all_reasons(s: Screening) -> list[Reason]:
    found: list[Reason] = [*s.blocking, *s.refer, *s.diagnosis_reasons]
    for r in s.regions.values():
        found += [*r.reasons, *r.precautions]
        if r.protocol is not None:
            found += [*r.protocol.reasons]
    return found


# --- Strategies -------------------------------------------------------------------------------

optional_bool = st.none() | st.booleans()
histories = st.builds(
    History,
    duration_months=st.none() | st.floats(0, 600),
    onset_age_years=st.none() | st.floats(0, 90),
    bilateral_symmetric=optional_bool,
    impairs_daily_activities=optional_bool,
    episodes_per_week=st.none() | st.floats(0, 50),
    family_history=optional_bool,
    stops_during_sleep=optional_bool,
    night_sweats=optional_bool,
    generalised=optional_bool,
    systemic_symptoms=optional_bool,
)
treat_lists = st.lists(st.sampled_from(Region), min_size=1, max_size=5, unique=True).map(tuple)
implants = st.builds(Implant, st.sampled_from(ImplantKind), st.sampled_from(BodyLocation))
skin_entries = st.builds(SkinEntry, st.sampled_from(Region), st.sampled_from(SkinFinding))
conditions = st.frozensets(st.sampled_from(Condition), max_size=4)
screening_settings = st.sampled_from(
    [
        DEFAULT_SCREENING,
        SOUTH_TEES_SCREENING,
        ScreeningSettings(name="allow_breastfeeding", breastfeeding=Effect.PRECAUTION),
    ]
)


@st.composite
def patients(draw: st.DrawFn, history: st.SearchStrategy[History] = histories) -> PatientFacts:
    """Any patient; contraindications kept sparse so that allowed regions are common too."""
    return PatientFacts(
        age_years=draw(st.floats(0, 100)),
        treat=draw(treat_lists),
        solution=draw(st.sampled_from(Solution)),
        history=draw(history),
        conditions=draw(st.sampled_from([frozenset(), frozenset()]) | conditions),
        implants=tuple(draw(st.lists(implants, max_size=2))),
        skin=tuple(draw(st.lists(skin_entries, max_size=2))),
    )


@st.composite
def contraindications(draw: st.DrawFn, facts: PatientFacts) -> PatientFacts:
    """The patient with one more condition, implant or skin finding (of any kind)."""
    kind = draw(st.sampled_from(["condition", "implant", "skin"]))
    if kind == "condition":
        return replace(facts, conditions=facts.conditions | {draw(st.sampled_from(Condition))})
    if kind == "implant":
        return replace(facts, implants=(*facts.implants, draw(implants)))
    return replace(facts, skin=(*facts.skin, draw(skin_entries)))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- The contract's examples ---------------------------------------------------------------------


def test_contract_example_plate_in_left_forearm_blocks_palms_not_soles() -> None:
    facts = adult(
        sites=HANDS_AND_FEET,
        implants=(Implant(ImplantKind.METAL_PLATE, BodyLocation.LEFT_FOREARM),),
        skin=(SkinEntry(Region.PALMS, SkinFinding.SMALL_CUT),),
        hdss=4,
    )
    s = screen_patient(facts)
    assert s.eligible
    assert s.diagnosis is Diagnosis.PRIMARY_FOCAL
    assert s.blocking == ()
    assert s.refer == ()
    palms, soles = s.regions[Region.PALMS], s.regions[Region.SOLES]
    assert not palms.allowed
    assert codes(palms.reasons) == ["metal_implant_in_path"]
    assert palms.reasons[0].source is sources.MAKERS_CONTRAINDICATIONS
    assert "left forearm" in palms.reasons[0].text
    assert "Sinclair 2023" in palms.reasons[0].text
    assert palms.precautions == ()
    assert palms.protocol is None
    assert not palms.temporary
    assert soles.allowed
    assert soles.reasons == ()
    assert soles.precautions
    assert soles.protocol is not None
    assert soles.protocol.solution is Solution.TAP_WATER
    assert soles.protocol.waveform is Waveform.DC
    assert soles.protocol.max_current_mA <= 20.0


def test_copper_iud_blocks_soles_only() -> None:
    s = screen_patient(adult(implants=(Implant(ImplantKind.COPPER_IUD, BodyLocation.PELVIS),)))
    soles = s.regions[Region.SOLES]
    assert codes(soles.reasons) == ["metal_implant_in_path"]
    assert soles.reasons[0].source is sources.COPPER_IUD_FEET
    assert s.regions[Region.PALMS].allowed
    assert s.eligible


def test_hormonal_iud_blocks_nothing() -> None:
    s = screen_patient(adult(implants=(Implant(ImplantKind.HORMONAL_IUD, BodyLocation.PELVIS),)))
    assert all(r.allowed for r in s.regions.values())


def test_hip_replacement_blocks_soles_and_a_wrist_screw_blocks_palms() -> None:
    hip = screen_patient(
        adult(implants=(Implant(ImplantKind.JOINT_REPLACEMENT, BodyLocation.RIGHT_HIP),))
    )
    assert not hip.regions[Region.SOLES].allowed
    assert hip.regions[Region.PALMS].allowed
    wrist = screen_patient(
        adult(implants=(Implant(ImplantKind.METAL_SCREW, BodyLocation.RIGHT_WRIST),))
    )
    assert not wrist.regions[Region.PALMS].allowed
    assert wrist.regions[Region.SOLES].allowed


def test_one_reason_per_metal_implant_in_the_path() -> None:
    both_arms = (
        Implant(ImplantKind.METAL_PLATE, BodyLocation.LEFT_FOREARM),
        Implant(ImplantKind.METAL_SCREW, BodyLocation.RIGHT_ELBOW),
    )
    palms = screen_patient(adult(implants=both_arms)).regions[Region.PALMS]
    assert codes(palms.reasons) == ["metal_implant_in_path", "metal_implant_in_path"]
    # The same implant entered twice is said once.
    twice = screen_patient(adult(implants=both_arms[:1] * 2)).regions[Region.PALMS]
    assert len(twice.reasons) == 1


# --- Diagnosis ------------------------------------------------------------------------------------


def test_primary_focal_explains_every_criterion() -> None:
    finding = diagnose(PRIMARY)
    assert finding.diagnosis is Diagnosis.PRIMARY_FOCAL
    assert finding.blocking == ()
    assert codes(finding.reasons)[0] == "hornberger_criteria_met"
    assert "met_duration_6_months" in codes(finding.reasons)
    assert all(r.source is sources.HORNBERGER_2004 for r in finding.reasons)


def test_an_empty_history_is_not_met_and_says_what_is_missing() -> None:
    s = screen_patient(adult(history=History()))
    assert s.diagnosis is Diagnosis.NOT_MET
    assert codes(s.blocking) == ["criteria_not_met"]
    assert not s.eligible
    reason_codes = codes(s.diagnosis_reasons)
    assert reason_codes[0] == "hornberger_criteria_not_met"
    for key in (
        "duration_6_months",
        "bilateral_symmetric",
        "impairs_daily_activities",
        "weekly_episodes",
        "onset_before_25",
        "family_history",
        "stops_during_sleep",
    ):
        assert f"missing_{key}" in reason_codes
    for region in s.regions.values():
        assert not region.allowed
        assert codes(region.reasons) == ["criteria_not_met"]
        assert not region.temporary


def test_one_feature_is_not_enough() -> None:
    history = History(duration_months=12, impairs_daily_activities=True, family_history=False)
    finding = diagnose(history)
    assert finding.diagnosis is Diagnosis.NOT_MET
    assert "met_impairs_daily_activities" in codes(finding.reasons)
    assert "unmet_family_history" in codes(finding.reasons)
    assert "missing_stops_during_sleep" in codes(finding.reasons)
    two = replace(history, family_history=True)
    assert diagnose(two).diagnosis is Diagnosis.PRIMARY_FOCAL


def test_under_six_months_is_not_met() -> None:
    finding = diagnose(replace(PRIMARY, duration_months=5))
    assert finding.diagnosis is Diagnosis.NOT_MET
    assert "unmet_duration_6_months" in codes(finding.reasons)
    assert diagnose(replace(PRIMARY, duration_months=6)).diagnosis is Diagnosis.PRIMARY_FOCAL


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"onset_age_years": 25}, "red_flag_late_onset"),
        ({"onset_age_years": 40}, "red_flag_late_onset"),
        ({"bilateral_symmetric": False}, "red_flag_asymmetric"),
        ({"night_sweats": True}, "red_flag_night_sweats"),
        ({"systemic_symptoms": True}, "red_flag_systemic_symptoms"),
    ],
)
def test_red_flags_mean_possible_secondary_and_referral(
    change: dict[str, object], flag: str
) -> None:
    s = screen_patient(adult(history=replace(PRIMARY, **change)))  # type: ignore[arg-type]
    assert s.diagnosis is Diagnosis.POSSIBLE_SECONDARY
    assert flag in codes(s.diagnosis_reasons)
    assert codes(s.blocking) == ["possible_secondary_cause"]
    assert codes(s.refer)[0] == "refer_for_cause"
    assert s.refer[1:] == CAUSE_CHECKS
    assert not s.eligible
    assert not any(r.allowed for r in s.regions.values())


def test_onset_at_24_is_no_red_flag() -> None:
    assert diagnose(replace(PRIMARY, onset_age_years=24.9)).diagnosis is Diagnosis.PRIMARY_FOCAL


def test_generalised_without_red_flags_treats_the_requested_regions() -> None:
    history = replace(PRIMARY, generalised=True)
    s = screen_patient(adult(history=history, treat=(Region.SOLES, Region.AXILLAE)))
    assert s.diagnosis is Diagnosis.GENERALISED
    assert s.blocking == ()
    assert s.refer == CAUSE_CHECKS
    assert {r.code for r in s.refer} >= {
        "check_overactive_thyroid",
        "check_diabetes_hypoglycaemia",
        "check_phaeochromocytoma",
        "check_menopause",
        "check_infection",
        "check_lymphoma",
        "check_parkinsons",
        "check_spinal_cord_injury",
        "check_medicines",
    }
    focal_only = next(r for r in s.diagnosis_reasons if r.code == "generalised_treat_focal_only")
    assert focal_only.source is sources.GENERALISED_FOCAL_ONLY
    assert "rest of the body" in focal_only.text
    assert list(s.regions) == [Region.SOLES, Region.AXILLAE]
    assert s.eligible


def test_generalised_with_a_red_flag_is_possible_secondary() -> None:
    history = replace(PRIMARY, generalised=True, night_sweats=True)
    finding = diagnose(history)
    assert finding.diagnosis is Diagnosis.POSSIBLE_SECONDARY
    assert "generalised_sweating" in codes(finding.reasons)


# --- Whole-patient contraindications --------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        (Condition.PACEMAKER, "pacemaker"),
        (Condition.ICD, "implanted_defibrillator"),
        (Condition.PREGNANCY, "pregnancy"),
        (Condition.CARDIAC_ARRHYTHMIA, "cardiac_arrhythmia"),
        (Condition.HEART_DISEASE, "heart_disease"),
        (Condition.EPILEPSY, "epilepsy"),
        (Condition.THROMBOSIS, "thrombosis"),
        (Condition.BREASTFEEDING, "breastfeeding"),
    ],
)
def test_whole_patient_contraindications_block_every_region(
    condition: Condition, code: str
) -> None:
    s = screen_patient(adult(conditions=frozenset({condition})))
    assert codes(s.blocking) == [code]
    assert not s.eligible
    for region in s.regions.values():
        assert codes(region.reasons) == [code]
        assert region.protocol is None
        assert not region.temporary


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        (Condition.GLAUCOMA, "glycopyrronium_glaucoma"),
        (Condition.GLYCOPYRRONIUM_ALLERGY, "glycopyrronium_allergy"),
    ],
)
def test_glycopyrronium_contraindications_apply_to_glycopyrronium_only(
    condition: Condition, code: str
) -> None:
    tap = screen_patient(adult(conditions=frozenset({condition})))
    assert tap.eligible
    glyco = screen_patient(
        adult(conditions=frozenset({condition}), solution=Solution.GLYCOPYRRONIUM)
    )
    assert codes(glyco.blocking) == [code]
    assert glyco.blocking[0].source is sources.ROBINUL_SMPC
    assert not glyco.eligible


def test_pregnancy_with_glycopyrronium_cites_the_smpc_too() -> None:
    s = screen_patient(
        adult(conditions=frozenset({Condition.PREGNANCY}), solution=Solution.GLYCOPYRRONIUM)
    )
    assert codes(s.blocking) == ["pregnancy", "glycopyrronium_pregnancy"]


def test_heart_disease_blocks_glycopyrronium_before_its_caution_could_apply() -> None:
    # Heart disease blocks in the makers' union; the SmPC's caution is kept for the record.
    s = screen_patient(
        adult(conditions=frozenset({Condition.HEART_DISEASE}), solution=Solution.GLYCOPYRRONIUM)
    )
    assert codes(s.blocking) == ["heart_disease"]


def test_breastfeeding_is_a_preset() -> None:
    facts = adult(conditions=frozenset({Condition.BREASTFEEDING}))
    assert not screen_patient(facts).eligible
    lenient = ScreeningSettings(name="allow_breastfeeding", breastfeeding=Effect.PRECAUTION)
    s = screen_patient(facts, lenient)
    assert s.eligible
    assert all("breastfeeding" in codes(r.precautions) for r in s.regions.values())


def test_electrical_sensitivity_is_a_precaution_and_gets_pulsed_current() -> None:
    s = screen_patient(adult(conditions=frozenset({Condition.ELECTRICAL_SENSITIVITY})))
    assert s.eligible
    for region in s.regions.values():
        assert region.precautions[0].code == "electrical_sensitivity"
        assert region.protocol is not None
        assert region.protocol.waveform is Waveform.PULSED_DC
    # Glycopyrronium is continuous DC only: the precaution stays, the waveform does not change.
    glyco = screen_patient(
        adult(
            conditions=frozenset({Condition.ELECTRICAL_SENSITIVITY}),
            solution=Solution.GLYCOPYRRONIUM,
        )
    )
    palms = glyco.regions[Region.PALMS]
    assert "electrical_sensitivity" in codes(palms.precautions)
    assert palms.protocol is not None
    assert palms.protocol.waveform is Waveform.DC


# --- Age ------------------------------------------------------------------------------------------


def test_minimum_age_presets() -> None:
    five = adult(age_years=5.5)
    assert MINIMUM_AGE_SAALMANN_FISCHER.years == 6
    assert MINIMUM_AGE_SOUTH_TEES.years == 5
    default = screen_patient(five)
    assert codes(default.blocking) == ["under_minimum_age"]
    assert default.blocking[0].source is sources.SAALMANN_FISCHER_AGE
    assert not default.eligible
    south_tees = screen_patient(five, SCREENING_PRESETS["south_tees"])
    assert south_tees.eligible
    assert not screen_patient(adult(age_years=4.9), SOUTH_TEES_SCREENING).eligible
    assert screen_patient(adult(age_years=6)).eligible


def test_children_are_accompanied_and_capped() -> None:
    s = screen_patient(adult(age_years=10))
    assert s.eligible
    for region in s.regions.values():
        assert {"child_accompanied", "child_sit_still"} <= set(codes(region.precautions))
        accompanied = next(r for r in region.precautions if r.code == "child_accompanied")
        assert accompanied.source is sources.DONCASTER
        assert region.protocol is not None
        assert region.protocol.max_current_mA <= 15.0
    assert "child_accompanied" not in codes(
        screen_patient(adult()).regions[Region.PALMS].precautions
    )


# --- Skin findings ------------------------------------------------------------------------------


def test_small_cut_is_a_precaution() -> None:
    s = screen_patient(adult(skin=(SkinEntry(Region.PALMS, SkinFinding.SMALL_CUT),)))
    palms = s.regions[Region.PALMS]
    assert palms.allowed
    cut = next(r for r in palms.precautions if r.code == "cover_small_cuts")
    assert "petroleum jelly" in cut.text
    assert "polarity" in cut.text
    assert "cover_small_cuts" not in codes(s.regions[Region.SOLES].precautions)


@pytest.mark.parametrize(
    ("finding", "code", "temporary"),
    [
        (SkinFinding.OPEN_WOUND, "open_wound", True),
        (SkinFinding.INFECTION, "skin_infection", True),
        (SkinFinding.ECZEMA, "rash_or_inflammation", True),
        (SkinFinding.IMPAIRED_SENSATION, "impaired_sensation", False),
        (SkinFinding.MALIGNANCY, "malignancy_in_area", False),
    ],
)
def test_blocking_skin_findings(finding: SkinFinding, code: str, temporary: bool) -> None:
    s = screen_patient(adult(skin=(SkinEntry(Region.SOLES, finding),)))
    soles = s.regions[Region.SOLES]
    assert codes(soles.reasons) == [code]
    assert soles.temporary is temporary
    assert s.regions[Region.PALMS].allowed
    assert s.eligible


def test_temporary_only_when_every_reason_is_temporary() -> None:
    skin = (
        SkinEntry(Region.PALMS, SkinFinding.OPEN_WOUND),
        SkinEntry(Region.PALMS, SkinFinding.IMPAIRED_SENSATION),
    )
    palms = screen_patient(adult(skin=skin)).regions[Region.PALMS]
    assert not palms.allowed
    assert not palms.temporary


def test_glycopyrronium_adds_its_own_skin_infection_reason() -> None:
    s = screen_patient(
        adult(
            solution=Solution.GLYCOPYRRONIUM,
            skin=(SkinEntry(Region.PALMS, SkinFinding.INFECTION),),
        )
    )
    palms = s.regions[Region.PALMS]
    assert codes(palms.reasons) == ["skin_infection", "glycopyrronium_skin_infection"]
    assert palms.temporary


def test_a_wound_on_the_hand_stops_the_face_mask_that_pairs_with_it() -> None:
    assert skin_contact_regions(Region.FACE) == (Region.FACE, Region.PALMS)
    s = screen_patient(
        adult(treat=(Region.FACE,), skin=(SkinEntry(Region.PALMS, SkinFinding.OPEN_WOUND),))
    )
    face = s.regions[Region.FACE]
    assert codes(face.reasons) == ["open_wound"]
    assert "other electrode" in face.reasons[0].text
    assert face.temporary


# --- Regions, solutions and standard precautions -----------------------------------------------


def test_armpits_are_home_treatment_and_less_effective() -> None:
    s = screen_patient(adult(treat=(Region.AXILLAE, Region.FACE, Region.NECK)))
    assert s.eligible
    armpits = codes(s.regions[Region.AXILLAE].precautions)
    assert {"home_treatment_only", "pulsed_dc_preferred", "axillae_less_effective"} <= set(armpits)
    assert "pulsed_dc_preferred" in codes(s.regions[Region.FACE].precautions)
    assert "home_treatment_only" in codes(s.regions[Region.NECK].precautions)
    assert "home_treatment_only" not in codes(
        screen_patient(adult()).regions[Region.PALMS].precautions
    )


def test_every_allowed_region_has_the_standard_precautions() -> None:
    for region in screen_patient(adult(treat=tuple(Region))).regions.values():
        assert {
            "remove_jewellery_and_nail_polish",
            "keep_in_contact_while_current_flows",
            "do_not_touch_electrodes",
        } <= set(codes(region.precautions))


def test_glycopyrronium_at_most_two_sites_a_day() -> None:
    three = screen_patient(
        adult(solution=Solution.GLYCOPYRRONIUM, treat=(Region.PALMS, Region.SOLES, Region.AXILLAE))
    )
    for region in three.regions.values():
        assert "glycopyrronium_more_than_2_sites_a_day" in codes(region.precautions)
        assert "glycopyrronium_one_site_at_a_time" in codes(region.precautions)
    two = screen_patient(adult(solution=Solution.GLYCOPYRRONIUM))
    assert all(
        "glycopyrronium_more_than_2_sites_a_day" not in codes(r.precautions)
        for r in two.regions.values()
    )
    # Only the regions that will be treated count.
    one_blocked = screen_patient(
        adult(
            solution=Solution.GLYCOPYRRONIUM,
            treat=(Region.PALMS, Region.SOLES, Region.AXILLAE),
            skin=(SkinEntry(Region.AXILLAE, SkinFinding.ECZEMA),),
        )
    )
    assert all(
        "glycopyrronium_more_than_2_sites_a_day" not in codes(r.precautions)
        for r in one_blocked.regions.values()
    )
    tap = screen_patient(adult(treat=tuple(Region)))
    assert all(
        "glycopyrronium_one_site_at_a_time" not in codes(r.precautions)
        for r in tap.regions.values()
    )


def test_region_suitability_leaves_the_diagnosis_aside() -> None:
    facts = adult(history=History())
    assert not screen_patient(facts).regions[Region.PALMS].allowed
    palms = region_suitability(facts, Region.PALMS, Solution.GLYCOPYRRONIUM)
    assert palms.allowed
    assert palms.protocol is not None
    assert palms.protocol.solution is Solution.GLYCOPYRRONIUM
    glaucoma = replace(facts, conditions=frozenset({Condition.GLAUCOMA}))
    assert region_suitability(glaucoma, Region.PALMS, Solution.TAP_WATER).allowed
    blocked = region_suitability(glaucoma, Region.PALMS, Solution.GLYCOPYRRONIUM)
    assert codes(blocked.reasons) == ["glycopyrronium_glaucoma"]


def test_duplicate_requests_are_screened_once() -> None:
    s = screen_patient(adult(treat=(Region.SOLES, Region.PALMS, Region.SOLES)))
    assert list(s.regions) == [Region.SOLES, Region.PALMS]


# --- Properties -----------------------------------------------------------------------------------


@FAST
@given(st.data(), patients(), screening_settings)
def test_adding_a_contraindication_never_allows_a_region_nor_makes_eligible(
    data: st.DataObject, facts: PatientFacts, preset: ScreeningSettings
) -> None:
    more = data.draw(contraindications(facts))
    before, after = screen_patient(facts, preset), screen_patient(more, preset)
    for region, verdict in after.regions.items():
        if verdict.allowed:
            assert before.regions[region].allowed
        # What blocked before still blocks.
        assert set(before.regions[region].reasons) <= set(verdict.reasons)
    if after.eligible:
        assert before.eligible


@FAST
@given(
    patients(history=st.just(PRIMARY)),
    st.floats(16, 100),
    st.lists(st.sampled_from(HANDS_AND_FEET), min_size=1, max_size=2, unique=True),
)
def test_without_contraindications_a_primary_focal_adult_with_hands_or_feet_is_eligible(
    facts: PatientFacts, age_years: float, treat: list[Region]
) -> None:
    clean = replace(
        facts,
        age_years=age_years,
        treat=tuple(treat),
        conditions=facts.conditions & NOT_CONTRAINDICATIONS,
        implants=tuple(i for i in facts.implants if i.kind not in METAL_IMPLANTS),
        skin=tuple(e for e in facts.skin if e.finding not in BLOCKING_FINDINGS),
    )
    s = screen_patient(clean)
    assert s.eligible
    assert s.blocking == ()
    assert all(r.allowed for r in s.regions.values())


@FAST
@given(st.data(), patients(), screening_settings)
def test_an_implant_outside_the_current_path_never_changes_the_verdict(
    data: st.DataObject, facts: PatientFacts, preset: ScreeningSettings
) -> None:
    region = data.draw(st.sampled_from(facts.treat))
    elsewhere = sorted(set(BodyLocation) - region_current_path(region))
    implant = Implant(
        data.draw(st.sampled_from(ImplantKind)), data.draw(st.sampled_from(elsewhere))
    )
    more = replace(facts, implants=(*facts.implants, implant))
    assert region_suitability(more, region, facts.solution, preset) == region_suitability(
        facts, region, facts.solution, preset
    )
    before, after = (
        screen_patient(facts, preset).regions[region],
        screen_patient(more, preset).regions[region],
    )
    assert (after.allowed, after.reasons, after.temporary, after.protocol) == (
        before.allowed,
        before.reasons,
        before.temporary,
        before.protocol,
    )


@FAST
@given(patients(), screening_settings)
def test_screening_is_consistent(facts: PatientFacts, preset: ScreeningSettings) -> None:
    s = screen_patient(facts, preset)
    assert tuple(s.regions) == tuple(dict.fromkeys(facts.treat))
    for region, verdict in s.regions.items():
        assert verdict.region is region
        assert verdict.allowed == (verdict.reasons == ()) == (verdict.protocol is not None)
        if verdict.allowed:
            assert not verdict.temporary
        else:
            assert verdict.precautions == ()
            assert verdict.temporary == all(r.code in TEMPORARY_CODES for r in verdict.reasons)
        # Whatever stops the whole patient stops every region.
        assert set(s.blocking) <= set(verdict.reasons)
    assert s.eligible == (not s.blocking and any(r.allowed for r in s.regions.values()))
    assert (s.diagnosis in (Diagnosis.POSSIBLE_SECONDARY, Diagnosis.NOT_MET)) == bool(
        {"possible_secondary_cause", "criteria_not_met"} & set(codes(s.blocking))
    )
    for reason in all_reasons(s):
        assert reason.text
        assert reason.source.citation
    emitted = {r.code for r in [*s.blocking, *s.refer, *s.diagnosis_reasons]} | {
        r.code for v in s.regions.values() for r in (*v.reasons, *v.precautions)
    }
    assert emitted <= SCREENING_CODES


@FAST
@given(patients(), screening_settings)
def test_under_the_minimum_age_nobody_is_eligible(
    facts: PatientFacts, preset: ScreeningSettings
) -> None:
    young = replace(facts, age_years=facts.age_years % preset.minimum_age.years)
    s = screen_patient(young, preset)
    assert not s.eligible
    assert "under_minimum_age" in codes(s.blocking)
    assert not any(r.allowed for r in s.regions.values())


@FAST
@given(patients(), screening_settings)
def test_every_allowed_protocol_respects_the_current_caps(
    facts: PatientFacts, preset: ScreeningSettings
) -> None:
    s = screen_patient(facts, preset)
    child = facts.age_years < 16
    for verdict in s.regions.values():
        if verdict.protocol is None:
            continue
        cap_mA = 15.0 if child else 20.0
        if facts.solution is Solution.GLYCOPYRRONIUM and child:
            cap_mA = 10.0
        assert verdict.protocol.max_current_mA <= cap_mA
        assert verdict.protocol.target_current_mA <= verdict.protocol.max_current_mA
        assert verdict.protocol.region is verdict.region
        assert verdict.protocol.solution is facts.solution


FEATURE_FIELDS = ["bilateral_symmetric", "impairs_daily_activities", "family_history"]


@FAST
@given(histories, st.sampled_from([*FEATURE_FIELDS, "stops_during_sleep"]))
def test_a_met_feature_never_undoes_a_primary_focal_diagnosis(history: History, name: str) -> None:
    if diagnose(history).diagnosis is Diagnosis.PRIMARY_FOCAL:
        more = replace(history, **{name: True})
        assert diagnose(more).diagnosis is Diagnosis.PRIMARY_FOCAL


@FAST
@given(histories)
def test_diagnosis_follows_red_flags_then_generalised(history: History) -> None:
    finding = diagnose(history)
    flags = [c for c in codes(finding.reasons) if c.startswith("red_flag_")]
    if flags:
        assert finding.diagnosis is Diagnosis.POSSIBLE_SECONDARY
    elif history.generalised:
        assert finding.diagnosis is Diagnosis.GENERALISED
        assert finding.refer == CAUSE_CHECKS
    else:
        assert finding.diagnosis in (Diagnosis.PRIMARY_FOCAL, Diagnosis.NOT_MET)
    if finding.diagnosis is Diagnosis.NOT_MET:
        # Every criterion is accounted for: met, unmet or missing.
        assert (
            len(
                [
                    c
                    for c in codes(finding.reasons)
                    if c.split("_")[0] in ("met", "unmet", "missing")
                ]
            )
            == 7
        )


# --- Holes found in review ----------------------------------------------------------------------


def test_glycopyrronium_too_many_sites_uses_the_frequency_rules_code() -> None:
    from datetime import date

    from ionto.therapy.frequency import check_glycopyrronium_sites_per_day

    (violation,) = check_glycopyrronium_sites_per_day({date(2027, 1, 4): 3})
    three = screen_patient(
        adult(solution=Solution.GLYCOPYRRONIUM, treat=(Region.PALMS, Region.SOLES, Region.AXILLAE))
    )
    for region in three.regions.values():
        assert violation.code in codes(region.precautions)


def test_glycopyrronium_precaution_says_seven_days_whatever_the_site() -> None:
    s = screen_patient(adult(solution=Solution.GLYCOPYRRONIUM))
    one_site = next(
        r
        for r in s.regions[Region.PALMS].precautions
        if r.code == "glycopyrronium_one_site_at_a_time"
    )
    assert "same site" not in one_site.text
    assert "7 days" in one_site.text


def test_pulsed_current_is_not_advised_with_glycopyrronium() -> None:
    # Glycopyrronium is licensed as continuous DC (Robinul SmPC): advising pulsed current for
    # the armpits would contradict the protocol given beside it.
    s = screen_patient(adult(solution=Solution.GLYCOPYRRONIUM, treat=(Region.AXILLAE,)))
    armpits = s.regions[Region.AXILLAE]
    assert armpits.protocol is not None
    assert armpits.protocol.waveform is Waveform.DC
    assert "pulsed_dc_preferred" not in codes(armpits.precautions)


def test_the_pulsed_precaution_follows_the_pulsed_protocol_regions() -> None:
    s = screen_patient(adult(treat=(Region.AXILLAE, Region.FACE, Region.NECK, Region.PALMS)))
    for region, verdict in s.regions.items():
        assert verdict.protocol is not None
        pulsed = verdict.protocol.waveform is Waveform.PULSED_DC
        assert ("pulsed_dc_preferred" in codes(verdict.precautions)) == pulsed, region


@FAST
@given(histories)
def test_every_recorded_red_flag_is_named_and_means_possible_secondary(history: History) -> None:
    # Computed from the history itself, not from the finding's own reasons.
    expected = set()
    if history.onset_age_years is not None and history.onset_age_years >= 25:
        expected.add("red_flag_late_onset")
    if history.bilateral_symmetric is False:
        expected.add("red_flag_asymmetric")
    if history.night_sweats:
        expected.add("red_flag_night_sweats")
    if history.systemic_symptoms:
        expected.add("red_flag_systemic_symptoms")
    finding = diagnose(history)
    assert {c for c in codes(finding.reasons) if c.startswith("red_flag_")} == expected
    assert (finding.diagnosis is Diagnosis.POSSIBLE_SECONDARY) == bool(expected)
    if finding.diagnosis is Diagnosis.PRIMARY_FOCAL:
        assert history.duration_months is not None
        assert history.duration_months >= 6
