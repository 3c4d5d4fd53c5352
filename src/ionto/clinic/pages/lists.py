"""The lists a clinic lives by (issue 4 §8): today's chairs, referrals by stage, outcomes so
far — and a referral's timeline. Queries only; where a referral stands is ``workflow``'s
``compute_stage``, kept on ``Referral.stage``."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from ionto.clinic.models import (
    Referral,
    Stage,
    TreatmentSession,
    Verdict,
    Visit,
    VisitStatus,
)
from ionto.clinic.pages import words
from ionto.therapy.vocabulary import VerdictKind

# --- Today's chairs -----------------------------------------------------------------------------


@dataclass
class VisitRow:
    visit: Visit
    time: str
    patient: str
    referral_id: int
    course: str
    session: TreatmentSession | None


@dataclass
class ChairDay:
    name: str
    rows: list[VisitRow] = field(default_factory=list)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A local day as an aware [start, end) pair (the clinic's day, not UTC's)."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def todays_chairs(day: dt.date) -> list[ChairDay]:
    """The day's visits per chair, in time order; visits with no chair yet come last."""
    start, end = day_bounds(day)
    visits = (
        Visit.objects.filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status=VisitStatus.CANCELLED)
        .select_related("chair", "course__referral__patient", "session")
        .order_by("chair__name", "starts_at", "id")
    )
    chairs: dict[str, ChairDay] = {}
    for visit in visits:
        name = visit.chair.name if visit.chair else "No chair yet"
        referral = visit.course.referral
        chairs.setdefault(name, ChairDay(name)).rows.append(
            VisitRow(
                visit=visit,
                time=timezone.localtime(visit.starts_at).strftime("%H:%M"),
                patient=referral.patient.full_name,
                referral_id=referral.pk,
                course=words.course_words(visit.course.region, visit.course.solution),
                session=getattr(visit, "session", None),
            )
        )
    return sorted(chairs.values(), key=lambda c: (c.name == "No chair yet", c.name))


# --- Referrals by stage -------------------------------------------------------------------------


@dataclass(frozen=True)
class StageList:
    stage: Stage
    title: str
    #: What the clinic does for the people on this list.
    hint: str
    #: Reception sees it (administrative: funding, bookings); else clinical staff only.
    administrative: bool


STAGE_LISTS: tuple[StageList, ...] = (
    StageList(
        Stage.WAITING_FUNDING,
        "Waiting for funding",
        "Record the funding decision when it arrives.",
        administrative=True,
    ),
    StageList(
        Stage.WAITING_FIRST_VISIT,
        "Waiting for a first visit",
        "Consultation, screening, safety information and consent.",
        administrative=True,
    ),
    StageList(
        Stage.WAITING_TO_START,
        "Waiting to start",
        "Plan the course and book the visits.",
        administrative=True,
    ),
    StageList(
        Stage.IN_COURSE,
        "In course",
        "Treatment visits booked ahead.",
        administrative=True,
    ),
    StageList(
        Stage.AWAITING_VERDICT,
        "Awaiting a verdict",
        "Follow-up measures and the verdict on the course.",
        administrative=False,
    ),
    StageList(
        Stage.TO_DISCHARGE,
        "To discharge",
        "Verdict given: write the letters to the GP and the patient.",
        administrative=False,
    ),
    StageList(
        Stage.DECLINED,
        "Funding declined",
        "Let the GP and the patient know.",
        administrative=True,
    ),
)


def referrals_at(stage: Stage) -> QuerySet[Referral]:
    now = timezone.now()
    return (
        Referral.objects.filter(stage=stage)
        .select_related("patient", "practice")
        .annotate(
            next_visit=Min(
                "courses__visits__starts_at",
                filter=Q(
                    courses__visits__status=VisitStatus.BOOKED,
                    courses__visits__starts_at__gte=now,
                ),
            )
        )
        .order_by("received_on", "id")
    )


