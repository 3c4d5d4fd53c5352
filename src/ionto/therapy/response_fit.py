"""One patient's own sweat response, fitted from their record; the next session predicted.

Pure: numpy in, frozen dataclasses out; no I/O, no clock; every random draw from a generator
seeded by the settings and by the patient's own record, so the same record always gives the
same answer.

**What is fitted.** The sweat-response model of :mod:`ionto.therapy.response` with its own
population distributions as the prior: a *particle posterior*. Each particle is a virtual
patient drawn from :func:`response.draw_population` (baseline sweat rate, ceiling of
suppression, sensitivity κ, recovery time τ, and glycopyrronium's β and τ_g); each is run
through the patient's recorded sessions (day and delivered charge, as the clinic's or the home
device's record has them) exactly as the model runs a virtual patient, and is weighted by how
well it explains what was observed:

* **diary** (daily dry / slightly / moderately / very wet; days without an entry add nothing):
  an *ordinal* observation model — the rating is the band of the sweat rate over the normal
  cut-off seen through lognormal perception noise, and with a small probability a rating is a
  misreport (any of the four alike). That is the observation model of :mod:`ionto.therapy.diary`
  itself, so contradictory entries lower a particle's weight a little instead of ruling it
  out;
* **HDSS** (1-4) the same way with its own noise, **gravimetry** (mg/min) with lognormal
  measurement noise; both optional.

The posterior is updated day by day (incremental, vectorised over many patients at once for
simulations); when too few particles carry the weight they are resampled and moved a little
(Liu & West's kernel shrinkage), with the load recomputed from the record.

**What is predicted.** The day the skin turns clammy again — the wetter side's sweat rate back
above the normal cut-off (the diary's first "slightly wet") — if no further session is given:
a predictive distribution over days (median and an 80% interval), and the parameters that set
it (recovery time, the load needed to be dry) with their intervals.

**What is recommended.** "A session as soon as the skin turns clammy, before sweating returns"
(Hyperhidrosis UK): the last day on which the chance of having turned clammy before it stays
within a set risk (default 40%). Then, each with its reason and source: never sooner than
twice a week (every 4 days, within ``course.MAINTENANCE_BOUNDS``' 3) after the last session
nor later than about monthly (31 days); the usual weekly interval when even twice a week is
not predicted to keep the patient dry (more sessions would not help: see the nurse); the next
day when the session is overdue; and never earlier than the frequency caps allow
(``frequency.next_session``). With no diary entry at all the prediction is the population's
and the recommendation says so.

The risk, the interval's width, the particle count and the "no benefit" rule are derived
presets (:class:`FitSettings`), not published figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from ionto.therapy import course, frequency, response, sources
from ionto.therapy.course import MAINTENANCE_BOUNDS, MaintenanceBounds
from ionto.therapy.diary import DEFAULT_OBSERVATION, DiaryRating, ObservationSettings
from ionto.therapy.frequency import FREQUENCY_CAPS, FrequencyCaps, SessionDate
from ionto.therapy.protocols import Protocol
from ionto.therapy.reasons import Reason
from ionto.therapy.response import DEFAULT_RESPONSE, FloatArray, IntArray, ResponseSettings
from ionto.therapy.sources import Source

CodeArray = npt.NDArray[np.int8]
UIntArray = npt.NDArray[np.uint64]

FIT_DERIVED = Source(
    key="response_fit_derived",
    citation=(
        "Ionto derived: a particle posterior over the sweat-response model's own population "
        "distributions, with the diary's ordinal observation model; the risk accepted, the "
        "interval's width and the 'no benefit' rule are presets; needs sign-off"
    ),
    grade="D",
)

#: The day of a measurement taken before the first session (the untreated baseline).
BASELINE_DAY = -1


# --- Settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitSettings:
    """How the posterior is computed and how a date is chosen from it (all derived presets).

    * ``particles``: virtual patients drawn from the prior; ``seed`` draws them (the same for
      every patient, so the same record gives the same fit).
    * ``resample_below``: resample once the effective number of particles falls below this
      share of them; ``shrink``: Liu & West's kernel shrinkage *a* (the move's spread is
      √(1 − a²) of the posterior's).
    * ``risk``: the chance of turning clammy before the session that the plan accepts
      ("before sweating returns", Hyperhidrosis UK, has no number).
    * ``interval``: the central probability of the intervals reported (0.8: 10th-90th
      percentile).
    * ``no_benefit_below``: when the chance that sessions at the shortest interval keep the
      patient dry falls below this, the plan does not go below the usual interval.
    * ``shortest_interval_days``: the plan's most frequent sessions, "twice a week" (every 4
      days, the most frequent maintenance preset of therapy.course) — within ``bounds``,
      whose 3 days (Monday to Thursday) a calendar plan may use.
    * ``usual_interval_days``: the usual interval (the UK centre: weekly).
    * ``diary_misreport`` / ``hdss_misreport``: the chance that an entry is any rating at
      random; the diary's is the observation model's share of contradictory entries, never
      below ``min_misreport`` (a model that could not explain a wrong tick would trust it).
    * ``min_noise_sigma``: the lowest perception or measurement noise assumed (log scale), for
      the same reason.
    """

    particles: int = 512
    seed: int = 20270104
    resample_below: float = 0.5
    shrink: float = 0.95
    risk: float = 0.4
    interval: float = 0.8
    no_benefit_below: float = 0.95
    shortest_interval_days: int = course.MAINTENANCE_PLANS["twice_a_week"].interval_days
    usual_interval_days: int = course.DEFAULT_MAINTENANCE.interval_days
    hdss_misreport: float = 0.02
    min_misreport: float = 0.01
    min_noise_sigma: float = 0.05
    response: ResponseSettings = DEFAULT_RESPONSE
    observation: ObservationSettings = DEFAULT_OBSERVATION
    bounds: MaintenanceBounds = MAINTENANCE_BOUNDS
    caps: FrequencyCaps = FREQUENCY_CAPS
    source: Source = FIT_DERIVED

    def __post_init__(self) -> None:
        if not 16 <= self.particles <= 65536:
            raise ValueError(f"particles must be 16 to 65536, got {self.particles}")
        checks = {
            "resample_below": 0 < self.resample_below <= 1,
            "shrink": 0 < self.shrink < 1,
            "risk": 0 < self.risk < 1,
            "interval": 0 < self.interval < 1,
            "no_benefit_below": 0 <= self.no_benefit_below <= 1,
            "hdss_misreport": 0 <= self.hdss_misreport < 1,
            "min_misreport": 0 < self.min_misreport < 1,
            "min_noise_sigma": 0 < self.min_noise_sigma < 2,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name} is out of range: {getattr(self, name)}")
        b = self.bounds
        if not (
            b.min_interval_days
            <= self.shortest_interval_days
            <= self.usual_interval_days
            <= b.max_interval_days
        ):
            raise ValueError(
                "shortest_interval_days <= usual_interval_days must lie within the maintenance "
                f"bounds ({b.min_interval_days}-{b.max_interval_days} days)"
            )

    @property
    def horizon_days(self) -> int:
        """How far ahead the clammy day is predicted: past the longest interval."""
        return self.bounds.max_interval_days + 1


DEFAULT_FIT = FitSettings()


# --- The record --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionGiven:
    """One session as recorded: its day (0: the first session) and the delivered charge."""

    day: int
    charge_mA_min: float


@dataclass(frozen=True)
class Measurement:
    """An HDSS answer (1-4) and/or a gravimetric rate (mg/min) at the end of ``day``
    (:data:`BASELINE_DAY`: before the first session)."""

    day: int
    hdss: int | None = None
    gravimetry_mg_min: float | None = None


@dataclass(frozen=True)
class PatientRecord:
    """What the clinic and the home device know of one patient, up to the end of ``as_of``.

    ``diary[d]`` is the entry of day ``d`` (codes of :class:`DiaryRating`, −1 without one), for
    days 0 to ``as_of``; a shorter diary means the later days have no entry. Day 0 is the first
    session, on ``day_zero``.
    """

    protocol: Protocol
    age_years: float
    as_of: int
    sessions: tuple[SessionGiven, ...]
    diary: CodeArray
    measurements: tuple[Measurement, ...] = ()
    day_zero: date = date(2027, 1, 4)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.age_years) and self.age_years >= 0):
            raise ValueError(f"age_years must be a finite number >= 0, got {self.age_years}")
        if self.as_of < BASELINE_DAY:
            raise ValueError(f"as_of must be {BASELINE_DAY} or later, got {self.as_of}")
        days = [s.day for s in self.sessions]
        if any(b <= a for a, b in pairwise(days)):
            raise ValueError("sessions: days must increase (at most one session a day)")
        if days and not (days[0] >= 0 and days[-1] <= self.as_of):
            raise ValueError(f"sessions: days must lie within 0..as_of ({self.as_of})")
        for s in self.sessions:
            if not (math.isfinite(s.charge_mA_min) and s.charge_mA_min >= 0):
                raise ValueError(f"sessions: charge_mA_min must be finite and >= 0, got {s}")
        codes = np.asarray(self.diary)
        if codes.ndim != 1 or codes.shape[0] > self.as_of + 1:
            raise ValueError("diary: one entry per day from day 0 to as_of")
        if codes.size and (codes.min() < DiaryRating.MISSING or codes.max() > DiaryRating.VERY_WET):
            raise ValueError("diary: entries must be -1 (none) or 0-3 (dry … very wet)")
        for m in self.measurements:
            if not BASELINE_DAY <= m.day <= self.as_of:
                raise ValueError(f"measurements: day must lie within -1..as_of, got {m.day}")
            if m.hdss is not None and m.hdss not in (1, 2, 3, 4):
                raise ValueError(f"measurements: hdss must be 1-4, got {m.hdss}")
            g = m.gravimetry_mg_min
            if g is not None and not (math.isfinite(g) and g > 0):
                raise ValueError(f"measurements: gravimetry_mg_min must be above 0, got {g}")

    @property
    def diary_entries(self) -> int:
        return int(np.count_nonzero(np.asarray(self.diary) >= 0))

    def date_of(self, day: int) -> date:
        return self.day_zero + timedelta(days=day)


# --- Observation models --------------------------------------------------------------------------
#: The table of log-likelihoods runs over ln(ratio) from LN_LOW to LN_HIGH in LN_STEP.
LN_LOW, LN_HIGH, LN_STEP = math.log(0.005), math.log(60.0), 0.004


def ordinal_log_likelihood(
    edges: tuple[float, float, float], sigma: float, misreport: float
) -> FloatArray:
    """(5, J): log P(rating k | ratio) for k = 0..3 on the ln-ratio grid, and a row of zeros
    (no entry). The rating is the band of ratio × exp(σ·z), or with ``misreport`` any band."""
    grid = np.arange(LN_LOW, LN_HIGH + LN_STEP / 2, LN_STEP)
    cuts = [-np.inf, *(math.log(e) for e in edges), np.inf]
    rows = []
    for k in range(4):
        p = _normal_cdf((cuts[k + 1] - grid) / sigma) - _normal_cdf((cuts[k] - grid) / sigma)
        rows.append(np.log((1.0 - misreport) * p + misreport / 4.0))
    rows.append(np.zeros_like(grid))
    return np.asarray(np.stack(rows), dtype=np.float64)


def _normal_cdf(z: FloatArray) -> FloatArray:
    # No scipy in the core: the table is computed once, so math.erfc point by point is fine.
    return np.asarray([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z.tolist()])


def _grid_index(ratio: FloatArray) -> IntArray:
    j = np.log(ratio)
    j -= LN_LOW
    j *= 1.0 / LN_STEP
    np.rint(j, out=j)
    top = round((LN_HIGH - LN_LOW) / LN_STEP)
    np.clip(j, 0, top, out=j)
    return j.astype(np.int64)


# --- The filter --------------------------------------------------------------------------------
_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
#: Transformed parameters moved by the kernel: ln b, logit u, ln κ, ln τ.
_MOVED = 4


def _logit(p: FloatArray) -> FloatArray:
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def _expit(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


class ResponseFilter:
    """The particle posterior of many patients on one protocol, updated day by day.

    Mutable and internal to the fit (like a simulation's ledger): feed it, in order, for each
    day ``d`` from 0: :meth:`begin_day`, the day's :meth:`give_sessions`, :meth:`observe_diary`,
    :meth:`observe_measurements`, then :meth:`end_day`. Baseline measurements (before day 0)
    go before the first :meth:`begin_day`. Rows are patients; a row's arithmetic never depends
    on the other rows, so one patient fitted alone gets exactly what they get in a crowd.
    """

    def __init__(
        self, protocol: Protocol, age_years: float, patients: int, settings: FitSettings
    ) -> None:
        if patients < 1:
            raise ValueError("a filter needs at least one patient")
        self.protocol = protocol
        self.settings = settings
        s, m = settings, settings.particles
        prior = response.draw_population(
            m, protocol.region, age_years, np.random.default_rng(s.seed), s.response
        )
        self.cutoff_mg_min = prior.cutoff.mg_min
        self.area_cm2 = response.treated_area_cm2(protocol, age_years)
        self.runs = response.runs_per_session(protocol)
        self.wave = s.response.waveform_weight[protocol.waveform]
        self.hill = s.response.saturation.hill_exponent
        probe = response.session_exposure(protocol, np.arange(2), self.runs, s.response)
        # Sides that always get the same exposure are one side (halfway reversal, two runs, a
        # one-electrode region): half the work.
        self.sides = 1 if np.array_equal(probe.load_weight[0], probe.load_weight[1]) else 2
        self.drug = bool(probe.drug.any())

        def tile(values: FloatArray) -> FloatArray:
            return np.asarray(np.tile(values, (patients, 1)), dtype=np.float64)

        self.baseline = tile(prior.baseline_mg_min / prior.cutoff.mg_min)
        self.ceiling = tile(prior.max_suppression)
        self.kappa = tile(prior.sensitivity)
        self.tau = tile(prior.recovery_days)
        self.beta = tile(prior.drug_block_per_dose)
        self.decay = np.exp(-1.0 / self.tau)
        self.decay_drug = tile(np.exp(-1.0 / prior.drug_recovery_days))
        self.load = np.zeros((self.sides, patients, m))
        self.block = np.zeros((self.sides, patients, m)) if self.drug else None
        self.logw = np.zeros((patients, m))
        # Normalised weights, kept from the end of each day until the next observation.
        self._weights: FloatArray | None = None
        self._refresh_dry_load(np.arange(patients))
        # The record kept for moves: each session's day and load per unit κ, per side.
        self.session_days = np.zeros((patients, 8), dtype=np.int64)
        self.session_load = np.zeros((self.sides, patients, 8))
        self.session_count = np.zeros(patients, dtype=np.int64)
        self.last_charge = np.full(patients, np.nan)
        self.entries = np.zeros(patients, dtype=np.int64)
        self.digest = np.zeros(patients, dtype=np.uint64)
        self.day = BASELINE_DAY
        obs = s.observation
        self.diary_table = ordinal_log_likelihood(
            obs.band_edges,
            max(obs.diary_sigma, s.min_noise_sigma),
            max(obs.diary_contradictory, s.min_misreport),
        )
        self.hdss_table = ordinal_log_likelihood(
            obs.band_edges,
            max(obs.hdss_sigma, s.min_noise_sigma),
            max(s.hdss_misreport, s.min_misreport),
        )
        self.gravimetry_sigma = max(obs.gravimetry_sigma, s.min_noise_sigma)
        self.bounds_z = (
            (
                math.log(s.response.baseline_over_cutoff.low),
                math.log(s.response.baseline_over_cutoff.high),
            ),
            (
                float(_logit(np.asarray(min(s.response.max_suppression_other.low, 0.5)))),
                float(_logit(np.asarray(s.response.max_suppression_responder.high))),
            ),
            (math.log(s.response.sensitivity.low), math.log(s.response.sensitivity.high)),
            (math.log(s.response.recovery_days.low), math.log(s.response.recovery_days.high)),
        )

    @property
    def patients(self) -> int:
        return int(self.logw.shape[0])

    # --- Dynamics ------------------------------------------------------------------------------
    def _refresh_dry_load(self, rows: IntArray) -> None:
        """The load at which each particle is just dry (∞: never dry), and its logarithm."""
        need = (1.0 - 1.0 / self.baseline[rows]) / self.ceiling[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(need < 1.0, np.power(need / (1.0 - need), 1.0 / self.hill), np.inf)
        if not hasattr(self, "dry_load"):
            self.dry_load = np.zeros_like(self.baseline)
            self.log_dry_load = np.zeros_like(self.baseline)
        self.dry_load[rows] = x
        self.log_dry_load[rows] = np.log(x)

    def begin_day(self, day: int) -> None:
        """Move to ``day``: the load and the block wear off for one day."""
        if day != self.day + 1:
            raise ValueError(f"days go one at a time: at {self.day}, asked for {day}")
        if day > 0:
            self.load *= self.decay
            if self.block is not None:
                self.block *= self.decay_drug
        self.day = day

    def give_sessions(
        self, rows: IntArray, charge_mA_min: FloatArray, session_index: IntArray
    ) -> None:
        """Today's sessions for ``rows``: the model's own dose rule (response.give_sessions)."""
        if rows.size == 0:
            return
        s = self.settings
        density = charge_mA_min / self.runs / self.area_cm2
        exposure = response.session_exposure(self.protocol, session_index, self.runs, s.response)
        per_kappa = self.wave * exposure.load_weight[: self.sides] * density  # (sides, k)
        self.load[:, rows, :] += self.kappa[rows] * per_kappa[:, :, None]
        if self.block is not None and exposure.drug.any():
            rise = 1.0 - np.exp(-self.beta[rows] * density[:, None])
            for side in range(self.sides):
                kept = np.where(exposure.drug[side][:, None], 1.0 - rise, 1.0)
                self.block[side, rows] = 1.0 - (1.0 - self.block[side, rows]) * kept
        self._remember(rows, per_kappa)
        self.last_charge[rows] = charge_mA_min
        self._mix(rows, np.full(rows.size, 7, dtype=np.uint64))

    def _remember(self, rows: IntArray, per_kappa: FloatArray) -> None:
        count = self.session_count[rows]
        if count.max() >= self.session_days.shape[1]:
            grow = self.session_days.shape[1]
            self.session_days = np.pad(self.session_days, ((0, 0), (0, grow)))
            self.session_load = np.pad(self.session_load, ((0, 0), (0, 0), (0, grow)))
        self.session_days[rows, count] = self.day
        self.session_load[:, rows, count] = per_kappa
        self.session_count[rows] += 1

    def _mix(self, rows: IntArray, values: UIntArray) -> None:
        """Fold what was seen into each row's digest (seeds the moves: a function of the
        record alone)."""
        day = np.uint64(self.day + 2)
        self.digest[rows] = (self.digest[rows] * _HASH_MULT + day * np.uint64(16) + values) & (
            np.uint64(0xFFFFFFFFFFFFFFFF)
        )

    def _sel(self, rows: IntArray | None) -> slice | IntArray:
        """Every row as a slice (no copies), else the rows asked for."""
        if rows is None or (
            rows.size == self.patients and rows.size and rows[0] == 0 and rows[-1] == rows.size - 1
            and bool(np.all(np.diff(rows) == 1))
        ):  # fmt: skip
            return slice(None)
        return rows

    def ratio(self, rows: IntArray | None = None) -> FloatArray:
        """(rows, particles): the wetter side's sweat rate over the normal cut-off."""
        sel = self._sel(rows)
        load = self.load[:, sel]
        xh = load * load if self.hill == 2.0 else np.power(load, self.hill)
        # u·xʰ/(1 + xʰ) in place: the arrays are patients × particles.
        denom = xh + 1.0
        xh /= denom
        xh *= self.ceiling[sel]
        np.subtract(1.0, xh, out=xh)
        if self.block is not None:
            xh *= 1.0 - self.block[:, sel]
        worst = xh.max(axis=0) if self.sides > 1 else xh[0]
        worst *= self.baseline[sel]
        return np.asarray(worst, dtype=np.float64)

    # --- Observations --------------------------------------------------------------------------
    def observe_diary(self, codes: CodeArray) -> None:
        """Today's diary entry of every row (−1: none)."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (self.patients,):
            raise ValueError("one diary code per patient")
        seen = codes >= 0
        if not seen.any():
            return
        rows = np.flatnonzero(seen)
        width = self.diary_table.shape[1]
        self._weights = None
        if rows.size * 4 >= self.patients * 3:
            # Most rows have an entry: every row, the others against the table's row of zeros.
            row_code = np.where(seen, codes, 4)
            index = _grid_index(self.ratio())
            index += (row_code * width)[:, None]
            self.logw += self.diary_table.ravel()[index]
        else:
            index = _grid_index(self.ratio(rows))
            index += (codes[rows] * width)[:, None]
            self.logw[rows] += self.diary_table.ravel()[index]
        self.entries[rows] += 1
        self._mix(rows, codes[rows].astype(np.uint64))

    def observe_measurements(
        self, rows: IntArray, hdss: IntArray | None, gravimetry_mg_min: FloatArray | None
    ) -> None:
        """HDSS answers (1-4, 0: none) and/or gravimetric rates (NaN: none) of ``rows`` now."""
        if rows.size == 0:
            return
        self._weights = None
        ratio = self.ratio(rows)
        if hdss is not None:
            has = hdss > 0
            if has.any():
                index = _grid_index(ratio[has])
                width = self.hdss_table.shape[1]
                code = (hdss[has] - 1).astype(np.int64)
                self.logw[rows[has]] += self.hdss_table.ravel()[code[:, None] * width + index]
                self._mix(rows[has], (hdss[has] + 16).astype(np.uint64))
        if gravimetry_mg_min is not None:
            has = np.isfinite(gravimetry_mg_min)
            if has.any():
                z = (
                    np.log(gravimetry_mg_min[has])[:, None]
                    - np.log(ratio[has] * self.cutoff_mg_min)
                ) / self.gravimetry_sigma
                self.logw[rows[has]] += -0.5 * z * z
                self._mix(rows[has], np.full(int(has.sum()), 31, dtype=np.uint64))

    # --- Weights and moves ---------------------------------------------------------------------
    def weights(self, rows: IntArray | None = None) -> FloatArray:
        """(rows, particles), each row summing to 1."""
        if self._weights is None:
            w = np.exp(self.logw - self.logw.max(axis=1, keepdims=True))
            w /= w.sum(axis=1, keepdims=True)
            self._weights = w
        return self._weights[self._sel(rows)]

    def effective_particles(self) -> FloatArray:
        w = self.weights()
        return np.asarray(1.0 / (w * w).sum(axis=1), dtype=np.float64)

    def end_day(self) -> None:
        """Keep the weights in range; resample and move the rows whose weight has collapsed."""
        self.logw -= self.logw.max(axis=1, keepdims=True)
        self._weights = None
        low = np.flatnonzero(
            self.effective_particles() < self.settings.resample_below * self.settings.particles
        )
        if low.size:
            self._resample_move(low)

    def _resample_move(self, rows: IntArray) -> None:
        s, m = self.settings, self.settings.particles
        w = self.weights(rows)
        z = np.stack(
            [
                np.log(self.baseline[rows]),
                _logit(self.ceiling[rows]),
                np.log(self.kappa[rows]),
                np.log(self.tau[rows]),
            ]
        )  # (4, r, m)
        mean = (z * w).sum(axis=2)  # (4, r)
        dev = z - mean[:, :, None]
        cov = np.empty((rows.size, _MOVED, _MOVED))
        for i in range(_MOVED):
            for j in range(i, _MOVED):
                cov[:, i, j] = cov[:, j, i] = (dev[i] * dev[j] * w).sum(axis=1)
        chol = np.linalg.cholesky(cov + 1e-9 * np.eye(_MOVED))
        offsets = np.empty(rows.size)
        noise = np.empty((_MOVED, rows.size, m))
        for k, row in enumerate(rows.tolist()):
            rng = np.random.default_rng([s.seed, self.day + 2, int(self.digest[row])])
            offsets[k] = rng.random()
            noise[:, k, :] = rng.standard_normal((_MOVED, m))
        # Systematic resampling, all rows at once: row r's cumulative weights lie in [r, r+1].
        cum = np.cumsum(w, axis=1) + np.arange(rows.size)[:, None]
        cum[:, -1] = np.arange(1, rows.size + 1)
        positions = (offsets[:, None] + np.arange(m)) / m + np.arange(rows.size)[:, None]
        pick = np.searchsorted(cum.ravel(), positions.ravel(), side="right").reshape(rows.size, m)
        pick = np.minimum(pick - (np.arange(rows.size) * m)[:, None], m - 1)
        a = s.shrink
        h = math.sqrt(1.0 - a * a)
        chosen = np.take_along_axis(z, np.broadcast_to(pick, z.shape), axis=2)
        moved = a * chosen + (1.0 - a) * mean[:, :, None]
        for i in range(_MOVED):
            for j in range(i + 1):
                moved[i] += h * chol[:, i, j][:, None] * noise[j]
        for i, (lo, hi) in enumerate(self.bounds_z):
            np.clip(moved[i], lo, hi, out=moved[i])
        self.baseline[rows] = np.exp(moved[0])
        self.ceiling[rows] = _expit(moved[1])
        self.kappa[rows] = np.exp(moved[2])
        self.tau[rows] = np.exp(moved[3])
        self.decay[rows] = np.exp(-1.0 / self.tau[rows])
        self.beta[rows] = np.take_along_axis(self.beta[rows], pick, axis=1)
        self.decay_drug[rows] = np.take_along_axis(self.decay_drug[rows], pick, axis=1)
        if self.block is not None:
            for side in range(self.sides):
                self.block[side, rows] = np.take_along_axis(self.block[side, rows], pick, axis=1)
        self._reload(rows)
        self._refresh_dry_load(rows)
        self.logw[rows] = 0.0
        if self._weights is not None:
            self._weights[rows] = 1.0 / m

    def _reload(self, rows: IntArray) -> None:
        """The load of ``rows`` today, recomputed from their sessions with the moved κ and τ."""
        count = int(self.session_count[rows].max())
        self.load[:, rows] = 0.0
        if count == 0:
            return
        ago = (self.day - self.session_days[rows, :count]).astype(np.float64)  # (r, k)
        valid = np.arange(count)[None, :] < self.session_count[rows][:, None]
        for k in range(count):
            fade = np.exp(-ago[:, k][:, None] / self.tau[rows])  # (r, m)
            on = valid[:, k][:, None]
            for side in range(self.sides):
                add = self.session_load[side, rows, k][:, None] * fade
                self.load[side, rows] += np.where(on, add, 0.0)
        self.load[:, rows] *= self.kappa[rows]

    def drop(self, keep: IntArray) -> None:
        """Keep only the rows ``keep`` (in that order), e.g. the patients still followed."""
        for name in (
            "baseline", "ceiling", "kappa", "tau", "beta", "decay", "decay_drug", "logw",
            "dry_load", "log_dry_load", "session_days", "session_count", "last_charge",
            "entries", "digest",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name)[keep])
        self._weights = None
        self.load = self.load[:, keep]
        self.session_load = self.session_load[:, keep]
        if self.block is not None:
            self.block = self.block[:, keep]

    # --- Predictions ---------------------------------------------------------------------------
    def days_until_clammy(self, rows: IntArray) -> IntArray:
        """(rows, particles): days after today until the first day that ends clammy without
        another session, 1 to ``horizon_days``, or ``horizon_days + 1`` for later."""
        horizon = self.settings.horizon_days
        if self.block is not None and np.any(self.block[:, rows] > 1e-6):
            return self._days_until_clammy_stepped(rows, horizon)
        sel = self._sel(rows)
        load = self.load[:, sel].min(axis=0) if self.sides > 1 else self.load[0, sel]
        # Dry while load ≥ dry load: load·e^(−k/τ) ≥ x* ⇔ k ≤ τ·ln(load / x*). No load (−∞)
        # or never dry (x* = ∞) is clammy at once; the clip takes ±∞ to the ends.
        with np.errstate(divide="ignore"):
            span = np.log(load)
        span -= self.log_dry_load[sel]
        span *= self.tau[sel]
        days = np.floor(span, out=span)
        days += 1.0
        return np.asarray(np.clip(days, 1, horizon + 1), dtype=np.int64)

    def _days_until_clammy_stepped(self, rows: IntArray, horizon: int) -> IntArray:
        """The same, day by day: glycopyrronium's block wears off at its own pace."""
        assert self.block is not None
        days = np.full((rows.size, self.settings.particles), horizon + 1, dtype=np.int64)
        load, block = self.load[:, rows].copy(), self.block[:, rows].copy()
        for k in range(1, horizon + 1):
            load *= self.decay[rows]
            block *= self.decay_drug[rows]
            xh = np.power(load, self.hill)
            rate = (1.0 - self.ceiling[rows] * xh / (1.0 + xh)) * (1.0 - block)
            wet = self.baseline[rows] * rate.max(axis=0) > 1.0
            days[wet & (days > horizon)] = k
        return days

    def kept_dry_chance(self, rows: IntArray, interval_days: int) -> FloatArray:
        """(rows,): the posterior chance that sessions every ``interval_days`` days, each like
        the last one given, keep the patient dry even on the day before the next session."""
        per_kappa = self._last_session_load(rows)
        q = np.exp(-interval_days / self.tau[rows])
        lowest = self.kappa[rows] * per_kappa[:, None] / (1.0 - q) * q / self.decay[rows]
        kept = lowest >= self.dry_load[rows]
        return np.asarray((self.weights(rows) * kept).sum(axis=1), dtype=np.float64)

    def _last_session_load(self, rows: IntArray) -> FloatArray:
        """Load per unit κ of one more session like the last, on the side that gets less."""
        count = self.session_count[rows]
        out = np.zeros(rows.size)
        has = count > 0
        last = self.session_load[:, rows[has], count[has] - 1]  # (sides, k)
        if self.sides > 1:
            # Sides alternate between sessions: over two sessions each side gets both.
            out[has] = last.sum(axis=0) / 2.0
        else:
            out[has] = last[0]
        return out


