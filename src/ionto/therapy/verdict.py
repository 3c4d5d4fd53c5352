"""The trial verdict after the initial course: does iontophoresis work for this patient?

The UK centre's initial course asks two things (clinical-reference §1, §3, §8): does the skin
get drier, **and** does the patient tolerate the treatment? :func:`judge_course` answers with
``works``, ``does_not_work`` (why) or ``continue`` (too early to judge), the next step, and for
``works`` the home maintenance plan. Its input and output mirror ``ionto course verdict``
(shared/CONTRACT.md).

The rules, in the order they are applied (each with its source; values where the sources are
silent are settings in :class:`VerdictSettings`, marked derived):

1. **A burn stops everything** until a clinician has reviewed the skin and the settings
   (burns at skin defects or electrode contact, clinical-reference §4): ``does_not_work``,
   next ``stop``. Derived: the sources name the burn, not what to do with the course.
2. **Not tolerated** → ``does_not_work``: no session was tolerated at a therapeutic current and
   at least 3 sessions (derived) were not tolerated (incomplete, pain reported, sensation above
   6 of 10, or a side effect that means "lower the current"). Next: pulsed DC if not tried yet
   (fewer sensations: Reinauer 1995; Hidrex DP450); otherwise, and with glycopyrronium (licensed
   as continuous DC only, Robinul SmPC), refer to a dermatologist for the next rung of the
   ladder (Solish 2007). Ionto refers rather than answering ``stop`` so that the patient leaves
   with a way forward.
3. **Works**: HDSS fell by ≥ 1 point (good) or ≥ 2 (excellent) *to* ≤ 2 (derived §8; Gülmez &
   Solak 2026), or — only where HDSS is missing at either visit — measured sweating fell by
   ≥ 50% (NCT03658616); **and** at least one session was tolerated at a therapeutic current.
   Criteria met at follow-up mean ``works`` whatever the number of sessions.
   If the criteria are met but no therapeutic current has been tolerated yet → ``continue``.
4. **Full trial without response** → ``does_not_work``: as many completed sessions as the trial
   length (10 for DC: the centre's course, Hölzle & Alberti 1987's control after 10–12; 12 for
   pulsed DC, Reinauer 1995; 11 for AC with a DC offset, Reinauer 1993; glycopyrronium 4,
   derived), or no change in HDSS after one month (Canadian committee as summarised by
   sweatless.ca, grade ?). Next: glycopyrronium where funded and not contraindicated (§8),
   else a dermatologist (botulinum toxin, oral anticholinergics: Solish 2007); after
   glycopyrronium, a dermatologist. A full trial that never reached a therapeutic current is
   not a fair trial: ``continue`` and raise the current.
5. Otherwise → ``continue``: too early to judge (most patients notice nothing before the 4th
   session, Hyperhidrosis UK).

Throughout, a **contraindication recorded with the course** (screening's whole-patient ones for
the course's solution: makers' union, clinical-reference §4; Robinul SmPC; the minimum age)
means no more iontophoresis: the verdict about the skin stands, but the next step is ``stop``
instead of home maintenance or continuing, and ``refer_dermatologist`` instead of trying pulsed
current (code ``contraindicated_now``, followed by screening's own reasons). The home plan's
current is never above a cap of :mod:`ionto.therapy.limits` for the patient.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ionto.therapy import course as course_rules
from ionto.therapy import frequency, limits, outcomes, protocols, screening, sources
from ionto.therapy.patient import PatientFacts
from ionto.therapy.reasons import Reason, limit_value
from ionto.therapy.regions import age_group
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import (
    THERAPEUTIC_WAVEFORMS,
    AgeGroup,
    Condition,
    NextStep,
    Region,
    SideEffect,
    Solution,
    VerdictKind,
    Waveform,
)

# --- Sources of this module ------------------------------------------------------------------
THERAPEUTIC_CURRENT_DERIVED = Source(
    key="therapeutic_current_derived",
    citation=(
        "Ionto derived: a therapeutic current is at least a fraction of the protocol target — "
        "tap water 10/15 (the lower end of Fischer's 10–18 mA against the 15 mA hands target), "
        "glycopyrronium 7.5/8 (Leow & Tey 2017: observed optimum 7.5–8 mA); needs sign-off"
    ),
    grade="D",
)
TOLERANCE_DERIVED = Source(
    key="tolerance_derived",
    citation=(
        "Ionto derived: a session is tolerated when completed without pain reports, with "
        "sensation at most 6 of 10 (7–10 is severe on a 0–10 scale, Serlin et al., Pain 1995) "
        "and without bruising or anticholinergic side effects; not tolerated after 3 such "
        "sessions without a tolerated one; needs sign-off"
    ),
    grade="D",
)
TRIAL_LENGTH_DC = Source(
    key="trial_length_dc",
    citation=(
        "Hölzle & Alberti, Dermatologica 1987 (control after 10–12 treatments); UK centre "
        "course of up to 10 treatments"
    ),
    grade="P",
)
GLYCOPYRRONIUM_TRIAL_DERIVED = Source(
    key="glycopyrronium_trial_derived",
    citation=(
        "Ionto derived: 4 glycopyrronium sessions, one a week (Robinul SmPC: not within 7 "
        "days), i.e. the Canadian committee's one month; needs sign-off"
    ),
    grade="D",
)
BURN_STOP_DERIVED = Source(
    key="burn_stop_derived",
    citation=(
        "Ionto derived: stop after a burn until a clinician has reviewed it (burns occur at "
        "skin defects or electrode contact, clinical-reference §4); needs sign-off"
    ),
    grade="D",
)
DRY_SKIN_INTERVAL = Source(
    key="dry_skin_interval",
    citation=(
        "Hyperhidrosis UK (skin too dry or cracking: treat less often); Fischer (maintenance "
        "every 2–4 weeks)"
    ),
    grade="S",
)
HOME_WEEKLY = Source(
    key="home_weekly",
    citation="UK centre service description (home treatment usually weekly); Hyperhidrosis UK",
    grade="S",
)

#: No recorded session can have exceeded the 35 mA fault trip of a commercial device (Hidrex
#: safety concept): a higher value is a typing error.
SESSION_CURRENT_CEILING_mA = limits.FAULT_TRIP_MA
#: Longer than any published session (10–40 min) with room for pauses: a sanity bound.
SESSION_MINUTES_CEILING = 120.0
SENSATION_MAX = 10.0
AGE_MAX_YEARS = 130.0


# =============================================================================================
# Input: a course as recorded (the input of ``ionto course verdict``)
# =============================================================================================


def _coerce(value: Any, kind: type[StrEnum], name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise ValueError(f"{name} must be one of {known}; got {value!r}") from None


def _check_number(value: object, name: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def _check_whole(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


@dataclass(frozen=True)
class Assessment:
    """One assessment visit (baseline or follow-up). Anything not measured is ``None``."""

    hdss: int | None = None
    gravimetry_mg_min: float | None = None
    dlqi: int | None = None

    def __post_init__(self) -> None:
        if self.hdss is not None:
            outcomes.validate_hdss(self.hdss, "hdss")
        if self.gravimetry_mg_min is not None:
            outcomes.validate_gravimetry_rate(self.gravimetry_mg_min, "gravimetry_mg_min")
        if self.dlqi is not None:
            outcomes.validate_dlqi_total(self.dlqi, "dlqi")


@dataclass(frozen=True)
class CourseSession:
    """One session of the course as given. ``current_mA`` is the current held (for pulsed DC
    the average, as Ionto shows it); ``max_sensation`` the patient's worst, 0–10."""

    day: int
    current_mA: float
    minutes: float
    waveform: Waveform
    completed: bool
    max_sensation: float | None = None
    pain_reports: int = 0
    side_effects: tuple[SideEffect, ...] = ()

    def __post_init__(self) -> None:
        _check_whole(self.day, "day", 0)
        _check_number(self.current_mA, "current_mA", 0.0, SESSION_CURRENT_CEILING_mA)
        _check_number(self.minutes, "minutes", 0.0, SESSION_MINUTES_CEILING)
        if self.minutes <= 0:
            raise ValueError(f"minutes must be above 0, got {self.minutes:g}")
        waveform = _coerce(self.waveform, Waveform, "waveform")
        if waveform not in THERAPEUTIC_WAVEFORMS:
            raise ValueError(
                f"waveform {waveform.value!r} is refused: pure AC has no therapeutic effect"
                " (Reinauer, BJD 1993)"
            )
        object.__setattr__(self, "waveform", waveform)
        if not isinstance(self.completed, bool):
            raise ValueError(f"completed must be true or false, got {self.completed!r}")
        if self.max_sensation is not None:
            _check_number(self.max_sensation, "max_sensation", 0.0, SENSATION_MAX)
        _check_whole(self.pain_reports, "pain_reports", 0)
        if isinstance(self.side_effects, str):
            raise ValueError("side_effects must be a list of side effects")
        effects = tuple(_coerce(e, SideEffect, "side_effects") for e in self.side_effects)
        object.__setattr__(self, "side_effects", effects)


