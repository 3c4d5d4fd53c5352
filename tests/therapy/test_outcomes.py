"""Outcome measures: HDSS, DLQI, HidroQoL, gravimetry (per source), starch-iodine."""

from __future__ import annotations

import dataclasses
import itertools
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ionto.therapy import outcomes, sources
from ionto.therapy.outcomes import (
    DLQI_BANDS,
    DLQI_COPYRIGHT,
    AreaUnit,
    CutoffFinding,
    DlqiAgeError,
    DlqiAnswer,
    DlqiBand,
    GravimetryCutoffs,
    GravimetryMeasurement,
    HdssCategory,
    StarchIodineMap,
)
from ionto.therapy.vocabulary import Region

# --- HDSS ------------------------------------------------------------------------------------


def test_hdss_question_and_answers_are_verbatim() -> None:
    assert outcomes.HDSS_QUESTION == "How would you rate the severity of your hyperhidrosis?"
    assert dict(outcomes.HDSS_ANSWERS) == {
        1: "My sweating is never noticeable and never interferes with my daily activities",
        2: "My sweating is tolerable but sometimes interferes with my daily activities",
        3: "My sweating is barely tolerable and frequently interferes with my daily activities",
        4: "My sweating is intolerable and always interferes with my daily activities",
    }


@pytest.mark.parametrize(("score", "severe"), [(1, False), (2, False), (3, True), (4, True)])
def test_hdss_3_and_4_are_severe(score: int, severe: bool) -> None:
    assert outcomes.hdss_is_severe(score) is severe


@pytest.mark.parametrize("bad", [0, 5, -1, True, 2.0, "3"])
def test_hdss_out_of_range_is_refused_with_the_field_name(bad: object) -> None:
    with pytest.raises(ValueError, match="hdss"):
        outcomes.validate_hdss(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("baseline", "followup", "category", "code", "responder"),
    [
        (4, 2, HdssCategory.EXCELLENT, "hdss_improved_2", True),
        (4, 1, HdssCategory.EXCELLENT, "hdss_improved_2", True),
        (4, 3, HdssCategory.GOOD, "hdss_improved_1", False),
        (3, 3, HdssCategory.UNCHANGED, "hdss_unchanged", False),
        (2, 4, HdssCategory.WORSE, "hdss_worse", False),
    ],
)
def test_hdss_change_categories(
    baseline: int, followup: int, category: HdssCategory, code: str, responder: bool
) -> None:
    response = outcomes.hdss_change(baseline, followup)
    assert response.category is category
    assert response.reason.code == code
    assert response.trial_responder is responder
    assert response.drop_points == baseline - followup


def test_hdss_categories_cite_gulmez_and_trial_rule_cites_hdss() -> None:
    assert outcomes.hdss_change(4, 2).reason.source == sources.GULMEZ_SOLAK_2026
    assert outcomes.hdss_change(4, 3).reason.source == sources.GULMEZ_SOLAK_2026
    assert outcomes.hdss_trial_responder(4, 2).code == "hdss_trial_responder"
    assert outcomes.hdss_trial_responder(4, 3).code == "hdss_not_trial_responder"
    assert outcomes.hdss_trial_responder(4, 2).source == sources.HDSS


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4))
def test_a_lower_followup_hdss_never_gives_a_worse_category(b: int, f1: int, f2: int) -> None:
    order = [HdssCategory.WORSE, HdssCategory.UNCHANGED, HdssCategory.GOOD, HdssCategory.EXCELLENT]
    better, worse = min(f1, f2), max(f1, f2)
    assert order.index(outcomes.hdss_change(b, better).category) >= order.index(
        outcomes.hdss_change(b, worse).category
    )


# --- DLQI ------------------------------------------------------------------------------------


def test_dlqi_copyright_is_exact() -> None:
    assert DLQI_COPYRIGHT == "© Dermatology Life Quality Index. A Y Finlay, G K Khan, April 1992"


def test_dlqi_scores_items_and_attaches_the_copyright() -> None:
    result = outcomes.score_dlqi([3, 2, 1, 0, 3, 2, 1, 0, 3, 2], age_years=34)
    assert result.total == 17
    assert result.band is DlqiBand.VERY_LARGE_EFFECT
    assert result.copyright == DLQI_COPYRIGHT
    assert result.render().endswith(DLQI_COPYRIGHT)
    assert all(DLQI_COPYRIGHT in r.text for r in result.reasons)