# --- Summaries -------------------------------------------------------------------------------
def weighted_quantiles(
    values: FloatArray, weights: FloatArray, qs: tuple[float, ...]
) -> FloatArray:
    """Quantiles of one row of particles (inverted CDF)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    cum /= cum[-1]
    at = np.searchsorted(cum, np.asarray(qs), side="left")
    return np.asarray(values[order][np.minimum(at, values.size - 1)], dtype=np.float64)


def day_quantiles(days: IntArray, weights: FloatArray, qs: tuple[float, ...], top: int) -> IntArray:
    """(rows, len(qs)): weighted quantiles of whole days 1..top per row, by counting."""
    rows = days.shape[0]
    flat = (np.arange(rows)[:, None] * (top + 1) + days).ravel()
    hist = np.bincount(flat, weights=weights.ravel(), minlength=rows * (top + 1))
    cum = np.cumsum(hist.reshape(rows, top + 1), axis=1)
    out = np.empty((rows, len(qs)), dtype=np.int64)
    for k, q in enumerate(qs):
        # The first day whose cumulative weight exceeds q (a tiny tolerance for rounding).
        out[:, k] = np.argmax(cum > q - 1e-12, axis=1)
    return out


@dataclass(frozen=True)
class Estimate:
    """A parameter's posterior: median and the central interval."""

    name: str
    unit: str
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class ClammyPrediction:
    """When the skin turns clammy again without another session (days after ``as_of``).

    ``later`` in ``high`` (or ``median``) means beyond the horizon: more than that many days.
    ``clammy_now``: the chance the skin is already clammy (sweat above normal) today.
    """

    as_of: int
    median_days: int
    low_days: int
    high_days: int
    horizon_days: int
    clammy_now: float

    def days_text(self, value: int) -> str:
        return f"more than {self.horizon_days}" if value > self.horizon_days else str(value)

    def range_text(self) -> str:
        """The interval in words: "in 7–12 days", "in 9 days", "in 20 days or later"."""
        low, high, h = self.low_days, self.high_days, self.horizon_days
        if low > h:
            return f"after more than {h} days"
        if high > h:
            if low <= 1:
                return f"any day from tomorrow to beyond {h} days"
            return f"in {_days_words(low)} or later"
        if low == high:
            return f"in {_days_words(low)}"
        return f"in {low}–{high} days"


