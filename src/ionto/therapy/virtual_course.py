"""Whole courses for virtual patients: the trial course, then 26 weeks of home maintenance.

Pure and vectorised over patients (numpy), one day at a time: the sweat-response model of
:mod:`ionto.therapy.response` answers each session; the therapy core decides everything a
clinic would decide:

* the **initial course** is an induction preset of :mod:`ionto.therapy.course` (default: the
  trial service's 10 sessions in 4 weeks; glycopyrronium: 4 sessions a week apart, the
  verdict's glycopyrronium trial), checked by ``course.validate_course``;
* **tolerance** is an outcome: the nurse sets the highest tolerable current up to the
  protocol's target (``response.tolerated_current_mA``); a patient who cannot tolerate the
  therapeutic current (``verdict.therapeutic_current``) stops after
  ``not_tolerated_after`` sessions (the verdict's 3);
* the **verdict** after the course, as ``verdict.judge_course`` rules it: HDSS down by at least
  1 point to at most 2, and tolerated. Only then does the patient go on to home maintenance;
* **maintenance** follows a :class:`MaintenancePolicy` — "given the history so far, when is the
  next session" — clamped so that no session comes earlier than the frequency caps allow
  (``frequency.earliest_next_session``). ``fixed:N`` (every N days, within the maintenance
  bounds of ``course.MAINTENANCE_BOUNDS``), ``none`` and ``adaptive``
  (:class:`AdaptiveMaintenance`: each patient's own fitted plan, ``therapy.response_fit``,
  replanned every morning from a batch posterior fed only what is observed) are built in.

Day 0 is the first session of the course; the horizon is 26 weeks (182 days). The latent state
is read at the end of each day (after that day's session).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ionto.therapy import course, diary, frequency, response, response_fit, verdict
from ionto.therapy.frequency import FREQUENCY_CAPS, FrequencyCaps, SessionDate
from ionto.therapy.protocols import Protocol as TherapyProtocol
from ionto.therapy.response import (
    DEFAULT_RESPONSE,
    DEFAULT_TOLERANCE,
    BoolArray,
    FloatArray,
    IntArray,
    Population,
    ResponseSettings,
    ResponseState,
    ToleranceSettings,
)
from ionto.therapy.vocabulary import Solution

CodeArray = npt.NDArray[np.int8]

#: 26 weeks (shared/CONTRACT.md: "home maintenance for 26 weeks").
HORIZON_DAYS = 26 * 7
#: Day 0 on the calendar. Only the frequency caps look at dates (a calendar week starts on a
#: Monday), so an arbitrary Monday.
DAY_ZERO = date(2027, 1, 4)
NEVER = -1


def day_date(day: int) -> date:
    return DAY_ZERO + timedelta(days=day)


# --- Caps ------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def _earliest_offset(
    recent: tuple[int, ...], proposed: int, solution: Solution, caps: FrequencyCaps
) -> int:
    # Days relative to a Monday at or before the first of ``recent`` (see the caller), so
    # that patients on the same pattern share one answer.
    history = [SessionDate(day_date(d), solution) for d in recent]
    allowed = frequency.earliest_next_session(
        history, solution, not_before=day_date(proposed), caps=caps
    )
    return (allowed - DAY_ZERO).days


def earliest_allowed_day(
    session_days: Sequence[int],
    proposed: int,
    solution: Solution,
    caps: FrequencyCaps = FREQUENCY_CAPS,
) -> int:
    """``proposed``, or the first later day on which a session keeps every frequency cap.

    Only the last ``max_sessions_per_week`` sessions can bind (1 a day, 5 in any 7 days, and
    glycopyrronium's 7 days after the last treatment when every session is glycopyrronium).
    """
    recent = sorted(session_days)[-caps.max_sessions_per_week :]
    if not recent:
        return proposed
    # Shift by whole weeks only, so a calendar week keeps its weekdays.
    base = recent[0] - recent[0] % 7
    key = tuple(d - base for d in recent)
    return base + _earliest_offset(key, proposed - base, solution, caps)


def shortest_steady_interval(solution: Solution, caps: FrequencyCaps = FREQUENCY_CAPS) -> int:
    """The shortest gap N for which sessions every N days keep every cap indefinitely."""
    for gap in range(1, 32):
        series = [SessionDate(day_date(k * gap), solution) for k in range(2 * 7)]
        if not frequency.check_frequency(series, caps):
            return gap
    raise ValueError("no interval up to 31 days keeps the frequency caps")  # pragma: no cover


# --- Maintenance policies --------------------------------------------------------------------
@dataclass(frozen=True)
class PatientHistory:
    """What a maintenance policy may know of one patient on ``today``: the sessions given (day
    and delivered charge, as the device records them) and the diary entries so far (codes of
    ``diary.DiaryRating``, −1 where missing), the clinic's HDSS and gravimetry, the protocol
    and the patient's age — never the latent state."""

    patient: int
    today: int
    session_days: tuple[int, ...]
    course_sessions: int
    diary: CodeArray
    solution: Solution
    protocol: TherapyProtocol
    age_years: float
    session_charge_mA_min: tuple[float, ...] = ()
    measurements: tuple[response_fit.Measurement, ...] = ()

    def record(self) -> response_fit.PatientRecord:
        """The history as the fitting module reads it."""
        return response_fit.PatientRecord(
            protocol=self.protocol,
            age_years=self.age_years,
            as_of=self.today,
            sessions=tuple(
                response_fit.SessionGiven(d, c)
                for d, c in zip(self.session_days, self.session_charge_mA_min, strict=True)
            ),
            diary=self.diary[: self.today + 1],
            measurements=self.measurements,
            day_zero=DAY_ZERO,
        )


@runtime_checkable
class MaintenancePolicy(Protocol):
    """When the next home session is due, from the history so far.

    ``next_session_day`` returns a day (≥ ``history.today``; today means a session today) or
    ``None`` for no further session. The simulator asks after every session, and also every
    day when ``replans_daily`` is true (so a policy can react to the diary). Whatever it
    answers is moved later if a frequency cap requires it.
    """

    @property
    def name(self) -> str: ...

    @property
    def replans_daily(self) -> bool: ...

    def next_session_day(self, history: PatientHistory) -> int | None: ...


@runtime_checkable
class VectorisedPolicy(Protocol):
    """A policy that can also answer for many patients at once from their last session day
    (−1 for none); the answers must equal ``next_session_day`` patient by patient."""

    def next_days(self, last_session_day: IntArray) -> IntArray: ...


@dataclass(frozen=True)
class FixedInterval:
    """A session every ``interval_days`` days after the last one (``fixed:N``)."""

    interval_days: int
    replans_daily: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        bounds = course.MAINTENANCE_BOUNDS
        if not bounds.min_interval_days <= self.interval_days <= bounds.max_interval_days:
            raise ValueError(
                f"maintenance every {self.interval_days} days is outside the published range: "
                f"every {bounds.min_interval_days} to {bounds.max_interval_days} days, from "
                f"twice a week to about monthly ({bounds.source.citation})"
            )

    @property
    def name(self) -> str:
        return f"fixed:{self.interval_days}"

    def next_session_day(self, history: PatientHistory) -> int | None:
        return history.session_days[-1] + self.interval_days

    def next_days(self, last_session_day: IntArray) -> IntArray:
        return np.asarray(last_session_day + self.interval_days, dtype=np.int64)


@dataclass(frozen=True)
class NoMaintenance:
    """No sessions after the initial course (for relapse figures)."""

    replans_daily: bool = field(default=False, init=False)

    @property
    def name(self) -> str:
        return "none"

    def next_session_day(self, history: PatientHistory) -> int | None:  # noqa: ARG002 - the interface
        return None

    def next_days(self, last_session_day: IntArray) -> IntArray:
        return np.full(last_session_day.shape, NEVER, dtype=np.int64)


@runtime_checkable
class BatchPolicy(Protocol):
    """A policy that replans many patients at once from a posterior the simulator feeds with
    what is observed — sessions (day, delivered charge), diary entries, HDSS and gravimetry —
    and nothing else. Its answers must equal ``next_session_day`` patient by patient."""

    def start_batch(
        self, protocol: TherapyProtocol, age_years: float, patients: int
    ) -> response_fit.ResponseFilter: ...

    def plan_batch(
        self,
        filt: response_fit.ResponseFilter,
        rows: IntArray,
        last_session_day: IntArray,
        as_of: int,
    ) -> IntArray: ...


@dataclass(frozen=True)
class AdaptiveMaintenance:
    """``adaptive``: each patient's next session from their own record (response_fit).

    A session on the last day the patient's own posterior keeps the chance of having turned
    clammy before it within the accepted risk — "a session as soon as the skin turns clammy,
    before sweating returns" (Hyperhidrosis UK) — within the maintenance bounds, the usual
    interval when more sessions are not predicted to help, replanned every morning from the
    diary. Sees only the history.
    """

    fit: response_fit.FitSettings = response_fit.DEFAULT_FIT
    replans_daily: bool = field(default=True, init=False)

    @property
    def name(self) -> str:
        return "adaptive"

    def next_session_day(self, history: PatientHistory) -> int | None:
        return response_fit.recommend_next_session(history.record(), self.fit).day

    def start_batch(
        self, protocol: TherapyProtocol, age_years: float, patients: int
    ) -> response_fit.ResponseFilter:
        return response_fit.ResponseFilter(protocol, age_years, patients, self.fit)

    def plan_batch(
        self,
        filt: response_fit.ResponseFilter,
        rows: IntArray,
        last_session_day: IntArray,
        as_of: int,
    ) -> IntArray:
        return response_fit.plan_days(filt, rows, last_session_day, as_of).day


class PolicyNotAvailableError(ValueError):
    """A policy that is named in the contract but not built yet."""


#: The policies the contract names that are not yet built (none left since issue 6).
NOT_YET_AVAILABLE: frozenset[str] = frozenset()


def parse_policy(text: str) -> MaintenancePolicy:
    """``none``, ``fixed:N`` (N days, within the maintenance bounds) or ``adaptive``; a policy
    named but not built would be refused with :class:`PolicyNotAvailableError` — never a
    silent fallback."""
    if text == "none":
        return NoMaintenance()
    if text == "adaptive":
        return AdaptiveMaintenance()
    if text in NOT_YET_AVAILABLE:
        raise PolicyNotAvailableError(
            f"maintenance policy {text!r} is not yet available; use fixed:N or none"
        )
    kind, colon, arg = text.partition(":")
    if kind == "fixed" and colon:
        try:
            days = int(arg)
        except ValueError:
            raise ValueError(f"fixed:N needs a whole number of days, got {arg!r}") from None
        return FixedInterval(days)
    raise ValueError(f"unknown maintenance policy {text!r}: expected fixed:N, none or adaptive")


# --- Doses -----------------------------------------------------------------------------------
class DoseSource(Protocol):
    """Where a session's delivered charge comes from: the analytic plan, or a device."""

    def delivered_mA_min(
        self, patients: IntArray, current_mA: FloatArray, session_index: IntArray, day: int
    ) -> FloatArray: ...


@dataclass(frozen=True)
class AnalyticDose:
    """The session controller's plan at the set current (fast; what the device delivers)."""

    protocol: TherapyProtocol

    def delivered_mA_min(
        self,
        patients: IntArray,  # noqa: ARG002 - the interface: every patient gets the plan
        current_mA: FloatArray,
        session_index: IntArray,  # noqa: ARG002
        day: int,  # noqa: ARG002
    ) -> FloatArray:
        return response.session_charge_mA_min(self.protocol, current_mA)


# --- The course ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CourseSetup:
    """A protocol and the initial course it is given in."""

    protocol: TherapyProtocol
    age_years: float
    induction_days: tuple[int, ...]
    induction_name: str
    horizon_days: int = HORIZON_DAYS
    caps: FrequencyCaps = FREQUENCY_CAPS
    verdict_settings: verdict.VerdictSettings = verdict.DEFAULT_VERDICT

    def __post_init__(self) -> None:
        days = self.induction_days
        if not days or days[0] != 0 or any(b <= a for a, b in pairwise(days)):
            raise ValueError("induction days start at 0 and increase")
        if days[-1] >= self.horizon_days:
            raise ValueError("the initial course must end within the horizon")


def course_setup(
    protocol: TherapyProtocol,
    age_years: float,
    induction: str = course.DEFAULT_INDUCTION,
    *,
    horizon_days: int = HORIZON_DAYS,
) -> CourseSetup:
    """The initial course for ``protocol``: an induction preset of therapy.course for tap
    water; for glycopyrronium the verdict's trial (4 sessions, 7 days apart: Robinul SmPC)."""
    settings = verdict.DEFAULT_VERDICT
    if protocol.solution is Solution.GLYCOPYRRONIUM:
        gap = settings.glycopyrronium_min_interval_days
        days = tuple(k * gap for k in range(settings.glycopyrronium_trial_sessions))
        name = "glycopyrronium_trial"
        rules = course.GLYCOPYRRONIUM_COURSE
    else:
        dates = course.induction_dates(induction, DAY_ZERO)
        days = tuple((d - DAY_ZERO).days for d in dates)
        name = induction
        rules = course.induction_schedule(induction).rules
    broken = course.validate_course([day_date(d) for d in days], rules, solution=protocol.solution)
    if broken:  # pragma: no cover - the presets keep their own rules (tested in therapy.course)
        raise ValueError(" ".join(v.reason.text for v in broken))
    return CourseSetup(
        protocol=protocol,
        age_years=age_years,
        induction_days=days,
        induction_name=name,
        horizon_days=horizon_days,
    )


# --- Results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CourseResult:
    """Every patient's course and maintenance, one array entry per patient.

    Day numbers count from the first session (−1: never). ``first_dry_session`` and
    ``noticed_session`` count the sessions given by that day (0: never).
    """

    setup: CourseSetup
    policy_name: str
    population: Population
    current_mA: FloatArray
    tolerated: BoolArray
    course_sessions: IntArray
    course_end_day: IntArray
    responder: BoolArray
    hdss_baseline: CodeArray
    hdss_end: CodeArray
    gravimetry_baseline_mg_min: FloatArray
    gravimetry_end_mg_min: FloatArray
    course_works: BoolArray
    sessions: IntArray
    maintenance_sessions: IntArray
    first_dry_day: IntArray
    first_dry_session: IntArray
    noticed_session: IntArray
    relapse_day: IntArray
    home_days: IntArray
    dry_home_days: IntArray
    state_at_course_end: ResponseState
    final_state: ResponseState
    #: (patients, days): the wetter side's sweat rate over the normal cut-off, end of day.
    daily_ratio: npt.NDArray[np.float32] | None = None
    #: (patients, days): a session that day.
    session_on: BoolArray | None = None
    #: (patients, days): diary entries (codes of diary.DiaryRating; −1 missing).
    diary_codes: CodeArray | None = None
    #: (patients, days): the charge delivered that day, mA·min (0: no session).
    charge_on: FloatArray | None = None


def patient_history(result: CourseResult, patient: int, today: int) -> PatientHistory:
    """What a policy is shown of ``patient`` at the end of ``today`` (needs ``keep_daily``):
    the sessions and charges up to today, the diary from day 0 to today, the baseline HDSS
    and gravimetry, and the follow-up ones once the course has ended."""
    if result.session_on is None or result.diary_codes is None or result.charge_on is None:
        raise ValueError("patient_history needs a result simulated with keep_daily=True")
    days = np.flatnonzero(result.session_on[patient, : today + 1])
    measurements = [
        response_fit.Measurement(
            response_fit.BASELINE_DAY,
            int(result.hdss_baseline[patient]),
            float(result.gravimetry_baseline_mg_min[patient]),
        )
    ]
    end = int(result.course_end_day[patient])
    if end != NEVER and end <= today:
        measurements.append(
            response_fit.Measurement(
                end, int(result.hdss_end[patient]), float(result.gravimetry_end_mg_min[patient])
            )
        )
    protocol = result.setup.protocol
    return PatientHistory(
        patient=patient,
        today=today,
        session_days=tuple(int(d) for d in days),
        course_sessions=int(result.course_sessions[patient]),
        diary=result.diary_codes[patient, : today + 1].copy(),
        solution=protocol.solution,
        protocol=protocol,
        age_years=result.population.age_years,
        session_charge_mA_min=tuple(float(result.charge_on[patient, d]) for d in days),
        measurements=tuple(measurements),
    )


def simulate_courses(
    setup: CourseSetup,
    population: Population,
    policy: MaintenancePolicy,
    rng: np.random.Generator,
    *,
    dose: DoseSource | None = None,
    settings: ResponseSettings = DEFAULT_RESPONSE,
    tolerance: ToleranceSettings = DEFAULT_TOLERANCE,
    observation: diary.ObservationSettings = diary.DEFAULT_OBSERVATION,
    keep_daily: bool = False,
) -> CourseResult:
    """Simulate the course and maintenance of every patient of ``population``.

    Deterministic for the same generator state: observation noise comes from child streams
    of ``rng``, so the same patients see the same noise whatever the policy.
    """
    return _Simulation(
        setup, population, policy, rng, dose, settings, tolerance, observation, keep_daily
    ).run()


@dataclass
class _Ledger:
    """Every patient's course so far, one array entry per patient (mutable, internal)."""

    next_day: IntArray
    sessions: IntArray
    #: The last few session days (−1: none), newest last: what the frequency caps look at.
    recent: IntArray
    in_course: BoolArray
    at_home: BoolArray
    course_end: IntArray
    course_sessions: IntArray
    responder: BoolArray
    works: BoolArray
    hdss_end: CodeArray
    gravimetry_end: FloatArray
    first_dry_day: IntArray
    first_dry_session: IntArray
    noticed: IntArray
    relapse_day: IntArray
    home_days: IntArray
    dry_home_days: IntArray
    #: Every session day of every patient, kept only for policies that read the history,
    #: with each session's delivered charge and the clinic's measurements.
    history: list[list[int]]
    charges: list[list[float]]
    measurements: list[list[response_fit.Measurement]]

    @classmethod
    def start(cls, n: int, recent_kept: int, keep_history: bool) -> _Ledger:
        def never() -> IntArray:
            return np.full(n, NEVER, dtype=np.int64)

        def zeros() -> IntArray:
            return np.zeros(n, dtype=np.int64)

        return cls(
            next_day=zeros(),  # everyone's course starts on day 0
            sessions=zeros(),
            recent=np.full((n, recent_kept), NEVER, dtype=np.int64),
            in_course=np.ones(n, dtype=bool),
            at_home=np.zeros(n, dtype=bool),
            course_end=never(),
            course_sessions=zeros(),
            responder=np.zeros(n, dtype=bool),
            works=np.zeros(n, dtype=bool),
            hdss_end=np.zeros(n, dtype=np.int8),
            gravimetry_end=np.zeros(n),
            first_dry_day=never(),
            first_dry_session=zeros(),
            noticed=zeros(),
            relapse_day=never(),
            home_days=zeros(),
            dry_home_days=zeros(),
            history=[[] for _ in range(n)] if keep_history else [],
            charges=[[] for _ in range(n)] if keep_history else [],
            measurements=[[] for _ in range(n)] if keep_history else [],
        )


@dataclass
class _Daily:
    """The optional day-by-day record (patients × days)."""

    ratio: npt.NDArray[np.float32] | None
    session_on: BoolArray | None
    diary: CodeArray | None
    charge: FloatArray | None = None


class _Simulation:
    """The day loop of :func:`simulate_courses`."""

    def __init__(
        self,
        setup: CourseSetup,
        population: Population,
        policy: MaintenancePolicy,
        rng: np.random.Generator,
        dose: DoseSource | None,
        settings: ResponseSettings,
        tolerance: ToleranceSettings,
        observation: diary.ObservationSettings,
        keep_daily: bool,
    ) -> None:
        self.setup = setup
        self.pop = population
        self.policy = policy
        self.dose: DoseSource = dose if dose is not None else AnalyticDose(setup.protocol)
        self.settings = settings
        self.observation = observation
        self.keep_daily = keep_daily
        self.hdss_rng, self.gravimetry_rng, self.diary_rng = rng.spawn(3)
        protocol = setup.protocol
        self.solution = protocol.solution
        self.induction = np.asarray(setup.induction_days, dtype=np.int64)
        self.current = response.tolerated_current_mA(protocol, population, tolerance)
        therapeutic = verdict.therapeutic_current(
            population.age_years, protocol.region, protocol.solution, setup.verdict_settings
        ).value_mA
        self.tolerated = self.current >= therapeutic
        self.vectorised = isinstance(policy, VectorisedPolicy) and not policy.replans_daily
        self.fixed_interval = (
            max(policy.interval_days, shortest_steady_interval(self.solution, setup.caps))
            if isinstance(policy, FixedInterval)
            else None
        )
        n = population.size
        self.ledger = _Ledger.start(n, setup.caps.max_sessions_per_week, not self.vectorised)
        horizon = setup.horizon_days
        needs_diary = keep_daily or not self.vectorised
        self.daily = _Daily(
            ratio=np.zeros((n, horizon), dtype=np.float32) if keep_daily else None,
            session_on=np.zeros((n, horizon), dtype=bool) if keep_daily else None,
            diary=np.full((n, horizon), diary.DiaryRating.MISSING, dtype=np.int8)
            if needs_diary
            else None,
            charge=np.zeros((n, horizon)) if keep_daily else None,
        )
        baseline_ratio = population.baseline_mg_min / population.cutoff.mg_min
        self.baseline_band = diary.band(baseline_ratio, observation)
        self.hdss_baseline = diary.hdss_scores(baseline_ratio, self.hdss_rng, observation)
        self.gravimetry_baseline = diary.gravimetry_mg_min(
            population.baseline_mg_min, self.gravimetry_rng, observation
        )
        self.state = ResponseState.untreated(n)
        self.state_at_course_end = self.state
        # A batch policy's posterior, fed only what is observed; row r follows patient
        # followed[r] (patients who leave maintenance are dropped).
        self.batch = policy if isinstance(policy, BatchPolicy) else None
        self.filter = (
            self.batch.start_batch(protocol, population.age_years, n)
            if self.batch is not None
            else None
        )
        self.followed = np.arange(n)
        self.row_of = np.arange(n)
        self._measure(
            np.arange(n),
            response_fit.BASELINE_DAY,
            self.hdss_baseline,
            self.gravimetry_baseline,
        )

    def run(self) -> CourseResult:
        for day in range(self.setup.horizon_days):
            if day:
                self.state = response.recover(self.state, self.pop, 1.0)
            if self.policy.replans_daily:
                self._replan(day)
            if self.filter is not None:
                self.filter.begin_day(day)
            finished = self._give_sessions(day)
            ratio = response.worse_side_over_cutoff(self.state, self.pop, self.settings)
            self._observe(day, ratio)
            if finished.size:
                self._end_course(day, finished, ratio)
            if self.filter is not None:
                self.filter.end_day()
            self._tally(day, ratio)
        return self._result()

    def _measure(
        self, patients: IntArray, day: int, hdss: CodeArray, gravimetry_mg_min: FloatArray
    ) -> None:
        """HDSS and gravimetry of ``patients`` at the end of ``day``, for the policy's record."""
        led = self.ledger
        for k, i in enumerate(patients.tolist() if led.measurements else ()):
            led.measurements[i].append(
                response_fit.Measurement(day, int(hdss[k]), float(gravimetry_mg_min[k]))
            )
        if self.filter is not None:
            rows = self.row_of[patients]
            kept = rows >= 0
            self.filter.observe_measurements(
                rows[kept], hdss[kept].astype(np.int64), gravimetry_mg_min[kept]
            )

    # --- One day ------------------------------------------------------------------------------
    def _give_sessions(self, day: int) -> IntArray:
        """Today's sessions; returns the patients whose initial course ended with them."""
        led = self.ledger
        due = np.flatnonzero(led.next_day == day)
        if not due.size:
            return due
        charge = self.dose.delivered_mA_min(due, self.current[due], led.sessions[due], day)
        if self.daily.charge is not None:
            self.daily.charge[due, day] = charge
        if self.filter is not None:
            rows = self.row_of[due]
            kept = rows >= 0
            self.filter.give_sessions(rows[kept], charge[kept], led.sessions[due][kept])
        self.state = response.give_sessions(
            self.state, self.pop, self.setup.protocol, due, charge, led.sessions[due], self.settings
        )
        led.sessions[due] += 1
        led.recent[due, :-1] = led.recent[due, 1:]
        led.recent[due, -1] = day
        if self.daily.session_on is not None:
            self.daily.session_on[due, day] = True
        for k, i in enumerate(due.tolist() if led.history else ()):
            led.history[i].append(day)
            led.charges[i].append(float(charge[k]))
        # The course: the next induction day, or its end (all of it, or the sessions given
        # before intolerance ends it: the verdict's "not tolerated after 3").
        c = due[led.in_course[due]]
        given = led.sessions[c]
        stop_after = self.setup.verdict_settings.not_tolerated_after
        ended = (given >= self.induction.size) | (~self.tolerated[c] & (given >= stop_after))
        led.next_day[c[~ended]] = self.induction[given[~ended]]
        finished = c[ended]
        led.next_day[finished] = NEVER
        led.in_course[finished] = False
        led.course_end[finished] = day
        led.course_sessions[finished] = led.sessions[finished]
        home = due[led.at_home[due]]
        if home.size:
            self._schedule(home, day, from_course=False)
        return finished

    def _observe(self, day: int, ratio: FloatArray) -> None:
        """What can be seen at the end of the day: the diary, first dry day, first notice."""
        led = self.ledger
        if self.daily.ratio is not None:
            self.daily.ratio[:, day] = ratio
        if self.daily.diary is not None:
            self.daily.diary[:, day] = diary.diary_entries(ratio, self.diary_rng, self.observation)
            if self.filter is not None:
                self.filter.observe_diary(self.daily.diary[self.followed, day])
        treated = led.sessions > 0
        newly_dry = (ratio <= 1.0) & (led.first_dry_day == NEVER) & treated
        led.first_dry_day[newly_dry] = day
        led.first_dry_session[newly_dry] = led.sessions[newly_dry]
        better = diary.band(ratio, self.observation) < self.baseline_band
        newly_noticed = better & (led.noticed == 0) & treated
        led.noticed[newly_noticed] = led.sessions[newly_noticed]

    def _end_course(self, day: int, finished: IntArray, ratio: FloatArray) -> None:
        """The follow-up assessment after the last course session, and the verdict: HDSS down
        by ``hdss_min_drop`` to at most ``hdss_max_followup``, and tolerated
        (``verdict.judge_course``'s rules). Only then home maintenance."""
        led, v = self.ledger, self.setup.verdict_settings
        self.state_at_course_end = _merge_state(self.state_at_course_end, self.state, finished)
        reduction = response.worse_side_reduction(self.state, self.pop, self.settings)[finished]
        led.responder[finished] = reduction >= response.RESPONSE_REDUCTION
        hdss = diary.hdss_scores(ratio[finished], self.hdss_rng, self.observation)
        led.hdss_end[finished] = hdss
        rate = response.sweat_rate_mg_min(self.state, self.pop, self.settings).max(axis=0)
        led.gravimetry_end[finished] = diary.gravimetry_mg_min(
            rate[finished], self.gravimetry_rng, self.observation
        )
        self._measure(finished, day, hdss, led.gravimetry_end[finished])
        drop = self.hdss_baseline[finished].astype(np.int64) - hdss
        judged = (
            self.tolerated[finished] & (drop >= v.hdss_min_drop) & (hdss <= v.hdss_max_followup)
        )
        led.works[finished] = judged
        home = finished[judged]
        led.at_home[home] = True
        if self.filter is not None:
            self._stop_following(finished[~judged])
        if home.size:
            self._schedule(home, day, from_course=True)

    def _stop_following(self, patients: IntArray) -> None:
        """Patients who leave (no maintenance) need no posterior any more."""
        assert self.filter is not None
        gone = np.zeros(self.pop.size, dtype=bool)
        gone[patients] = True
        keep = np.flatnonzero(~gone[self.followed])
        if keep.size == self.followed.size:
            return
        self.filter.drop(keep)
        self.followed = self.followed[keep]
        self.row_of = np.full(self.pop.size, -1, dtype=np.int64)
        self.row_of[self.followed] = np.arange(self.followed.size)

    def _tally(self, day: int, ratio: FloatArray) -> None:
        """Days at home and dry days after the course; a responder's relapse."""
        led = self.ledger
        after_course = (led.course_end != NEVER) & (led.course_end < day)
        counting = led.at_home & after_course
        led.home_days += counting
        led.dry_home_days += counting & (ratio <= 1.0)
        watch = led.responder & after_course & (led.relapse_day == NEVER)
        if watch.any():
            reduction = response.worse_side_reduction(self.state, self.pop, self.settings)
            led.relapse_day[watch & (reduction < response.RESPONSE_REDUCTION)] = day

    def _result(self) -> CourseResult:
        led = self.ledger
        return CourseResult(
            setup=self.setup,
            policy_name=self.policy.name,
            population=self.pop,
            current_mA=self.current,
            tolerated=self.tolerated,
            course_sessions=led.course_sessions,
            course_end_day=led.course_end,
            responder=led.responder,
            hdss_baseline=self.hdss_baseline,
            hdss_end=led.hdss_end,
            gravimetry_baseline_mg_min=self.gravimetry_baseline,
            gravimetry_end_mg_min=led.gravimetry_end,
            course_works=led.works,
            sessions=led.sessions,
            maintenance_sessions=led.sessions - led.course_sessions,
            first_dry_day=led.first_dry_day,
            first_dry_session=led.first_dry_session,
            noticed_session=led.noticed,
            relapse_day=led.relapse_day,
            home_days=led.home_days,
            dry_home_days=led.dry_home_days,
            state_at_course_end=self.state_at_course_end,
            final_state=self.state,
            daily_ratio=self.daily.ratio,
            session_on=self.daily.session_on,
            diary_codes=self.daily.diary if self.keep_daily else None,
            charge_on=self.daily.charge,
        )

    # --- Scheduling ---------------------------------------------------------------------------
    def _schedule(self, patients: IntArray, today: int, *, from_course: bool) -> None:
        """The next session of ``patients``, after a session today or the course's end."""
        led = self.ledger
        if self.batch is not None:
            # Replanned every morning, from the diary up to the day before (_replan).
            led.next_day[patients] = NEVER
            return
        if not self.vectorised:
            for i in patients.tolist():
                led.next_day[i] = self._ask(i, today)
            return
        last = led.recent[patients, -1]
        if self.fixed_interval is not None:
            proposed = last + self.fixed_interval
            if not from_course:
                # Sessions every ``fixed_interval`` days keep every cap for good
                # (shortest_steady_interval): only the first after the course needs a check.
                led.next_day[patients] = proposed
                return
        else:
            assert isinstance(self.policy, VectorisedPolicy)
            proposed = self.policy.next_days(last)
        for k, i in enumerate(patients.tolist()):
            p = int(proposed[k])
            if p == NEVER:
                led.next_day[i] = NEVER
                continue
            days = led.recent[i][led.recent[i] != NEVER].tolist()
            led.next_day[i] = earliest_allowed_day(
                days, max(p, today + 1), self.solution, self.setup.caps
            )

    def _ask(self, patient: int, today: int) -> int:
        """One patient's policy answer, never before the day after their last session, and
        never earlier than the caps allow."""
        led = self.ledger
        codes = (
            self.daily.diary[patient, : today + 1]
            if self.daily.diary is not None
            else np.zeros(0, dtype=np.int8)
        )
        days = led.history[patient]
        view = PatientHistory(
            patient=patient,
            today=today,
            session_days=tuple(days),
            course_sessions=int(led.course_sessions[patient]),
            diary=codes,
            solution=self.solution,
            protocol=self.setup.protocol,
            age_years=self.pop.age_years,
            session_charge_mA_min=tuple(led.charges[patient]),
            measurements=tuple(led.measurements[patient]),
        )
        proposed = self.policy.next_session_day(view)
        if proposed is None:
            return NEVER
        floor = days[-1] + 1 if days else today
        return earliest_allowed_day(days, max(int(proposed), floor), self.solution, self.setup.caps)

    def _replan(self, today: int) -> None:
        """A policy that replans daily answers each morning from the diary up to yesterday."""
        led = self.ledger
        if self.batch is not None and self.filter is not None:
            self._replan_batch(today)
            return
        for i in np.flatnonzero(led.at_home).tolist():
            answer = self._ask(i, today - 1)
            led.next_day[i] = max(answer, today) if answer != NEVER else NEVER

    def _replan_batch(self, today: int) -> None:
        """Every patient at home at once, from the posterior at the end of yesterday; then the
        same clamps as :meth:`_ask` patient by patient."""
        assert self.batch is not None
        assert self.filter is not None
        led = self.ledger
        home = np.flatnonzero(led.at_home)
        if not home.size:
            return
        last = led.recent[home, -1]
        proposed = self.batch.plan_batch(self.filter, self.row_of[home], last, today - 1)
        proposed = np.maximum(proposed, np.where(last != NEVER, last + 1, today - 1))
        caps = self.setup.caps
        # Most answers keep every cap as they are (a rolling week: 5 sessions at most in any 7
        # days; glycopyrronium 7 days after the last): only the others go through
        # earliest_allowed_day, patient by patient.
        check = np.ones(home.size, dtype=bool)
        if caps.week is frequency.WeekKind.ROLLING:
            fifth = led.recent[home, -caps.max_sessions_per_week]
            check = (fifth != NEVER) & (proposed < fifth + 7)
            if self.solution is Solution.GLYCOPYRRONIUM:
                check |= (last != NEVER) & (proposed < last + caps.glycopyrronium_min_days_apart)
        for k in np.flatnonzero(check).tolist():
            i = int(home[k])
            days = led.recent[i][led.recent[i] != NEVER].tolist()
            proposed[k] = earliest_allowed_day(days, int(proposed[k]), self.solution, caps)
        led.next_day[home] = np.maximum(proposed, today)


def _merge_state(old: ResponseState, new: ResponseState, patients: IntArray) -> ResponseState:
    load = old.load.copy()
    block = old.block.copy()
    load[:, patients] = new.load[:, patients]
    block[:, patients] = new.block[:, patients]
    return ResponseState(load=load, block=block)


# --- Population figures ----------------------------------------------------------------------
@dataclass(frozen=True)
class PopulationFigures:
    """The figures of ``ionto course simulate`` (CONTRACT.md), plus a few more.

    * ``responders``: sweating down ≥ 50% at the end of the initial course (the verdict's
      gravimetric rule, NCT03658616), latent — what a perfect measurement would show;
      ``course_works``: the verdict as a clinic would give it from the (noisy) HDSS and
      tolerance — these patients go on to maintenance.
    * ``sessions_to_dry``: among patients who reached normal sweating within the 26 weeks,
      the sessions given by their first dry day.
    * ``relapsed_by_26w_without_maintenance``: of the responders, those whose reduction fell
      below 50% by week 26 with no sessions after the course.
    * ``maintenance``: over the patients in home maintenance, sessions after the course per
      patient, and the share of their days after the course that were dry.
    """

    patients: int
    responders: float
    course_works: float
    tolerated: float
    reached_dry: float
    sessions_to_dry_median: int | None
    sessions_to_dry_p90: int | None
    first_noticed_session_median: int | None
    relapsed_by_26w_without_maintenance: float
    effect_duration_days_median: float | None
    maintenance_patients: int
    maintenance_sessions_per_patient: float
    dry_days_fraction: float


def _fraction(mask: BoolArray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _percentile(values: IntArray, q: float) -> int | None:
    if values.size == 0:
        return None
    return int(np.percentile(values, q, method="inverted_cdf"))


def censored_median_days(events: IntArray, starts: IntArray, horizon: int) -> float | None:
    """Median days from ``starts`` to ``events`` (−1: not by the horizon, censored there).

    ``None`` when half or more are censored: the median is then beyond the horizon.
    """
    if events.size == 0:
        return None
    durations = np.where(events == NEVER, horizon, events - starts)
    censored = events == NEVER
    order = np.argsort(durations, kind="stable")
    k = (events.size - 1) // 2
    if censored[order[k]]:
        return None
    return float(np.median(durations)) if not censored.any() else float(durations[order[k]])


def population_figures(
    result: CourseResult, without_maintenance: CourseResult
) -> PopulationFigures:
    """The contract's figures from a run with the chosen policy and one without maintenance
    on the same patients."""
    dry = result.first_dry_day != NEVER
    to_dry = result.first_dry_session[dry]
    noticed = result.noticed_session[result.responder & (result.noticed_session > 0)]
    base = without_maintenance
    responders = base.responder
    relapsed = base.relapse_day[responders] != NEVER
    home = result.course_works
    home_days = result.home_days[home].sum()
    return PopulationFigures(
        patients=result.population.size,
        responders=_fraction(result.responder),
        course_works=_fraction(result.course_works),
        tolerated=_fraction(result.tolerated),
        reached_dry=_fraction(dry),
        sessions_to_dry_median=_percentile(to_dry, 50),
        sessions_to_dry_p90=_percentile(to_dry, 90),
        first_noticed_session_median=_percentile(noticed, 50),
        relapsed_by_26w_without_maintenance=_fraction(relapsed),
        effect_duration_days_median=censored_median_days(
            base.relapse_day[responders],
            base.course_end_day[responders],
            base.setup.horizon_days,
        ),
        maintenance_patients=int(home.sum()),
        maintenance_sessions_per_patient=(
            float(result.maintenance_sessions[home].mean()) if home.any() else 0.0
        ),
        dry_days_fraction=(
            float(result.dry_home_days[home].sum() / home_days) if home_days else 0.0
        ),
    )
