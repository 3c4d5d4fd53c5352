"""Bad booking input: one line that names the referral, the field and why."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from schedule_cases import one_referral_input

from ionto.clinic.scheduling.parse import parse_problem
from ionto.contract.errors import InputError

Edit = Callable[[dict[str, Any]], None]


def _set(path: tuple[str | int, ...], value: object) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _error(edit: Edit) -> str:
    data = copy.deepcopy(one_referral_input())
    edit(data)
    with pytest.raises(InputError) as caught:
        parse_problem(json.dumps(data).encode())
    text = caught.value.one_line()
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (
            _set(("referrals", 1, "available", 1), "tues"),
            "referrals[1].available[1]",
            "unknown weekday",
        ),
        (
            _set(("referrals", 0, "available", 2), "sat"),
            "referrals[0].available[2]",
            "closed on Saturdays",
        ),
        (_set(("referrals", 1, "earliest"), "16:45"), "referrals[1].available[0]", "does not fit"),
        (
            _set(("referrals", 0, "within_days"), 7),
            "referrals[0].sessions",
            "cannot fit within 7 days",
        ),
        (_set(("referrals", 1, "id"), "r1"), "referrals[1].id", "given twice"),
        (_set(("referrals", 0, "funded_on"), "04/01/2027"), "referrals[0].funded_on", "ISO date"),
        (
            _set(("referrals", 0, "funded_on"), "2027-02-30"),
            "referrals[0].funded_on",
            "no such date",
        ),
        (
            _set(("referrals", 0, "regions"), ["generalised"]),
            "referrals[0].regions[0]",
            "diagnosis",
        ),
        (_set(("referrals", 0, "latest"), "08:00"), "referrals[0].latest", "after earliest"),
        (_set(("referrals", 0, "earliest"), "9am"), "referrals[0].earliest", "HH:MM"),
        (_set(("referrals", 0, "sessions"), 0), "referrals[0].sessions", "1 to 30"),
        (_set(("nurses", 1, "days", 0), "funday"), "nurses[1].days[0]", "unknown weekday"),
        (_set(("hours", "fri"), ["13:00", "09:00"]), "hours.fri", "before it opens"),
        (_set(("start",), "2027-1-4"), "start", "ISO date"),
        (_set(("chairs",), 0), "chairs", "1 to 100"),
    ],
)
def test_errors_name_the_referral_and_field(edit: Edit, field: str, words: str) -> None:
    text = _error(edit)
    assert f"'{field}'" in text
    assert words in text
    if field.startswith("referrals["):
        assert re.search(r"referral (id )?'r\d'", text)


def test_ten_sessions_within_seven_days_is_refused_with_the_reason() -> None:
    text = _error(_set(("referrals", 0, "within_days"), 7))
    assert "referral 'r1'" in text
    assert "at most 5 in any 7 days" in text


def test_shape_errors_come_from_the_strict_schema() -> None:
    assert "unknown field" in _error(_set(("referrals", 0, "colour"), "blue"))
    assert "'referrals[0].sessions'" in _error(_set(("referrals", 0, "sessions"), "10"))
    assert "'weeks'" in _error(_set(("weeks",), True))


def test_a_horizon_past_the_last_date_is_refused_not_a_crash() -> None:
    text = _error(_set(("start",), "9999-12-20"))
    assert "'start'" in text
    assert "runs past 9999-12-31" in text


def test_an_existing_booking_with_a_nurse_not_on_the_roster_is_refused() -> None:
    booked = {
        "referral": "r1",
        "n": 1,
        "date": "2027-01-04",
        "start": "09:00",
        "end": "10:00",
        "chair": 1,
        "nurse": "n9",
    }
    text = _error(_set(("booked",), [booked]))
    assert "'booked[0].nurse'" in text
    assert "nurse 'n9' is not on the roster" in text


def test_an_earliest_time_with_no_room_after_it_names_both_times() -> None:
    def edit(data: dict[str, Any]) -> None:
        data["referrals"][0]["earliest"] = "24:00"
        del data["referrals"][0]["latest"]

    text = _error(edit)
    assert "'referrals[0].earliest'" in text
    assert "latest (24:00) must come after earliest (24:00)" in text
    assert "None" not in text


def test_closed_days_outside_the_horizon_are_fine() -> None:
    data = one_referral_input()
    data["closed"] = ["2026-12-25", "2027-12-25"]
    problem = parse_problem(json.dumps(data).encode())
    assert len(problem.referrals) == 2


def test_visit_length_is_the_protocol_minutes_plus_set_up() -> None:
    problem = parse_problem(json.dumps(one_referral_input()).encode())
    both, palms = problem.referrals
    assert both.visit_minutes == 20 + 30 + 10  # one after another, then set-up
    assert palms.visit_minutes == 20 + 10
    data = one_referral_input()
    data["sitting"] = "together"
    data["setup_minutes"] = 5
    together = parse_problem(json.dumps(data).encode()).referrals[0]
    assert together.visit_minutes == 30 + 5