@dataclass(frozen=True)
class CourseRecord:
    """A course as recorded: the input of ``ionto course verdict``.

    Sessions are kept in day order (stable for sessions on the same day). ``funded`` lists the
    solutions whose funding is confirmed; nothing is assumed funded.
    """

    age_years: float
    region: Region
    solution: Solution
    baseline: Assessment
    sessions: tuple[CourseSession, ...]
    followup: Assessment = Assessment()
    conditions: frozenset[Condition] = frozenset()
    funded: frozenset[Solution] = frozenset()

    def __post_init__(self) -> None:
        _check_number(self.age_years, "age_years", 0.0, AGE_MAX_YEARS)
        object.__setattr__(self, "region", _coerce(self.region, Region, "region"))
        object.__setattr__(self, "solution", _coerce(self.solution, Solution, "solution"))
        for name in ("baseline", "followup"):
            if not isinstance(getattr(self, name), Assessment):
                raise ValueError(f"{name} must be an assessment")
        sessions = tuple(self.sessions)
        if not all(isinstance(s, CourseSession) for s in sessions):
            raise ValueError("sessions must be course sessions")
        object.__setattr__(self, "sessions", tuple(sorted(sessions, key=lambda s: s.day)))
        if isinstance(self.conditions, str) or isinstance(self.funded, str):
            raise ValueError("conditions and funded must be lists")
        object.__setattr__(
            self,
            "conditions",
            frozenset(_coerce(c, Condition, "conditions") for c in self.conditions),
        )
        object.__setattr__(
            self, "funded", frozenset(_coerce(s, Solution, "funded") for s in self.funded)
        )


# =============================================================================================
# Settings
# =============================================================================================


