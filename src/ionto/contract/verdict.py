"""``ionto course verdict``: a recorded trial course in, the verdict out (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ionto.contract.errors import InputError, parse_json
from ionto.contract.schema import Strict, reason_json
from ionto.therapy.verdict import (
    SENSATION_MAX,
    SESSION_MINUTES_CEILING,
    Assessment,
    CourseRecord,
    CourseSession,
    SESSION_CURRENT_CEILING_mA,
    Verdict,
    judge_course,
)
from ionto.therapy.vocabulary import (
    THERAPEUTIC_WAVEFORMS,
    Condition,
    Region,
    SideEffect,
    Solution,
    Waveform,
)


class AssessmentIn(Strict):
    hdss: Annotated[int, Field(ge=1, le=4)] | None = None
    gravimetry_mg_min: Annotated[float, Field(ge=0, le=10_000)] | None = None
    dlqi: Annotated[int, Field(ge=0, le=30)] | None = None


class SessionIn(Strict):
    day: Annotated[int, Field(ge=0, le=3650)]
    current_mA: Annotated[float, Field(ge=0, le=SESSION_CURRENT_CEILING_mA)]
    minutes: Annotated[float, Field(gt=0, le=SESSION_MINUTES_CEILING)]
    waveform: Waveform
    completed: bool
    max_sensation: Annotated[float, Field(ge=0, le=SENSATION_MAX)] | None = None
    pain_reports: Annotated[int, Field(ge=0, le=1000)] = 0
    side_effects: list[SideEffect] = Field(default_factory=list)


class CourseIn(Strict):
    age_years: Annotated[float, Field(ge=0, le=130)]
    region: Region
    solution: Solution = Solution.TAP_WATER
    baseline: AssessmentIn
    sessions: list[SessionIn] = Field(default_factory=list)
    followup: AssessmentIn = AssessmentIn()
    conditions: list[Condition] = Field(default_factory=list)
    funded: list[Solution] = Field(default_factory=list)


def course_from_json(raw: bytes) -> CourseRecord:
    data = parse_json(CourseIn, raw, "course file")
    for i, s in enumerate(data.sessions):
        if s.waveform not in THERAPEUTIC_WAVEFORMS:
            raise InputError(
                "pure AC is refused: it has no therapeutic effect (Reinauer, BJD 1993)",
                f"sessions[{i}].waveform",
            )
    return CourseRecord(
        age_years=data.age_years,
        region=data.region,
        solution=data.solution,
        baseline=Assessment(**data.baseline.model_dump()),
        sessions=tuple(
            CourseSession(
                day=s.day,
                current_mA=s.current_mA,
                minutes=s.minutes,
                waveform=s.waveform,
                completed=s.completed,
                max_sensation=s.max_sensation,
                pain_reports=s.pain_reports,
                side_effects=tuple(s.side_effects),
            )
            for s in data.sessions
        ),
        followup=Assessment(**data.followup.model_dump()),
        conditions=frozenset(data.conditions),
        funded=frozenset(data.funded),
    )


def verdict_to_json(verdict: Verdict) -> dict[str, Any]:
    plan = verdict.home_plan
    home_plan: dict[str, Any] | None = None
    if plan is not None:
        home_plan = {
            "interval_days": plan.interval_days,
            "current_mA": plan.current_mA,
            "minutes": plan.minutes,
            "waveform": plan.waveform.value,
            # Beyond the contract's minimum (allowed: "add fields freely").
            "solution": plan.solution.value,
            "region": plan.region.value,
            "min_interval_days": plan.min_interval_days,
            "reasons": [reason_json(r) for r in plan.reasons],
        }
    return {
        "verdict": verdict.verdict.value,
        "reasons": [reason_json(r) for r in verdict.reasons],
        "next": verdict.next.value,
        "home_plan": home_plan,
    }


def verdict_json(raw: bytes) -> dict[str, Any]:
    """The whole ``ionto course verdict`` step: raw JSON bytes in, the contract's dict out."""
    return verdict_to_json(judge_course(course_from_json(raw)))
