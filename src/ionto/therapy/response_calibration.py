"""Each calibration target of the sweat-response model, measured on a simulated population.

:data:`ionto.therapy.response.CALIBRATION` says what the model must reproduce and where that
comes from; :func:`measure_calibration` simulates the scenario each target names and returns
the simulated figure beside it. The tests check every figure lies in its range; the benchmark
prints the table for a large population.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ionto.therapy import course, response, virtual_course
from ionto.therapy.protocols import Protocol, recommend_protocol
from ionto.therapy.response import (
    CALIBRATION,
    DEFAULT_RESPONSE,
    CalibrationTarget,
    FloatArray,
    IntArray,
    Population,
    ResponseSettings,
    ResponseState,
)
from ionto.therapy.virtual_course import NEVER, CourseResult
from ionto.therapy.vocabulary import Region, Solution

#: The calibration's virtual patients are adults (the sources' series are mostly adults).
ADULT_AGE_YEARS = 34.0
#: "Dry on ≥ 90% of days in weeks 8-26": kept dry by a maintenance interval.
KEPT_DRY_FRACTION = 0.9
KEPT_DRY_FROM_DAY = 7 * 7
#: Intervals tried for "the longest interval that keeps a responder dry" (the maintenance
#: bounds of therapy.course: 3 to 31 days).
TRIED_INTERVALS = (3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 21, 24, 28, 31)
#: Home treatment of the armpits: a response by week 12.
HOME_RESPONSE_BY_DAY = 12 * 7
#: A relapse restored within this many re-induction sessions, or not at all.
MAX_RESTORE_SESSIONS = 12
#: Days counted after a single session (Dolianitis' longest median was 11 days).
MAX_SINGLE_SESSION_DAYS = 60


@dataclass(frozen=True)
class CalibrationResult:
    target: CalibrationTarget
    simulated: float | None
    #: Patients the figure is computed over.
    patients: int

    @property
    def holds(self) -> bool:
        return self.simulated is not None and self.target.holds(self.simulated)


def _protocol(region: Region, preset: str, solution: Solution = Solution.TAP_WATER) -> Protocol:
    return recommend_protocol(region, solution, ADULT_AGE_YEARS, preset=preset)


class CalibrationRuns:
    """The simulations the targets share, each run once, on the same patients per region."""

    def __init__(self, rng: np.random.Generator, n: int, settings: ResponseSettings) -> None:
        self.n = n
        self.settings = settings
        # Every region's patients from the same seed (the same people, treated on another
        # region); every run's observation noise from the same seed (the same noise whatever
        # the policy).
        self._population_seed, self._noise_seed = (int(v) for v in rng.integers(0, 2**63, 2))
        self._populations: dict[Region, Population] = {}
        self._runs: dict[tuple[Region, str, str], CourseResult] = {}

    def population(self, region: Region) -> Population:
        if region not in self._populations:
            rng = np.random.default_rng(self._population_seed)
            self._populations[region] = response.draw_population(
                self.n, region, ADULT_AGE_YEARS, rng, self.settings
            )
        return self._populations[region]

    def run(
        self, region: Region, preset: str, policy: str, *, keep_daily: bool = False
    ) -> CourseResult:
        key = (region, preset, policy)
        if key not in self._runs or (keep_daily and self._runs[key].daily_ratio is None):
            protocol = _protocol(region, preset)
            setup = virtual_course.course_setup(protocol, ADULT_AGE_YEARS)
            rng = np.random.default_rng(self._noise_seed)
            self._runs[key] = virtual_course.simulate_courses(
                setup,
                self.population(region),
                virtual_course.parse_policy(policy),
                rng,
                settings=self.settings,
                keep_daily=keep_daily,
            )
        return self._runs[key]


def _median(values: FloatArray | IntArray) -> float | None:
    return float(np.median(values)) if values.size else None


def _kept_dry(result: CourseResult) -> FloatArray:
    """Share of days dry from week 8 to the horizon, per patient (needs the daily record)."""
    assert result.daily_ratio is not None
    window = result.daily_ratio[:, KEPT_DRY_FROM_DAY:]
    return np.asarray((window <= 1.0).mean(axis=1), dtype=np.float64)


def _responders(runs: CalibrationRuns, region: Region, preset: str) -> tuple[float, int]:
    result = runs.run(region, preset, "none")
    return float(result.responder.mean()), result.population.size


def _responders_at_home(runs: CalibrationRuns, region: Region, preset: str) -> tuple[float, int]:
    """Armpits are treated at home (the centre treats hands and feet, clinical-reference §1):
    the same 10 sessions, then weekly; a responder's sweating is down ≥ 50% by week 12."""
    result = runs.run(region, preset, "fixed:7", keep_daily=True)
    assert result.daily_ratio is not None
    pop = result.population
    half = (1.0 - response.RESPONSE_REDUCTION) * pop.baseline_mg_min / pop.cutoff.mg_min
    reached = (result.daily_ratio[:, :HOME_RESPONSE_BY_DAY] <= half[:, None]).any(axis=1)
    return float(reached.mean()), pop.size


