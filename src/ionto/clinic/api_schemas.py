"""The JSON API's input and output shapes (django-ninja schemas, published in the OpenAPI
schema at /api/openapi.json).

Inputs refuse what the database or the rules could choke on before any rule runs: unknown
fields, NaN and infinity, text with NUL characters or broken Unicode, dates far outside a
lifetime, ids past a 64-bit integer. The clinical rules themselves stay in ``workflow.py``;
an input that is well-formed but wrong (a visit before funding, an HDSS of 5 in a stored
screening…) is refused there, with the field named.

The contract's vocabulary (shared/CONTRACT.md) appears as ``Literal`` types so that the schema
lists the allowed words; a test keeps each list equal to its enum in ``ionto.therapy``. The
consultation's facts reuse ``ionto screen``'s own models for their parts (history, implants,
skin) and the therapy core's enum for conditions, so the two never drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field

from ionto.contract import screen
from ionto.therapy.vocabulary import Condition

# --- The contract's words ------------------------------------------------------------------
RegionName = Literal["palms", "soles", "axillae", "face", "neck"]
SolutionName = Literal["tap_water", "glycopyrronium"]
SideEffectName = Literal[
    "tingling",
    "burning_sensation",
    "redness",
    "vesicles",
    "irritation",
    "dryness",
    "cracking",
    "bruising",
    "shock",
    "burn",
    "dry_mouth",
    "heat_intolerance",
    "other",
]
# The clinic's own words (models.py, workflow.py).
TreatmentTriedName = Literal[
    "aluminium_chloride",
    "topical_glycopyrronium",
    "oral_anticholinergic",
    "botulinum_toxin",
    "iontophoresis",
    "other",
]
StageName = Literal[
    "waiting_funding",
    "declined",
    "waiting_first_visit",
    "waiting_to_start",
    "in_course",
    "awaiting_verdict",
    "to_discharge",
    "discharged",
    "not_suitable",
]
SafetyItemName = Literal[
    "sensation", "no_metal", "cover_cuts", "no_lifting", "skin_care", "contraindications", "results"
]
PreSessionCheckName = Literal[
    "jewellery_off",
    "cuts_covered",
    "no_new_contraindication",
    "skin_intact",
    "trays_ready",
    "patient_briefed",
]
AssessmentKindName = Literal["hdss", "dlqi", "cdlqi", "gravimetry", "starch_iodine"]
TimepointName = Literal["baseline", "during", "followup"]
VisitStatusName = Literal["booked", "attended", "cancelled", "did_not_attend"]
SessionStatusName = Literal[
    "ready", "running", "completed", "stopped", "aborted", "fault", "interrupted"
]

# --- Safe scalars ---------------------------------------------------------------------------
#: The largest id a 64-bit primary key holds (SQLite and PostgreSQL bigint).
MAX_ID = 2**63 - 1
#: Dates the clinic deals in: births from 1900, bookings this side of 2200. Outside this range
#: a date is a typing mistake, and far-off years overflow time zone arithmetic.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)


def _clean_text(value: str) -> str:
    # PostgreSQL refuses NUL in text, and a lone surrogate cannot be stored as UTF-8 by either
    # database: refuse both here so that they never reach the database as a crash.
    if "\x00" in value:
        raise ValueError("text cannot contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


def _clean_line(value: str) -> str:
    return _clean_text(value).strip()


def _date_in_range(value: dt.date) -> dt.date:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"the date must be between {EARLIEST} and {LATEST}")
    return value


def _datetime_in_range(value: dt.datetime) -> dt.datetime:
    _date_in_range(value.date())
    return value


Line = Annotated[str, Field(max_length=200), AfterValidator(_clean_line)]
ShortLine = Annotated[str, Field(max_length=40), AfterValidator(_clean_line)]
NameLine = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean_line)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_clean_line)]
Phone = Annotated[str, Field(max_length=30), AfterValidator(_clean_line)]
Text = Annotated[str, Field(max_length=20_000), AfterValidator(_clean_text)]
#: Query strings: the length limit and the default go in the query parameter's own
#: ``P(default=…, max_length=…)`` (ninja's signature default is lost on a type that carries
#: its own validators).
QueryText = Annotated[str, AfterValidator(_clean_line)]
ClinicDate = Annotated[dt.date, AfterValidator(_date_in_range)]
ClinicDateTime = Annotated[dt.datetime, AfterValidator(_datetime_in_range)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Hdss = Annotated[int, Field(ge=1, le=4, description="HDSS, 1 (never noticeable) to 4")]


class In(Schema):
    """An input: unknown fields, NaN and infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Out(Schema):
    """An output."""