def _default_fractions() -> Mapping[Solution, float]:
    return MappingProxyType({Solution.TAP_WATER: 10.0 / 15.0, Solution.GLYCOPYRRONIUM: 7.5 / 8.0})


def _default_trial_sessions() -> Mapping[Waveform, int]:
    return MappingProxyType({Waveform.DC: 10, Waveform.PULSED_DC: 12, Waveform.AC_DC_OFFSET: 11})


@dataclass(frozen=True)
class VerdictSettings:
    """Every threshold of the verdict; where the sources are silent the value is derived.

    Response (§8, derived; Gülmez & Solak 2026): HDSS must fall by ``hdss_min_drop`` to at most
    ``hdss_max_followup``; without HDSS, gravimetry must fall by
    ``gravimetry_min_reduction_percent`` (NCT03658616).

    Tolerance (derived, :data:`TOLERANCE_DERIVED`): a therapeutic current is at least
    ``therapeutic_fraction`` of the protocol target for the patient's group, solution and region
    (:data:`ionto.therapy.protocols.TARGET_CURRENT_MA`), rounded down to 0.5 mA;
    ``therapeutic_override_mA`` replaces it for a (group, solution, region). A session is
    tolerated when completed, with at most ``max_pain_reports`` pain reports, sensation at most
    ``max_tolerable_sensation`` and none of ``intolerance_side_effects`` (bruising: current too
    high; dry mouth and heat intolerance: glycopyrronium's systemic effects, Leow & Tey 2017).
    ``min_tolerated_sessions`` such sessions at a therapeutic current show tolerance;
    ``not_tolerated_after`` intolerable sessions without one show intolerance.

    Trial length: ``trial_sessions`` per waveform (DC 10, pulsed DC 12, AC with DC offset 11),
    ``glycopyrronium_trial_sessions`` (4, derived), and ``no_change_days`` (28: "no change in
    HDSS after one month", sweatless.ca; ``None`` switches it off).

    Home plan: every ``home_interval_days`` (7, weekly: UK centre, Hyperhidrosis UK);
    ``dry_skin_interval_days`` (14) after dryness or cracking; glycopyrronium never within
    ``glycopyrronium_min_interval_days`` (7, Robinul SmPC).
    """

    hdss_min_drop: int = 1
    hdss_max_followup: int = 2
    gravimetry_min_reduction_percent: int = 50
    therapeutic_fraction: Mapping[Solution, float] = field(default_factory=_default_fractions)
    therapeutic_override_mA: Mapping[tuple[AgeGroup, Solution, Region], float] = field(
        default_factory=lambda: MappingProxyType({})
    )
    max_pain_reports: int = 0
    max_tolerable_sensation: float = 6.0
    intolerance_side_effects: frozenset[SideEffect] = frozenset(
        {SideEffect.BRUISING, SideEffect.DRY_MOUTH, SideEffect.HEAT_INTOLERANCE}
    )
    stop_side_effects: frozenset[SideEffect] = frozenset({SideEffect.BURN})
    less_often_side_effects: frozenset[SideEffect] = frozenset(
        {SideEffect.DRYNESS, SideEffect.CRACKING}
    )
    min_tolerated_sessions: int = 1
    not_tolerated_after: int = 3
    trial_sessions: Mapping[Waveform, int] = field(default_factory=_default_trial_sessions)
    glycopyrronium_trial_sessions: int = 4
    no_change_days: int | None = 28
    home_interval_days: int = 7
    dry_skin_interval_days: int = 14
    glycopyrronium_min_interval_days: int = 7
    #: The screening presets used to check glycopyrronium before escalating to it.
    screening_settings: screening.ScreeningSettings = screening.DEFAULT_SCREENING

    def __post_init__(self) -> None:
        if not 1 <= self.hdss_min_drop <= 3 or not 1 <= self.hdss_max_followup <= 4:
            raise ValueError("hdss_min_drop must be 1–3 and hdss_max_followup 1–4")
        if not 0 < self.gravimetry_min_reduction_percent <= 100:
            raise ValueError("gravimetry_min_reduction_percent must be in (0, 100]")
        if any(not 0 < f <= 1 for f in self.therapeutic_fraction.values()):
            raise ValueError("therapeutic_fraction values must be in (0, 1]")
        if set(self.therapeutic_fraction) != set(Solution):
            raise ValueError("therapeutic_fraction needs a value for every solution")
        if set(self.trial_sessions) != set(THERAPEUTIC_WAVEFORMS):
            raise ValueError("trial_sessions needs a value for every therapeutic waveform")
        counts = (
            self.min_tolerated_sessions,
            self.not_tolerated_after,
            self.glycopyrronium_trial_sessions,
            *self.trial_sessions.values(),
        )
        if any(c < 1 for c in counts):
            raise ValueError("session counts must be at least 1")
        if self.max_pain_reports < 0 or not 0 <= self.max_tolerable_sensation <= SENSATION_MAX:
            raise ValueError("max_pain_reports must be >= 0 and max_tolerable_sensation 0–10")
        if self.glycopyrronium_min_interval_days < 7:
            raise ValueError("glycopyrronium may not be repeated within 7 days (Robinul SmPC)")
        if min(self.home_interval_days, self.dry_skin_interval_days) < 1:
            raise ValueError("home intervals must be at least 1 day")


DEFAULT_VERDICT = VerdictSettings()


# =============================================================================================
# Tolerance
# =============================================================================================


@dataclass(frozen=True)
class TherapeuticCurrent:
    """The lowest current that counts as a full treatment for this group, solution, region."""

    value_mA: float
    text: str
    source: Source


