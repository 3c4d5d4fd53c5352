"""Regions: applicators, current paths, the smaller electrode, age groups."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionto.therapy import sources
from ionto.therapy.regions import (
    CHILD_BELOW_YEARS,
    ELECTRODE_AREA_CM2,
    REGIONS,
    Electrode,
    age_group,
    current_path,
    region_current_path,
    smaller_electrode_area_cm2,
    wetted_area_cm2,
)
from ionto.therapy.vocabulary import AgeGroup, BodyLocation, Region

B = BodyLocation

LEFT_ARM = {B.LEFT_HAND, B.LEFT_WRIST, B.LEFT_FOREARM, B.LEFT_ELBOW, B.LEFT_UPPER_ARM}
RIGHT_ARM = {B.RIGHT_HAND, B.RIGHT_WRIST, B.RIGHT_FOREARM, B.RIGHT_ELBOW, B.RIGHT_UPPER_ARM}
LEFT_LEG = {B.LEFT_FOOT, B.LEFT_ANKLE, B.LEFT_LOWER_LEG, B.LEFT_KNEE, B.LEFT_THIGH, B.LEFT_HIP}
RIGHT_LEG = {
    B.RIGHT_FOOT,
    B.RIGHT_ANKLE,
    B.RIGHT_LOWER_LEG,
    B.RIGHT_KNEE,
    B.RIGHT_THIGH,
    B.RIGHT_HIP,
}

pairs_of_sites = st.lists(st.sampled_from(Electrode), min_size=2, max_size=2, unique=True)


# --- The table ---------------------------------------------------------------------------------


def test_every_contract_region_has_an_applicator_and_two_distinct_sites() -> None:
    assert set(REGIONS) == set(Region)
    for region, info in REGIONS.items():
        assert info.region is region
        a, b = info.pairing
        assert a != b


def test_the_centre_treats_hands_and_feet_only() -> None:
    in_clinic = {r for r, info in REGIONS.items() if info.in_clinic}
    assert in_clinic == {Region.PALMS, Region.SOLES}


def test_wetted_areas_are_marked_derived() -> None:
    # No source publishes wetted areas: they must say so (house rule).
    assert all(info.area_source is sources.DERIVED for info in REGIONS.values())


@pytest.mark.parametrize("region", list(Region))
def test_a_childs_wetted_area_is_smaller_than_an_adults(region: Region) -> None:
    child = wetted_area_cm2(region, AgeGroup.CHILD)
    adult = wetted_area_cm2(region, AgeGroup.ADULT)
    assert 0 < child < adult


# --- Current paths -------------------------------------------------------------------------------


def test_palms_path_is_both_arms_and_the_chest() -> None:
    path = region_current_path(Region.PALMS)
    assert path == LEFT_ARM | RIGHT_ARM | {B.LEFT_SHOULDER, B.RIGHT_SHOULDER, B.CHEST}
    assert B.PELVIS not in path


def test_soles_path_is_both_legs_and_the_pelvis() -> None:
    path = region_current_path(Region.SOLES)
    assert path == LEFT_LEG | RIGHT_LEG | {B.PELVIS}
    assert B.CHEST not in path
    assert not path & (LEFT_ARM | RIGHT_ARM)


def test_axillae_path_is_the_shoulders_and_the_chest() -> None:
    assert region_current_path(Region.AXILLAE) == {B.LEFT_SHOULDER, B.RIGHT_SHOULDER, B.CHEST}


def test_face_mask_path_runs_through_the_head_to_the_right_hand() -> None:
    path = region_current_path(Region.FACE)
    assert {B.HEAD, B.NECK, B.CHEST} <= path
    assert path >= RIGHT_ARM
    assert not path & LEFT_ARM
    assert B.PELVIS not in path


def test_neck_cushion_path_skips_the_head() -> None:
    path = region_current_path(Region.NECK)
    assert {B.NECK, B.CHEST} <= path
    assert path >= RIGHT_ARM
    assert B.HEAD not in path


def test_a_hand_and_a_foot_cross_the_whole_trunk() -> None:
    path = current_path(Electrode.LEFT_HAND, Electrode.RIGHT_FOOT)
    assert {B.CHEST, B.ABDOMEN, B.SPINE, B.PELVIS} <= path
    assert path >= LEFT_ARM
    assert path >= RIGHT_LEG
    assert not path & RIGHT_ARM


def test_a_pairing_needs_two_sites() -> None:
    with pytest.raises(ValueError, match="two different sites"):
        current_path(Electrode.LEFT_HAND, Electrode.LEFT_HAND)


@given(pairs_of_sites)
def test_current_path_does_not_depend_on_polarity(pair: list[Electrode]) -> None:
    a, b = pair
    assert current_path(a, b) == current_path(b, a)


@given(pairs_of_sites)
def test_current_path_touches_a_limb_only_when_an_electrode_is_on_that_side(
    pair: list[Electrode],
) -> None:
    a, b = pair
    path = current_path(a, b)
    sides = {e.value.split("_")[0] for e in (a, b)}
    for location in path:
        side = location.value.split("_")[0]
        if side in ("left", "right"):
            assert side in sides, (a, b, location)


@given(pairs_of_sites)
def test_current_path_contains_the_skin_under_both_electrodes(pair: list[Electrode]) -> None:
    # The site of each electrode is the first segment of its chain: a hand tray's path holds the
    # hand, a foot tray's the foot.
    a, b = pair
    path = current_path(a, b)
    for site in (a, b):
        if site.value in {location.value for location in BodyLocation}:
            assert BodyLocation(site.value) in path


# --- The smaller electrode ------------------------------------------------------------------------


def test_face_density_is_computed_on_the_hand() -> None:
    for group in AgeGroup:
        hand = ELECTRODE_AREA_CM2[Electrode.RIGHT_HAND][group]
        assert smaller_electrode_area_cm2(Region.FACE, group) == hand
        assert hand < wetted_area_cm2(Region.FACE, group)


def test_symmetric_pairings_use_their_own_area() -> None:
    for region in (Region.PALMS, Region.SOLES, Region.AXILLAE):
        for group in AgeGroup:
            assert smaller_electrode_area_cm2(region, group) == wetted_area_cm2(region, group)


@given(st.sampled_from(Region), st.sampled_from(AgeGroup))
def test_the_smaller_electrode_is_never_larger_than_either_side(
    region: Region, group: AgeGroup
) -> None:
    smaller = smaller_electrode_area_cm2(region, group)
    assert smaller > 0
    for site in REGIONS[region].pairing:
        assert smaller <= ELECTRODE_AREA_CM2[site][group]
    assert smaller <= wetted_area_cm2(region, group)


# --- Age groups --------------------------------------------------------------------------------


def test_child_boundary_is_sixteen() -> None:
    assert CHILD_BELOW_YEARS == 16.0
    assert age_group(15.99) is AgeGroup.CHILD
    assert age_group(16.0) is AgeGroup.ADULT
    assert age_group(0.0) is AgeGroup.CHILD


def test_child_boundary_is_configurable() -> None:
    assert age_group(17.0, child_below_years=18.0) is AgeGroup.CHILD
    assert age_group(18.0, child_below_years=18.0) is AgeGroup.ADULT


@given(
    st.floats(min_value=0, max_value=130, allow_nan=False),
    st.floats(min_value=0, max_value=130, allow_nan=False),
)
def test_age_group_never_goes_back_to_child_with_age(younger: float, older: float) -> None:
    younger, older = sorted((younger, older))
    if age_group(younger) is AgeGroup.ADULT:
        assert age_group(older) is AgeGroup.ADULT
    assert (age_group(younger) is AgeGroup.CHILD) == (younger < CHILD_BELOW_YEARS)