class OpenOut(Schema):
    """An output the therapy core gave and the clinic stored as it was: the contract's fields
    are typed, and fields added later (CONTRACT.md: "add fields freely") pass through."""

    model_config = ConfigDict(extra="allow")


# --- Errors ---------------------------------------------------------------------------------
class Problem(Out):
    field: str = Field(
        description="Dotted path of the field at fault (e.g. `patient.nhs_number`, "
        "`sites[0]`); empty when the whole request is at fault."
    )
    message: str = Field(description="Why, in plain English.")


class ErrorOut(Out):
    """Every 4xx answer."""

    detail: list[Problem]


# --- Practices and patients -----------------------------------------------------------------
class PracticeIn(In):
    code: Annotated[str, Field(min_length=1, max_length=12), AfterValidator(_clean_line)]
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_line)]
    address: Text = ""
    email: Email = ""


class PracticeOut(Out):
    id: int
    code: str
    name: str
    address: str
    email: str


class PatientIn(In):
    given_name: NameLine
    family_name: NameLine
    date_of_birth: ClinicDate
    nhs_number: Annotated[str, Field(max_length=20), AfterValidator(_clean_line)] | None = Field(
        None, description="10 digits (spaces allowed); leave out if not known."
    )
    sex: Literal["female", "male", "other", ""] = ""
    email: Email = ""
    phone: Phone = ""
    address: Text = ""
    guardian_name: Line = Field("", description="For a child: parent or guardian.")


class PatientBrief(Out):
    id: int
    given_name: str
    family_name: str
    date_of_birth: dt.date
    nhs_number: str | None


class ReferralBrief(Out):
    id: int
    received_on: dt.date
    stage: StageName
    stage_label: str


class PatientOut(PatientBrief):
    sex: str
    email: str
    phone: str
    address: str
    guardian_name: str
    referrals: list[ReferralBrief]


class PatientPage(Out):
    count: int
    items: list[PatientBrief]


# --- Referrals and funding ------------------------------------------------------------------
class ReferralIn(In):
    patient: PatientIn | None = Field(
        None, description="The patient's details; leave out when `existing_patient_id` is given."
    )
    existing_patient_id: Id | None = Field(
        None, description="Attach the referral to a patient already on record."
    )
    practice_id: Id
    gp_name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_line)]
    received_on: ClinicDate
    sites: list[RegionName] = Field(max_length=10)
    hdss: Hdss
    treatments_tried: list[TreatmentTriedName] = Field(default_factory=list, max_length=10)
    generalised: bool = False
    clinical_notes: Text = ""
    not_a_duplicate: bool = Field(
        False,
        description="Reception checked: a different person with the same name and date of "
        "birth as a patient on record (the same NHS number is always the same person).",
    )


class FundingIn(In):
    status: Literal["approved", "declined"]
    decided_on: ClinicDate
    sessions_funded: Annotated[int, Field(ge=1, le=30)] | None = None
    solutions_funded: list[SolutionName] = Field(default_factory=list, max_length=5)
    decline_reason: Text = ""
    reference: ShortLine = ""


class FundingOut(Out):
    status: Literal["pending", "approved", "declined"]
    reference: str
    requested_on: dt.date
    decided_on: dt.date | None
    sessions_funded: int | None
    solutions_funded: list[str]
    decline_reason: str


class ReasonOut(OpenOut):
    code: str
    text: str
    source: str


class ProtocolOut(OpenOut):
    solution: str
    waveform: str
    max_current_mA: float
    target_current_mA: float
    minutes: int
    reversal: str


class RegionScreeningOut(OpenOut):
    allowed: bool
    reasons: list[ReasonOut]
    precautions: list[ReasonOut]
    protocol: ProtocolOut | None


class ScreeningOut(OpenOut):
    """``ionto screen``'s answer (CONTRACT.md)."""

    eligible: bool
    diagnosis: str
    blocking: list[ReasonOut]
    refer: list[ReasonOut]
    regions: dict[str, RegionScreeningOut]


class ConsultationOut(Out):
    facts: dict[str, Any] = Field(description="The facts screened, as `ionto screen` takes them.")
    screening: ScreeningOut
    history_notes: str
    seen_by: str
    seen_at: dt.datetime


