"""The reason chain: codes are stable snake_case, and a limited value never exceeds a cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionto.therapy import sources
from ionto.therapy.reasons import Limit, Reason, limit_value


def cap(code: str, value: float, unit: str = "mA") -> Limit:
    return Limit(code=code, value=value, unit=unit, text=f"{code} text", source=sources.DERIVED)


@pytest.mark.parametrize("code", ["Metal", "metal-implant", "_x", "a__b", "", "1a"])
def test_codes_must_be_snake_case(code: str) -> None:
    with pytest.raises(ValueError, match="snake_case"):
        Reason(code=code, text="t", source=sources.DERIVED)


def test_a_reason_needs_words() -> None:
    with pytest.raises(ValueError, match="text"):
        Reason(code="ok", text="", source=sources.DERIVED)


def test_tightest_cap_binds_and_the_chain_is_kept() -> None:
    result = limit_value(25.0, [cap("adult_cap", 20.0), cap("child_cap", 15.0), cap("device", 30)])
    assert result.value == 15.0
    assert [c.code for c in result.binding] == ["child_cap"]
    assert [c.code for c in result.applied] == ["child_cap", "adult_cap", "device"]
    assert result.was_limited


def test_request_within_every_cap_is_untouched() -> None:
    result = limit_value(12.0, [cap("adult_cap", 20.0)])
    assert result.value == 12.0
    assert result.binding == ()
    assert not result.was_limited


def test_equal_caps_both_bind() -> None:
    result = limit_value(40.0, [cap("a_cap", 20.0), cap("b_cap", 20.0)])
    assert {c.code for c in result.binding} == {"a_cap", "b_cap"}


def test_units_are_never_mixed() -> None:
    with pytest.raises(ValueError, match="units"):
        limit_value(10.0, [cap("a_cap", 20.0), cap("d_cap", 0.5, "mA/cm2")])


def test_negative_request_or_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        limit_value(-1.0, [])
    with pytest.raises(ValueError, match="negative"):
        cap("neg_cap", -0.1)


caps_strategy = st.lists(
    st.builds(
        cap,
        code=st.from_regex(r"[a-z]{1,8}(_[a-z]{1,5}){0,2}", fullmatch=True),
        value=st.floats(min_value=0, max_value=100, allow_nan=False),
    ),
    max_size=8,
)


@given(requested=st.floats(min_value=0, max_value=1000, allow_nan=False), caps=caps_strategy)
def test_limited_value_never_exceeds_any_cap_nor_the_request(
    requested: float, caps: list[Limit]
) -> None:
    result = limit_value(requested, caps)
    assert result.value <= requested
    assert all(result.value <= c.value for c in caps)
    assert len(result.applied) == len(caps)
    if result.binding:
        assert all(c.value == result.value for c in result.binding)
    else:
        assert result.value == requested


@given(
    requested=st.floats(min_value=0, max_value=1000, allow_nan=False),
    caps=caps_strategy,
    extra=st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_adding_a_cap_never_raises_the_value(
    requested: float, caps: list[Limit], extra: float
) -> None:
    before = limit_value(requested, caps).value
    after = limit_value(requested, [*caps, cap("extra_cap", extra)]).value
    assert after <= before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_cap_or_request_that_is_not_a_number_is_refused(bad: float) -> None:
    # NaN compares false with everything: a NaN cap would sort anywhere and a NaN request
    # would slip past every cap.
    with pytest.raises(ValueError, match="finite"):
        cap("nan_cap", bad)
    with pytest.raises(ValueError, match="finite"):
        limit_value(bad, [cap("adult_cap", 20.0)])