def therapeutic_current(
    age_years: float,
    region: Region,
    solution: Solution,
    settings: VerdictSettings = DEFAULT_VERDICT,
) -> TherapeuticCurrent:
    """The therapeutic current: a fraction of the protocol target, rounded down to 0.5 mA.

    Derived (:data:`THERAPEUTIC_CURRENT_DERIVED`): for adults' hands and feet with tap water
    10/15 of the 15 mA target gives 10 mA, the lower end of the maker's 10–18 mA (Fischer);
    for glycopyrronium 7.5/8 of the 8 mA target gives 7.5 mA (Leow & Tey 2017). Children and
    other regions follow the protocol's own (lower) targets, so a child's therapeutic current
    is lower than an adult's. ``therapeutic_override_mA`` replaces a value.
    """
    group = age_group(age_years)
    override = settings.therapeutic_override_mA.get((group, solution, region))
    if override is not None:
        return TherapeuticCurrent(
            override,
            f"{override:g} mA or more counts as a full treatment current (set by this service).",
            THERAPEUTIC_CURRENT_DERIVED,
        )
    target = protocols.TARGET_CURRENT_MA[(group, solution, region)]
    value = protocols.round_down_half_mA(target.value_mA * settings.therapeutic_fraction[solution])
    return TherapeuticCurrent(
        value,
        f"{value:g} mA or more counts as a full treatment current (the protocol aims at"
        f" {target.value_mA:g} mA).",
        THERAPEUTIC_CURRENT_DERIVED,
    )


def session_problems(session: CourseSession, settings: VerdictSettings = DEFAULT_VERDICT) -> str:
    """What made a session intolerable, in plain words; empty when it was tolerated.

    Derived (:data:`TOLERANCE_DERIVED`): not completed; pain reported; sensation above 6 of
    10; bruising (current too high, clinical-reference §4); dry mouth or heat intolerance
    (glycopyrronium's systemic effects, Leow & Tey 2017).
    """
    problems: list[str] = []
    if not session.completed:
        problems.append("not completed")
    if session.pain_reports > settings.max_pain_reports:
        times = "once" if session.pain_reports == 1 else f"{session.pain_reports} times"
        problems.append(f"pain reported {times}")
    if (
        session.max_sensation is not None
        and session.max_sensation > settings.max_tolerable_sensation
    ):
        problems.append(f"sensation {session.max_sensation:g} of 10")
    effects = [
        e.value.replace("_", " ")
        for e in session.side_effects
        if e in settings.intolerance_side_effects
    ]
    problems.extend(effects)
    return ", ".join(problems)


def session_tolerated(session: CourseSession, settings: VerdictSettings = DEFAULT_VERDICT) -> bool:
    """Completed, no pain reports, sensation acceptable, no "lower the current" side effect."""
    return not session_problems(session, settings)


def _sessions(count: int) -> str:
    return "1 session" if count == 1 else f"{count} sessions"


class ToleranceStatus(StrEnum):
    TOLERATED = "tolerated"
    NOT_YET_SHOWN = "not_yet_shown"
    NOT_TOLERATED = "not_tolerated"


@dataclass(frozen=True)
class ToleranceFinding:
    status: ToleranceStatus
    therapeutic: TherapeuticCurrent
    #: Sessions tolerated at a therapeutic current, in day order.
    tolerated_therapeutic: tuple[CourseSession, ...]
    #: Sessions that were not tolerated, in day order.
    intolerable: tuple[CourseSession, ...]
    reason: Reason


def assess_tolerance(
    course: CourseRecord, settings: VerdictSettings = DEFAULT_VERDICT
) -> ToleranceFinding:
    """Did the patient tolerate a therapeutic current (clinical-reference §1, §8)?

    ``tolerated``: at least ``min_tolerated_sessions`` sessions tolerated at ≥ the therapeutic
    current. ``not_tolerated``: none, and ``not_tolerated_after`` sessions (3, derived) were not
    tolerated. Otherwise ``not_yet_shown``. Adding pain, sensation or incompleteness to a
    session can only move the finding towards ``not_tolerated`` (property-tested).
    """
    threshold = therapeutic_current(course.age_years, course.region, course.solution, settings)
    good = tuple(
        s
        for s in course.sessions
        if session_tolerated(s, settings) and s.current_mA >= threshold.value_mA
    )
    bad = tuple(s for s in course.sessions if not session_tolerated(s, settings))
    if len(good) >= settings.min_tolerated_sessions:
        highest = max(s.current_mA for s in good)
        return ToleranceFinding(
            ToleranceStatus.TOLERATED,
            threshold,
            good,
            bad,
            Reason(
                "tolerated_therapeutic_current",
                f"The patient tolerated a full treatment current: {_sessions(len(good))}"
                f" completed comfortably at up to {highest:g} mA. {threshold.text}",
                THERAPEUTIC_CURRENT_DERIVED,
            ),
        )
    if len(bad) >= settings.not_tolerated_after:
        # The latest three are enough for a nurse to see the pattern.
        worst = "; ".join(
            f"day {s.day} at {s.current_mA:g} mA: {session_problems(s, settings)}" for s in bad[-3:]
        )
        return ToleranceFinding(
            ToleranceStatus.NOT_TOLERATED,
            threshold,
            good,
            bad,
            Reason(
                "not_tolerated",
                f"The patient did not tolerate the treatment: {len(bad)} sessions were too"
                f" uncomfortable ({worst}), and none was tolerated at a full treatment current"
                f" of at least {threshold.value_mA:g} mA.",
                TOLERANCE_DERIVED,
            ),
        )
    return ToleranceFinding(
        ToleranceStatus.NOT_YET_SHOWN,
        threshold,
        good,
        bad,
        Reason(
            "therapeutic_current_not_reached",
            f"No session has yet been tolerated at a full treatment current. {threshold.text}"
            " Raise the current step by step as the patient tolerates it.",
            THERAPEUTIC_CURRENT_DERIVED,
        ),
    )