def test_dlqi_result_from_total_carries_the_copyright() -> None:
    result = outcomes.dlqi_result(4, age_years=40)
    assert result.band is DlqiBand.SMALL_EFFECT
    assert result.copyright == DLQI_COPYRIGHT
    assert DLQI_COPYRIGHT in result.render()


def test_a_dlqi_result_cannot_drop_the_copyright() -> None:
    result = outcomes.dlqi_result(4, age_years=40)
    with pytest.raises(ValueError, match="copyright"):
        dataclasses.replace(result, copyright="")


def test_not_relevant_scores_zero_and_is_reported() -> None:
    items: list[outcomes.DlqiItem] = [1, 1, DlqiAnswer.NOT_RELEVANT, 1, 1, 1, 1, 1, 1, 1]
    result = outcomes.score_dlqi(items, age_years=30)
    assert result.total == 9
    assert result.not_relevant_items == (3,)
    assert "dlqi_not_relevant_scored_0" in [r.code for r in result.reasons]
    assert result.reasons[-1].source == outcomes.DLQI_SCORING


def test_not_relevant_is_not_an_answer_to_questions_1_and_2() -> None:
    with pytest.raises(ValueError, match="not relevant"):
        outcomes.dlqi_item_score(1, DlqiAnswer.NOT_RELEVANT)
    with pytest.raises(ValueError, match="not relevant"):
        outcomes.dlqi_item_score(2, DlqiAnswer.NOT_RELEVANT)


def test_question_7_yes_scores_3_and_yes_belongs_to_question_7_only() -> None:
    assert outcomes.dlqi_item_score(7, DlqiAnswer.YES) == 3
    assert outcomes.dlqi_item_score(7, DlqiAnswer.A_LOT) == 2
    with pytest.raises(ValueError, match="question 7 only"):
        outcomes.dlqi_item_score(3, DlqiAnswer.YES)
    with pytest.raises(ValueError, match="no 'very much'"):
        outcomes.dlqi_item_score(7, DlqiAnswer.VERY_MUCH)


@pytest.mark.parametrize("bad", [4, -1, True, 1.5])
def test_dlqi_item_scores_must_be_0_to_3(bad: object) -> None:
    with pytest.raises(ValueError, match="dlqi item 5"):
        outcomes.dlqi_item_score(5, bad)  # type: ignore[arg-type]


def test_one_unanswered_item_scores_zero_two_are_not_scored() -> None:
    one = outcomes.score_dlqi([None, 1, 1, 1, 1, 1, 1, 1, 1, 1], age_years=20)
    assert one.total == 9
    assert one.unanswered_items == (1,)
    with pytest.raises(ValueError, match="unanswered"):
        outcomes.score_dlqi([None, None, 1, 1, 1, 1, 1, 1, 1, 1], age_years=20)


def test_dlqi_needs_ten_items() -> None:
    with pytest.raises(ValueError, match="10 items"):
        outcomes.score_dlqi([1] * 9, age_years=20)


def test_dlqi_is_refused_under_16_and_points_to_the_cdlqi() -> None:
    with pytest.raises(DlqiAgeError, match="CDLQI"):
        outcomes.score_dlqi([0] * 10, age_years=15.9)
    with pytest.raises(DlqiAgeError, match="CDLQI"):
        outcomes.dlqi_result(5, age_years=12)
    flag = outcomes.dlqi_not_valid_for_age(12)
    assert flag is not None
    assert flag.code == "dlqi_not_valid_under_16"
    assert outcomes.dlqi_not_valid_for_age(16) is None


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, DlqiBand.NO_EFFECT),
        (1, DlqiBand.NO_EFFECT),
        (2, DlqiBand.SMALL_EFFECT),
        (5, DlqiBand.SMALL_EFFECT),
        (6, DlqiBand.MODERATE_EFFECT),
        (10, DlqiBand.MODERATE_EFFECT),
        (11, DlqiBand.VERY_LARGE_EFFECT),
        (20, DlqiBand.VERY_LARGE_EFFECT),
        (21, DlqiBand.EXTREMELY_LARGE_EFFECT),
        (30, DlqiBand.EXTREMELY_LARGE_EFFECT),
    ],
)
def test_dlqi_band_edges(total: int, band: DlqiBand) -> None:
    assert outcomes.dlqi_band(total).band is band