def _sessions_to_normal(runs: CalibrationRuns, preset: str) -> tuple[float | None, int]:
    result = runs.run(Region.PALMS, preset, "fixed:7")
    reached = result.first_dry_session[result.first_dry_day != NEVER]
    return _median(reached), int(reached.size)


def _first_noticed(runs: CalibrationRuns) -> tuple[float | None, int]:
    result = runs.run(Region.PALMS, "uk_halfway", "none")
    noticed = result.noticed_session[result.responder & (result.noticed_session > 0)]
    return _median(noticed), int(noticed.size)


def _effect_duration(runs: CalibrationRuns) -> tuple[float | None, int]:
    result = runs.run(Region.PALMS, "uk_halfway", "none")
    r = result.responder
    median = virtual_course.censored_median_days(
        result.relapse_day[r], result.course_end_day[r], result.setup.horizon_days
    )
    return median, int(r.sum())


def _relapsed(runs: CalibrationRuns) -> tuple[float, int]:
    result = runs.run(Region.PALMS, "uk_halfway", "none")
    r = result.responder
    return float((result.relapse_day[r] != NEVER).mean()), int(r.sum())


def _weekly_keeps_dry(runs: CalibrationRuns) -> tuple[float, int]:
    result = runs.run(Region.PALMS, "uk_halfway", "fixed:7", keep_daily=True)
    group = result.responder & result.course_works
    kept = _kept_dry(result)[group] >= KEPT_DRY_FRACTION
    return float(kept.mean()), int(group.sum())


def longest_interval_kept_dry(runs: CalibrationRuns) -> tuple[IntArray, int]:
    """Per responder in maintenance, the longest tried interval keeping them dry (else 3)."""
    base = runs.run(Region.PALMS, "uk_halfway", "none")
    group = base.responder & base.course_works
    longest = np.full(base.population.size, TRIED_INTERVALS[0], dtype=np.int64)
    for interval in TRIED_INTERVALS:
        result = runs.run(Region.PALMS, "uk_halfway", f"fixed:{interval}", keep_daily=True)
        kept = _kept_dry(result) >= KEPT_DRY_FRACTION
        longest = np.where(kept, interval, longest)
    return longest[group], int(group.sum())


def _interval_percentile(runs: CalibrationRuns, q: float) -> tuple[float | None, int]:
    longest, count = longest_interval_kept_dry(runs)
    if not count:
        return None, 0
    return float(np.percentile(longest, q, method="inverted_cdf")), count


def _state_at(result: CourseResult, days: IntArray, patients: IntArray) -> ResponseState:
    """The latent state of ``patients`` on ``days`` after a course with no maintenance."""
    end = result.state_at_course_end
    pop = result.population.take(patients)
    gap = (days - result.course_end_day[patients]).astype(np.float64)
    return ResponseState(
        load=end.load[:, patients] * np.exp(-gap / pop.recovery_days),
        block=end.block[:, patients] * np.exp(-gap / pop.drug_recovery_days),
    )


def restore_sessions(runs: CalibrationRuns) -> IntArray:
    """Per responder with a relapse: re-induction sessions (every other day, therapy.course)
    until dry again (0: not within MAX_RESTORE_SESSIONS)."""
    result = runs.run(Region.PALMS, "uk_halfway", "none")
    patients = np.flatnonzero(result.responder & (result.relapse_day != NEVER))
    pop = result.population.take(patients)
    state = _state_at(result, result.relapse_day[patients], patients)
    protocol = result.setup.protocol
    charge = response.session_charge_mA_min(protocol, result.current_mA[patients])
    spacing = course.REINDUCTION.spacing_days
    given = result.sessions[patients].copy()
    restored = np.zeros(patients.size, dtype=np.int64)
    everyone = np.arange(patients.size)
    for k in range(1, MAX_RESTORE_SESSIONS + 1):
        state = response.give_sessions(state, pop, protocol, everyone, charge, given, runs.settings)
        given += 1
        dry = response.worse_side_over_cutoff(state, pop, runs.settings) <= 1.0
        restored = np.where((restored == 0) & dry, k, restored)
        state = response.recover(state, pop, float(spacing))
    return restored