# =============================================================================================
# Response
# =============================================================================================


class ResponseStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    #: HDSS did not fall at all (the Canadian committee's "no change").
    NO_CHANGE = "no_change"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ResponseFinding:
    status: ResponseStatus
    #: What decided, first; what else was measured after.
    reasons: tuple[Reason, ...]


def assess_response(
    course: CourseRecord, settings: VerdictSettings = DEFAULT_VERDICT
) -> ResponseFinding:
    """Did the sweating respond? HDSS decides; gravimetry only where HDSS is missing.

    HDSS: fell by ≥ 1 (good) or ≥ 2 (excellent) points *to* ≤ 2 (derived §8; Gülmez & Solak
    2026). Without HDSS at both visits: measured sweating fell by ≥ 50% (NCT03658616), and a
    reason says so. Gravimetry alongside HDSS and DLQI are reported, never decisive.
    """
    base, follow = course.baseline, course.followup
    hdss = (
        outcomes.hdss_change(base.hdss, follow.hdss)
        if base.hdss is not None and follow.hdss is not None
        else None
    )
    gravimetry = (
        outcomes.gravimetry_response(
            base.gravimetry_mg_min,
            follow.gravimetry_mg_min,
            tuple(
                sorted(
                    {
                        *outcomes.GRAVIMETRY_RESPONSE_LEVELS_PERCENT,
                        settings.gravimetry_min_reduction_percent,
                    }
                )
            ),
        )
        if base.gravimetry_mg_min is not None
        and follow.gravimetry_mg_min is not None
        and base.gravimetry_mg_min > 0
        else None
    )
    extra: list[Reason] = []
    if base.gravimetry_mg_min == 0 and follow.gravimetry_mg_min is not None:
        extra.append(
            Reason(
                "gravimetry_baseline_zero",
                "No sweat was measured before treatment, so gravimetry cannot show a reduction.",
                sources.NCT03658616,
            )
        )
    extra.extend(_dlqi_reasons(course))

    if hdss is not None:
        decided: list[Reason] = [hdss.reason]
        if hdss.drop_points >= settings.hdss_min_drop and follow.hdss is not None:
            if follow.hdss <= settings.hdss_max_followup:
                status = ResponseStatus.MET
            else:
                status = ResponseStatus.NOT_MET
                decided.append(
                    Reason(
                        "hdss_still_above_2",
                        f"HDSS is still {follow.hdss}: it must come down to"
                        f" {settings.hdss_max_followup} or below to count as working.",
                        sources.DERIVED,
                    )
                )
        else:
            status = ResponseStatus.NO_CHANGE if hdss.drop_points <= 0 else ResponseStatus.NOT_MET
        info = (gravimetry.reason,) if gravimetry is not None else ()
        return ResponseFinding(status, (*decided, *info, *extra))

    if gravimetry is not None:
        missing = Reason(
            "hdss_missing_judged_on_gravimetry",
            "HDSS was not recorded at both visits, so the response is judged on measured"
            " sweating (gravimetry) instead.",
            sources.DERIVED,
        )
        reached = gravimetry.reduction_percent >= settings.gravimetry_min_reduction_percent
        status = ResponseStatus.MET if reached else ResponseStatus.NOT_MET
        return ResponseFinding(status, (gravimetry.reason, missing, *extra))

    return ResponseFinding(
        ResponseStatus.UNKNOWN,
        (
            Reason(
                "followup_missing",
                "The response cannot be judged yet: record the HDSS (and, if possible,"
                " gravimetry) before treatment and at follow-up.",
                sources.HDSS,
            ),
            *extra,
        ),
    )


def _dlqi_reasons(course: CourseRecord) -> tuple[Reason, ...]:
    """DLQI change for information (Basra 2015), or the under-16 flag (CDLQI applies)."""
    base, follow = course.baseline.dlqi, course.followup.dlqi
    if base is None and follow is None:
        return ()
    too_young = outcomes.dlqi_not_valid_for_age(course.age_years)
    if too_young is not None:
        return (too_young,)
    if base is None or follow is None:
        return ()
    return (outcomes.dlqi_change(base, follow).reason,)


# =============================================================================================
# The verdict
# =============================================================================================