@pytest.mark.parametrize("bad", [-1, 31])
def test_dlqi_totals_outside_0_to_30_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="dlqi"):
        outcomes.dlqi_band(bad)


def test_dlqi_change_uses_the_minimal_important_change_of_4() -> None:
    assert outcomes.dlqi_change(15, 4).reason.code == "dlqi_improved"
    assert outcomes.dlqi_change(15, 4).meaningful
    assert outcomes.dlqi_change(10, 7).reason.code == "dlqi_change_below_minimal"
    assert not outcomes.dlqi_change(10, 7).meaningful
    assert outcomes.dlqi_change(5, 9).reason.code == "dlqi_worse"
    change = outcomes.dlqi_change(10, 6)
    assert change.meaningful
    assert DLQI_COPYRIGHT in change.reason.text
    assert change.copyright == DLQI_COPYRIGHT


_dlqi_answer = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.sampled_from([a for a in DlqiAnswer if a is not DlqiAnswer.YES]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_dlqi_answer, min_size=10, max_size=10), st.floats(16, 100))
def test_dlqi_totals_are_always_0_to_30_and_banded(
    items: list[outcomes.DlqiItem], age: float
) -> None:
    try:
        result = outcomes.score_dlqi(items, age)
    except ValueError:
        return  # two or more unanswered, or "not relevant" on question 1/2, or "very much" on 7
    assert 0 <= result.total <= 30
    assert result.total == sum(result.item_scores)
    assert all(0 <= s <= 3 for s in result.item_scores)
    assert result.copyright == DLQI_COPYRIGHT


@given(st.integers(0, 30))
def test_every_dlqi_total_is_in_exactly_one_band(total: int) -> None:
    assert sum(1 for row in DLQI_BANDS if row.low <= total <= row.high) == 1


def test_dlqi_bands_are_contiguous_from_0_to_30() -> None:
    assert DLQI_BANDS[0].low == 0
    assert DLQI_BANDS[-1].high == 30
    for before, after in itertools.pairwise(DLQI_BANDS):
        assert after.low == before.high + 1


# --- HidroQoL --------------------------------------------------------------------------------


def test_hidroqol_sums_domains_and_total() -> None:
    result = outcomes.score_hidroqol([2] * 6, [1] * 12)
    assert (result.daily_life, result.psychosocial, result.total, result.total_max) == (
        12,
        12,
        24,
        36,
    )
    assert result.reason.source == outcomes.HIDROQOL_SCORING


def test_hidroqol_refuses_items_above_2_and_wrong_counts() -> None:
    with pytest.raises(ValueError, match="daily life item 1"):
        outcomes.score_hidroqol([3] + [0] * 5, [0] * 12)
    with pytest.raises(ValueError, match="psychosocial domain has 12"):
        outcomes.score_hidroqol([0] * 6, [0] * 11)


def test_hidroqol_split_is_configurable() -> None:
    custom = outcomes.HidroQolSettings(daily_life_items=8, psychosocial_items=10)
    assert outcomes.score_hidroqol([1] * 8, [1] * 10, custom).total == 18
    assert custom.total_max == 36


def test_hidroqol_change_minimal_important_change_4() -> None:
    assert outcomes.hidroqol_change(20, 16).code == "hidroqol_improved"
    assert outcomes.hidroqol_change(20, 17).code == "hidroqol_change_below_minimal"
    assert outcomes.hidroqol_change(10, 14).code == "hidroqol_worse"
    with pytest.raises(ValueError, match="baseline hidroqol"):
        outcomes.hidroqol_change(37, 10)


@given(
    st.lists(st.integers(0, 2), min_size=6, max_size=6),
    st.lists(st.integers(0, 2), min_size=12, max_size=12),
)
def test_hidroqol_total_is_the_sum_of_its_domains(daily: list[int], psycho: list[int]) -> None:
    result = outcomes.score_hidroqol(daily, psycho)
    assert result.total == result.daily_life + result.psychosocial
    assert 0 <= result.total <= 36