@dataclass(frozen=True)
class PatientFit:
    """One patient's posterior and what it predicts."""

    record: PatientRecord
    estimates: tuple[Estimate, ...]
    clammy: ClammyPrediction
    kept_dry_at_shortest: float
    effective_particles: float
    prior_only: bool
    settings: FitSettings

    def estimate(self, name: str) -> Estimate:
        for e in self.estimates:
            if e.name == name:
                return e
        raise KeyError(name)


def replay(record: PatientRecord, settings: FitSettings = DEFAULT_FIT) -> ResponseFilter:
    """A one-patient filter fed the whole record, in the order a simulation feeds it."""
    filt = ResponseFilter(record.protocol, record.age_years, 1, settings)
    one = np.zeros(1, dtype=np.int64)
    by_day: dict[int, list[Measurement]] = {}
    for m in record.measurements:
        by_day.setdefault(m.day, []).append(m)
    sessions = {s.day: s for s in record.sessions}
    diary = np.asarray(record.diary, dtype=np.int8)

    def measure(day: int) -> None:
        for m in by_day.get(day, ()):
            hdss = np.asarray([m.hdss or 0], dtype=np.int64)
            grav = np.asarray([np.nan if m.gravimetry_mg_min is None else m.gravimetry_mg_min])
            filt.observe_measurements(one, hdss, grav)

    measure(BASELINE_DAY)
    given = 0
    for day in range(record.as_of + 1):
        filt.begin_day(day)
        if day in sessions:
            filt.give_sessions(
                one,
                np.asarray([sessions[day].charge_mA_min]),
                np.asarray([given], dtype=np.int64),
            )
            given += 1
        code = int(diary[day]) if day < diary.shape[0] else int(DiaryRating.MISSING)
        filt.observe_diary(np.asarray([code], dtype=np.int8))
        measure(day)
        filt.end_day()
    return filt