@dataclass(frozen=True)
class HomePlan:
    """Home maintenance after a course that works (the contract's ``home_plan``).

    The contract's fields are ``interval_days``, ``current_mA``, ``minutes`` and ``waveform``;
    the rest say what the plan is for and why.
    """

    interval_days: int
    current_mA: float
    minutes: int
    waveform: Waveform
    solution: Solution
    region: Region
    #: Never treat sooner than this (glycopyrronium: 7 days, Robinul SmPC; tap water: 1 day).
    min_interval_days: int
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        if self.interval_days < self.min_interval_days:
            raise ValueError("interval_days must not be shorter than min_interval_days")
        _check_number(self.current_mA, "current_mA", 0.0, SESSION_CURRENT_CEILING_mA)
        _check_whole(self.minutes, "minutes", 1)

    def as_contract(self) -> dict[str, object]:
        return {
            "interval_days": self.interval_days,
            "current_mA": self.current_mA,
            "minutes": self.minutes,
            "waveform": self.waveform.value,
        }


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictKind
    reasons: tuple[Reason, ...]
    next: NextStep
    home_plan: HomePlan | None

    def __post_init__(self) -> None:
        # A course that works may still have to stop (a contraindication arose): then no plan.
        if (self.next is NextStep.HOME_MAINTENANCE) != (self.home_plan is not None):
            raise ValueError("a home plan goes with home maintenance, and only with it")
        if self.next is NextStep.HOME_MAINTENANCE and self.verdict is not VerdictKind.WORKS:
            raise ValueError("home maintenance (and its home plan) follow a 'works' verdict only")
        if not self.reasons:
            raise ValueError("a verdict needs at least one reason")

    def as_contract(self) -> dict[str, object]:
        """The contract's output shape (plain data; the CLI serialises it)."""
        return {
            "verdict": self.verdict.value,
            "reasons": [
                {"code": r.code, "text": r.text, "source": str(r.source)} for r in self.reasons
            ],
            "next": self.next.value,
            "home_plan": None if self.home_plan is None else self.home_plan.as_contract(),
        }


def trial_length(
    course: CourseRecord, settings: VerdictSettings = DEFAULT_VERDICT
) -> tuple[int, Source]:
    """Completed sessions that make a full trial, with the source.

    Glycopyrronium: 4 (derived). Tap water: by the waveform of the latest completed session
    (or latest session): DC 10 (Hölzle & Alberti 1987; UK centre), pulsed DC 12 (Reinauer
    1995), AC with DC offset 11 (Reinauer 1993).
    """
    if course.solution is Solution.GLYCOPYRRONIUM:
        return settings.glycopyrronium_trial_sessions, GLYCOPYRRONIUM_TRIAL_DERIVED
    done = [s for s in course.sessions if s.completed] or list(course.sessions)
    waveform = done[-1].waveform if done else Waveform.DC
    source = {
        Waveform.DC: TRIAL_LENGTH_DC,
        Waveform.PULSED_DC: sources.REINAUER_1995,
        Waveform.AC_DC_OFFSET: sources.REINAUER_1993,
    }[waveform]
    return settings.trial_sessions[waveform], source


def _span_days(course: CourseRecord) -> int:
    days = [s.day for s in course.sessions]
    return max(days) - min(days) if days else 0


def home_plan(
    course: CourseRecord,
    tolerance: ToleranceFinding,
    settings: VerdictSettings = DEFAULT_VERDICT,
) -> HomePlan:
    """The home maintenance plan from the sessions the patient tolerated at a therapeutic
    current: the waveform of the latest of them, and the median current and minutes of those
    with that waveform (so the current never exceeds the highest one completed), lowered to
    every cap of :func:`ionto.therapy.limits.current_caps` for the patient's group, region,
    solution and waveform (a value recorded above a cap never goes home).

    Weekly by default (UK centre; Hyperhidrosis UK). Dryness or cracking → treat less often
    (Hyperhidrosis UK): the next longer published interval
    (:func:`ionto.therapy.course.adjust_for_dry_skin`), at least ``dry_skin_interval_days``
    (Fischer every 2–4 weeks). Glycopyrronium never within 7 days, whatever the site
    (Robinul SmPC, read as :mod:`ionto.therapy.frequency` reads it).
    """
    good = tolerance.tolerated_therapeutic
    if not good:
        raise ValueError("a home plan needs a session tolerated at a therapeutic current")
    waveform = good[-1].waveform
    same = [s for s in good if s.waveform is waveform]
    tolerated_mA = float(statistics.median(s.current_mA for s in same))
    duty = protocols.PULSE_DUTY_CYCLE if waveform is Waveform.PULSED_DC else None
    caps = limits.current_caps(
        course.age_years, course.region, course.solution, waveform=waveform, duty_cycle=duty
    )
    limited = limit_value(tolerated_mA, caps)
    current_mA = limited.value
    minutes = max(1, round(statistics.median(s.minutes for s in same)))
    reasons = [
        Reason(
            "home_current_tolerated",
            f"At home use {current_mA:g} mA for {minutes} minutes with"
            f" {waveform.value.replace('_', ' ')} current: what the patient tolerated in the"
            " clinic.",
            TOLERANCE_DERIVED,
        )
    ]
    reasons += [
        Reason(
            "home_current_lowered_to_cap",
            f"The clinic recorded {tolerated_mA:g} mA, but at home the current is lowered to"
            f" {cap.value:g} mA. {cap.text}",
            cap.source,
        )
        for cap in limited.binding
    ]
    interval = settings.home_interval_days
    interval_source = HOME_WEEKLY
    dry = sorted(
        {
            e.value
            for s in course.sessions
            for e in s.side_effects
            if e in settings.less_often_side_effects
        }
    )
    dry_reason: Reason | None = None
    if dry:
        adjusted = course_rules.adjust_for_dry_skin(
            course_rules.MaintenancePlan("home", interval, HOME_WEEKLY)
        )
        longer = max(adjusted.plan.interval_days, settings.dry_skin_interval_days)
        if longer > interval:
            interval, interval_source = longer, DRY_SKIN_INTERVAL
        else:
            dry_reason = adjusted.reason  # already the longest gap: moisturise, see the nurse
    min_interval = 1
    if course.solution is Solution.GLYCOPYRRONIUM:
        min_interval = settings.glycopyrronium_min_interval_days
        interval = max(interval, min_interval)
    less_often = interval_source is DRY_SKIN_INTERVAL
    reasons.append(
        Reason(
            "home_interval_days",
            f"Treat every {interval} days"
            + (f", less often because of {' and '.join(dry)}" if less_often else "")
            + "; treat sooner if the skin turns clammy before then.",
            interval_source,
        )
    )
    if dry_reason is not None:
        reasons.append(dry_reason)
    if course.solution is Solution.GLYCOPYRRONIUM:
        rule = frequency.glycopyrronium_min_days_apart(
            frequency.FrequencyCaps(glycopyrronium_min_days_apart=min_interval)
        )
        reasons.append(
            Reason(
                rule.code,
                f"{rule.text} One site at a time, at most"
                f" {frequency.FREQUENCY_CAPS.glycopyrronium_max_sites_per_day} sites a day.",
                rule.source,
            )
        )
    return HomePlan(
        interval_days=interval,
        current_mA=current_mA,
        minutes=minutes,
        waveform=waveform,
        solution=course.solution,
        region=course.region,
        min_interval_days=min_interval,
        reasons=tuple(reasons),
    )


