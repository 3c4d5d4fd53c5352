"""``ionto session simulate``: one session on the simulated device, summarised (CONTRACT.md)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ionto.contract.errors import InputError
from ionto.contract.schema import limit_json
from ionto.device.session import (
    EventKind,
    ScriptedEvent,
    SessionOutcome,
    SessionRequest,
    run_session,
)
from ionto.therapy.contraindications import under_minimum_age
from ionto.therapy.screening import DEFAULT_SCREENING
from ionto.therapy.vocabulary import THERAPEUTIC_WAVEFORMS, Region, Reversal, Solution, Waveform

MAX_SESSION_MINUTES = 60.0
MAX_EVENT_TIME_S = 4 * 3600.0


def _choice(value: str, kind: type[Region | Solution | Waveform | Reversal], option: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InputError(f"unknown value {value!r}: expected one of {known}", option) from None


def _number(text: str, option: str, low: float, high: float, *, whole: bool = False) -> float:
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise InputError(f"expected {kind}, got {text!r}", option) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"must be between {low:g} and {high:g}, got {text}", option)
    return value


def parse_event(text: str) -> ScriptedEvent:
    """``KIND@T[:ARG]``, e.g. ``lift@300:2`` (limb out for 2 s at 300 s) or ``pain@420``."""
    option = "--event"
    kind_text, at, rest = text.partition("@")
    if not at or not rest:
        raise InputError(f"expected KIND@T[:ARG], got {text!r}", option)
    try:
        kind = EventKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in EventKind)
        raise InputError(f"unknown event {kind_text!r}: expected one of {known}", option) from None
    t_text, colon, arg = rest.partition(":")
    t_s = _number(t_text, option, 0, MAX_EVENT_TIME_S)
    if kind is EventKind.LIFT:
        if not colon:
            raise InputError(f"a lift needs a duration: lift@{t_text}:SECONDS", option)
        return ScriptedEvent(kind, t_s, _number(arg, option, 0.001, 600))
    if colon:
        raise InputError(f"'{kind}' takes no argument, got {text!r}", option)
    return ScriptedEvent(kind, t_s)


def request_from_options(
    *,
    region: str,
    current: str | None,
    minutes: str | None,
    waveform: str | None,
    reversal: str | None,
    age: str,
    solution: str,
    water_us_cm: str,
    seed: str,
    events: list[str],
    trace_hz: str,
    want_trace: bool,
) -> SessionRequest:
    wave = _choice(waveform, Waveform, "--waveform") if waveform is not None else None
    if wave is not None and wave not in THERAPEUTIC_WAVEFORMS:
        raise InputError(
            "pure AC is refused: it has no therapeutic effect (Reinauer, BJD 1993)", "--waveform"
        )
    hz = int(_number(trace_hz, "--trace-hz", 1, 1000, whole=True))
    age_years = _number(age, "--age", 0, 130)
    too_young = under_minimum_age(age_years, DEFAULT_SCREENING.minimum_age)
    if too_young is not None:
        raise InputError(f"{too_young.text} ({too_young.source.citation})", "--age")
    return SessionRequest(
        region=_choice(region, Region, "--region"),
        current_mA=_number(current, "--current", 0.1, 80) if current is not None else None,
        minutes=_number(minutes, "--minutes", 1, MAX_SESSION_MINUTES) if minutes else None,
        waveform=wave,
        reversal=_choice(reversal, Reversal, "--reversal") if reversal is not None else None,
        age_years=age_years,
        solution=_choice(solution, Solution, "--solution"),
        water_uS_cm=_number(water_us_cm, "--water-us-cm", 10, 5000),
        seed=int(_number(seed, "--seed", 0, 2**32 - 1, whole=True)),
        events=tuple(parse_event(e) for e in events),
        trace_hz=hz if want_trace else 0,
    )


def summary_json(outcome: SessionOutcome) -> dict[str, Any]:
    rec = outcome.record
    forward, reverse = rec.delivered_mA_min()
    return {
        "state": outcome.state,
        "treated_s": round(rec.treated_ms / 1000, 3),
        "delivered_mA_min": {"forward": round(forward, 2), "reverse": round(reverse, 2)},
        "peak_current_mA": round(rec.peak_uA / 1000, 3),
        "peak_density_mA_cm2": round(outcome.peak_density_mA_cm2, 4),
        "limits": [limit_json(lim) for lim in outcome.limits],
        "events": [{"t_s": e.t_s, "code": e.code, "text": e.text} for e in rec.events],
        "tolerance": {
            "max_sensation": round(outcome.max_sensation, 2),
            "pain_reports": rec.pain_reports,
        },
        # Beyond the contract's minimum (allowed: "add fields freely").
        "planned_mA_min": round(outcome.planned_mA_min, 2),
        "target_current_mA": outcome.plan.target_uA / 1000,
        "waveform": outcome.plan.waveform.value,
        "reversal": outcome.plan.reversal.value,
        "preset": outcome.protocol.preset,
        "current_shown": "average" if outcome.plan.waveform is not Waveform.DC else "dc",
    }


def write_trace(outcome: SessionOutcome, path: str) -> None:
    try:
        with Path(path).open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["t_s", "current_mA", "voltage_V", "impedance_kohm", "polarity", "state"])
            for s in outcome.samples:
                impedance = (
                    f"{abs(s.voltage_mV / s.current_uA):.3f}" if abs(s.current_uA) >= 50 else ""
                )
                out.writerow(
                    [
                        f"{s.tick / 1000:.3f}",
                        f"{s.current_uA / 1000:.3f}",
                        f"{s.voltage_mV / 1000:.3f}",
                        impedance,
                        s.polarity.name.lower(),
                        s.state.name.lower(),
                    ]
                )
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", "--trace") from None


def simulate_json(request: SessionRequest, trace_path: str | None) -> dict[str, Any]:
    if trace_path is not None:
        # Fail on an unwritable trace before spending the time on the session.
        parent = Path(trace_path).parent
        if not parent.is_dir():
            raise InputError(f"cannot write {trace_path}: no such folder", "--trace")
    outcome = run_session(request)
    if trace_path is not None:
        write_trace(outcome, trace_path)
    return summary_json(outcome)
