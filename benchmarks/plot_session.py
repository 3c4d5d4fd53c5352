"""Draw one simulated session as an SVG picture for the docs (no plotting library needed).

Run: ``.venv/bin/python benchmarks/plot_session.py [--out docs/img/session-trace.svg]``.
The picture: current (mA) and voltage (V) over the session, the controller's events marked
where they happened — the ramp up, the reversal through zero, a hand lifted at minute 5 and
the fresh ramp on its return, the ramp down.
"""

from __future__ import annotations

import argparse
from html import escape
from pathlib import Path

from ionto.device.link import DeviceSample
from ionto.device.session import (
    EventKind,
    ScriptedEvent,
    SessionOutcome,
    SessionRequest,
    run_session,
)

WIDTH, HEIGHT = 960, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 60, 40, 60
SHOWN_EVENTS = {"contact_made", "contact_lost", "reversing", "ramp_down", "pain_step_down"}


def session(seed: int, minutes: float = 20.0, lift_s: float = 300.0) -> SessionOutcome:
    return run_session(
        SessionRequest(
            seed=seed,
            minutes=minutes,
            events=(ScriptedEvent(EventKind.LIFT, lift_s, 3.0),),
            trace_hz=10,
        )
    )


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def svg(outcome: SessionOutcome) -> str:
    samples: list[DeviceSample] = list(outcome.samples)
    end_s = max(outcome.record.ended_s, samples[-1].tick / 1000)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    max_mA = 20.0
    max_V = 60.0

    def x(t_s: float) -> float:
        return LEFT + plot_w * t_s / end_s

    def y_mA(mA: float) -> float:  # signed: forward up, reverse down
        return TOP + plot_h / 2 - (plot_h / 2) * mA / max_mA

    def y_V(volts: float) -> float:
        return TOP + plot_h / 2 - (plot_h / 2) * volts / max_V

    current = [(x(s.tick / 1000), y_mA(s.current_uA / 1000)) for s in samples]
    voltage = [(x(s.tick / 1000), y_V(s.voltage_mV / 1000)) for s in samples]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">A simulated 20-minute '
        f"session (palms, 15 mA, reversing halfway; hand lifted at 5 min)</text>",
        f'<line x1="{LEFT}" y1="{y_mA(0):.1f}" x2="{WIDTH - RIGHT}" y2="{y_mA(0):.1f}" '
        'stroke="#999"/>',
    ]
    for mA in (-20, -10, 10, 20):
        parts.append(
            f'<text x="{LEFT - 8}" y="{y_mA(mA) + 4:.1f}" text-anchor="end" fill="#1f5fbf">'
            f"{mA} mA</text>"
        )
        parts.append(
            f'<line x1="{LEFT}" y1="{y_mA(mA):.1f}" x2="{WIDTH - RIGHT}" y2="{y_mA(mA):.1f}" '
            'stroke="#eee"/>'
        )
    for volts in (-60, -30, 30, 60):
        parts.append(
            f'<text x="{WIDTH - RIGHT + 8}" y="{y_V(volts) + 4:.1f}" fill="#c0392b">'
            f"{volts} V</text>"
        )
    minute = 0
    while minute * 60 <= end_s:
        parts.append(
            f'<text x="{x(minute * 60):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
            f"{minute}</text>"
        )
        minute += 2
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">minutes</text>'
    )
    parts.append(f'<path d="{_path(voltage)}" fill="none" stroke="#c0392b" stroke-width="1"/>')
    parts.append(f'<path d="{_path(current)}" fill="none" stroke="#1f5fbf" stroke-width="1.6"/>')
    row = 0
    for event in outcome.record.events:
        if event.code not in SHOWN_EVENTS:
            continue
        ex = x(event.t_s)
        parts.append(
            f'<line x1="{ex:.1f}" y1="{TOP}" x2="{ex:.1f}" y2="{HEIGHT - BOTTOM}" '
            'stroke="#555" stroke-dasharray="3,3"/>'
        )
        parts.append(
            f'<text x="{ex + 3:.1f}" y="{TOP + 12 + 14 * (row % 3)}" fill="#333">'
            f"{escape(event.code.replace('_', ' '))} ({event.t_s / 60:.1f} min)</text>"
        )
        row += 1
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" fill="#666">blue: current (forward up, reverse '
        "down); red: voltage. Trace from ionto session simulate --event lift@300:3</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/img/session-trace.svg")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(svg(session(args.seed)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