# --- Gravimetry ------------------------------------------------------------------------------


def test_gravimetry_measurement_gives_mg_per_minute() -> None:
    assert GravimetryMeasurement(Region.PALMS, sweat_mg=125.0, minutes=5).rate_mg_min == 25.0
    with pytest.raises(ValueError, match="minutes"):
        GravimetryMeasurement(Region.PALMS, sweat_mg=1.0, minutes=0)
    with pytest.raises(ValueError, match="sweat_mg"):
        GravimetryMeasurement(Region.PALMS, sweat_mg=-1.0, minutes=1)


def test_palm_judged_by_each_source_separately() -> None:
    thorlacius, german, stefaniak = outcomes.judge_gravimetry(
        GravimetryMeasurement(Region.PALMS, sweat_mg=125.0, minutes=5)
    )
    assert thorlacius.source == sources.THORLACIUS_2015
    assert thorlacius.finding is CutoffFinding.ABOVE
    assert thorlacius.measured == 125.0
    assert german.source == sources.GERMAN_INSURERS
    assert german.finding is CutoffFinding.ABOVE
    assert german.cutoff == 20.0
    assert stefaniak.source == sources.STEFANIAK_2013
    assert stefaniak.finding is CutoffFinding.NOT_APPLICABLE  # no body surface area given
    assert stefaniak.reason.code == "gravimetry_not_applicable_stefaniak_2013"


def test_axilla_sources_disagree_and_both_answers_are_kept() -> None:
    judgements = outcomes.judge_gravimetry(
        GravimetryMeasurement(Region.AXILLAE, sweat_mg=40.0, minutes=1), body_surface_m2=1.8
    )
    findings = {j.source.key: j.finding for j in judgements}
    assert findings == {
        "thorlacius_2015": CutoffFinding.ABOVE,  # 200 mg / 5 min
        "german_insurers": CutoffFinding.NOT_ABOVE,  # 40 not above 50
        "stefaniak_2013": CutoffFinding.NOT_ABOVE,  # 22 mg/min/m² not above 136
    }


def test_sources_without_a_figure_for_the_region_do_not_judge_it() -> None:
    _, german, stefaniak = outcomes.judge_gravimetry(
        GravimetryMeasurement(Region.NECK, sweat_mg=10.0, minutes=1), body_surface_m2=1.7
    )
    assert german.finding is CutoffFinding.NOT_APPLICABLE
    assert stefaniak.finding is CutoffFinding.NOT_APPLICABLE


_measurement = st.builds(
    GravimetryMeasurement,
    region=st.sampled_from(list(Region)),
    sweat_mg=st.floats(0, 2000),
    minutes=st.sampled_from([1.0, 5.0]),
)


@settings(max_examples=200, deadline=None)
@given(_measurement, st.one_of(st.none(), st.floats(0.5, 2.5)), st.floats(1, 500))
def test_gravimetry_judgements_are_per_source_never_merged(
    measurement: GravimetryMeasurement, bsa: float | None, other_cutoff: float
) -> None:
    judgements = outcomes.judge_gravimetry(measurement, bsa)
    assert [j.source for j in judgements] == [
        sources.THORLACIUS_2015,
        sources.GERMAN_INSURERS,
        sources.STEFANIAK_2013,
    ]
    for j in judgements:
        assert j.reason.source == j.source
        assert j.reason.code.endswith(j.source.key)
    # Moving one source's cut-off never changes another source's judgement.
    moved = outcomes.judge_gravimetry(
        measurement, bsa, GravimetryCutoffs(thorlacius_mg_per_5_min=other_cutoff)
    )
    assert moved[1:] == judgements[1:]
    moved_german = outcomes.judge_gravimetry(
        measurement,
        bsa,
        GravimetryCutoffs(
            german_insurers_mg_min=MappingProxyType(
                {Region.PALMS: other_cutoff, Region.AXILLAE: other_cutoff}
            )
        ),
    )
    assert (moved_german[0], moved_german[2]) == (judgements[0], judgements[2])


