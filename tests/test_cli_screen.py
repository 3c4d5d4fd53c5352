"""`ionto screen` through the real command line, as independent test suites drive it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ionto.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "patients"

HISTORY = {
    "duration_months": 60,
    "onset_age_years": 12,
    "bilateral_symmetric": True,
    "impairs_daily_activities": True,
    "episodes_per_week": 7,
    "family_history": True,
    "stops_during_sleep": True,
    "night_sweats": False,
    "generalised": False,
    "systemic_symptoms": False,
}

CONTRACT_EXAMPLE = {
    "age_years": 34,
    "treat": ["palms", "soles"],
    "solution": "tap_water",
    "sites": ["palms", "soles"],
    "history": HISTORY,
    "conditions": [],
    "implants": [{"kind": "metal_plate", "location": "left_forearm"}],
    "skin": [{"region": "palms", "finding": "small_cut"}],
    "hdss": 4,
}


def run_cli(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ionto.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def screen(
    tmp_path: Path, patient: object, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patient))
    code = main(["screen", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_contract_example_through_a_real_process() -> None:
    done = run_cli(["screen", "-"], stdin=json.dumps(CONTRACT_EXAMPLE))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["eligible"] is True
    assert result["diagnosis"] == "primary_focal"
    assert result["blocking"] == []
    palms, soles = result["regions"]["palms"], result["regions"]["soles"]
    assert palms["allowed"] is False
    assert palms["protocol"] is None
    assert "metal_implant_in_path" in [r["code"] for r in palms["reasons"]]
    assert soles["allowed"] is True
    assert soles["reasons"] == []
    protocol = soles["protocol"]
    assert {k: protocol[k] for k in ("solution", "waveform", "max_current_mA")} == {
        "solution": "tap_water",
        "waveform": "dc",
        "max_current_mA": 20.0,
    }
    assert protocol["target_current_mA"] == 15.0
    assert protocol["minutes"] == 30
    assert protocol["reversal"] == "halfway"
    for reason in [*palms["reasons"], *palms["precautions"], *soles["precautions"]]:
        assert set(reason) >= {"code", "text", "source"}
        assert reason["text"]
        assert reason["source"]


def test_minimal_input_needs_only_age_and_regions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = screen(tmp_path, {"age_years": 30, "treat": ["palms"]}, capsys)
    assert code == 0
    result = json.loads(out)
    assert list(result["regions"]) == ["palms"]
    assert result["diagnosis"] in {"primary_focal", "possible_secondary", "generalised", "not_met"}


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_patient_screens(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(example)]) == 0
    result = json.loads(capsys.readouterr().out)
    requested = json.loads(example.read_text())["treat"]
    assert list(result["regions"]) == requested


BAD_INPUTS = [
    ({"age_years": 34, "treat": ["palms"], "colour": "blue"}, "colour", "unknown field"),
    ({"age_years": "34", "treat": ["palms"]}, "age_years", "number"),
    ({"age_years": 34}, "treat", "missing"),
    ({"treat": ["palms"]}, "age_years", "missing"),
    ({"age_years": -1, "treat": ["palms"]}, "age_years", "greater than or equal"),
    ({"age_years": 200, "treat": ["palms"]}, "age_years", "less than or equal"),
    ({"age_years": 34, "treat": ["elbows"]}, "treat[0]", "palms"),
    ({"age_years": 34, "treat": []}, "treat", "at least 1"),
    ({"age_years": 34, "treat": ["palms", "palms"]}, "treat", "twice"),
    ({"age_years": 34, "treat": ["generalised"]}, "treat[0]", "input should be"),
    ({"age_years": 34, "treat": ["palms"], "hdss": 5}, "hdss", "less than or equal"),
    ({"age_years": 34, "treat": ["palms"], "hdss": 2.5}, "hdss", "integer"),
    ({"age_years": 34, "treat": ["palms"], "conditions": ["flu"]}, "conditions[0]", "pacemaker"),
    (
        {"age_years": 34, "treat": ["palms"], "implants": [{"kind": "metal_plate"}]},
        "implants[0].location",
        "missing",
    ),
    (
        {"age_years": 34, "treat": ["palms"], "implants": [{"kind": "x", "location": "chest"}]},
        "implants[0].kind",
        "input should be",
    ),
    (
        {"age_years": 34, "treat": ["palms"], "skin": [{"region": "palms", "finding": "tan"}]},
        "skin[0].finding",
        "input should be",
    ),
    (
        {"age_years": 34, "treat": ["palms"], "history": {"night_sweats": "no"}},
        "history.night_sweats",
        "boolean",
    ),
    (
        {"age_years": 34, "treat": ["palms"], "history": {"onset_age_years": 40}},
        "history.onset_age_years",
        "later than",
    ),
    ({"age_years": 34, "treat": ["palms"], "solution": "saline"}, "solution", "input should be"),
]


@pytest.mark.parametrize(("patient", "field", "why"), BAD_INPUTS, ids=lambda v: str(v)[:30])
def test_bad_input_names_the_field_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], patient: object, field: str, why: str
) -> None:
    code, out, err = screen(tmp_path, patient, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"'{field}'" in err
    assert why.lower() in err.lower()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b'{"age_years": NaN, "treat": ["palms"]}', "age_years"),
        (b'{"age_years": 1e999, "treat": ["palms"]}', "age_years"),
    ],
)
def test_unreadable_content_exits_2_in_one_line(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "patient.json"
    path.write_bytes(content)
    done = run_cli(["screen", str(path)])
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert why in done.stderr


def test_missing_file_and_directory_exit_2(tmp_path: Path) -> None:
    for target, why in [(tmp_path / "nope.json", "no such file"), (tmp_path, "directory")]:
        done = run_cli(["screen", str(target)])
        assert done.returncode == 2
        assert why in done.stderr
        assert done.stderr.count("\n") == 1


def test_usage_errors_are_one_line_exit_2() -> None:
    for args in (["screen"], ["frobnicate"], [], ["course"], ["screen", "a", "b"]):
        done = run_cli(args)
        assert done.returncode == 2, args
        assert done.stderr.count("\n") == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_text_summary_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", "--text", str(EXAMPLES / "02-plate-in-left-forearm.json")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("ELIGIBLE — diagnosis: primary focal")
    assert "palms: not allowed" in text
    assert "soles: allowed — tap water, dc, target 15 mA (max 20 mA), 30 min" in text
    assert "metal_implant_in_path" in text


def test_text_says_shared_precautions_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", "--text", str(EXAMPLES / "01-adult-hands-and-feet.json")]) == 0
    text = capsys.readouterr().out
    assert text.count("remove_jewellery_and_nail_polish") == 1
    assert "for every region:" in text
