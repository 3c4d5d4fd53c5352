"""The demo centre ``ionto serve --demo`` seeds: chairs, staff with documented demo logins,
and patients at every stage of the way, so that a newcomer sees a living clinic at once.

Everything is built through ``ionto.clinic.workflow`` (and ``letters``), as a nurse would
build it through the pages: referrals are received, funded or declined, patients screened and
consented, courses planned, visits booked, sessions given — on the simulated device and virtual
patient, in simulated time — verdicts judged, letters written. Nothing is written around the
rules, so the demo also shows that the rules hold.

Seeding is idempotent (a second run finds the demo practice and changes nothing) and happens
in one transaction, so that a crash half-way leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from ionto.clinic import audit, letters, workflow
from ionto.clinic.models import (
    Audited,
    BookingSetup,
    Chair,
    ClosedDay,
    Course,
    OpeningHours,
    Practice,
    Referral,
    RosteredNurse,
    SessionEventRow,
    SessionStatus,
    TraceChunk,
    TreatmentSession,
    Visit,
    VisitStatus,
)
from ionto.clinic.stations import session_request
from ionto.device.session import SessionOutcome, SessionRequest, run_session

#: The password of every demo login. Demo mode only: the README says so, and ``ionto serve``
#: without ``--demo`` warns when a database holds the demo centre.
DEMO_PASSWORD = "ionto-demo"
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    # username, role (group), given name, family name
    ("admin", "admin", "Alex", "Admin"),
    ("clinician", "clinician", "Dr Hannah", "Reid"),
    ("nurse", "nurse", "Nina", "Shah"),
    ("reception", "reception", "Ray", "Osei"),
    ("patient", "patient", "Sophie", "Taylor"),
)
#: The demo practice whose presence means the centre is already seeded.
MARKER_PRACTICE = "DEMO01"
PRACTICES = (
    (MARKER_PRACTICE, "Riverside Surgery", "12 River Lane\nMillbrook\nMB1 2AB"),
    ("DEMO02", "Hillview Medical Centre", "Hillview Road\nMillbrook\nMB4 7CD"),
    ("DEMO03", "Castle Street Practice", "3 Castle Street\nOldtown\nOT2 9EF"),
)
CHAIRS = ("Chair 1", "Chair 2", "Chair 3")
#: The demo centre's hours (weekday → opens, closes): a short Friday, closed at the weekend.
DEMO_HOURS = {0: (9, 17), 1: (9, 17), 2: (9, 17), 3: (9, 17), 4: (9, 13)}
#: A second nurse on the roster (no demo login: she does not use Ionto in the demo), and the
#: weekdays each nurse works (0 = Monday).
SECOND_NURSE = ("kdoyle", "Kate", "Doyle")
DEMO_ROSTER = {"nurse": (0, 1, 2, 3, 4), SECOND_NURSE[0]: (0, 1, 2, 3)}
#: Trace samples kept per chunk: about a minute at the stored 1 Hz.
CHUNK_SAMPLES = 60
#: The rate the stored trace keeps (Hz): enough to redraw the chart, small in the database.
TRACE_HZ = 1


# =============================================================================================
# A session on the simulator, stored as a station stores a live one
# =============================================================================================
def simulation_request(session: TreatmentSession) -> SessionRequest:
    """The simulator's request for a prepared session: the station's own (its plan and its
    virtual patient), sampled for storage."""
    return dataclasses.replace(session_request(session), trace_hz=TRACE_HZ)


def trace_samples(outcome: SessionOutcome) -> list[list[Any]]:
    """``[t_s, current_mA, voltage_V, state]`` rows, at most one per second of device time
    (the last sample of each second, and every change of state, are kept)."""
    rows: list[list[Any]] = []
    last_second = -1
    last_state = ""
    for sample in outcome.samples:
        t_s = sample.tick / 1000
        state = sample.state.name.lower()
        second = int(t_s)
        row: list[Any] = [
            round(t_s, 3),
            round(sample.current_uA / 1000, 3),
            round(sample.voltage_mV / 1000, 2),
            state,
        ]
        if second == last_second and state == last_state and rows:
            rows[-1] = row
        else:
            rows.append(row)
        last_second, last_state = second, state
    return rows


_STATES = {
    "completed": SessionStatus.COMPLETED,
    "stopped": SessionStatus.STOPPED,
    "aborted": SessionStatus.ABORTED,
    "fault": SessionStatus.FAULT,
}


@transaction.atomic
def record_simulated_session(
    session: TreatmentSession,
    outcome: SessionOutcome,
    *,
    started_at: dt.datetime | None = None,
) -> TreatmentSession:
    """Store a finished simulated session as a station stores a live one: its status, times,
    dose and peak, its events (``SessionEventRow``), its trace (``TraceChunk`` rows of
    ``[t_s, current_mA, voltage_V, state]``, about 1 Hz), and the visit as attended."""
    if session.finished:
        raise workflow.WorkflowError("this session has already finished", "status", 409)
    record = outcome.record
    start = started_at or (session.visit.starts_at if session.visit else timezone.now())
    forward, reverse = record.delivered_mA_min()
    session.status = _STATES.get(outcome.state, SessionStatus.ABORTED)
    session.started_at = start
    session.ended_at = start + dt.timedelta(seconds=record.ended_s)
    session.device_time_s = record.ended_s
    session.treated_s = record.treated_ms / 1000
    session.forward_mA_min = round(forward, 3)
    session.reverse_mA_min = round(reverse, 3)
    session.peak_current_mA = record.peak_uA / 1000
    session.pain_reports = record.pain_reports
    session.save()
    SessionEventRow.objects.bulk_create(
        [
            SessionEventRow(session=session, t_s=e.t_s, code=e.code, text=e.text)
            for e in record.events
        ]
    )
    samples = trace_samples(outcome)
    TraceChunk.objects.bulk_create(
        [
            TraceChunk(session=session, seq=i, samples=samples[start_i : start_i + CHUNK_SAMPLES])
            for i, start_i in enumerate(range(0, len(samples), CHUNK_SAMPLES))
        ]
    )
    if session.visit is not None and session.visit.status == VisitStatus.BOOKED:
        session.visit.status = VisitStatus.ATTENDED
        session.visit.save()
    workflow.refresh_stage(session.course.referral)
    return session


# =============================================================================================
# The demo centre
# =============================================================================================
@dataclass
class DemoSummary:
    seeded: bool
    seconds: float = 0.0
    patients: int = 0
    sessions: int = 0
    stages: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Person:
    given: str
    family: str
    born: dt.date
    sex: str
    nhs: str
    guardian: str = ""


def _nhs_number(serial: int) -> str | None:
    """A valid NHS number in the 999 range (reserved for testing: never a real patient), or
    None when this serial has no valid check digit."""
    body = f"999{serial:06d}"
    total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return None if check == 10 else body + str(check)


class _Builder:
    """Builds the demo centre day by day relative to today, through the workflow."""

    def __init__(self) -> None:
        self.today = timezone.localdate()
        self.tz = timezone.get_current_timezone()
        self.users: dict[str, User] = {}
        self.practices: list[Practice] = []
        self.chairs: list[Chair] = []
        self.sessions = 0
        self.serial = 1000

    # --- time -------------------------------------------------------------------------------
    def day(self, offset: int) -> dt.date:
        return self.today + dt.timedelta(days=offset)

    def at(self, offset: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(self.day(offset), dt.time(hour, minute), tzinfo=self.tz)

    @staticmethod
    def backdate(record: Audited, stamp: str, when: dt.datetime) -> None:
        """Date a step on the day the story puts it, not the seeding time: the workflow stamps
        "now", and a first visit after the sessions it led to would make no sense. Saved
        through ``Audited.save`` (audited like any correction), that one field only."""
        setattr(record, stamp, when)
        record.save(update_fields=[stamp])

    # --- people and places --------------------------------------------------------------------
    def staff(self) -> None:
        for username, role, given, family in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username,
                    password=DEMO_PASSWORD,
                    first_name=given,
                    last_name=family,
                    is_staff=role == "admin",
                    is_superuser=role == "admin",
                )
            user.groups.add(Group.objects.get(name=role))
            self.users[role] = user

    def places(self) -> None:
        for code, name, address in PRACTICES:
            self.practices.append(Practice.objects.create(code=code, name=name, address=address))
        for name in CHAIRS:
            chair = Chair.objects.filter(name=name).first() or Chair.objects.create(name=name)
            self.chairs.append(chair)

    def booking_setup(self) -> None:
        """The booking office's set-up: hours, the nurses' roster, the bank holidays ahead."""
        username, given, family = SECOND_NURSE
        second = User.objects.filter(username=username).first()
        if second is None:
            second = User(username=username, first_name=given, last_name=family)
            second.set_unusable_password()
            second.save()
        second.groups.add(Group.objects.get(name="nurse"))
        setup, _ = BookingSetup.objects.get_or_create(key="centre")
        if setup.hours.exists():
            return
        for weekday, (opens, closes) in DEMO_HOURS.items():
            OpeningHours.objects.create(
                setup=setup, weekday=weekday, opens=dt.time(opens), closes=dt.time(closes)
            )
        staff = {"nurse": self.users["nurse"], username: second}
        for name, weekdays in DEMO_ROSTER.items():
            days = {field: i in weekdays for i, field in enumerate(RosteredNurse.DAY_FIELDS)}
            RosteredNurse.objects.create(setup=setup, nurse=staff[name], **days)
        for year in (self.today.year, self.today.year + 1):
            for month, day, what in ((12, 25, "Christmas Day"), (12, 26, "Boxing Day")):
                ClosedDay.objects.get_or_create(
                    setup=setup, on=dt.date(year, month, day), defaults={"reason": what}
                )
            ClosedDay.objects.get_or_create(
                setup=setup, on=dt.date(year + 1, 1, 1), defaults={"reason": "New Year's Day"}
            )

    def person(
        self, given: str, family: str, born: dt.date, sex: str, guardian: str = ""
    ) -> _Person:
        number = None
        while number is None:
            self.serial += 1
            number = _nhs_number(self.serial)
        return _Person(given, family, born, sex, number, guardian)

    # --- the steps ----------------------------------------------------------------------------
    def refer(
        self,
        who: _Person,
        *,
        practice: int,
        sites: Sequence[str],
        received: int,
        hdss: int = 3,
        generalised: bool = False,
        notes: str = "",
    ) -> Referral:
        return workflow.create_referral(
            patient=workflow.PatientDetails(
                given_name=who.given,
                family_name=who.family,
                date_of_birth=who.born,
                nhs_number=who.nhs,
                sex=who.sex,
                address=f"{10 + self.serial % 80} Orchard Way\nMillbrook\nMB3 {self.serial % 9}XY",
                guardian_name=who.guardian,
            ),
            practice=self.practices[practice],
            gp_name=("Dr Patel", "Dr Okafor", "Dr Lewis")[practice],
            received_on=self.day(received),
            sites=sites,
            hdss=hdss,
            treatments_tried=["aluminium_chloride"],
            generalised=generalised,
            clinical_notes=notes,
            user=self.users["reception"],
        )

    def fund(self, referral: Referral, *, decided: int, glycopyrronium: bool = False) -> None:
        workflow.decide_funding(
            referral,
            status="approved",
            decided_on=self.day(decided),
            sessions_funded=10,
            solutions_funded=["tap_water", "glycopyrronium"] if glycopyrronium else ["tap_water"],
            reference=f"IFR-{referral.pk:05d}",
            user=self.users["clinician"],
        )

    def screen(
        self,
        referral: Referral,
        *,
        on: int,
        onset: int = 12,
        generalised: bool = False,
        night_sweats: bool = False,
        notes: str = "",
    ) -> bool:
        """The first visit, ``on`` days from today: consultation, and — if eligible — consent
        and baseline measures. Returns whether the patient is eligible."""
        patient = referral.patient
        age = int(patient.age_years(self.today))
        facts = {
            "age_years": age,
            "treat": list(referral.sites),
            "sites": list(referral.sites),
            "history": {
                "duration_months": min(60, max(6, (age - onset) * 12)),
                "onset_age_years": onset,
                "bilateral_symmetric": True,
                "impairs_daily_activities": True,
                "episodes_per_week": 7,
                "family_history": not night_sweats,
                "stops_during_sleep": not night_sweats,
                "night_sweats": night_sweats,
                "generalised": generalised,
                "systemic_symptoms": False,
            },
            "conditions": [],
            "hdss": referral.hdss,
        }
        consultation = workflow.record_consultation(
            referral, facts=facts, history_notes=notes, user=self.users["nurse"]
        )
        self.backdate(consultation, "seen_at", self.at(on, 9, 30))
        if not consultation.screening.get("eligible"):
            return False
        child = age < 16
        consent = workflow.record_consent(
            referral,
            given_by=patient.guardian_name if child else patient.full_name,
            relationship="parent" if child else "self",
            safety_items=list(workflow.SAFETY_INFORMATION),
            user=self.users["nurse"],
        )
        self.backdate(consent, "recorded_at", self.at(on, 9, 50))
        nurse = self.users["nurse"]
        measures = [
            workflow.record_assessment(
                referral, kind="hdss", timepoint="baseline", score=referral.hdss, user=nurse
            )
        ]
        if age >= 16:
            answers = [2, 2, 1, 2, 1, 1, 2, 1, 1, 1]
            measures.append(
                workflow.record_assessment(
                    referral, kind="dlqi", timepoint="baseline", answers=answers, user=nurse
                )
            )
        measures.append(
            workflow.record_assessment(
                referral, kind="gravimetry", timepoint="baseline", score=85.0, user=nurse
            )
        )
        for measure in measures:
            self.backdate(measure, "recorded_at", self.at(on, 10, 0))
        return True

    def plan(self, referral: Referral, *, on: int, solution: str = "tap_water") -> list[Course]:
        """The courses planned ``on`` days from today (the first visit's day, or a verdict's)."""
        courses = workflow.plan_courses(referral, solution=solution)
        for course in courses:
            self.backdate(course, "created_at", self.at(on, 10, 15))
        return courses

    def book(self, course: Course, offsets: Sequence[int], *, hour: int, chair: int) -> list[Visit]:
        return [
            workflow.book_visit(
                course, starts_at=self.at(offset, hour, 0), chair=self.chairs[chair]
            )
            for offset in offsets
        ]

    def give(
        self, visits: Sequence[Visit], *, side_effects: dict[int, list[str]] | None = None
    ) -> None:
        """Give the sessions of these (past) visits on the simulator, and record how they went."""
        for i, visit in enumerate(visits):
            chair = visit.chair or self.chairs[0]
            session = workflow.prepare_session(
                visit,
                chair=chair,
                checklist=list(workflow.PRE_SESSION_CHECKS),
                user=self.users["nurse"],
            )
            outcome = run_session(simulation_request(session))
            record_simulated_session(session, outcome)
            effects = (side_effects or {}).get(i, [])
            workflow.record_after_session(
                session,
                sensation_score=min(10, round(outcome.max_sensation)),
                side_effects=effects or ["tingling"],
                notes="",
            )
            self.sessions += 1

    def follow_up(self, referral: Referral, *, hdss: int, on: int) -> None:
        nurse = self.users["nurse"]
        measures = [
            workflow.record_assessment(
                referral, kind="hdss", timepoint="followup", score=hdss, user=nurse
            )
        ]
        if referral.patient.age_years(self.today) >= 16:
            answers = (
                [1, 0, 0, 1, 0, 0, 1, 0, 0, 0] if hdss <= 2 else [2, 2, 1, 2, 1, 1, 2, 1, 1, 1]
            )
            measures.append(
                workflow.record_assessment(
                    referral, kind="dlqi", timepoint="followup", answers=answers, user=nurse
                )
            )
        for measure in measures:
            self.backdate(measure, "recorded_at", self.at(on, 11, 0))

    def judge(self, referral: Referral, *, hdss: int, on: int, notes: str = "") -> bool:
        """Verdicts, ``on`` days from today, on every open course; True when every course of
        the referral has one."""
        for course in referral.courses.all():
            if not hasattr(course, "verdict"):
                verdict = workflow.judge_course(
                    course, followup_hdss=hdss, notes=notes, user=self.users["clinician"]
                )
                if verdict.pk is not None:  # "continue" is shown, not kept
                    self.backdate(verdict, "decided_at", self.at(on, 11, 30))
        return not letters.missing_verdicts(referral)


def _build(b: _Builder) -> None:
    """The patients, one or two at each stage (issue 4 §8's lists)."""
    p = b.person
    # 1. Waiting for funding.
    b.refer(
        p("Olivia", "Bennett", dt.date(1991, 3, 14), "female"),
        practice=0,
        sites=["palms", "soles"],
        received=-4,
        hdss=3,
    )
    # 2. Funding declined.
    declined = b.refer(
        p("Mohammed", "Khan", dt.date(1985, 7, 2), "male"),
        practice=1,
        sites=["palms"],
        received=-45,
        hdss=2,
    )
    workflow.decide_funding(
        declined,
        status="declined",
        decided_on=b.day(-30),
        decline_reason="Exceptional circumstances not shown: HDSS 2. Try 20% aluminium "
        "chloride for three months first, then refer again.",
        user=b.users["clinician"],
    )
    # 3. Funded, waiting for the first visit.
    waiting = b.refer(
        p("Grace", "Wilson", dt.date(1998, 11, 23), "female"),
        practice=2,
        sites=["soles"],
        received=-25,
        hdss=3,
    )
    b.fund(waiting, decided=-6)
    # 4. Screened, consented, course planned and booked: waiting to start.
    starting = b.refer(
        p("Daniel", "Evans", dt.date(1979, 1, 30), "male"),
        practice=0,
        sites=["palms"],
        received=-40,
        hdss=4,
    )
    b.fund(starting, decided=-28)
    b.screen(starting, on=-14)
    (course,) = b.plan(starting, on=-14)
    b.book(course, [0, 2, 4, 7], hour=9, chair=2)
    # 5. In course — the "patient" login: sessions given, one today, more booked ahead.
    sophie = b.refer(
        p("Sophie", "Taylor", dt.date(1995, 6, 8), "female"),
        practice=1,
        sites=["palms"],
        received=-50,
        hdss=3,
    )
    b.fund(sophie, decided=-35)
    b.screen(sophie, on=-21)
    (course,) = b.plan(sophie, on=-21)
    b.give(b.book(course, [-9, -7, -4, -2], hour=10, chair=0))
    b.book(course, [0], hour=11, chair=0)
    b.book(course, [2, 4, 7], hour=11, chair=0)
    patient_user = b.users["patient"]
    sophie.patient.user = patient_user
    sophie.patient.email = "sophie.taylor@example.org"
    sophie.patient.save()
    # 6. In course: feet, a visit this morning and this afternoon's chairs filled.
    james = b.refer(
        p("James", "Robinson", dt.date(1988, 9, 17), "male"),
        practice=2,
        sites=["soles"],
        received=-48,
        hdss=3,
    )
    b.fund(james, decided=-30)
    b.screen(james, on=-12)
    (course,) = b.plan(james, on=-12)
    b.give(b.book(course, [-5, -3], hour=14, chair=1))
    b.book(course, [0], hour=9, chair=1)
    b.book(course, [2, 5], hour=14, chair=1)
    # 7. Awaiting verdict: the course's sessions given, nothing booked ahead.
    aisha = b.refer(
        p("Aisha", "Patel", dt.date(1993, 4, 5), "female"),
        practice=0,
        sites=["axillae"],
        received=-70,
        hdss=3,
    )
    b.fund(aisha, decided=-55)
    b.screen(aisha, on=-28)
    (course,) = b.plan(aisha, on=-28)
    b.give(b.book(course, [-17, -14, -12, -10], hour=15, chair=2))
    # 8. Discharged with letters: it works, home plan weekly.
    thomas = b.refer(
        p("Thomas", "Hughes", dt.date(1982, 12, 1), "male"),
        practice=1,
        sites=["palms"],
        received=-90,
        hdss=3,
    )
    b.fund(thomas, decided=-75)
    b.screen(thomas, on=-54)
    (course,) = b.plan(thomas, on=-54)
    b.give(b.book(course, [-40, -38, -35, -33], hour=10, chair=1), side_effects={2: ["dryness"]})
    b.follow_up(thomas, hdss=1, on=-26)
    notes = "Dry within four sessions; happy to continue at home."
    if b.judge(thomas, hdss=1, on=-26, notes=notes):
        letters.write_letters(thomas, b.users["nurse"])
    # 9. Escalation: tap water tolerated but no change after a month → glycopyrronium.
    emily = b.refer(
        p("Emily", "Clarke", dt.date(1990, 2, 19), "female"),
        practice=2,
        sites=["palms"],
        received=-80,
        hdss=3,
    )
    b.fund(emily, decided=-70, glycopyrronium=True)
    b.screen(emily, on=-50)
    (course,) = b.plan(emily, on=-50)
    b.give(b.book(course, [-40, -31, -21, -12], hour=16, chair=0))
    b.judge(emily, hdss=3, on=-11, notes="No change after a month of tap water; tolerated well.")
    glyco = b.plan(emily, on=-10, solution="glycopyrronium")
    b.give(b.book(glyco[0], [-5], hour=16, chair=0))
    b.book(glyco[0], [2, 9], hour=16, chair=2)
    # 10. A child, with a parent: pulsed current, works, letters to the parent.
    lily = b.refer(
        p("Lily", "Turner", b.day(-365 * 10 - 40), "female", guardian="Sarah Turner"),
        practice=0,
        sites=["palms"],
        received=-85,
        hdss=3,
    )
    b.fund(lily, decided=-70)
    b.screen(lily, on=-56, onset=7)
    (course,) = b.plan(lily, on=-56)
    b.give(b.book(course, [-45, -43, -40, -38], hour=13, chair=2))
    b.follow_up(lily, hdss=1, on=-30)
    if b.judge(lily, hdss=1, on=-30, notes="Much drier at school; parent will treat at home."):
        letters.write_letters(lily, b.users["nurse"])
    # 11. Generalised hyperhidrosis: hands and armpits treated; verdicts given, letters to write.
    ryan = b.refer(
        p("Ryan", "Walker", dt.date(1987, 8, 11), "male"),
        practice=1,
        sites=["palms", "axillae"],
        received=-75,
        hdss=4,
        generalised=True,
        notes="Sweats over much of the body since his teens; no night sweats.",
    )
    b.fund(ryan, decided=-60)
    b.screen(ryan, on=-44, generalised=True, notes="Generalised since age 13; thyroid normal.")
    palms, axillae = sorted(b.plan(ryan, on=-44), key=lambda c: c.region != "palms")
    b.give(b.book(palms, [-30, -28, -26], hour=9, chair=2))
    # One sitting treats both regions: the same days, one after the other.
    b.give(b.book(axillae, [-30, -28, -26], hour=10, chair=2))
    b.follow_up(ryan, hdss=2, on=-12)
    b.judge(ryan, hdss=2, on=-12)
    # 12. Not suitable: late onset with night sweats — a possible secondary cause.
    margaret = b.refer(
        p("Margaret", "Hall", dt.date(1962, 5, 27), "female"),
        practice=2,
        sites=["palms"],
        received=-20,
        hdss=3,
    )
    b.fund(margaret, decided=-10)
    b.screen(
        margaret,
        on=-3,
        onset=60,
        night_sweats=True,
        notes="Onset at 60 with night sweats: referred back to the GP for a cause.",
    )
    # 13. Newly funded and planned, hands and feet, nothing booked yet: "Book this course"
    # proposes the solver's visits (both regions in one sitting) around her lectures.
    chloe = b.refer(
        p("Chloe", "Martin", dt.date(2003, 10, 3), "female"),
        practice=2,
        sites=["palms", "soles"],
        received=-21,
        hdss=3,
    )
    b.fund(chloe, decided=-7)
    if b.screen(chloe, on=-1):
        b.plan(chloe, on=-1)
        chloe.available_weekdays = [0, 2, 3]
        chloe.available_from = dt.time(13)
        chloe.save(update_fields=["available_weekdays", "available_from"])


def is_seeded() -> bool:
    return Practice.objects.filter(code=MARKER_PRACTICE).exists()


def seed_demo_centre() -> DemoSummary:
    """Seed the demo centre once; a second call finds it and changes nothing."""
    if is_seeded():
        return DemoSummary(seeded=False)
    started = time.perf_counter()
    builder = _Builder()
    with audit.acting_as("demo-seed"), transaction.atomic():
        if is_seeded():  # another process seeded it while we waited for the write lock
            return DemoSummary(seeded=False)
        builder.staff()
        builder.places()
        builder.booking_setup()
        _build(builder)
    stages: dict[str, int] = {}
    for stage in Referral.objects.values_list("stage", flat=True):
        stages[stage] = stages.get(stage, 0) + 1
    return DemoSummary(
        seeded=True,
        seconds=round(time.perf_counter() - started, 1),
        patients=Referral.objects.values("patient").distinct().count(),
        sessions=builder.sessions,
        stages=stages,
    )
