"""`ionto session simulate` through the command line (CONTRACT.md)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ionto.cli import main


def simulate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["session", "simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_session_summary_has_the_contract_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = simulate(["--minutes", "4"], capsys)
    assert code == 0
    summary = json.loads(out)
    assert set(summary) >= {
        "state",
        "treated_s",
        "delivered_mA_min",
        "peak_current_mA",
        "peak_density_mA_cm2",
        "limits",
        "events",
        "tolerance",
    }
    assert summary["state"] == "completed"
    assert set(summary["delivered_mA_min"]) == {"forward", "reverse"}
    assert summary["delivered_mA_min"]["forward"] > 0
    assert summary["delivered_mA_min"]["reverse"] > 0
    assert summary["peak_current_mA"] <= 20.0
    assert set(summary["tolerance"]) >= {"max_sensation", "pain_reports"}
    for limit in summary["limits"]:
        assert {"code", "text", "source", "value"} <= set(limit)
    for event in summary["events"]:
        assert {"t_s", "code", "text"} <= set(event)


def test_events_and_trace_through_a_real_process(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    done = subprocess.run(
        [
            sys.executable, "-m", "ionto.cli", "session", "simulate",
            "--minutes", "2", "--seed", "7", "--event", "lift@60:1.5",
            "--event", "pain@90", "--trace", str(trace), "--trace-hz", "50",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    codes = [e["code"] for e in summary["events"]]
    assert "contact_lost" in codes
    assert "pain_step_down" in codes
    with trace.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "t_s",
        "current_mA",
        "voltage_V",
        "impedance_kohm",
        "polarity",
        "state",
    ]
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)
    assert times[1] - times[0] == pytest.approx(0.02, abs=1e-6)
    assert max(abs(float(r["current_mA"])) for r in rows) <= 20.0
    assert {r["polarity"] for r in rows} == {"forward", "reverse"}


def test_same_seed_same_session(capsys: pytest.CaptureFixture[str]) -> None:
    first = simulate(["--minutes", "2", "--seed", "3"], capsys)[1]
    second = simulate(["--minutes", "2", "--seed", "3"], capsys)[1]
    assert first == second


@pytest.mark.parametrize(
    ("args", "option", "why"),
    [
        (["--region", "elbows"], "--region", "unknown value"),
        (["--waveform", "ac"], "--waveform", "pure AC"),
        (["--waveform", "square"], "--waveform", "unknown value"),
        (["--reversal", "sometimes"], "--reversal", "unknown value"),
        (["--current", "lots"], "--current", "number"),
        (["--current", "-3"], "--current", "between"),
        (["--minutes", "0"], "--minutes", "between"),
        (["--minutes", "nan"], "--minutes", "between"),
        (["--age", "200"], "--age", "between"),
        (["--age", "4"], "--age", "Too young"),
        (["--solution", "saline"], "--solution", "unknown value"),
        (["--water-us-cm", "0"], "--water-us-cm", "between"),
        (["--seed", "1.5"], "--seed", "whole number"),
        (["--event", "jump@3"], "--event", "unknown event"),
        (["--event", "lift@30"], "--event", "duration"),
        (["--event", "pain@30:5"], "--event", "no argument"),
        (["--event", "pain"], "--event", "KIND@T"),
        (["--event", "stop@-4"], "--event", "between"),
        (["--trace-hz", "5000"], "--trace-hz", "between"),
        (["--trace", "/no/such/folder/t.csv"], "--trace", "no such folder"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str, why: str
) -> None:
    code, out, err = simulate(args, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"'{option}'" in err
    assert why in err


def test_unknown_option_is_a_one_line_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ionto.cli", "session", "simulate", "--colour", "blue"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("waveform", ["dc", "pulsed_dc", "ac_dc_offset"])
def test_every_therapeutic_waveform_runs(waveform: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = simulate(["--minutes", "2", "--waveform", waveform], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["state"] == "completed"
    assert summary["waveform"] == waveform
