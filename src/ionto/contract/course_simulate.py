"""``ionto course simulate``: virtual patients' whole courses, as population figures.

Parses the options (a bad value names its option: exit 2), draws the patients, runs the course
and maintenance with the chosen policy and again without maintenance (for the relapse
figure), and renders the contract's fields (shared/CONTRACT.md) plus a few more.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionto.contract.errors import InputError
from ionto.device.course import MAX_DEVICE_PATIENTS, DeviceDose, DeviceSession
from ionto.therapy import response, response_calibration, virtual_course
from ionto.therapy.contraindications import under_minimum_age
from ionto.therapy.protocols import PRESETS, Protocol, default_preset, recommend_protocol
from ionto.therapy.response import Population
from ionto.therapy.screening import DEFAULT_SCREENING
from ionto.therapy.virtual_course import CourseResult, CourseSetup, PopulationFigures
from ionto.therapy.vocabulary import Region, Solution

MAX_PATIENTS = 100_000
#: The adaptive plan keeps a posterior of response_fit.DEFAULT_FIT.particles virtual patients
#: for every patient (about 120 kB each; 10,000 patients take about a minute and 1.2 GB).
MAX_ADAPTIVE_PATIENTS = 10_000
ENGINES = ("analytic", "device")
#: The calibration needs enough patients for its medians to mean something.
MIN_CALIBRATION_PATIENTS = 500


@dataclass(frozen=True)
class SimulateOptions:
    patients: int
    seed: int
    protocol: Protocol
    age_years: float
    maintenance: virtual_course.MaintenancePolicy
    engine: str
    calibration: bool


def _whole(text: str, option: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"expected a whole number, got {text!r}", option) from None
    if not low <= value <= high:
        raise InputError(f"must be between {low} and {high}, got {text}", option)
    return value


def _age(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"expected a number, got {text!r}", "--age") from None
    if not math.isfinite(value) or not 0 <= value <= 130:
        raise InputError(f"must be between 0 and 130, got {text}", "--age")
    too_young = under_minimum_age(value, DEFAULT_SCREENING.minimum_age)
    if too_young is not None:
        raise InputError(f"{too_young.text} ({too_young.source.citation})", "--age")
    return value


def _protocol(name: str | None, region_text: str, age_years: float) -> Protocol:
    try:
        region = Region(region_text)
    except ValueError:
        known = ", ".join(r.value for r in Region)
        raise InputError(
            f"unknown value {region_text!r}: expected one of {known}", "--region"
        ) from None
    if name is None:
        name, _ = default_preset(region, Solution.TAP_WATER, age_years)
    preset = PRESETS.get(name)
    if preset is None:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown protocol {name!r}: expected one of {known}", "--protocol")
    (solution,) = sorted(preset.solutions)
    try:
        return recommend_protocol(region, solution, age_years, preset=name)
    except ValueError as exc:
        raise InputError(str(exc), "--protocol") from None


def options_from_text(
    *,
    patients: str,
    seed: str,
    protocol: str | None,
    region: str,
    age: str,
    maintenance: str,
    engine: str,
    calibration: bool,
) -> SimulateOptions:
    """The options, checked; a bad value raises an InputError naming its option."""
    n = _whole(patients, "--patients", 1, MAX_PATIENTS)
    age_years = _age(age)
    chosen = _protocol(protocol, region, age_years)
    try:
        policy = virtual_course.parse_policy(maintenance)
    except ValueError as exc:
        raise InputError(str(exc), "--maintenance") from None
    if isinstance(policy, virtual_course.AdaptiveMaintenance) and n > MAX_ADAPTIVE_PATIENTS:
        raise InputError(
            f"the adaptive plan fits every patient's own posterior: at most "
            f"{MAX_ADAPTIVE_PATIENTS} patients, got {n}",
            "--patients",
        )
    if engine not in ENGINES:
        raise InputError(
            f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}", "--engine"
        )
    if engine == "device" and n > MAX_DEVICE_PATIENTS:
        raise InputError(
            f"the device engine runs every session tick by tick (about 0.2 s each): at most "
            f"{MAX_DEVICE_PATIENTS} patients, got {n}",
            "--patients",
        )
    if calibration and n < MIN_CALIBRATION_PATIENTS:
        raise InputError(
            f"--calibration needs at least {MIN_CALIBRATION_PATIENTS} patients, got {n}",
            "--patients",
        )
    return SimulateOptions(
        patients=n,
        seed=_whole(seed, "--seed", 0, 2**32 - 1),
        protocol=chosen,
        age_years=age_years,
        maintenance=policy,
        engine=engine,
        calibration=calibration,
    )


@dataclass(frozen=True)
class Simulation:
    setup: CourseSetup
    population: Population
    with_policy: CourseResult
    without_maintenance: CourseResult
    figures: PopulationFigures
    device_sessions: tuple[DeviceSession, ...] = ()


def simulate(options: SimulateOptions) -> Simulation:
    """Both runs on the same patients, with the same observation noise."""
    population_seed, noise_seed = np.random.SeedSequence(options.seed).spawn(2)
    protocol = options.protocol
    population = response.draw_population(
        options.patients, protocol.region, options.age_years, np.random.default_rng(population_seed)
    )
    setup = virtual_course.course_setup(protocol, options.age_years)
    dose: virtual_course.DoseSource | None = None
    device_dose = None
    if options.engine == "device":
        device_dose = DeviceDose(protocol, population, seed=options.seed)
        dose = device_dose
    runs = []
    for policy in (options.maintenance, virtual_course.NoMaintenance()):
        if device_dose is not None:
            print(f"ionto: running {policy.name} on the simulated device…", file=sys.stderr)
        runs.append(
            virtual_course.simulate_courses(
                setup, population, policy, np.random.default_rng(noise_seed), dose=dose
            )
        )
    with_policy, without = runs
    return Simulation(
        setup=setup,
        population=population,
        with_policy=with_policy,
        without_maintenance=without,
        figures=virtual_course.population_figures(with_policy, without),
        device_sessions=device_dose.ran() if device_dose is not None else (),
    )


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def figures_json(sim: Simulation, options: SimulateOptions) -> dict[str, Any]:
    f = sim.figures
    protocol = sim.setup.protocol
    result: dict[str, Any] = {
        "patients": f.patients,
        "responders": _round(f.responders),
        "sessions_to_dry": {"median": f.sessions_to_dry_median, "p90": f.sessions_to_dry_p90},
        "tolerated": _round(f.tolerated),
        "relapsed_by_26w_without_maintenance": _round(f.relapsed_by_26w_without_maintenance),
        "maintenance": {
            "sessions_per_patient": _round(f.maintenance_sessions_per_patient, 2),
            "dry_days_fraction": _round(f.dry_days_fraction),
            # Beyond the contract's minimum (allowed: "add fields freely").
            "policy": options.maintenance.name,
            "patients": f.maintenance_patients,
        },
        "seed": options.seed,
        "engine": options.engine,
        "protocol": {
            "preset": protocol.preset,
            "region": protocol.region.value,
            "solution": protocol.solution.value,
            "waveform": protocol.waveform.value,
            "target_current_mA": protocol.target_current_mA,
            "minutes": protocol.minutes,
            "age_years": options.age_years,
        },
        "course": {
            "induction": sim.setup.induction_name,
            "sessions": len(sim.setup.induction_days),
            "works": _round(f.course_works),
            "reached_dry": _round(f.reached_dry),
            "first_noticed_session_median": f.first_noticed_session_median,
        },
        "effect_duration_days_median": f.effect_duration_days_median,
        "weeks": sim.setup.horizon_days // 7,
        "definitions": DEFINITIONS
        if not isinstance(options.maintenance, virtual_course.AdaptiveMaintenance)
        else {**DEFINITIONS, "adaptive": ADAPTIVE_DEFINITION},
    }
    if sim.device_sessions:
        result["device"] = _device_json(sim)
    if options.calibration:
        result["calibration"] = _calibration_json(options)
    return result


#: What each figure means, in the output itself (the numbers are meaningless without it).
DEFINITIONS: dict[str, str] = {
    "responders": "sweating down at least 50% at the end of the initial course "
    "(latent; NCT03658616's response level, the verdict's gravimetric rule)",
    "sessions_to_dry": "sessions given by the first day of normal sweating (at or below the "
    "region's gravimetric cut-off), among patients who got there within 26 weeks",
    "tolerated": "the nurse could hold at least the therapeutic current "
    "(verdict.therapeutic_current) with sensation tolerable",
    "relapsed_by_26w_without_maintenance": "of the responders, sweating back above half its "
    "baseline by week 26 with no session after the course",
    "maintenance": "patients whose course worked (HDSS down by 1 or more to 2 or less, and "
    "tolerated): sessions after the course, and the share of days after it that were dry",
}

#: What the adaptive policy does, added to ``definitions`` when it is the one chosen.
ADAPTIVE_DEFINITION = (
    "each patient's next session from their own record only (sessions, diary, HDSS, "
    "gravimetry): a session on the day their own posterior predicts the skin turns clammy "
    "(the median; sooner when the diary says clammy), at most twice a week and at least "
    "monthly, weekly when more sessions are not predicted to keep them dry, never against the "
    "frequency caps; replanned every morning"
)


def _device_json(sim: Simulation) -> dict[str, Any]:
    sessions = sim.device_sessions
    ratios = [s.delivered_mA_min / s.planned_mA_min for s in sessions if s.planned_mA_min > 0]
    return {
        "sessions": len(sessions),
        "completed": sum(1 for s in sessions if s.state == "completed"),
        "pain_reports": sum(s.pain_reports for s in sessions),
        "delivered_over_planned": {
            "min": _round(min(ratios), 4) if ratios else None,
            "max": _round(max(ratios), 4) if ratios else None,
        },
    }


def _calibration_json(options: SimulateOptions) -> list[dict[str, Any]]:
    results = response_calibration.measure_calibration(
        np.random.default_rng(options.seed), options.patients
    )
    return [
        {
            "code": r.target.code,
            "target": r.target.target,
            "range": [r.target.low, r.target.high],
            "unit": r.target.unit,
            "simulated": _round(r.simulated),
            "holds": r.holds,
            "patients": r.patients,
            "source": r.target.source.citation,
            "grade": r.target.source.grade,
            "scenario": r.target.scenario,
        }
        for r in results
    ]


def simulate_json(options: SimulateOptions) -> dict[str, Any]:
    return figures_json(simulate(options), options)
