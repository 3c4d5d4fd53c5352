"""``ionto screen``: a patient's facts in, the screening out (CONTRACT.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ionto.contract.errors import InputError, parse_json
from ionto.contract.schema import Strict, limit_json, reason_json
from ionto.therapy.patient import History, Implant, PatientFacts, SkinEntry
from ionto.therapy.protocols import Protocol
from ionto.therapy.screening import Screening, screen_patient
from ionto.therapy.vocabulary import (
    BodyLocation,
    Condition,
    ImplantKind,
    Region,
    SkinFinding,
    Solution,
)

Age = Annotated[float, Field(ge=0, le=130)]


class HistoryIn(Strict):
    duration_months: Annotated[float, Field(ge=0, le=1600)] | None = None
    onset_age_years: Age | None = None
    bilateral_symmetric: bool | None = None
    impairs_daily_activities: bool | None = None
    episodes_per_week: Annotated[float, Field(ge=0, le=1000)] | None = None
    family_history: bool | None = None
    stops_during_sleep: bool | None = None
    night_sweats: bool | None = None
    generalised: bool | None = None
    systemic_symptoms: bool | None = None


class ImplantIn(Strict):
    kind: ImplantKind
    location: BodyLocation


class SkinIn(Strict):
    region: Region
    finding: SkinFinding


class ScreenIn(Strict):
    age_years: Age
    treat: Annotated[list[Region], Field(min_length=1)]
    solution: Solution = Solution.TAP_WATER
    sites: list[Region] = Field(default_factory=list)
    history: HistoryIn = HistoryIn()
    conditions: list[Condition] = Field(default_factory=list)
    implants: list[ImplantIn] = Field(default_factory=list)
    skin: list[SkinIn] = Field(default_factory=list)
    hdss: Annotated[int, Field(ge=1, le=4)] | None = None


def facts_from_json(raw: bytes) -> PatientFacts:
    data = parse_json(ScreenIn, raw, "patient file")
    if len(set(data.treat)) != len(data.treat):
        raise InputError("a region is listed twice", "treat")
    onset = data.history.onset_age_years
    if onset is not None and onset > data.age_years:
        raise InputError("onset is later than the patient's age", "history.onset_age_years")
    h = data.history
    return PatientFacts(
        age_years=data.age_years,
        treat=tuple(data.treat),
        solution=data.solution,
        sites=tuple(data.sites),
        history=History(**h.model_dump()),
        conditions=frozenset(data.conditions),
        implants=tuple(Implant(i.kind, i.location) for i in data.implants),
        skin=tuple(SkinEntry(s.region, s.finding) for s in data.skin),
        hdss=data.hdss,
    )


def protocol_json(protocol: Protocol) -> dict[str, Any]:
    return {
        "solution": protocol.solution.value,
        "waveform": protocol.waveform.value,
        "max_current_mA": protocol.max_current_mA,
        "target_current_mA": protocol.target_current_mA,
        "minutes": protocol.minutes,
        "reversal": protocol.reversal.value,
        # Fields beyond the contract's minimum (allowed: "add fields freely").
        "preset": protocol.preset,
        "alternate_between_sessions": protocol.alternate_between_sessions,
        "ramp_up_s": protocol.ramp_up_s,
        "ramp_down_s": protocol.ramp_down_s,
        "pulse_frequency_hz": protocol.pulse_frequency_hz,
        "duty_cycle": protocol.duty_cycle,
        "source": protocol.source.citation,
        "limits": [limit_json(lim) for lim in protocol.limits],
    }


def screening_json(screening: Screening) -> dict[str, Any]:
    return {
        "eligible": screening.eligible,
        "diagnosis": screening.diagnosis.value,
        "blocking": [reason_json(r) for r in screening.blocking],
        "refer": [reason_json(r) for r in screening.refer],
        "regions": {
            region.value: {
                "allowed": rs.allowed,
                "reasons": [reason_json(r) for r in rs.reasons],
                "precautions": [reason_json(r) for r in rs.precautions],
                "protocol": protocol_json(rs.protocol) if rs.protocol else None,
                "temporary": rs.temporary,
            }
            for region, rs in screening.regions.items()
        },
        "diagnosis_reasons": [reason_json(r) for r in screening.diagnosis_reasons],
    }


def screen_json(raw: bytes) -> dict[str, Any]:
    """The whole ``ionto screen`` step: raw JSON bytes in, the contract's output dict out."""
    return screening_json(screen_patient(facts_from_json(raw)))
