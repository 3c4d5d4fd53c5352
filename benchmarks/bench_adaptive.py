"""The adaptive maintenance plan against fixed intervals, and the fit's calibration.

Issue 6's targets, on virtual patients (palms, tap water, the trial course then 26 weeks):

* **Maintenance**: ``adaptive`` against weekly (``fixed:7``) and fortnightly (``fixed:14``) on
  the same patients with the same observation noise — sessions per patient in maintenance and
  the share of their days that are dry. Target: at least weekly's dry days with ≥ 30% fewer
  sessions. Per seed, and by the patients' true recovery time.
* **Fitting**: the posterior followed day by day on patients whose truth is known; how often
  the 80% intervals contain the true recovery time, the true dose needed to be dry, and the
  true day the skin turns clammy without another session — with full diaries, sparse ones
  (2 days a week), and noisier ones (the fit told, or not told, about the extra noise).
* **Speed** of the whole ``ionto course simulate --maintenance adaptive`` work.

With ``--oracle``, a policy that reads each patient's *true* parameters (not a real policy:
what perfect knowledge would give) is added to the first seed.

Run: ``.venv/bin/python benchmarks/bench_adaptive.py [--patients 4000] [--seeds 0 1]
[--coverage-patients 1000] [--speed-patients 10000] [--oracle] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ionto.contract.course_simulate import options_from_text, simulate
from ionto.therapy import diary, response, response_fit, virtual_course
from ionto.therapy.protocols import recommend_protocol
from ionto.therapy.response_fit_check import CoverageRow, fit_coverage, sparse_diary
from ionto.therapy.virtual_course import CourseResult, PatientHistory
from ionto.therapy.vocabulary import Region, Solution

ADULT = 34.0
PROTOCOL = recommend_protocol(Region.PALMS, Solution.TAP_WATER, ADULT)
POLICIES = ("fixed:7", "fixed:14", "adaptive")
CHECK_DAYS = (38, 80, 122, 164)
#: A noisier diary than the model's default: perception noise doubled, more days without an
#: entry, three times the wrong ticks.
NOISY = diary.ObservationSettings(diary_sigma=0.5, diary_missing=0.30, diary_contradictory=0.15)
TAU_GROUPS = ((0, 60), (60, 120), (120, 250), (250, 10_000))


def machine() -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, load {load}"
    )


def run(
    policy: virtual_course.MaintenancePolicy,
    n: int,
    seed: int,
    *,
    keep_daily: bool = False,
    observation: diary.ObservationSettings = diary.DEFAULT_OBSERVATION,
) -> tuple[CourseResult, float]:
    """The same patients and observation noise for every policy of a seed."""
    population_seed, noise_seed = np.random.SeedSequence(seed).spawn(2)
    pop = response.draw_population(
        n, PROTOCOL.region, ADULT, np.random.default_rng(population_seed)
    )
    setup = virtual_course.course_setup(PROTOCOL, ADULT)
    began = time.perf_counter()
    result = virtual_course.simulate_courses(
        setup,
        pop,
        policy,
        np.random.default_rng(noise_seed),
        keep_daily=keep_daily,
        observation=observation,
    )
    return result, time.perf_counter() - began


@dataclass(frozen=True)
class Oracle:
    """Not a real policy: a session on the day the patient's *true* state turns clammy (read
    from the latent parameters), twice a week at most, weekly where even that cannot keep them
    dry, monthly at least — the plan perfect knowledge would make."""

    population: response.Population
    replans_daily: bool = True

    @property
    def name(self) -> str:
        return "oracle"

    def next_session_day(self, history: PatientHistory) -> int | None:
        fit = response_fit.DEFAULT_FIT
        i, pop = history.patient, self.population
        tau, kappa = pop.recovery_days[i], pop.sensitivity[i]
        area = response.treated_area_cm2(history.protocol, pop.age_years)
        need = (1.0 - pop.cutoff.mg_min / pop.baseline_mg_min[i]) / pop.max_suppression[i]
        last = history.session_days[-1]
        if need >= 1.0:
            return last + fit.usual_interval_days
        dry_load = math.sqrt(need / (1.0 - need))  # the sigmoid preset (Hill exponent 2)
        load = sum(
            kappa * c / area * math.exp(-(history.today - d) / tau)
            for d, c in zip(history.session_days, history.session_charge_mA_min, strict=True)
        )
        clammy = (
            history.today + max(1, math.floor(tau * math.log(load / dry_load)) + 1)
            if load > 0
            else history.today + 1
        )
        day = max(clammy, last + fit.shortest_interval_days)
        q = math.exp(-fit.shortest_interval_days / tau)
        lowest = kappa * history.session_charge_mA_min[-1] / area / (1 - q) * q * math.exp(1 / tau)
        if lowest < dry_load and day < last + fit.usual_interval_days:
            day = last + fit.usual_interval_days
        return min(day, last + fit.bounds.max_interval_days)


def _figures(result: CourseResult, mask: np.ndarray) -> tuple[float, float]:
    home = result.course_works & mask
    days = result.home_days[home].sum()
    sessions = float(result.maintenance_sessions[home].mean()) if home.any() else 0.0
    return sessions, float(result.dry_home_days[home].sum() / days) if days else 0.0


def compare(n: int, seeds: list[int], oracle: bool) -> list[dict[str, Any]]:
    rows = []
    for seed in seeds:
        results: dict[str, tuple[CourseResult, float]] = {
            name: run(virtual_course.parse_policy(name), n, seed) for name in POLICIES
        }
        if oracle and seed == seeds[0]:
            pop = results["fixed:7"][0].population
            results["oracle (knows the truth)"] = run(Oracle(pop), n, seed)
        weekly_sessions, weekly_dry = _figures(results["fixed:7"][0], np.ones(n, dtype=bool))
        for name, (result, seconds) in results.items():
            sessions, dry = _figures(result, np.ones(n, dtype=bool))
            row: dict[str, Any] = {
                "seed": seed,
                "policy": name,
                "patients_in_maintenance": int(result.course_works.sum()),
                "sessions_per_patient": round(sessions, 2),
                "sessions_vs_weekly": f"{sessions / weekly_sessions - 1:+.1%}",
                "dry_days_fraction": round(dry, 3),
                "dry_vs_weekly": f"{dry - weekly_dry:+.3f}",
                "seconds": round(seconds, 1),
            }
            if name == "adaptive":
                row["target_met"] = bool(dry >= weekly_dry and sessions <= 0.7 * weekly_sessions)
            rows.append(row)
        tau = results["fixed:7"][0].population.recovery_days
        for low, high in TAU_GROUPS:
            mask = (tau >= low) & (tau < high)
            group: dict[str, Any] = {"seed": seed, "recovery_days": f"{low}-{high}"}
            group["patients"] = int((results["fixed:7"][0].course_works & mask).sum())
            for name in POLICIES:
                s, d = _figures(results[name][0], mask)
                group[name] = f"{s:.1f} sessions, {d:.2f} dry"
            rows.append(group)
    return rows


def _coverage_rows(label: str, rows: tuple[CoverageRow, ...]) -> list[dict[str, Any]]:
    return [
        {
            "diary": label,
            "day": r.day,
            "patients": r.patients,
            "recovery_covered": round(r.recovery_covered, 3),
            "dry_dose_covered": round(r.dry_dose_covered, 3),
            "clammy_covered": round(r.clammy_covered, 3),
            "clammy_informative": r.clammy_informative,
            "clammy_informative_covered": round(r.clammy_informative_covered, 3),
            "clammy_abs_error_days": r.clammy_median_abs_error_days,
            "clammy_width_days": r.clammy_median_width_days,
            "recovery_width_ratio": round(r.recovery_median_width_ratio, 2),
        }
        for r in rows
    ]


def coverage(n: int, seed: int) -> list[dict[str, Any]]:
    """The fit on patients in weekly maintenance (their diaries go on whatever the plan)."""
    weekly = virtual_course.FixedInterval(7)
    plain, _ = run(weekly, n, seed, keep_daily=True)
    noisy, _ = run(weekly, n, seed, keep_daily=True, observation=NOISY)
    told = replace(response_fit.DEFAULT_FIT, observation=NOISY)
    assert plain.diary_codes is not None
    out: list[dict[str, Any]] = []
    out += _coverage_rows("full", fit_coverage(plain, CHECK_DAYS))
    out += _coverage_rows(
        "sparse (Mon and Thu only)",
        fit_coverage(plain, CHECK_DAYS, diary=sparse_diary(plain.diary_codes)),
    )
    out += _coverage_rows("noisier, fit not told", fit_coverage(noisy, CHECK_DAYS))
    out += _coverage_rows("noisier, fit told", fit_coverage(noisy, CHECK_DAYS, told))
    adaptive, _ = run(virtual_course.AdaptiveMaintenance(), min(n, 1000), seed, keep_daily=True)
    out += _coverage_rows("full, adaptive plan", fit_coverage(adaptive, CHECK_DAYS))
    return out


def speed(n: int, seed: int) -> dict[str, Any]:
    """The whole work of ``ionto course simulate --patients N --maintenance adaptive``."""
    options = options_from_text(
        patients=str(n),
        seed=str(seed),
        protocol=None,
        region="palms",
        age="34",
        maintenance="adaptive",
        engine="analytic",
        calibration=False,
    )
    began = time.perf_counter()
    sim = simulate(options)
    seconds = time.perf_counter() - began
    return {
        "patients": n,
        "seconds": round(seconds, 1),
        "ms_per_patient": round(1000 * seconds / n, 2),
        "sessions_per_patient": round(sim.figures.maintenance_sessions_per_patient, 2),
        "dry_days_fraction": round(sim.figures.dry_days_fraction, 3),
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(h, "")) for h in header) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--coverage-patients", type=int, default=1000)
    parser.add_argument("--speed-patients", type=int, default=0)
    parser.add_argument("--oracle", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    report["policies"] = compare(args.patients, args.seeds, args.oracle)
    report["coverage"] = coverage(args.coverage_patients, args.seeds[0])
    if args.speed_patients:
        report["speed"] = speed(args.speed_patients, args.seeds[0])
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(f"Machine: {report['machine']}\n")
    print(markdown_table([r for r in report["policies"] if "policy" in r]))
    print()
    print(markdown_table([r for r in report["policies"] if "policy" not in r]))
    print()
    print(markdown_table(report["coverage"]))
    if "speed" in report:
        print()
        print(markdown_table([report["speed"]]))


if __name__ == "__main__":
    main()