def _interval_qs(settings: FitSettings) -> tuple[float, float, float]:
    tail = (1.0 - settings.interval) / 2.0
    return (tail, 0.5, 1.0 - tail)


def summarise(filt: ResponseFilter, row: int, record: PatientRecord) -> PatientFit:
    """The posterior of one row as estimates and a clammy-day prediction."""
    s = filt.settings
    rows = np.asarray([row], dtype=np.int64)
    w = filt.weights(rows)[0]
    qs = _interval_qs(s)

    def est(name: str, unit: str, values: FloatArray) -> Estimate:
        lo, mid, hi = weighted_quantiles(values, w, qs)
        return Estimate(name, unit, float(mid), float(lo), float(hi))

    dry_dose = filt.dry_load[row] / filt.kappa[row]
    estimates = (
        est("recovery_days", "days", filt.tau[row]),
        est("sensitivity", "load per mA·min/cm²", filt.kappa[row]),
        est("dry_dose", "mA·min/cm² of remaining effect to be dry", dry_dose),
        est("baseline_over_cutoff", "× the normal cut-off", filt.baseline[row]),
        est("max_suppression", "fraction", filt.ceiling[row]),
    )
    days = filt.days_until_clammy(rows)
    low, mid, high = day_quantiles(days, w[None, :], qs, s.horizon_days + 1)[0]
    clammy_now = min(1.0, float((w * (filt.ratio(rows)[0] > 1.0)).sum()))
    return PatientFit(
        record=record,
        estimates=estimates,
        clammy=ClammyPrediction(
            as_of=record.as_of,
            median_days=int(mid),
            low_days=int(low),
            high_days=int(high),
            horizon_days=s.horizon_days,
            clammy_now=clammy_now,
        ),
        kept_dry_at_shortest=float(filt.kept_dry_chance(rows, s.shortest_interval_days)[0]),
        effective_particles=float(1.0 / (w * w).sum()),
        prior_only=record.diary_entries == 0,
        settings=s,
    )


