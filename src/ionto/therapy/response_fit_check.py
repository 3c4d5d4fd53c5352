"""How well the fit knows virtual patients whose true parameters are known.

The posterior of :mod:`ionto.therapy.response_fit` is fed, day by day, only what a clinic
would see of simulated patients (sessions and delivered charge, diary, HDSS, gravimetry); the
latent truth is used only afterwards, to score it: on chosen days, how often the central
interval (80% by default) contains the patient's true recovery time, the true dose needed to
be dry, and the true day they would turn clammy without another session. A well-calibrated
posterior covers the truth about as often as its interval says.

Diaries can be thinned (e.g. entries on 2 days a week only) or replaced (e.g. simulated with
more noise than the fit assumes) to see how the coverage holds up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ionto.therapy import response, response_fit
from ionto.therapy.diary import DiaryRating
from ionto.therapy.response import FloatArray, IntArray, ResponseState
from ionto.therapy.response_fit import FitSettings
from ionto.therapy.virtual_course import CodeArray, CourseResult


@dataclass(frozen=True)
class CoverageRow:
    """The fit scored on one day against the truth, over the patients in maintenance.

    ``*_covered``: share of patients whose true value lies in the central interval.
    ``clammy_*``: the day the skin would turn clammy without another session, counted from the
    check day. *Informative* patients are those whose true day is neither the next day
    (already clammy) nor beyond the horizon, where an interval is easily right.
    """

    day: int
    patients: int
    recovery_covered: float
    dry_dose_covered: float
    clammy_covered: float
    clammy_informative: int
    clammy_informative_covered: float
    clammy_median_abs_error_days: float | None
    clammy_median_width_days: float | None
    recovery_median_width_ratio: float


def sparse_diary(codes: CodeArray, weekdays: tuple[int, ...] = (0, 3)) -> CodeArray:
    """Only the entries of the given days of each week (day 0 is a Monday): the others none."""
    days = np.arange(codes.shape[1])
    kept = np.isin(days % 7, np.asarray(weekdays))
    return np.asarray(np.where(kept[None, :], codes, DiaryRating.MISSING), dtype=np.int8)


def true_days_until_clammy(
    state: ResponseState,
    population: response.Population,
    patients: IntArray,
    horizon: int,
    settings: response.ResponseSettings,
) -> IntArray:
    """The latent truth: days until the wetter side first ends a day above the cut-off with no
    further session (1..horizon, horizon + 1 for later)."""
    pop = population.take(patients)
    current = ResponseState(load=state.load[:, patients], block=state.block[:, patients])
    out = np.full(patients.size, horizon + 1, dtype=np.int64)
    for k in range(1, horizon + 1):
        current = response.recover(current, pop, 1.0)
        wet = response.worse_side_over_cutoff(current, pop, settings) > 1.0
        out[wet & (out > horizon)] = k
    return out


def true_dry_dose(
    population: response.Population, settings: response.ResponseSettings
) -> FloatArray:
    """The remaining effect (load / κ, mA·min/cm²) at which each patient is just dry."""
    need = (
        1.0 - population.cutoff.mg_min / population.baseline_mg_min
    ) / population.max_suppression
    h = settings.saturation.hill_exponent
    with np.errstate(divide="ignore", invalid="ignore"):
        load = np.where(need < 1.0, np.power(need / (1.0 - need), 1.0 / h), np.inf)
    return np.asarray(load / population.sensitivity, dtype=np.float64)


def fit_coverage(
    result: CourseResult,
    check_days: tuple[int, ...],
    settings: FitSettings = response_fit.DEFAULT_FIT,
    *,
    diary: CodeArray | None = None,
    model: response.ResponseSettings = response.DEFAULT_RESPONSE,
) -> tuple[CoverageRow, ...]:
    """Follow every patient in maintenance of ``result`` (simulated with ``keep_daily``) with
    one batch posterior, and score it on each of ``check_days``. ``diary`` replaces the
    result's own (same shape); ``model`` is the model the patients were simulated with."""
    if result.session_on is None or result.diary_codes is None or result.charge_on is None:
        raise ValueError("fit_coverage needs a result simulated with keep_daily=True")
    codes = result.diary_codes if diary is None else diary
    if codes.shape != result.diary_codes.shape:
        raise ValueError("the replacement diary must have the result's shape")
    protocol = result.setup.protocol
    pop = result.population
    followed = np.flatnonzero(result.course_works)
    rows = np.arange(followed.size)
    filt = response_fit.ResponseFilter(protocol, pop.age_years, followed.size, settings)
    filt.observe_measurements(
        rows,
        result.hdss_baseline[followed].astype(np.int64),
        result.gravimetry_baseline_mg_min[followed],
    )
    truth = ResponseState.untreated(pop.size)
    given = np.zeros(pop.size, dtype=np.int64)
    true_tau = pop.recovery_days[followed]
    dry_dose = true_dry_dose(pop, model)[followed]
    qs = (
        (1.0 - settings.interval) / 2.0,
        0.5,
        1.0 - (1.0 - settings.interval) / 2.0,
    )
    out: list[CoverageRow] = []
    for day in range(max(check_days) + 1):
        filt.begin_day(day)
        if day:
            truth = response.recover(truth, pop, 1.0)
        on = np.flatnonzero(result.session_on[followed, day])
        patients = followed[on]
        charge = result.charge_on[patients, day]
        filt.give_sessions(on, charge, given[patients].copy())
        truth = response.give_sessions(
            truth, pop, protocol, patients, charge, given[patients], model
        )
        given[patients] += 1
        filt.observe_diary(codes[followed, day])
        ended = np.flatnonzero(result.course_end_day[followed] == day)
        filt.observe_measurements(
            ended,
            result.hdss_end[followed[ended]].astype(np.int64),
            result.gravimetry_end_mg_min[followed[ended]],
        )
        filt.end_day()
        if day in check_days:
            out.append(_score(filt, rows, day, truth, pop, followed, true_tau, dry_dose, qs, model))
    return tuple(out)


