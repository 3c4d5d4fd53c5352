"""`ionto course verdict` through the command line, with the contract's example and bad input."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ionto.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "courses"

CONTRACT_EXAMPLE: dict[str, Any] = {
    "age_years": 34,
    "region": "palms",
    "solution": "tap_water",
    "baseline": {"hdss": 4, "gravimetry_mg_min": 80.0, "dlqi": 15},
    "sessions": [
        {
            "day": 0,
            "current_mA": 12.0,
            "minutes": 20,
            "waveform": "dc",
            "completed": True,
            "max_sensation": 5,
            "pain_reports": 0,
            "side_effects": [],
        }
    ],
    "followup": {"hdss": 2, "gravimetry_mg_min": 30.0, "dlqi": 4},
    "conditions": [],
    "funded": ["tap_water", "glycopyrronium"],
}


def verdict(
    tmp_path: Path, course: object, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = tmp_path / "course.json"
    path.write_text(json.dumps(course))
    code = main(["course", "verdict", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_contract_example_through_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ionto.cli", "course", "verdict", "-"],
        input=json.dumps(CONTRACT_EXAMPLE),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "works"
    assert result["next"] == "home_maintenance"
    assert result["reasons"][0]["code"] == "hdss_improved_2"
    plan = result["home_plan"]
    assert {k: plan[k] for k in ("interval_days", "current_mA", "minutes", "waveform")} == {
        "interval_days": 7,
        "current_mA": 12.0,
        "minutes": 20,
        "waveform": "dc",
    }
    for reason in result["reasons"]:
        assert reason["code"]
        assert reason["text"]
        assert reason["source"]


def test_dlqi_reasons_carry_the_copyright_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = verdict(tmp_path, CONTRACT_EXAMPLE, capsys)
    assert code == 0
    dlqi = [r for r in json.loads(out)["reasons"] if r["code"].startswith("dlqi")]
    assert dlqi
    assert all(
        "© Dermatology Life Quality Index. A Y Finlay, G K Khan, April 1992" in r["text"]
        for r in dlqi
    )


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("01-works-tap-water", ("works", "home_maintenance")),
        ("02-no-response-escalate", ("does_not_work", "escalate_glycopyrronium")),
        ("03-not-tolerated-try-pulsed", ("does_not_work", "try_pulsed_dc")),
        ("04-too-early", ("continue", "continue_course")),
    ],
)
def test_example_courses(
    example: str, expected: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["course", "verdict", str(EXAMPLES / f"{example}.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["verdict"], result["next"]) == expected
    assert (result["home_plan"] is not None) == (expected[0] == "works")


def test_glaucoma_blocks_escalation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = json.loads((EXAMPLES / "02-no-response-escalate.json").read_text())
    course["conditions"] = ["glaucoma"]
    code, out, _ = verdict(tmp_path, course, capsys)
    assert code == 0
    result = json.loads(out)
    assert result["verdict"] == "does_not_work"
    assert result["next"] == "refer_dermatologist"
    assert "glycopyrronium_contraindicated" in [r["code"] for r in result["reasons"]]


def with_change(path: str, value: object) -> dict[str, Any]:
    course = copy.deepcopy(CONTRACT_EXAMPLE)
    *parents, last = path.split(".")
    target: Any = course
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return course


BAD = [
    ("colour", "x", "colour", "unknown field"),
    ("region", "elbows", "region", "input should be"),
    ("region", KeyError, "region", "missing"),
    ("age_years", "old", "age_years", "number"),
    ("baseline.hdss", 0, "baseline.hdss", "greater than or equal"),
    ("followup.dlqi", 31, "followup.dlqi", "less than or equal"),
    ("sessions.0.current_mA", 80.0, "sessions[0].current_mA", "less than or equal"),
    ("sessions.0.minutes", 0, "sessions[0].minutes", "greater than"),
    ("sessions.0.waveform", "ac", "sessions[0].waveform", "pure AC"),
    ("sessions.0.waveform", "square", "sessions[0].waveform", "input should be"),
    ("sessions.0.completed", "yes", "sessions[0].completed", "boolean"),
    ("sessions.0.max_sensation", 11, "sessions[0].max_sensation", "less than or equal"),
    ("sessions.0.side_effects", ["sunburn"], "sessions[0].side_effects[0]", "input should be"),
    ("sessions.0.day", -1, "sessions[0].day", "greater than or equal"),
    ("funded", ["botox"], "funded[0]", "input should be"),
    ("conditions", ["flu"], "conditions[0]", "input should be"),
]


@pytest.mark.parametrize(("path", "value", "field", "why"), BAD, ids=lambda v: str(v)[:25])
def test_bad_input_names_the_field_and_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    value: object,
    field: str,
    why: str,
) -> None:
    code, out, err = verdict(tmp_path, with_change(path, value), capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"'{field}'" in err
    assert why.lower() in err.lower()


def test_not_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "course.json"
    path.write_text("verdict please")
    done = subprocess.run(
        [sys.executable, "-m", "ionto.cli", "course", "verdict", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
