"""`ionto reschedule` through the command line: plan, change, re-plan, and bad input.

Each test books a plan with `ionto schedule`, pastes its appointments into `booked` as a
booking office would, applies a change and re-plans; the result is checked against every rule
by the scheduling checker, and what moved against what had to.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from datetime import date
from typing import Any

import pytest

from ionto.cli import main
from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.parse import clock_minutes, iso_date, parse_problem
from ionto.clinic.scheduling.problem import Appointment, Problem, Schedule, Status
from ionto.clinic.scheduling.reschedule import check_with_history

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
VISIT_KEYS = {"date", "start", "end", "chair", "nurse"}


def centre(**extra: Any) -> dict[str, Any]:
    """Two chairs, one nurse looking after both, four weeks from Monday 4 January 2027."""
    return {
        "start": "2027-01-04",
        "weeks": 4,
        "chairs": 2,
        "hours": {d: ["09:00", "17:00"] for d in WEEKDAYS},
        "nurses": [{"id": "n1", "days": WEEKDAYS}],
        "referrals": [],
        **extra,
    }


def referral(rid: str, **extra: Any) -> dict[str, Any]:
    """Palms (20 min + 10 min set-up), ten sessions within 28 days, any weekday."""
    return {
        "id": rid,
        "funded_on": "2027-01-04",
        "regions": ["palms"],
        "sessions": 10,
        "within_days": 28,
        "available": WEEKDAYS,
        **extra,
    }


def ionto(
    capsys: pytest.CaptureFixture[str], *args: str, stdin: dict[str, Any]
) -> tuple[int, dict[str, Any], str]:
    """Run `ionto …` in this process with ``stdin`` as the JSON input (FILE ``-``)."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(stdin).encode())))
        try:
            code = main([*args])
        except SystemExit as exc:  # argparse's own errors (CONTRACT.md: exit 2, one line)
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def plan(capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> list[dict[str, Any]]:
    code, body, err = ionto(capsys, "schedule", "-", "--solver", "greedy", stdin=data)
    assert code == 0, err
    appointments: list[dict[str, Any]] = body["appointments"]
    return appointments


def as_schedule(body: dict[str, Any]) -> Schedule:
    return Schedule(
        solver=body["solver"],
        status=Status(body["status"]),
        appointments=tuple(
            Appointment(
                on=iso_date(a["date"], "date"),
                start_min=clock_minutes(a["start"], "start"),
                end_min=clock_minutes(a["end"], "end"),
                chair=a["chair"],
                referral=a["referral"],
                n=a["n"],
                nurse=a["nurse"],
            )
            for a in body["appointments"]
        ),
        unscheduled=(),
    )


def problem_after(data: dict[str, Any], body: dict[str, Any]) -> Problem:
    """The centre as the re-plan saw it (changes applied, withdrawn courses gone)."""
    gone = set(body["withdrawn"])
    kept = {
        **data,
        "booked": [],
        "referrals": [r for r in data["referrals"] if r["id"] not in gone],
    }
    kept.pop("cancelled_courses", None)
    kept.pop("cancelled_days", None)
    return parse_problem(json.dumps(kept).encode())


def most_that_can_stay(visits: list[dict[str, Any]]) -> int:
    """Visits of one day that one chair can still take at their times (earliest end first)."""
    count, free_at = 0, ""
    for a in sorted(visits, key=lambda a: a["end"]):
        if a["start"] >= free_at:
            count, free_at = count + 1, a["end"]
    return count


def test_a_chair_out_for_a_day_moves_only_what_no_longer_fits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = centre(referrals=[referral(f"r{i}") for i in range(1, 5)])
    booked = plan(capsys, data)
    day = "2027-01-06"
    that_day = [a for a in booked if a["date"] == day]
    assert len(that_day) == 4  # two pairs side by side on the two chairs
    change = {**data, "booked": booked, "out_of_service": [{"chair": 2, "date": day}]}
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=change)
    assert code == 0, err
    # Just enough visits leave the day's remaining chair: no fewer could, no more did.
    must_move = len(that_day) - most_that_can_stay(that_day)
    assert must_move == 2
    assert len(body["moved"]) == must_move
    assert {m["from"]["date"] for m in body["moved"]} == {day}
    for m in body["moved"]:
        assert set(m) == {"referral", "n", "from", "to"}
        assert set(m["from"]) == VISIT_KEYS
        assert set(m["to"]) == VISIT_KEYS
    assert body["dropped"] == []
    assert body["added"] == []
    assert all(a["chair"] == 1 for a in body["appointments"] if a["date"] == day)
    problem = problem_after(change, body)
    assert check(problem, as_schedule(body)) == []
    stages = {s["objective"]: s for s in body["solve"]["stages"]}
    assert stages["visits_moved"]["value"] == stages["visits_moved"]["bound"] == must_move


