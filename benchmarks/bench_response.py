"""The sweat-response model: speed of whole courses, its calibration, and fixed maintenance.

Target (issue 6): 10,000 virtual patients' 26-week courses in ≤ 60 s on the project's
2-core machine. Prints, as Markdown:

* the time of ``ionto course simulate --patients 10000`` (draw the patients, the course and
  weekly maintenance, the same without maintenance, the figures), ``--repeat`` runs;
* every calibration target with the simulated figure beside it and its source;
* fixed maintenance intervals against each other (dry-day fraction, sessions per patient);
* with ``--plot PATH``, an SVG of a few virtual patients over 26 weeks (drawn by hand: the
  venv has no plotting library).

Run: ``.venv/bin/python benchmarks/bench_response.py [--patients N] [--repeat N] [--seed S]
[--plot docs/img/response-patients.svg] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ionto.contract.course_simulate import options_from_text, simulate
from ionto.therapy import response, response_calibration, virtual_course
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.virtual_course import CourseResult, FixedInterval
from ionto.therapy.vocabulary import Region, Solution

TARGET_S = 60.0
POLICIES = ("fixed:4", "fixed:7", "fixed:14", "fixed:28", "none")


def machine() -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, load {load}"
    )


def time_runs(patients: int, seed: int, repeat: int) -> list[float]:
    """Wall time of the whole ``ionto course simulate`` work, without printing."""
    times = []
    for k in range(repeat):
        options = options_from_text(
            patients=str(patients),
            seed=str(seed + k),
            protocol=None,
            region="palms",
            age="34",
            maintenance="fixed:7",
            engine="analytic",
            calibration=False,
        )
        began = time.perf_counter()
        simulate(options)
        times.append(time.perf_counter() - began)
    return times


def compare_policies(patients: int, seed: int) -> list[dict[str, Any]]:
    """Each fixed interval on the same patients (the contract's maintenance figures)."""
    rows = []
    base = None
    results = {}
    for name in POLICIES:
        options = options_from_text(
            patients=str(patients),
            seed=str(seed),
            protocol=None,
            region="palms",
            age="34",
            maintenance=name,
            engine="analytic",
            calibration=False,
        )
        sim = simulate(options)
        results[name] = sim.figures
        base = base or sim.figures
    for name in POLICIES:
        f = results[name]
        rows.append(
            {
                "policy": name,
                "patients_in_maintenance": f.maintenance_patients,
                "sessions_per_patient": round(f.maintenance_sessions_per_patient, 2),
                "dry_days_fraction": round(f.dry_days_fraction, 3),
                "sessions_to_dry_median": f.sessions_to_dry_median,
                "reached_dry": round(f.reached_dry, 3),
            }
        )
    return rows


def calibration(patients: int, seed: int) -> list[dict[str, Any]]:
    results = response_calibration.measure_calibration(np.random.default_rng(seed), patients)
    runs = response_calibration.calibration_runs(np.random.default_rng(seed), patients)
    tap, glyco = response_calibration.single_session_dry_days(runs)
    rows = [
        {
            "code": r.target.code,
            "target": r.target.target,
            "range": f"{r.target.low:g}-{r.target.high:g}",
            "unit": r.target.unit,
            "simulated": None if r.simulated is None else round(r.simulated, 3),
            "holds": r.holds,
            "patients": r.patients,
            "source": f"{r.target.source.citation} ({r.target.source.grade})",
        }
        for r in results
    ]
    rows.append(
        {
            "code": "(information) single-session days, Dolianitis scenario",
            "target": "median 3 days tap water, 5 days glycopyrronium",
            "range": "not calibrated",
            "unit": "days (median)",
            "simulated": f"tap {np.median(tap):g}, drug {np.median(glyco):g}",
            "holds": None,
            "patients": int(tap.size),
            "source": "Dolianitis et al., Australas J Dermatol 2004 (P)",
        }
    )
    return rows


# --- The plot ----------------------------------------------------------------------------------
WIDTH, HEIGHT = 960, 460
LEFT, RIGHT, TOP, BOTTOM = 60, 190, 40, 60
COLOURS = ("#1f5fbf", "#2e8b57", "#c0392b", "#7f7f7f")


def example_patients(result: CourseResult) -> list[tuple[int, str]]:
    """Four kinds of patient: a long recovery time, a typical responder, a short recovery
    time (wet again between weekly sessions), a non-responder."""
    pop = result.population
    home = result.course_works & result.responder
    tau = pop.recovery_days

    def pick(mask: np.ndarray, key: np.ndarray) -> int:
        candidates = np.flatnonzero(mask)
        return int(candidates[np.argmin(key[candidates])])

    median_tau = float(np.median(tau[home]))
    return [
        (pick(home & (tau > 250), np.abs(tau - 300)), "long recovery"),
        (pick(home, np.abs(tau - median_tau)), "typical"),
        (pick(home & (tau < 45) & (result.first_dry_day >= 0), tau), "short recovery"),
        (pick(~result.responder & result.tolerated, pop.max_suppression), "non-responder"),
    ]


def plot_svg(seed: int) -> str:
    protocol = recommend_protocol(Region.PALMS, Solution.TAP_WATER, 34.0)
    pop = response.draw_population(400, Region.PALMS, 34.0, np.random.default_rng(seed))
    setup = virtual_course.course_setup(protocol, 34.0)
    result = virtual_course.simulate_courses(
        setup, pop, FixedInterval(7), np.random.default_rng(seed + 1), keep_daily=True
    )
    assert result.daily_ratio is not None
    assert result.session_on is not None
    horizon = setup.horizon_days
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: float) -> float:
        return LEFT + plot_w * day / (horizon - 1)

    def y(fraction: float) -> float:
        return TOP + plot_h * (1.0 - fraction)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Four virtual patients: '
        "sweating suppressed, the trial course then weekly sessions (palms, DC, 15 mA)</text>",
    ]
    for pct in range(0, 101, 20):
        parts.append(
            f'<line x1="{LEFT}" y1="{y(pct / 100):.1f}" x2="{LEFT + plot_w}" '
            f'y2="{y(pct / 100):.1f}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{LEFT - 8}" y="{y(pct / 100) + 4:.1f}" text-anchor="end">{pct}%</text>'
        )
    for week in range(0, 27, 2):
        parts.append(
            f'<text x="{x(week * 7):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{week}</text>"
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 22}" text-anchor="middle">weeks from the '
        "first session</text>"
    )
    cutoff = pop.cutoff.mg_min
    for k, (i, label) in enumerate(example_patients(result)):
        colour = COLOURS[k]
        reduction = 1.0 - result.daily_ratio[i] * cutoff / pop.baseline_mg_min[i]
        points = " ".join(
            f"{'M' if d == 0 else 'L'}{x(d):.1f},{y(float(v)):.1f}" for d, v in enumerate(reduction)
        )
        parts.append(f'<path d="{points}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        dry_at = 1.0 - cutoff / pop.baseline_mg_min[i]
        parts.append(
            f'<line x1="{LEFT}" y1="{y(dry_at):.1f}" x2="{LEFT + plot_w}" y2="{y(dry_at):.1f}" '
            f'stroke="{colour}" stroke-dasharray="4,4" stroke-width="0.8"/>'
        )
        for d in np.flatnonzero(result.session_on[i]):
            parts.append(
                f'<line x1="{x(int(d)):.1f}" y1="{TOP + plot_h + 2 + 5 * k}" '
                f'x2="{x(int(d)):.1f}" y2="{TOP + plot_h + 6 + 5 * k}" stroke="{colour}"/>'
            )
        dry_share = float(np.mean(result.daily_ratio[i, 25:] <= 1.0))
        parts.append(
            f'<text x="{LEFT + plot_w + 12}" y="{TOP + 20 + 44 * k}" fill="{colour}">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<text x="{LEFT + plot_w + 12}" y="{TOP + 35 + 44 * k}" fill="{colour}" '
            f'font-size="11">τ {pop.recovery_days[i]:.0f} d, dry {dry_share:.0%} of days</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 4}" fill="#666">Solid: sweating suppressed (the wetter '
        "hand, latent). Dashed: that patient's dry level (20 mg/min, normal). Ticks: sessions."
        "</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- Output ------------------------------------------------------------------------------------
def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append(
            "| " + " | ".join("" if row[h] is None else str(row[h]) for h in header) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    times = time_runs(args.patients, args.seed, args.repeat)
    policies = compare_policies(args.patients, args.seed)
    table = calibration(args.patients, args.seed)
    report = {
        "machine": machine(),
        "patients": args.patients,
        "seconds": [round(t, 3) for t in times],
        "target_s": TARGET_S,
        "policies": policies,
        "calibration": table,
    }
    if args.plot:
        out = Path(args.plot)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(plot_svg(args.seed))
        report["plot"] = str(out)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(f"Machine: {report['machine']}")
    print(
        f"\n{args.patients} patients × 26 weeks (course + weekly, and without maintenance): "
        f"{', '.join(f'{t:.2f} s' for t in times)} (median {statistics.median(times):.2f} s; "
        f"target ≤ {TARGET_S:g} s)\n"
    )
    print(markdown_table(policies))
    print()
    print(markdown_table(table))
    if args.plot:
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