class ConsentOut(Out):
    id: int
    given_by: str
    relationship: str
    information_sheet_version: str
    safety_items: list[str]
    recorded_by: str
    recorded_at: dt.datetime
    withdrawn_at: dt.datetime | None


class HomePlanOut(OpenOut):
    interval_days: int
    current_mA: float
    minutes: int
    waveform: str


class VerdictResultOut(OpenOut):
    """``ionto course verdict``'s answer (CONTRACT.md)."""

    verdict: Literal["works", "does_not_work", "continue"]
    reasons: list[ReasonOut]
    next: str
    home_plan: HomePlanOut | None = None


class CourseOut(Out):
    id: int
    referral_id: int
    region: str
    solution: str
    sessions_planned: int
    status: Literal["planned", "active", "finished", "stopped"]
    visits_booked: int = Field(description="Visits booked or attended.")
    sessions_given: int
    protocol: ProtocolOut | None = Field(
        description="The therapy core's protocol; null for a role that sees no clinical records."
    )
    verdict: VerdictResultOut | None = Field(
        description="The course's verdict once given; null before, or for a role that sees "
        "no clinical records."
    )


class ClinicalOut(Out):
    """What only clinical staff (and the patient, of their own record) see."""

    clinical_notes: str
    consultation: ConsultationOut | None


class PracticeBrief(Out):
    id: int
    code: str
    name: str


class ReferralSummary(Out):
    id: int
    patient: PatientBrief
    practice: PracticeBrief
    gp_name: str
    received_on: dt.date
    sites: list[str]
    stage: StageName
    stage_label: str
    funding_status: Literal["pending", "approved", "declined"]


class ReferralOut(ReferralSummary):
    hdss: int
    generalised: bool
    treatments_tried: list[str]
    funding: FundingOut
    consents: list[ConsentOut] | None = Field(
        description="Consent as recorded at the first visit; null for a role that sees no "
        "clinical records (reception)."
    )
    courses: list[CourseOut]
    clinical: ClinicalOut | None = Field(
        description="Clinical notes and the screening; null for a role that sees no clinical "
        "records (reception)."
    )


class ReferralPage(Out):
    count: int
    items: list[ReferralSummary]


# --- First visit ----------------------------------------------------------------------------
# The facts' parts are ``ionto screen``'s own models (contract.screen), with their words and
# bounds; only read leniently, as ninja hands them parsed JSON, where the contract's strict
# mode would take a word for its enum only from raw JSON.
class HistoryIn(screen.HistoryIn):
    model_config = ConfigDict(strict=False)


class ImplantIn(screen.ImplantIn):
    model_config = ConfigDict(strict=False)


class SkinIn(screen.SkinIn):
    model_config = ConfigDict(strict=False)


class FactsIn(In):
    """A patient's facts as ``ionto screen`` takes them (CONTRACT.md). ``age_years`` may be
    left out (the age on record today is used) and so may ``treat`` (the referred sites)."""

    age_years: screen.Age | None = None
    treat: Annotated[list[RegionName], Field(min_length=1, max_length=10)] | None = None
    solution: SolutionName = "tap_water"
    sites: list[RegionName] = Field(default_factory=list, max_length=10)
    history: HistoryIn = Field(default_factory=HistoryIn)
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    implants: list[ImplantIn] = Field(default_factory=list, max_length=50)
    skin: list[SkinIn] = Field(default_factory=list, max_length=50)
    hdss: Hdss | None = None


class ConsultationIn(In):
    facts: FactsIn
    history_notes: Text = ""


class ConsentIn(In):
    given_by: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_line)]
    relationship: Literal["self", "parent", "guardian"] = "self"
    safety_items: list[SafetyItemName] = Field(max_length=20)
    information_sheet_version: ShortLine | None = Field(
        None, description="The information sheet explained; the current one if left out."
    )


class AssessmentIn(In):
    kind: AssessmentKindName
    timepoint: TimepointName
    score: Annotated[float, Field(ge=-1e9, le=1e9)] | None = Field(
        None, description="The score; for the DLQI it may be left out when `answers` are given."
    )
    answers: list[Annotated[int, Field(ge=0, le=3)]] = Field(
        default_factory=list, max_length=10, description="The DLQI's 10 answers, 0 to 3 each."
    )
    region: RegionName | Literal[""] = ""


class AssessmentOut(Out):
    id: int
    kind: str
    timepoint: str
    region: str
    score: float
    answers: list[int]
    recorded_by: str
    recorded_at: dt.datetime