def test_a_cancelled_course_frees_room_that_a_waiting_referral_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One chair, and patients who can only come at 09:00: two courses fill the fortnight."""
    morning = {"sessions": 4, "within_days": 14, "earliest": "09:00", "latest": "09:30"}
    data = centre(
        weeks=2,
        chairs=1,
        referrals=[referral(f"r{i}", **morning) for i in range(1, 4)],
    )
    code, first, err = ionto(capsys, "schedule", "-", "--solver", "greedy", stdin=data)
    assert code == 0, err
    assert [u["referral"] for u in first["unscheduled"]] == ["r3"]
    booked_r1 = [a for a in first["appointments"] if a["referral"] == "r1"]
    change = {**data, "booked": first["appointments"], "cancelled_courses": ["r1"]}
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=change)
    assert code == 0, err
    assert body["withdrawn"] == ["r1"]
    assert body["added"] == ["r3"]
    assert body["moved"] == []
    assert body["dropped"] == []
    assert body["unscheduled"] == []
    assert "r1" not in {a["referral"] for a in body["appointments"]}
    freed = {(a["date"], a["start"]) for a in booked_r1}
    taken = {(a["date"], a["start"]) for a in body["appointments"] if a["referral"] == "r3"}
    assert taken <= freed
    assert check(problem_after(change, body), as_schedule(body)) == []


def test_past_visits_are_kept_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    """Re-planning on Monday 11 January, with a chair out that day: the first week stays."""
    data = centre(referrals=[referral(f"r{i}") for i in range(1, 5)])
    booked = plan(capsys, data)
    change = {
        **data,
        "start": "2027-01-11",
        "weeks": 3,
        "booked": booked,
        "out_of_service": [{"chair": 2, "date": "2027-01-11", "until": "2027-01-12"}],
    }
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=change)
    assert code == 0, err
    past = [a for a in booked if a["date"] < "2027-01-11"]
    assert body["history"] == len(past)
    assert all(a in body["appointments"] for a in past)
    assert all(m["from"]["date"] >= "2027-01-11" for m in body["moved"])
    assert body["moved"]
    problem = problem_after(change, body)
    assert check_with_history(problem, as_schedule(body)) == []
    # The chair time is the horizon's: past visits used none of it.
    assert 0 < body["metrics"]["chair_utilisation"] < 1


def test_no_change_through_a_real_process_moves_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = centre(referrals=[referral(f"r{i}") for i in range(1, 4)])
    booked = plan(capsys, data)
    again = subprocess.run(
        [sys.executable, "-m", "ionto.cli", "reschedule", "-", "--seconds", "5"],
        input=json.dumps({**data, "booked": booked}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert {"solver", "status", "appointments", "unscheduled", "metrics"} <= set(body)
    assert body["moved"] == body["reassigned"] == body["dropped"] == body["added"] == []
    assert body["appointments"] == booked


# --- Bad input: one line naming the field and the referral, exit 2 ---------------------------
BOOKED = [
    {
        "referral": "r1",
        "n": n,
        "date": d,
        "start": "09:00",
        "end": "09:30",
        "chair": 1,
        "nurse": "n1",
    }
    for n, d in enumerate(
        [
            "2027-01-04",
            "2027-01-05",
            "2027-01-06",
            "2027-01-07",
            "2027-01-08",
            "2027-01-11",
            "2027-01-12",
            "2027-01-13",
            "2027-01-14",
            "2027-01-15",
        ],
        start=1,
    )
]
GOOD: dict[str, Any] = centre(referrals=[referral("r1"), referral("r2")], booked=BOOKED)


def _edit(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_edit(("booked", 0, "referral"), "r9"), "booked[0].referral", "unknown referral 'r9'"),
        (
            _edit(("booked", 9, "date"), "2027-02-01"),
            "booked[9].date",
            "after the planning horizon",
        ),
        (_edit(("booked", 2, "start"), "08:30"), "booked[2].start", "outside the opening hours"),
        (_edit(("booked", 2, "date"), "2027-01-09"), "booked[2].date", "closed on Saturdays"),
        (_edit(("booked", 3, "end"), "09:40"), "booked[3].end", "lasts 40 min"),
        (_edit(("booked", 3, "n"), 3), "booked[3].n", "visit 3 is booked twice"),
        (
            _edit(("booked",), [*BOOKED, {**BOOKED[4], "n": 5}]),
            "booked[10].n",
            "booked twice",
        ),
        (_edit(("booked",), BOOKED[:9]), "booked[0]", "9 visits booked, but its course has 10"),
        (
            _edit(
                ("booked",), [BOOKED[0], {**BOOKED[1], "n": 3}, {**BOOKED[2], "n": 2}, *BOOKED[3:]]
            ),
            "booked[1].n",
            "number the visits",
        ),
        (_edit(("booked", 0, "date"), "2027-13-01"), "booked[0].date", "no such date"),
        (_edit(("booked", 0, "chair"), 3), "booked[0].chair", "1 to 2"),
        (_edit(("cancelled_courses",), ["r9"]), "cancelled_courses[0]", "unknown referral"),
        (_edit(("cancelled_days",), {"r9": ["2027-01-05"]}), "cancelled_days.r9", "unknown"),
        (
            _edit(("cancelled_days",), {"r1": ["5 Jan"]}),
            "cancelled_days.r1[0]",
            "not an ISO date",
        ),
        (
            _edit(("cancelled_days",), {"r1": ["2026-12-31"]}),
            "cancelled_days.r1[0]",
            "outside the planning horizon",
        ),
        (
            {**GOOD, "cancelled_courses": ["r1"], "cancelled_days": {"r1": ["2027-01-05"]}},
            "cancelled_days.r1",
            "withdrawn",
        ),
        (
            _edit(("out_of_service",), [{"chair": 1, "date": "2027-01-06", "until": "2027-01-05"}]),
            "out_of_service[0].until",
            "before it begins",
        ),
        (_edit(("moved",), []), "moved", "unknown field"),
    ],
)
def test_bad_input_names_the_field_and_exits_2(
    capsys: pytest.CaptureFixture[str], data: dict[str, Any], field: str, words: str
) -> None:
    code, body, err = ionto(capsys, "reschedule", "-", stdin=data)
    assert code == 2
    assert body == {}
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"field '{field}'" in lines[0]
    assert words in lines[0]
    if field.startswith("booked[") and "referral" not in field:
        assert "referral 'r1'" in lines[0]


def test_the_good_input_of_the_bad_input_table_is_good(capsys: pytest.CaptureFixture[str]) -> None:
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=GOOD)
    assert code == 0, err
    assert body["moved"] == []
    assert body["added"] == ["r2"]


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--seconds", "soon"], "--seconds must be a number"), (["--solver", "x"], "invalid choice")],
)
def test_bad_options_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    code, _, err = ionto(capsys, "reschedule", "-", *args, stdin=GOOD)
    assert code == 2
    assert words in err
    assert len(err.strip().splitlines()) == 1


def test_a_visit_on_a_day_the_centre_now_closes_is_moved_not_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed = {**GOOD, "closed": ["2027-01-06"]}
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=closed)
    assert code == 0, err
    assert [(m["referral"], m["from"]["date"]) for m in body["moved"]] == [("r1", "2027-01-06")]
    assert date(2027, 1, 6).isoformat() not in {a["date"] for a in body["appointments"]}


def test_a_plan_edited_by_hand_that_breaks_a_rule_comes_back_valid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two visits of r1 on Monday 4 January: the re-plan gives it a course that keeps the rules."""
    twice = [BOOKED[0], {**BOOKED[1], "date": "2027-01-04", "start": "10:00", "end": "10:30"}]
    data = {**GOOD, "booked": [*twice, *BOOKED[2:]]}
    code, body, err = ionto(capsys, "reschedule", "-", "--seconds", "5", stdin=data)
    assert code == 0, err
    days = [a["date"] for a in body["appointments"] if a["referral"] == "r1"]
    assert len(days) == len(set(days)) == 10
    assert check(problem_after(data, body), as_schedule(body)) == []
