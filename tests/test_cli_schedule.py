"""`ionto schedule` through the command line: the contract's example, both solvers, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ionto.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "schedule" / "01-small-centre.json"

CONTRACT_EXAMPLE: dict[str, Any] = {
    "start": "2027-01-04",
    "weeks": 12,
    "chairs": 3,
    "hours": {
        "mon": ["09:00", "17:00"],
        "tue": ["09:00", "17:00"],
        "wed": ["09:00", "17:00"],
        "thu": ["09:00", "17:00"],
        "fri": ["09:00", "13:00"],
    },
    "closed": ["2027-01-01"],
    "nurses": [{"id": "n1", "days": ["mon", "tue", "wed", "thu", "fri"]}],
    "referrals": [
        {
            "id": "r1",
            "funded_on": "2027-01-04",
            "regions": ["palms", "soles"],
            "sessions": 10,
            "within_days": 28,
            "available": ["mon", "wed", "fri"],
            "earliest": "09:00",
            "latest": "17:00",
        }
    ],
}
APPOINTMENT_KEYS = {"referral", "n", "date", "start", "end", "chair", "nurse"}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ionto.cli", "schedule", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("solver", ["cp-sat", "greedy"])
def test_contract_example_through_a_real_process(solver: str) -> None:
    done = run("-", "--solver", solver, "--seconds", "5", stdin=json.dumps(CONTRACT_EXAMPLE))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["solver"] == solver
    assert result["status"] in ("optimal", "feasible")
    assert result["unscheduled"] == []
    visits = result["appointments"]
    assert len(visits) == 10
    for a in visits:
        assert set(a) >= APPOINTMENT_KEYS
        assert isinstance(a["chair"], int)
        assert 1 <= a["chair"] <= 3
        assert a["nurse"] == "n1"
    assert [a["n"] for a in visits] == list(range(1, 11))
    assert visits[0]["date"] == "2027-01-04"
    assert (visits[0]["start"], visits[0]["end"]) == ("09:00", "10:00")
    metrics = result["metrics"]
    assert {"median_wait_days", "courses_within_window", "chair_utilisation"} <= set(metrics)
    assert metrics["median_wait_days"] == 0
    assert metrics["courses_within_window"] == 1.0


def test_example_file_with_unscheduled_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schedule", str(EXAMPLE), "--seconds", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    for item in result["unscheduled"]:
        assert set(item) >= {"referral", "reason"}
        assert item["reason"]
    stages = result["solve"]["stages"]
    assert [s["objective"] for s in stages] == [
        "courses_booked",
        "total_wait_days",
        "time_of_day_spread_slots",
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["-"], "{", "not valid JSON"),
        (["-"], "[]", "must be a JSON object"),
        (["/nonexistent.json"], None, "no such file"),
        (["-", "--seconds", "soon"], "{}", "--seconds must be a number"),
        (["-", "--seconds", "0"], "{}", "--seconds must be more than 0"),
        (["-", "--solver", "magic"], "{}", "invalid choice"),
        (["-"], json.dumps({**CONTRACT_EXAMPLE, "start": "9999-12-20"}), "runs past"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], stdin: str | None, words: str) -> None:
    done = run(*args, stdin=stdin)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert words in lines[0]
    assert "Traceback" not in done.stderr


def test_inconsistent_referral_names_it(tmp_path: Path) -> None:
    data = json.loads(json.dumps(CONTRACT_EXAMPLE))
    data["referrals"][0]["available"] = ["mon", "sun"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    done = run(str(path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "ionto: error: field 'referrals[0].available[1]': referral 'r1': available on sun, "
        "but the centre is closed on Sundays"
    )


def test_a_referral_without_hours_of_its_own_takes_the_opening_hours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``earliest`` and ``latest`` may be left out: any time the centre is open."""
    problem = {
        "start": "2027-01-04",
        "weeks": 4,
        "chairs": 1,
        "hours": {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "nurses": [{"id": "n1", "days": ["mon", "tue", "wed", "thu", "fri"]}],
        "referrals": [
            {
                "id": "r1",
                "funded_on": "2027-01-04",
                "regions": ["palms"],
                "sessions": 6,
                "within_days": 28,
                "available": ["mon", "wed", "fri"],
            }
        ],
    }
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(problem).encode()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", stdin)
        assert main(["schedule", "-", "--solver", "greedy"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert len(body["appointments"]) == 6
    assert all(a["start"] >= "09:00" and a["end"] <= "17:00" for a in body["appointments"])