def _score(
    filt: response_fit.ResponseFilter,
    rows: IntArray,
    day: int,
    truth: ResponseState,
    pop: response.Population,
    followed: IntArray,
    true_tau: FloatArray,
    dry_dose: FloatArray,
    qs: tuple[float, float, float],
    model: response.ResponseSettings,
) -> CoverageRow:
    horizon = filt.settings.horizon_days
    w = filt.weights(rows)
    tau_in = np.zeros(rows.size, dtype=bool)
    dose_in = np.zeros(rows.size, dtype=bool)
    width = np.zeros(rows.size)
    for r in rows.tolist():
        lo, _, hi = response_fit.weighted_quantiles(filt.tau[r], w[r], qs)
        tau_in[r] = lo <= true_tau[r] <= hi
        width[r] = hi / lo
        own = filt.dry_load[r] / filt.kappa[r]
        dlo, _, dhi = response_fit.weighted_quantiles(own, w[r], qs)
        dose_in[r] = dlo <= dry_dose[r] <= dhi
    predicted = response_fit.day_quantiles(filt.days_until_clammy(rows), w, qs, horizon + 1)
    actual = true_days_until_clammy(truth, pop, followed, horizon, model)
    covered = (predicted[:, 0] <= actual) & (actual <= predicted[:, 2])
    informative = (actual > 1) & (actual <= horizon)
    n_inf = int(informative.sum())
    return CoverageRow(
        day=day,
        patients=int(rows.size),
        recovery_covered=float(tau_in.mean()),
        dry_dose_covered=float(dose_in.mean()),
        clammy_covered=float(covered.mean()),
        clammy_informative=n_inf,
        clammy_informative_covered=float(covered[informative].mean()) if n_inf else 0.0,
        clammy_median_abs_error_days=(
            float(np.median(np.abs(predicted[informative, 1] - actual[informative])))
            if n_inf
            else None
        ),
        clammy_median_width_days=(
            float(np.median(predicted[informative, 2] - predicted[informative, 0]))
            if n_inf
            else None
        ),
        recovery_median_width_ratio=float(np.median(width)),
    )


__all__ = [
    "CoverageRow",
    "fit_coverage",
    "sparse_diary",
    "true_days_until_clammy",
    "true_dry_dose",
]