def fit_patient(record: PatientRecord, settings: FitSettings = DEFAULT_FIT) -> PatientFit:
    """The patient's posterior from their own record (see the module doc)."""
    return summarise(replay(record, settings), 0, record)


# --- The plan ------------------------------------------------------------------------------------
#: Which rule set the proposed day (before the frequency caps), as a small integer per row.
RULE_PREDICTED, RULE_SHORTEST, RULE_LONGEST, RULE_NO_BENEFIT, RULE_TOMORROW = range(5)


@dataclass(frozen=True)
class PlannedDays:
    """The plan's day for each row, before the frequency caps, and the rule that set it."""

    day: IntArray
    rule: IntArray
    predicted: IntArray


def plan_days(
    filt: ResponseFilter, rows: IntArray, last_session_day: IntArray, as_of: int
) -> PlannedDays:
    """The next session day of ``rows`` (vectorised), from the state at the end of ``as_of``.

    The last day on which the chance of having turned clammy before it stays within the
    accepted risk; then the maintenance bounds after the last session; the usual interval when
    even the shortest would not keep the patient dry; never before tomorrow.
    """
    s = filt.settings
    bounds = s.bounds
    w = filt.weights(rows)
    top = s.horizon_days + 1
    days = filt.days_until_clammy(rows)
    # Session on day as_of + k: clammy before it means clammy within k - 1 days. The first k
    # whose cumulative chance exceeds the risk is the last one that keeps within it.
    (k,) = day_quantiles(days, w, (s.risk,), top).T
    predicted = as_of + np.maximum(k, 1)
    day = predicted.copy()
    rule = np.full(rows.size, RULE_PREDICTED, dtype=np.int64)
    has_last = last_session_day >= 0
    shortest = last_session_day + s.shortest_interval_days
    longest = last_session_day + bounds.max_interval_days
    too_soon = has_last & (day < shortest)
    day[too_soon], rule[too_soon] = shortest[too_soon], RULE_SHORTEST
    too_late = has_last & (day > longest)
    day[too_late], rule[too_late] = longest[too_late], RULE_LONGEST
    short = has_last & (day < last_session_day + s.usual_interval_days)
    if short.any():
        idx = np.flatnonzero(short)
        chance = filt.kept_dry_chance(rows[idx], s.shortest_interval_days)
        futile = idx[chance < s.no_benefit_below]
        day[futile] = last_session_day[futile] + s.usual_interval_days
        rule[futile] = RULE_NO_BENEFIT
    early = day <= as_of
    day[early], rule[early] = as_of + 1, RULE_TOMORROW
    return PlannedDays(day=day, rule=rule, predicted=predicted)