@pytest.mark.parametrize(
    ("baseline", "followup", "levels", "code"),
    [
        (80.0, 30.0, (50,), "gravimetry_reduced_50"),
        (100.0, 20.0, (50, 75), "gravimetry_reduced_75"),
        (100.0, 5.0, (50, 75, 90), "gravimetry_reduced_90"),
        (80.0, 80.0, (), "gravimetry_not_reduced_50"),
        (80.0, 120.0, (), "gravimetry_not_reduced_50"),
    ],
)
def test_gravimetry_response_levels(
    baseline: float, followup: float, levels: tuple[int, ...], code: str
) -> None:
    response = outcomes.gravimetry_response(baseline, followup)
    assert response.levels_met == levels
    assert response.reason.code == code
    assert response.reason.source == sources.NCT03658616


def test_gravimetry_reduction_needs_a_baseline_above_zero() -> None:
    with pytest.raises(ValueError, match="baseline"):
        outcomes.gravimetry_response(0.0, 0.0)


@given(st.floats(0.1, 500), st.floats(0, 500), st.floats(0, 500))
def test_less_sweat_at_followup_never_meets_fewer_levels(
    baseline: float, f1: float, f2: float
) -> None:
    lower, higher = sorted((f1, f2))
    assert set(outcomes.gravimetry_response(baseline, higher).levels_met) <= set(
        outcomes.gravimetry_response(baseline, lower).levels_met
    )


# --- Starch-iodine ---------------------------------------------------------------------------


def test_starch_iodine_maps_area_reduction() -> None:
    before = StarchIodineMap(Region.PALMS, 80.0, AreaUnit.PERCENT_OF_REGION)
    after = StarchIodineMap(Region.PALMS, 20.0, AreaUnit.PERCENT_OF_REGION)
    response = outcomes.starch_iodine_change(before, after)
    assert response.reduction_percent == 75.0
    assert response.reason.code == "starch_iodine_area_reduced"
    assert "area, not the amount" in response.reason.text
    assert response.reason.source == sources.MINOR_STARCH_IODINE


def test_starch_iodine_growing_unchanged_and_empty_areas() -> None:
    a = StarchIodineMap(Region.SOLES, 10.0, AreaUnit.CM2)
    assert outcomes.starch_iodine_change(a, a).reason.code == "starch_iodine_area_unchanged"
    bigger = StarchIodineMap(Region.SOLES, 12.0, AreaUnit.CM2)
    assert outcomes.starch_iodine_change(a, bigger).reason.code == "starch_iodine_area_increased"
    empty = StarchIodineMap(Region.SOLES, 0.0, AreaUnit.CM2)
    none = outcomes.starch_iodine_change(empty, a)
    assert none.reduction_percent is None
    assert none.reason.code == "starch_iodine_no_area_before"


def test_starch_iodine_maps_must_match() -> None:
    a = StarchIodineMap(Region.PALMS, 10.0, AreaUnit.CM2)
    with pytest.raises(ValueError, match="unit"):
        outcomes.starch_iodine_change(
            a, StarchIodineMap(Region.PALMS, 10.0, AreaUnit.PERCENT_OF_REGION)
        )
    with pytest.raises(ValueError, match="region"):
        outcomes.starch_iodine_change(a, StarchIodineMap(Region.SOLES, 10.0, AreaUnit.CM2))
    with pytest.raises(ValueError, match="at most 100"):
        StarchIodineMap(Region.PALMS, 101.0, AreaUnit.PERCENT_OF_REGION)


# --- Texts a nurse reads ---------------------------------------------------------------------
def test_gravimetry_texts_say_fell_or_rose_not_a_signed_change() -> None:
    from ionto.therapy.outcomes import gravimetry_response

    fell = gravimetry_response(100.0, 95.0).reason.text
    assert "fell by 5%" in fell
    assert "-5" not in fell
    assert "+5" not in fell
    rose = gravimetry_response(80.0, 120.0).reason.text
    assert "rose by 50%" in rose
    assert "-" not in rose.split(":")[0]
    assert "+" not in rose
    same = gravimetry_response(80.0, 80.0).reason.text
    assert "did not change" in same


def test_hdss_texts_pluralise_points() -> None:
    from ionto.therapy.outcomes import HdssSettings, hdss_change

    lenient = HdssSettings(good_drop_points=1, excellent_drop_points=3)
    assert "fell by 2 points" in hdss_change(4, 2, lenient).reason.text
    assert "fell by 1 point," in hdss_change(4, 3).reason.text