@dataclass(frozen=True)
class Listed:
    """One line of a list: the referral, how long since it came, its next booked visit."""

    referral: Referral
    days_waiting: int
    next_visit: dt.datetime | None


def stage_lists(*, clinical: bool) -> list[dict[str, Any]]:
    today = timezone.localdate()
    return [
        {
            "spec": spec,
            "rows": [
                Listed(r, (today - r.received_on).days, getattr(r, "next_visit", None))
                for r in referrals_at(spec.stage)
            ],
        }
        for spec in STAGE_LISTS
        if clinical or spec.administrative
    ]


# --- Outcomes so far ----------------------------------------------------------------------------


@dataclass
class OutcomeRow:
    region: str
    solution: str
    judged: int = 0
    responders: int = 0
    next_steps: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        return round(100 * self.responders / self.judged) if self.judged else 0


def outcomes_so_far() -> list[OutcomeRow]:
    """Responders by region and solution: every kept verdict ("continue" is never kept), a
    responder being a course whose verdict is "works"."""
    rows: dict[tuple[str, str], OutcomeRow] = {}
    steps: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for verdict in Verdict.objects.select_related("course"):
        key = (verdict.course.region, verdict.course.solution)
        row = rows.setdefault(key, OutcomeRow(words.region(key[0]), words.solution(key[1])))
        row.judged += 1
        if verdict.outcome == VerdictKind.WORKS:
            row.responders += 1
        step = words.NEXT_STEP_WORDS.get(verdict.next_step, words.plain(verdict.next_step))
        steps[key][step] = steps[key].get(step, 0) + 1
    for key, row in rows.items():
        row.next_steps = dict(sorted(steps[key].items()))
    return [rows[k] for k in sorted(rows)]


# --- A referral's timeline ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    text: str


def _at(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def timeline(referral: Referral, *, clinical: bool) -> list[Event]:
    """What happened to a referral, oldest first. Reception's timeline leaves out the clinical
    steps (screening, consent, measures, sessions, verdicts, letters)."""
    events = [Event(_at(referral.received_on), f"Referral received from {referral.gp_name}")]
    funding = getattr(referral, "funding", None)
    if funding is not None:
        events.append(Event(_at(funding.requested_on), "Funding requested"))
        if funding.decided_on:
            text = (
                f"Funding approved: {funding.sessions_funded} sessions"
                if funding.approved
                else "Funding declined"
            )
            events.append(Event(_at(funding.decided_on), text))
    for course in referral.courses.all():
        events.append(
            Event(
                course.created_at,
                f"Course planned: {words.course_words(course.region, course.solution)}",
            )
        )
    if clinical:
        consultation = getattr(referral, "consultation", None)
        if consultation is not None:
            eligible = "eligible" if consultation.screening.get("eligible") else "not eligible"
            events.append(Event(consultation.seen_at, f"First visit: screened, {eligible}"))
        for consent in referral.consents.all():
            events.append(Event(consent.recorded_at, f"Consent given by {consent.given_by}"))
        for assessment in referral.assessments.all():
            events.append(
                Event(
                    assessment.recorded_at,
                    f"{assessment.get_kind_display()} ({assessment.timepoint}): "
                    f"{assessment.score:g}",
                )
            )
        sessions = TreatmentSession.objects.filter(
            course__referral=referral, started_at__isnull=False
        ).select_related("course")
        for session in sessions:
            assert session.started_at is not None
            events.append(
                Event(
                    session.started_at,
                    f"Session on {words.region(session.course.region)}: {session.status}",
                )
            )
        for verdict in Verdict.objects.filter(course__referral=referral).select_related("course"):
            events.append(
                Event(
                    verdict.decided_at,
                    f"Verdict on {words.region(verdict.course.region)}: "
                    f"{words.VERDICT_WORDS.get(verdict.outcome, verdict.outcome)}",
                )
            )
        for letter in referral.letters.all():
            events.append(Event(letter.created_at, f"Letter written: {letter.get_kind_display()}"))
    return sorted(events, key=lambda e: e.at)