@dataclass(frozen=True)
class Recommendation:
    """The next session: its day and date, how sure, and every rule that set it.

    ``reasons`` list the prediction first, then each rule that moved the date (the last one
    decides); ``moved_by`` is the code of the rule that set the final date.
    """

    day: int
    on: date
    in_days: int
    fit: PatientFit
    clammy_before_session: float
    moved_by: str
    reasons: tuple[Reason, ...]
    text: str


def _days_words(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def recommend_next_session(
    record: PatientRecord, settings: FitSettings = DEFAULT_FIT
) -> Recommendation:
    """The next session for one patient from their own record (see the module doc)."""
    filt = replay(record, settings)
    fit = summarise(filt, 0, record)
    rows = np.asarray([0], dtype=np.int64)
    last = record.sessions[-1].day if record.sessions else -1
    planned = plan_days(filt, rows, np.asarray([last]), record.as_of)
    day, rule = int(planned.day[0]), int(planned.rule[0])
    bounds = settings.bounds
    c = fit.clammy
    reasons: list[Reason] = []
    if fit.prior_only:
        reasons.append(
            Reason(
                "no_diary_population_prior",
                "No diary entries yet: the timing below is the population's (the model's "
                "prior), not yet this patient's own. Keep the diary daily to make it theirs.",
                response.RESPONSE_MODEL_DERIVED,
            )
        )
    reasons.append(
        Reason(
            "predicted_clammy",
            f"Skin predicted to turn clammy again in {c.days_text(c.median_days)} days "
            f"(likely {c.range_text()}: {settings.interval:.0%} interval); a session is due "
            f"by then, accepting a {settings.risk:.0%} chance of turning clammy first.",
            sources.HYPERHIDROSIS_UK,
        )
    )
    moved_by = "predicted_clammy"
    if rule == RULE_SHORTEST:
        moved_by = "maintenance_shortest_interval"
        reasons.append(
            Reason(
                moved_by,
                f"Not sooner than {settings.shortest_interval_days} days after the last "
                "session (maintenance at most twice a week).",
                course.MAINTENANCE_PLANS["twice_a_week"].source,
            )
        )
    elif rule == RULE_LONGEST:
        moved_by = "maintenance_longest_interval"
        reasons.append(
            Reason(
                moved_by,
                f"Not later than {bounds.max_interval_days} days after the last session "
                "(maintenance to about monthly).",
                bounds.source,
            )
        )
    elif rule == RULE_NO_BENEFIT:
        moved_by = "no_benefit_from_more_sessions"
        reasons.append(
            Reason(
                moved_by,
                f"Sessions every {settings.shortest_interval_days} days are not predicted to keep "
                f"the skin dry (chance {fit.kept_dry_at_shortest:.0%}): the usual interval of "
                f"{settings.usual_interval_days} days instead. Please see your nurse.",
                settings.source,
            )
        )
    elif rule == RULE_TOMORROW:
        moved_by = "due_now"
        reasons.append(
            Reason(
                moved_by,
                "The session is due already: the first day possible.",
                sources.HYPERHIDROSIS_UK,
            )
        )
    caps = frequency.next_session(
        [SessionDate(record.date_of(s.day), record.protocol.solution) for s in record.sessions],
        record.protocol.solution,
        not_before=record.date_of(day),
        caps=settings.caps,
    )
    final = (caps.on - record.day_zero).days
    if final > day:
        for limit in caps.binding:
            reasons.append(Reason(limit.code, limit.text, limit.source))
        moved_by = caps.binding[-1].code if caps.binding else moved_by
    in_days = final - record.as_of
    risk = _clammy_before(filt, final - record.as_of)
    text = (
        f"Next session {frequency.day_text(record.date_of(final))}, in {_days_words(in_days)} "
        f"(skin likely to turn clammy {c.range_text()}; chance of turning clammy before "
        f"it {risk:.0%})."
    )
    if moved_by != "predicted_clammy":
        text += f" {reasons[-1].text}"
    if fit.prior_only:
        text += " Based on the population, not yet on your diary."
    return Recommendation(
        day=final,
        on=record.date_of(final),
        in_days=in_days,
        fit=fit,
        clammy_before_session=risk,
        moved_by=moved_by,
        reasons=tuple(reasons),
        text=text,
    )


def _clammy_before(filt: ResponseFilter, k: int) -> float:
    """The chance of a clammy day before a session ``k`` days ahead."""
    rows = np.asarray([0], dtype=np.int64)
    days = filt.days_until_clammy(rows)[0]
    return min(1.0, float((filt.weights(rows)[0] * (days <= k - 1)).sum()))


__all__ = [
    "BASELINE_DAY",
    "DEFAULT_FIT",
    "FIT_DERIVED",
    "ClammyPrediction",
    "Estimate",
    "FitSettings",
    "Measurement",
    "PatientFit",
    "PatientRecord",
    "PlannedDays",
    "Recommendation",
    "ResponseFilter",
    "SessionGiven",
    "fit_patient",
    "plan_days",
    "recommend_next_session",
    "replay",
]