def _restore(runs: CalibrationRuns) -> tuple[float | None, int]:
    restored = restore_sessions(runs)
    # A patient never restored within the limit counts as needing more than the limit.
    counted = np.where(restored == 0, MAX_RESTORE_SESSIONS + 1, restored)
    return _median(counted), int(restored.size)


def single_session_dry_days(runs: CalibrationRuns) -> tuple[IntArray, IntArray]:
    """Dolianitis' right-left comparison: responders whose skin has just turned clammy after
    the course get one glycopyrronium session — the drug under the anode on one hand, tap
    water under the cathode on the other, the same current through both. Days each hand
    stays dry, counting the session's day: (tap-water hand, drug hand)."""
    result = runs.run(Region.PALMS, "uk_halfway", "none", keep_daily=True)
    assert result.daily_ratio is not None
    days = np.arange(result.setup.horizon_days)
    after = days[None, :] > result.course_end_day[:, None]
    was_dry = np.maximum.accumulate((result.daily_ratio <= 1.0) & after, axis=1)
    clammy = was_dry & (result.daily_ratio > 1.0) & after
    patients = np.flatnonzero(clammy.any(axis=1) & result.responder)
    first = np.argmax(clammy[patients], axis=1).astype(np.int64)
    pop = result.population.take(patients)
    glyco = _protocol(Region.PALMS, "glycopyrronium", Solution.GLYCOPYRRONIUM)
    charge = response.run_charge_mA_min(glyco, np.full(patients.size, glyco.target_current_mA))
    drug_side = np.zeros(patients.size, dtype=np.int64)  # session 0: side 0 under the anode
    state = response.give_sessions(
        _state_at(result, first, patients),
        pop,
        glyco,
        np.arange(patients.size),
        charge,
        drug_side,
        runs.settings,
        runs=1,
    )
    counted = np.zeros((response.SIDES, patients.size), dtype=np.int64)
    still = np.ones((response.SIDES, patients.size), dtype=bool)
    for _ in range(MAX_SINGLE_SESSION_DAYS):
        still &= response.sweat_rate_mg_min(state, pop, runs.settings) <= pop.cutoff.mg_min
        counted += still
        state = response.recover(state, pop, 1.0)
    return counted[1], counted[0]


def _glyco_ratio(runs: CalibrationRuns) -> tuple[float | None, int]:
    tap, glyco = single_session_dry_days(runs)
    if not tap.size:
        return None, 0
    tap_median, glyco_median = float(np.median(tap)), float(np.median(glyco))
    if tap_median == 0:
        return None, int(tap.size)
    return glyco_median / tap_median, int(tap.size)


_MEASURES: dict[str, Callable[[CalibrationRuns], tuple[float | None, int]]] = {
    "responders_palms_tap_water": lambda r: _responders(r, Region.PALMS, "uk_halfway"),
    "responders_soles_tap_water": lambda r: _responders(r, Region.SOLES, "uk_halfway"),
    "responders_axillae": lambda r: _responders_at_home(r, Region.AXILLAE, "pulsed_sensitive"),
    "sessions_to_normal_dc": lambda r: _sessions_to_normal(r, "uk_halfway"),
    "sessions_to_normal_pulsed": lambda r: _sessions_to_normal(r, "pulsed_sensitive"),
    "first_noticed_session": _first_noticed,
    "effect_duration_days": _effect_duration,
    "relapse_6_months_without_maintenance": _relapsed,
    "sessions_to_restore_after_relapse": _restore,
    "weekly_keeps_most_dry": _weekly_keeps_dry,
    "maintenance_interval_short_end": lambda r: _interval_percentile(r, 10),
    "maintenance_interval_long_end": lambda r: _interval_percentile(r, 90),
    "glycopyrronium_single_session_ratio": _glyco_ratio,
}


def calibration_runs(
    rng: np.random.Generator, patients: int, settings: ResponseSettings = DEFAULT_RESPONSE
) -> CalibrationRuns:
    """The shared simulations, for :func:`measure_calibration` and for inspecting them."""
    if patients < 1:
        raise ValueError(f"patients must be at least 1, got {patients}")
    return CalibrationRuns(rng, patients, settings)


def measure_calibration(
    rng: np.random.Generator,
    patients: int = 4000,
    settings: ResponseSettings = DEFAULT_RESPONSE,
) -> tuple[CalibrationResult, ...]:
    """Every target of :data:`~ionto.therapy.response.CALIBRATION` with its simulated figure."""
    runs = calibration_runs(rng, patients, settings)
    results: list[CalibrationResult] = []
    for target in CALIBRATION:
        value, count = _MEASURES[target.code](runs)
        results.append(CalibrationResult(target, value, count))
    return tuple(results)