_REFER_LADDER = Reason(
    "refer_dermatologist",
    "Refer to a dermatologist for the next treatments: botulinum toxin injections or"
    " anticholinergic tablets.",
    sources.SOLISH_2007,
)


def contraindications_now(
    course: CourseRecord, settings: VerdictSettings = DEFAULT_VERDICT
) -> tuple[Reason, ...]:
    """What stops iontophoresis with the course's solution for this patient now: screening's
    whole-patient contraindications (makers' union, clinical-reference §4; Robinul SmPC;
    the minimum-age preset) for the conditions recorded with the course. Empty: none."""
    facts = PatientFacts(
        age_years=course.age_years,
        treat=(course.region,),
        solution=course.solution,
        conditions=course.conditions,
    )
    blocks, _ = screening.patient_contraindications(
        facts, course.solution, settings.screening_settings
    )
    return blocks


def _contraindicated_now(blocks: tuple[Reason, ...], refer: bool) -> tuple[Reason, ...]:
    """The reasons that stop the treatment going on: ours first, then screening's own."""
    if refer:
        text = (
            "Iontophoresis cannot go on for this patient now (see the reasons that follow):"
            " other treatments are needed."
        )
    else:
        text = (
            "Iontophoresis cannot go on for this patient now (see the reasons that follow):"
            " stop treatment. A clinician decides whether and when it may start again."
        )
    return (Reason("contraindicated_now", text, sources.MAKERS_CONTRAINDICATIONS), *blocks)


def _next_after_intolerance(
    course: CourseRecord, tolerance: ToleranceFinding, blocks: tuple[Reason, ...] = ()
) -> tuple[NextStep, tuple[Reason, ...]]:
    """Not tolerated: pulsed DC if not yet tried (Reinauer 1995; Hidrex DP450), else refer.

    Refer too when iontophoresis is contraindicated now: pulsed current is still current.
    """
    if blocks:
        return NextStep.REFER_DERMATOLOGIST, (*_contraindicated_now(blocks, True), _REFER_LADDER)
    if course.solution is Solution.GLYCOPYRRONIUM:
        return NextStep.REFER_DERMATOLOGIST, (
            Reason(
                "glycopyrronium_not_tolerated",
                "Glycopyrronium is licensed with continuous current only, so there is no"
                " gentler way to give it.",
                sources.ROBINUL_SMPC,
            ),
            _REFER_LADDER,
        )
    if any(s.waveform is Waveform.PULSED_DC for s in tolerance.intolerable):
        return NextStep.REFER_DERMATOLOGIST, (
            Reason(
                "not_tolerated_on_pulsed_dc",
                "Even the gentler pulsed current was not tolerated.",
                sources.REINAUER_1995,
            ),
            _REFER_LADDER,
        )
    return NextStep.TRY_PULSED_DC, (
        Reason(
            "try_pulsed_dc",
            "Try pulsed current: it gives fewer sensations and no shocks, though it may take a"
            " couple more sessions (about 12 instead of 10).",
            sources.REINAUER_1995,
        ),
    )