class PlanIn(In):
    solution: SolutionName = "tap_water"


# --- Chairs and visits ----------------------------------------------------------------------
class ChairOut(Out):
    id: int
    name: str
    device: str
    in_service: bool


class ChairBrief(Out):
    id: int
    name: str


class VisitIn(In):
    course_id: Id
    starts_at: ClinicDateTime = Field(
        description="When the visit starts; without a UTC offset it is clinic (UK) time."
    )
    chair_id: Id | None = None


class VisitMoveIn(In):
    starts_at: ClinicDateTime
    chair_id: Id | None = None


class VisitCancelIn(In):
    did_not_attend: bool = Field(
        False, description="The patient did not come (rather than the visit being cancelled)."
    )


class VisitOut(Out):
    id: int
    course_id: int
    referral_id: int
    patient: PatientBrief
    region: str
    solution: str
    chair: ChairBrief | None
    starts_at: dt.datetime
    status: VisitStatusName
    session_id: int | None


class VisitPage(Out):
    count: int
    items: list[VisitOut]


# --- Treatment sessions ---------------------------------------------------------------------
class SessionPrepareIn(In):
    visit_id: Id
    chair_id: Id
    checklist: list[PreSessionCheckName] = Field(max_length=20)
    current_mA: Annotated[float, Field(gt=0, le=100)] | None = Field(
        None, description="A lower current than the protocol's, if the nurse chooses one."
    )


class SessionRecordIn(In):
    sensation_score: Annotated[int, Field(ge=0, le=10)] | None = Field(
        None, description="What the patient felt at worst, 0 (nothing) to 10 (worst imaginable)."
    )
    side_effects: list[SideEffectName] = Field(default_factory=list, max_length=20)
    notes: Text = ""


class SessionPlanOut(OpenOut):
    region: str
    solution: str
    current_mA: float
    max_current_mA: float
    minutes: int
    waveform: str
    reversal: str


class SessionEventOut(Out):
    t_s: float
    code: str
    text: str


class TraceChunkOut(Out):
    seq: int
    samples: list[list[float | str | None]] = Field(
        description="Samples `[t_s, current_mA, voltage_V, state]`, downsampled by the station."
    )


class DoseOut(Out):
    forward_mA_min: float
    reverse_mA_min: float
    total_mA_min: float


class SessionOut(Out):
    id: int
    course_id: int
    visit_id: int | None
    referral_id: int
    chair: ChairBrief
    status: SessionStatusName
    plan: SessionPlanOut
    checklist: list[str]
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    device_time_s: float
    treated_s: float
    dose: DoseOut
    peak_current_mA: float
    pain_reports: int
    sensation_score: int | None
    side_effects: list[str]
    notes: str
    given_by: str
    events: list[SessionEventOut]
    trace: list[TraceChunkOut] = Field(
        description="Trace chunks after `?after=SEQ` (all of them without it)."
    )
    last_seq: int | None = Field(description="Poll again with `?after=` this.")


# --- Verdict ---------------------------------------------------------------------------------
class VerdictIn(In):
    followup_hdss: Hdss
    notes: Text = ""


class VerdictOut(Out):
    course_id: int
    saved: bool = Field(
        description="False when the verdict is `continue` (too early to judge): shown, not kept."
    )
    followup_hdss: int
    notes: str
    decided_by: str
    decided_at: dt.datetime
    result: VerdictResultOut


# --- Lists a clinic lives by ----------------------------------------------------------------
class ChairDayOut(Out):
    chair: ChairOut
    visits: list[VisitOut]


class TodayOut(Out):
    date: dt.date
    chairs: list[ChairDayOut]
    without_chair: list[VisitOut] = Field(description="Today's visits not yet given a chair.")


class StageRowOut(Out):
    stage: StageName
    label: str
    count: int
    referrals: list[ReferralSummary] = Field(
        description="The referrals at this stage (open stages, or the one asked for)."
    )


class StagesOut(Out):
    stages: list[StageRowOut]


class OutcomeRowOut(Out):
    region: str
    solution: str
    courses: int = Field(description="Courses with a verdict.")
    works: int
    does_not_work: int
    responders: float = Field(description="The fraction of courses that worked.")


class OutcomesOut(Out):
    rows: list[OutcomeRowOut]


class AuditReportOut(Out):
    entries: int
    ok: bool
    first_bad_id: int | None
    problem: str


class CodeTextOut(Out):
    code: str
    text: str