def _next_after_no_response(
    course: CourseRecord, settings: VerdictSettings
) -> tuple[NextStep, tuple[Reason, ...]]:
    """Tolerated but no response: glycopyrronium where funded and not contraindicated
    (clinical-reference §1, §8; Robinul SmPC via screening), else a dermatologist (Solish)."""
    if course.solution is Solution.GLYCOPYRRONIUM:
        return NextStep.REFER_DERMATOLOGIST, (
            Reason(
                "glycopyrronium_failed",
                "Glycopyrronium iontophoresis did not help either.",
                sources.SOLISH_2007,
            ),
            _REFER_LADDER,
        )
    if Solution.GLYCOPYRRONIUM not in course.funded:
        return NextStep.REFER_DERMATOLOGIST, (
            Reason(
                "glycopyrronium_not_funded",
                "Glycopyrronium iontophoresis would be the next step, but its funding is not"
                " confirmed (several commissioners do not fund it).",
                sources.TREATMENT_CENTRE,
            ),
            _REFER_LADDER,
        )
    facts = PatientFacts(
        age_years=course.age_years,
        treat=(course.region,),
        solution=Solution.GLYCOPYRRONIUM,
        conditions=course.conditions,
    )
    suitability = screening.region_suitability(
        facts, course.region, Solution.GLYCOPYRRONIUM, settings.screening_settings
    )
    if not suitability.allowed:
        return NextStep.REFER_DERMATOLOGIST, (
            Reason(
                "glycopyrronium_contraindicated",
                "Glycopyrronium iontophoresis would be the next step, but it is not suitable"
                " for this patient (see the reasons that follow).",
                sources.ROBINUL_SMPC,
            ),
            *suitability.reasons,
            _REFER_LADDER,
        )
    return NextStep.ESCALATE_GLYCOPYRRONIUM, (
        Reason(
            "escalate_glycopyrronium",
            "Tap water did not work although the treatment was tolerated: try glycopyrronium"
            " iontophoresis, which is funded and not contraindicated.",
            sources.DERIVED,
        ),
    )


def judge_course(course: CourseRecord, settings: VerdictSettings = DEFAULT_VERDICT) -> Verdict:
    """The trial verdict: works, does not work (why), or continue — see the module docstring
    for the rules and their sources, in the order applied."""
    tolerance = assess_tolerance(course, settings)
    response = assess_response(course, settings)
    # A contraindication recorded with the course (pregnancy, a pacemaker, too young …) means
    # no more iontophoresis with this solution, whatever the skin did (clinical-reference §4).
    blocks = contraindications_now(course, settings)

    burns = [
        s for s in course.sessions if any(e in settings.stop_side_effects for e in s.side_effects)
    ]
    if burns:
        days = ", ".join(str(s.day) for s in burns)
        stop = Reason(
            "burn_reported",
            f"A burn was recorded (day {days}). Stop treatment until a clinician has examined"
            " the skin and checked the settings; cover small cuts with petroleum jelly.",
            BURN_STOP_DERIVED,
        )
        return Verdict(VerdictKind.DOES_NOT_WORK, (stop, *response.reasons), NextStep.STOP, None)

    if tolerance.status is ToleranceStatus.NOT_TOLERATED:
        step, why = _next_after_intolerance(course, tolerance, blocks)
        return Verdict(
            VerdictKind.DOES_NOT_WORK, (tolerance.reason, *why, *response.reasons), step, None
        )

    if response.status is ResponseStatus.MET:
        if tolerance.status is ToleranceStatus.TOLERATED and blocks:
            return Verdict(
                VerdictKind.WORKS,
                (*_contraindicated_now(blocks, False), *response.reasons, tolerance.reason),
                NextStep.STOP,
                None,
            )
        if tolerance.status is ToleranceStatus.TOLERATED:
            plan = home_plan(course, tolerance, settings)
            return Verdict(
                VerdictKind.WORKS,
                (*response.reasons, tolerance.reason),
                NextStep.HOME_MAINTENANCE,
                plan,
            )
        return _continue(blocks, (*response.reasons, tolerance.reason))

    completed = sum(1 for s in course.sessions if s.completed)
    length, length_source = trial_length(course, settings)
    full_trial = completed >= length
    month_without_change = (
        settings.no_change_days is not None
        and response.status is ResponseStatus.NO_CHANGE
        and _span_days(course) >= settings.no_change_days
    )
    judged = response.status is not ResponseStatus.UNKNOWN and (full_trial or month_without_change)
    if judged and tolerance.status is ToleranceStatus.TOLERATED:
        if full_trial:
            failed = Reason(
                "no_response_after_full_trial",
                f"No sufficient response after {completed} completed sessions; {length} make a"
                " full trial.",
                length_source,
            )
        else:
            failed = Reason(
                "no_change_after_one_month",
                f"Sweating severity (HDSS) has not changed after {_span_days(course)} days of"
                " treatment.",
                sources.SWEATLESS_CA,
            )
        step, why = _next_after_no_response(course, settings)
        return Verdict(
            VerdictKind.DOES_NOT_WORK,
            (failed, *response.reasons, tolerance.reason, *why),
            step,
            None,
        )

    early: list[Reason] = []
    if not (full_trial or month_without_change):
        early.append(
            Reason(
                "too_early",
                f"Too early to judge: {completed} of {length} sessions completed.",
                length_source,
            )
        )
        if completed < 4:
            early.append(
                Reason(
                    "usually_no_change_before_4th_session",
                    "Most patients notice no change before the 4th session.",
                    sources.HYPERHIDROSIS_UK,
                )
            )
    reasons = (*early, *response.reasons)
    if tolerance.status is not ToleranceStatus.TOLERATED:
        reasons = (*reasons, tolerance.reason)
    return _continue(blocks, reasons)


def _continue(blocks: tuple[Reason, ...], reasons: tuple[Reason, ...]) -> Verdict:
    """Too early to judge: go on with the course, unless iontophoresis is contraindicated now."""
    if blocks:
        return Verdict(
            VerdictKind.CONTINUE,
            (*_contraindicated_now(blocks, False), *reasons),
            NextStep.STOP,
            None,
        )
    return Verdict(VerdictKind.CONTINUE, reasons, NextStep.CONTINUE_COURSE, None)


def reason_codes(reasons: Iterable[Reason]) -> tuple[str, ...]:
    """The codes of some reasons, in order (for tests and logs)."""
    return tuple(r.code for r in reasons)
