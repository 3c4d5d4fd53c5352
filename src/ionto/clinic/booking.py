"""Book a course with the solver (issue 5): "book this course" on the pages and in the API.

The clinic's records become a scheduling :class:`~ionto.clinic.scheduling.problem.Problem`
(Django-free), the solver proposes the visits, the nurse may move any of them, and every
version is checked twice — by the scheduling checker (opening hours, the patient's days and
times, chairs and nurses, the course rules of the therapy core) and by the workflow's own
booking rules (``workflow.book_visit``: funding, funded sessions, chair taken, frequency
caps) — before it is booked whole, in one transaction, or not at all.

* The centre: the :class:`~ionto.clinic.models.BookingSetup` record (opening hours, closed
  days, the nurses' roster, chairs per nurse, set-up minutes) and the chairs in service. What
  a centre has not set falls back to these defaults (derived presets, clinical-reference is
  silent on a centre's hours): open Monday to Friday 09:00–17:00 (:data:`DEFAULT_HOURS`); no
  closed days; every user in the nurse group works every open day (if there is none, one
  nurse on duty); 2 chairs per nurse and 10 minutes' set-up (CONTRACT.md, ``ionto schedule``).
* The horizon: :data:`HORIZON_WEEKS` from today. Today counts only until the centre opens:
  a day already under way is not offered.
* Every other booked visit from today on is a fixed appointment on its chair (a visit
  without a chair takes a free one). A visit lasts its course's treatment minutes plus
  set-up; visits of one patient back to back on one chair are one sitting with one set-up.
* The course: its remaining funded sessions within the therapy core's trial course (all
  within 28 days of the first, at least 2 a week; ≤ 1 a day and ≤ 5 in any 7 days;
  clinical-reference §1 and §8), never before funding. The patient's other courses with the
  same solution and nothing booked yet are booked with it: one visit treats the regions one
  after another on one chair (the default sitting of the scheduling package).
* A course already partly booked: the solver books the rest after its last visit (starting
  up to a week later when the visits booked and the new ones would break a course rule
  together), and every check validates the whole course, booked and proposed.
* Glycopyrronium courses are booked visit by visit (their 7-day gap is not the trial
  course's shape): the solver refuses them with a 409.

The proposal lives in the page's form (or the API caller's hands) between requests: nothing
in it is trusted, since every check and the final booking re-read the records.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from ionto.clinic import audit, workflow
from ionto.clinic.models import (
    BookingSetup,
    Chair,
    Course,
    CourseStatus,
    FundingRequest,
    Referral,
    Visit,
    VisitStatus,
)
from ionto.clinic.scheduling import checker
from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.diary import AssignmentError
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.problem import (
    DEFAULT_CHAIRS_PER_NURSE,
    DEFAULT_SETUP_MINUTES,
    MINUTES_PER_DAY,
    Appointment,
    Centre,
    Nurse,
    OpeningHours,
    Problem,
    Schedule,
    clock_text,
)
from ionto.clinic.scheduling.problem import Referral as CourseToBook
from ionto.therapy.course import TRIAL_COURSE
from ionto.therapy.vocabulary import Region, Solution

#: Hours of a centre that has set none: Monday to Friday, 09:00–17:00 (derived preset: a
#: hospital outpatient day; set the real ones in the admin site's booking set-up).
DEFAULT_HOURS: tuple[OpeningHours, ...] = tuple(OpeningHours(d, 9 * 60, 17 * 60) for d in range(5))
#: How far ahead the solver books (weeks from today): the 12 weeks of CONTRACT.md's example,
#: room for a 4-week course after a wait of up to 8 weeks.
HORIZON_WEEKS = 12
#: The solver's time on the booking page (seconds): a nurse waits for it.
PROPOSAL_SECONDS = 3.0
#: The nurse of a centre with no nurse at all in its nurse group (a placeholder, so that a
#: fresh installation can still book).
ON_DUTY = "nurse on duty"
#: The scheduling id of the course being booked (other bookings are ``referral-<id>``).
THIS_COURSE = "this course"
LIVE = (VisitStatus.BOOKED, VisitStatus.ATTENDED)


# --- The patient's availability ------------------------------------------------------------
@dataclass(frozen=True)
class Availability:
    """When the patient can come: weekdays (0 = Monday; empty: any), and the earliest start
    and latest end of a visit (``None``: the centre's hours)."""

    weekdays: frozenset[int] = frozenset()
    earliest: dt.time | None = None
    latest: dt.time | None = None


def availability_of(referral: Referral) -> Availability:
    return Availability(
        frozenset(int(d) for d in referral.available_weekdays or ()),
        referral.available_from,
        referral.available_until,
    )


def save_availability(referral: Referral, availability: Availability) -> Referral:
    """Keep the patient's availability on the referral (audited), for this booking and any
    later re-plan. A 422 names the field when it makes no sense."""
    if any(not 0 <= d <= 6 for d in availability.weekdays):
        raise workflow.WorkflowError("weekdays are 0 (Monday) to 6 (Sunday)", "weekdays")
    early, late = availability.earliest, availability.latest
    if _minutes(early, 0) >= _minutes(late, MINUTES_PER_DAY):
        after = f"the earliest start ({early:%H:%M})" if early else "midnight"
        raise workflow.WorkflowError(f"the latest end must come after {after}", "latest")
    if availability_of(referral) != availability:
        referral.available_weekdays = sorted(availability.weekdays)
        referral.available_from = early
        referral.available_until = late
        referral.save(update_fields=["available_weekdays", "available_from", "available_until"])
    return referral


def _minutes(t: dt.time | None, default: int) -> int:
    return default if t is None else t.hour * 60 + t.minute


# --- The centre ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CentreRecords:
    """The centre as the solver sees it, and the records behind its numbers."""

    centre: Centre
    #: Chair number ``n`` (from 1, as the scheduling package counts) is ``chairs[n − 1]``.
    chairs: tuple[Chair, ...]
    #: Nurse id (username) → the name shown.
    nurse_names: dict[str, str]
    #: Which parts of the set-up are the defaults (said on the booking page).
    defaults: tuple[str, ...]

    def chair_number(self, chair_id: int | None) -> int | None:
        for n, chair in enumerate(self.chairs, start=1):
            if chair.pk == chair_id:
                return n
        return None


def _nurses(
    setup: BookingSetup | None, open_days: frozenset[int]
) -> tuple[list[Nurse], dict[str, str], bool]:
    rostered = list(setup.nurses.select_related("nurse").order_by("id")) if setup else []
    names: dict[str, str] = {}
    nurses: list[Nurse] = []
    for row in rostered:
        if not row.nurse.is_active:
            continue
        nurses.append(Nurse(row.nurse.get_username(), row.weekdays))
        names[row.nurse.get_username()] = str(row)
    if nurses:
        return nurses, names, False
    for user in User.objects.filter(groups__name="nurse", is_active=True).order_by("username"):
        nurses.append(Nurse(user.get_username(), open_days))
        names[user.get_username()] = user.get_full_name() or user.get_username()
    if not nurses:
        nurses.append(Nurse(ON_DUTY, open_days))
        names[ON_DUTY] = ON_DUTY
    return nurses, names, True


def centre_records(
    now: dt.datetime | None = None, *, solving: bool = False, weeks: int = HORIZON_WEEKS
) -> CentreRecords:
    """The centre from the booking set-up, over ``weeks`` from today (in clinic time).

    ``solving``: for the solver, today is offered only before the centre opens (a day under
    way is spoken for); a nurse may still move a visit to later today."""
    local = timezone.localtime(now)
    start = local.date()
    setup = BookingSetup.objects.first()
    defaults: list[str] = []
    hours = tuple(
        OpeningHours(h.weekday, _minutes(h.opens, 0), _minutes(h.closes, MINUTES_PER_DAY))
        for h in (setup.hours.all() if setup else ())
    )
    if not hours:
        hours = DEFAULT_HOURS
        defaults.append("opening hours (Monday to Friday, 09:00–17:00)")
    end = start + dt.timedelta(days=7 * weeks - 1)
    closed = (
        set(setup.closed_days.filter(on__gte=start, on__lte=end).values_list("on", flat=True))
        if setup
        else set()
    )
    today = next((h for h in hours if h.weekday == start.weekday()), None)
    if solving and today is not None and local.hour * 60 + local.minute >= today.open_min:
        closed.add(start)
    open_days = frozenset(h.weekday for h in hours)
    nurses, names, default_roster = _nurses(setup, open_days)
    if default_roster:
        defaults.append("nurses' roster (every nurse works every open day)")
    chairs = tuple(Chair.objects.filter(in_service=True).order_by("name", "id"))
    if not chairs:
        raise workflow.WorkflowError("no chair is in service: nothing can be booked", "chair", 409)
    if setup is None:
        defaults.append(
            f"{DEFAULT_CHAIRS_PER_NURSE} chairs per nurse, {DEFAULT_SETUP_MINUTES} minutes' set-up"
        )
    centre = Centre(
        start=start,
        weeks=weeks,
        chairs=len(chairs),
        hours=hours,
        nurses=tuple(nurses),
        closed=frozenset(closed),
        chairs_per_nurse=setup.chairs_per_nurse if setup else DEFAULT_CHAIRS_PER_NURSE,
        setup_minutes=setup.setup_minutes if setup else DEFAULT_SETUP_MINUTES,
    )
    return CentreRecords(centre, chairs, names, tuple(defaults))


# --- What is booked already ----------------------------------------------------------------
def _treatment_minutes(course: Course) -> int:
    """The protocol's minutes for the course (the therapy core's, stored with the course)."""
    return int(course.protocol["minutes"])


def _day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=tz),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz),
    )


def booking_id(referral_id: int) -> str:
    return f"referral-{referral_id}"


@dataclass
class _Sitting:
    """Visits of one patient back to back on one chair: one set-up, one stretch of chair time."""

    on: dt.date
    start_min: int
    end_min: int
    chair: int  # 0: no chair yet
    booking: str


def booked_appointments(records: CentreRecords) -> tuple[tuple[Appointment, ...], dict[str, str]]:
    """Every live visit in the horizon as a fixed appointment on its chair (nurses are given
    by :func:`seat_nurses`), and each booking id's patient name.

    Visits of one patient back to back on one chair are one sitting with one set-up; a visit
    on a chair out of service is left out (that chair takes no visit); a visit without a
    chair takes the first chair free at its start."""
    centre = records.centre
    begin, end = _day_bounds(centre.start, centre.end)
    visits = (
        Visit.objects.filter(status__in=LIVE, starts_at__gte=begin, starts_at__lt=end)
        .select_related("course__referral__patient")
        .order_by("starts_at", "id")
    )
    names: dict[str, str] = {}
    sittings: list[_Sitting] = []
    latest: dict[tuple[int, dt.date, int | None], _Sitting] = {}
    for visit in visits:
        local = timezone.localtime(visit.starts_at)
        on, start = local.date(), local.hour * 60 + local.minute
        chair = records.chair_number(visit.chair_id) if visit.chair_id else 0
        if chair is None:
            continue
        referral = visit.course.referral
        names[booking_id(referral.pk)] = referral.patient.full_name
        minutes = _treatment_minutes(visit.course)
        key = (referral.patient_id, on, visit.chair_id)
        current = latest.get(key)
        if current is not None and start <= current.end_min:
            current.end_min = min(max(current.end_min, start + minutes), MINUTES_PER_DAY)
            continue
        finish = min(start + centre.setup_minutes + minutes, MINUTES_PER_DAY)
        latest[key] = _Sitting(on, start, finish, chair, booking_id(referral.pk))
        sittings.append(latest[key])
    out: list[Appointment] = []
    chair_free_at: dict[dt.date, dict[int, int]] = defaultdict(dict)
    counters: dict[str, int] = defaultdict(int)
    for sitting in sorted(sittings, key=lambda x: (x.on, x.start_min)):
        free_at = chair_free_at[sitting.on]
        chair = sitting.chair
        if not chair:
            free = [
                c for c in range(1, centre.chairs + 1) if free_at.get(c, -1) <= sitting.start_min
            ]
            chair = free[0] if free else 1
        free_at[chair] = max(free_at.get(chair, -1), sitting.end_min)
        counters[sitting.booking] += 1
        out.append(
            Appointment(
                sitting.on,
                sitting.start_min,
                sitting.end_min,
                chair,
                sitting.booking,
                counters[sitting.booking],
                nurse="",
            )
        )
    return tuple(out), names


def seat_nurses(centre: Centre, appointments: Iterable[Appointment]) -> tuple[Appointment, ...]:
    """A nurse for every visit, in order of start: one rostered that day with a chair to spare
    (the least busy), else the least busy of them (the checker then names the clash). Taken in
    start order, a visit finds a nurse with room whenever the day has room at all."""
    by_day: dict[dt.date, list[Appointment]] = defaultdict(list)
    for a in appointments:
        by_day[a.on].append(a)
    out: list[Appointment] = []
    for on, day in sorted(by_day.items()):
        rostered = [n.id for n in centre.nurses_on(on)] or [centre.nurses[0].id]
        ends: dict[str, list[int]] = {n: [] for n in rostered}
        for a in sorted(day, key=lambda a: (a.start_min, a.referral == THIS_COURSE)):
            busy = {n: sum(1 for e in ends[n] if e > a.start_min) for n in rostered}
            choice = min(rostered, key=lambda n: (busy[n], rostered.index(n)))
            ends[choice].append(a.end_min)
            out.append(replace(a, nurse=choice))
    return tuple(out)


# --- The course to book ----------------------------------------------------------------------
@dataclass(frozen=True)
class BookingContext:
    """Everything a proposal, a check and the booking of one course need, read at one time."""

    course: Course
    #: The courses booked together, one after another in each visit (the asked one first).
    courses: tuple[Course, ...]
    records: CentreRecords
    availability: Availability
    funding: FundingRequest
    #: Sessions still to book (funded now, less the visits booked or attended).
    remaining: int
    #: Each course's treatment minutes, in ``courses`` order.
    minutes: tuple[int, ...]
    #: What the solver books (the remaining sessions, after any visit already booked).
    to_book: CourseToBook | None
    #: Why nothing can be booked before the solver is even asked, if so.
    blocked: checker.Violation | None
    #: The whole course, for the course rules (funded sessions, from funding).
    whole: CourseToBook
    fixed: tuple[Appointment, ...]
    names: dict[str, str]
    #: Days with a live visit of these courses already (for the course rules).
    booked_days: tuple[dt.date, ...]

    @property
    def visit_minutes(self) -> int:
        return self.records.centre.setup_minutes + sum(self.minutes)

    def offsets(self) -> tuple[int, ...]:
        """Each course's start within a visit (minutes): set-up first, then the regions."""
        out, at = [], 0
        for i, m in enumerate(self.minutes):
            out.append(at)
            at += m + (self.records.centre.setup_minutes if i == 0 else 0)
        return tuple(out)


def funded_now(course: Course, funding: FundingRequest) -> int:
    """The sessions funded now (a later decision may fund fewer; see ``workflow.book_visit``)."""
    return min(course.sessions_planned, funding.sessions_funded or course.sessions_planned)


def _live(course: Course) -> list[Visit]:
    return list(course.visits.filter(status__in=LIVE).order_by("starts_at"))


def courses_booked_together(course: Course) -> tuple[Course, ...]:
    """The course, and — when it has nothing booked — the referral's other open courses of the
    same solution with nothing booked either: one visit treats their regions one after
    another (so hands and feet come on the same days, one sitting for the frequency caps)."""
    if _live(course):
        return (course,)
    others = (
        course.referral.courses.filter(
            solution=course.solution, status__in=[CourseStatus.PLANNED, CourseStatus.ACTIVE]
        )
        .exclude(pk=course.pk)
        .order_by("created_at", "id")
    )
    return (course, *(c for c in others if not _live(c)))


def _check_bookable(course: Course) -> FundingRequest:
    """The step's own preconditions (409), before any solving."""
    funding = workflow.require_funding(course.referral)
    if course.solution not in funding.solutions_funded:
        raise workflow.WorkflowError(
            f"{course.solution.replace('_', ' ')} is not funded", "course", 409
        )
    if course.status not in {CourseStatus.PLANNED, CourseStatus.ACTIVE}:
        raise workflow.WorkflowError("the course is over", "course", 409)
    if course.solution != Solution.TAP_WATER:
        raise workflow.WorkflowError(
            "the solver books tap-water trial courses; book glycopyrronium visits one by one "
            "(at least 7 days apart)",
            "course",
            409,
        )
    return funding


def booking_context(
    course: Course, now: dt.datetime | None = None, *, solving: bool = False
) -> BookingContext:
    """Read the records a booking of ``course`` needs; 409 when it cannot be booked at all."""
    course.refresh_from_db()
    funding = _check_bookable(course)
    referral = course.referral
    live = _live(course)
    funded = funded_now(course, funding)
    remaining = funded - len(live)
    if remaining < 1:
        raise workflow.WorkflowError(
            f"all {funded} funded sessions of this course are booked", "course", 409
        )
    courses = tuple(
        c
        for c in courses_booked_together(course)
        if funded_now(c, funding) - len(_live(c)) == remaining
    )
    records = centre_records(now, solving=solving)
    centre = records.centre
    availability = availability_of(referral)
    minutes = tuple(_treatment_minutes(c) for c in courses)
    funded_on = funding.decided_on or centre.start
    booked_days = tuple(timezone.localdate(v.starts_at) for v in live)
    window = TRIAL_COURSE.window_days or 28

    def course_to_book(first_day: dt.date, sessions: int, within_days: int) -> CourseToBook:
        return CourseToBook(
            id=THIS_COURSE,
            funded_on=first_day,
            regions=tuple(Region(c.region) for c in courses),
            sessions=sessions,
            within_days=within_days,
            available=availability.weekdays or frozenset(range(7)),
            earliest_min=_minutes(availability.earliest, 0),
            latest_min=_minutes(availability.latest, MINUTES_PER_DAY),
            visit_minutes=centre.setup_minutes + sum(minutes),
            min_per_week=TRIAL_COURSE.min_per_week or 2,
        )

    to_book: CourseToBook | None = course_to_book(funded_on, remaining, window)
    blocked: checker.Violation | None = None
    if booked_days:
        # The rest of a course begun: after its last visit, within its window from the first.
        earliest = max(funded_on, max(booked_days) + dt.timedelta(days=1))
        left = (min(booked_days) + dt.timedelta(days=window) - earliest).days
        if left < 1:
            to_book = None
            blocked = checker.Violation(
                "course_window_passed",
                f"The course's {window} days from its first visit "
                f"({min(booked_days):%d %b %Y}) are over: its remaining {remaining} "
                "sessions cannot be booked within them.",
                TRIAL_COURSE.source,
                THIS_COURSE,
            )
        else:
            to_book = course_to_book(earliest, remaining, left)
    fixed, names = booked_appointments(records)
    return BookingContext(
        course=course,
        courses=courses,
        records=records,
        availability=availability,
        funding=funding,
        remaining=remaining,
        minutes=minutes,
        to_book=to_book,
        blocked=blocked,
        whole=course_to_book(funded_on, funded, window),
        fixed=seat_nurses(centre, fixed),
        names=names,
        booked_days=booked_days,
    )


# --- Checking a proposal -----------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """One visit as proposed or moved: day, start (minutes from midnight), chair id."""

    on: dt.date
    start_min: int
    chair_id: int


@dataclass(frozen=True)
class Rule:
    """A broken rule: its code and what it says, in plain words; ``field``: the part of the
    visit it concerns (``chair_id``, ``start``), when the rule says."""

    code: str
    text: str
    field: str = ""


@dataclass(frozen=True)
class CheckedVisit:
    """One proposed visit with its nurse, its bookings per course and what it breaks."""

    index: int
    slot: Slot
    end_min: int
    chair: Chair | None
    nurse: str
    starts: tuple[tuple[Course, dt.datetime], ...]
    problems: tuple[Rule, ...]


@dataclass(frozen=True)
class Checked:
    """A proposal, checked: each visit (in the order given) and the course's own problems."""

    context: BookingContext
    visits: tuple[CheckedVisit, ...]
    problems: tuple[Rule, ...]
    #: Some input is wrong (an unknown chair, a date past the booking limit…) rather than
    #: forbidden by the records' state: a refusal is then a 422, else a 409.
    wrong_input: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not any(v.problems for v in self.visits)


def _aware(on: dt.date, minutes: int) -> dt.datetime:
    hour, minute = divmod(minutes, 60)
    return timezone.make_aware(dt.datetime.combine(on, dt.time(hour, minute)))


def _clash_text(
    ctx: BookingContext, v: checker.Violation, mine: dict[Appointment, int], a: Appointment
) -> str:
    """The chair and nurse clashes in the clinic's words (chair names, patients' names), for
    the proposed visit ``a``."""
    centre = ctx.records.centre
    if v.code == "chair_double_booked":
        other = next((b for b in v.appointments if b != a), a)
        chair = ctx.records.chairs[a.chair - 1].name
        if other in mine:
            who = f"visit {mine[other] + 1} of this proposal"
        else:
            who = ctx.names.get(other.referral, "another patient")
        return (
            f"{chair} is taken then: {who}, {clock_text(other.start_min)}–"
            f"{clock_text(other.end_min)}."
        )
    if v.code == "nurse_double_booked":
        on_duty = [ctx.records.nurse_names.get(n.id, n.id) for n in centre.nurses_on(a.on)]
        return (
            f"No nurse has a chair to spare then: {len(v.appointments)} visits at once, and "
            f"each nurse looks after at most {centre.chairs_per_nurse} (on duty that day: "
            f"{', '.join(on_duty) or 'nobody'})."
        )
    return v.text


def _own_text(text: str) -> str:
    """The checker's text without its opening ("Referral 'this course', visit 3 on
    2026-12-01 10:00: …"): the page shows it next to the visit."""
    if not text.startswith(f"Referral {THIS_COURSE!r}") or ": " not in text:
        return text
    rest = text.split(": ", 1)[1].strip()
    return rest[:1].upper() + rest[1:]


def _scheduling_problems(
    ctx: BookingContext, slots: Sequence[Slot]
) -> tuple[dict[int, list[Rule]], list[Rule], dict[int, str]]:
    """The scheduling checker on the proposal: per visit (index → rules), the course's own
    rules, and each visit's nurse (by index)."""
    records = ctx.records
    centre = records.centre
    per_visit: dict[int, list[Rule]] = defaultdict(list)
    general: list[Rule] = []
    order = sorted(range(len(slots)), key=lambda i: (slots[i].on, slots[i].start_min))
    drafts = {
        i: Appointment(
            slots[i].on,
            slots[i].start_min,
            slots[i].start_min + ctx.visit_minutes,
            records.chair_number(slots[i].chair_id) or 0,
            THIS_COURSE,
            n,
            "",
        )
        for n, i in enumerate(order, start=1)
    }
    seated = seat_nurses(centre, [*ctx.fixed, *(a for a in drafts.values() if a.chair)])
    nurse_of = {a.n: a.nurse for a in seated if a.referral == THIS_COURSE}
    mine: dict[Appointment, int] = {}
    for i, a in drafts.items():
        if a.chair:
            drafts[i] = replace(a, nurse=nurse_of[a.n])
            mine[drafts[i]] = i
    nurses = {i: records.nurse_names.get(a.nurse, a.nurse) for i, a in drafts.items() if a.nurse}
    problem = Problem(centre, (ctx.whole,), ctx.fixed)
    for i, a in drafts.items():
        if not a.chair:
            per_visit[i].append(
                Rule("chair_out_of_service", "The chair is not in service: choose another.")
            )
            continue
        for v in checker.check_visit(problem, ctx.whole, a):
            per_visit[i].append(Rule(v.code, _own_text(v.text)))
    # The course rules over the whole course: the visits already booked and the proposed.
    earlier = [Appointment(day, 0, 1, 0, THIS_COURSE, 0, "") for day in sorted(ctx.booked_days)]
    index_of = {a: i for i, a in drafts.items()}
    for v in checker.check_course_rules(ctx.whole, (*earlier, *drafts.values())):
        hit = sorted({index_of[a] for a in v.appointments if a in index_of})
        for i in hit:
            per_visit[i].append(Rule(v.code, _own_text(v.text)))
        if not hit:
            general.append(Rule(v.code, _own_text(v.text)))
    everything = [*ctx.fixed, *mine]
    for v in (*checker.check_chairs(everything), *checker.check_nurses(problem, everything)):
        for a in v.appointments:
            if a in mine:
                per_visit[mine[a]].append(Rule(v.code, _clash_text(ctx, v, mine, a)))
    # The patient in two places at once (another course of theirs, on another chair).
    theirs = {
        booking_id(pk)
        for pk in Referral.objects.filter(patient=ctx.course.referral.patient_id).values_list(
            "pk", flat=True
        )
    }
    for a, i in mine.items():
        for b in ctx.fixed:
            if b.referral in theirs and checker._overlap(a, b):
                per_visit[i].append(
                    Rule(
                        "patient_double_booked",
                        f"The patient has another visit then ({clock_text(b.start_min)}–"
                        f"{clock_text(b.end_min)}).",
                    )
                )
    return per_visit, general, nurses


def _book_slots(ctx: BookingContext, slots: Sequence[Slot]) -> tuple[Checked, list[Visit]]:
    """Book every slot through ``workflow.book_visit`` (each refusal kept, the rest still
    tried), then run the scheduling checker. Inside the caller's transaction: the caller keeps
    it (accept) or rolls it back (check)."""
    chairs = {c.pk: c for c in Chair.objects.filter(pk__in={s.chair_id for s in slots})}
    offsets = ctx.offsets()
    refused: dict[int, list[Rule]] = defaultdict(list)
    wrong_input = False
    booked: list[Visit] = []
    starts: dict[int, tuple[tuple[Course, dt.datetime], ...]] = {}
    for i in sorted(range(len(slots)), key=lambda i: (slots[i].on, slots[i].start_min)):
        s = slots[i]
        chair = chairs.get(s.chair_id)
        starts[i] = tuple(
            (c, _aware(s.on, s.start_min + off))
            for c, off in zip(ctx.courses, offsets, strict=True)
        )
        if chair is None:
            refused[i].append(Rule("unknown_chair", f"There is no chair {s.chair_id}."))
            continue
        for course, at in starts[i]:
            try:
                booked.append(workflow.book_visit(course, starts_at=at, chair=chair))
            except workflow.WorkflowError as error:
                wrong_input = wrong_input or error.status == 422
                text = error.message[:1].upper() + error.message[1:]
                part = {"chair": "chair_id", "starts_at": "start"}.get(error.field, "")
                rule = Rule("booking_refused", text if text.endswith(".") else f"{text}.", part)
                if rule not in refused[i]:
                    refused[i].append(rule)
    per_visit, general, nurses = _scheduling_problems(ctx, slots)
    if ctx.blocked is not None:
        general.insert(0, Rule(ctx.blocked.code, ctx.blocked.text))
    if len(slots) > ctx.remaining:
        general.append(
            Rule(
                "too_many_visits",
                f"{len(slots)} visits proposed: {ctx.remaining} funded sessions are left to book.",
            )
        )
    visits = tuple(
        CheckedVisit(
            index=i,
            slot=s,
            end_min=s.start_min + ctx.visit_minutes,
            chair=chairs.get(s.chair_id),
            nurse=nurses.get(i, ""),
            starts=starts[i],
            problems=tuple(per_visit.get(i, [])) + tuple(refused.get(i, [])),
        )
        for i, s in enumerate(slots)
    )
    if not slots:
        general.append(Rule("no_visits", "No visit to book."))
    wrong_input = wrong_input or any(
        r.code in {"unknown_chair", "no_visits", "too_many_visits"}
        for r in (*general, *(r for v in visits for r in v.problems))
    )
    return Checked(ctx, visits, tuple(general), wrong_input), booked


def check(course: Course, slots: Sequence[Slot], *, now: dt.datetime | None = None) -> Checked:
    """Check a (possibly moved) proposal against every rule, booking nothing: the workflow's
    rules are run for real and rolled back, so that they are the very rules of a booking."""
    with transaction.atomic():
        audit.lock_for_writing()
        ctx = booking_context(course, now)
        checked, _ = _book_slots(ctx, slots)
        transaction.set_rollback(True)
    return checked


class BookingRefused(workflow.WorkflowError):
    """A proposal not booked: every rule it breaks, each named by the visit's field."""

    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.items = refusal_items(checked)
        field, message = self.items[0]
        status = 422 if checked.wrong_input else 409
        super().__init__(message, field, status)

    def as_json(self) -> dict[str, list[dict[str, str]]]:
        return {"detail": [{"field": f, "message": m} for f, m in self.items]}


def refusal_items(checked: Checked) -> list[tuple[str, str]]:
    """Every problem as (field, message): ``visits[i]`` (``.chair_id`` for chair rules)."""
    out: list[tuple[str, str]] = [("visits", r.text) for r in checked.problems]
    for v in checked.visits:
        for r in v.problems:
            part = r.field or ("chair_id" if "chair" in r.code else "")
            out.append((f"visits[{v.index}]" + (f".{part}" if part else ""), r.text))
    return out


def accept(course: Course, slots: Sequence[Slot], *, now: dt.datetime | None = None) -> list[Visit]:
    """Book the proposal whole, in one transaction, through ``workflow.book_visit`` (the
    rules of a single booking) after the scheduling checker: all or nothing. Raises
    :class:`BookingRefused` naming every broken rule."""
    with transaction.atomic():
        audit.lock_for_writing()
        ctx = booking_context(course, now)
        checked, visits = _book_slots(ctx, slots)
        if not checked.ok:
            raise BookingRefused(checked)
    return visits


# --- The solver's proposal -------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """The solver's visits, checked (``checked`` is ``None`` when nothing fits, and
    ``unscheduled`` says why, in the solver's words)."""

    context: BookingContext
    checked: Checked | None
    solver: str
    status: str
    seconds: float
    unscheduled: Rule | None = None
    note: str = ""

    def slots(self) -> tuple[Slot, ...]:
        return tuple(v.slot for v in self.checked.visits) if self.checked else ()


def _solve(
    ctx: BookingContext, to_book: CourseToBook, solver: str, seconds: float
) -> tuple[Schedule, str]:
    centre = ctx.records.centre
    # Bookings on a day the centre is closed or unstaffed (made by hand, or before the
    # set-up changed) take nothing the solver could offer, and no nurse could be given them.
    fixed = tuple(a for a in ctx.fixed if centre.capacity_on(a.on) > 0)
    problem = Problem(centre, (to_book,), fixed)
    if solver == "cp-sat":
        try:
            schedule = solve_cpsat(problem, CpSatSettings(seconds=seconds))
        except (ValueError, AssignmentError):
            # The bookings already made overfill some day (booked by hand past the centre's
            # capacity): CP-SAT's model has no solution, first fit still books around them.
            return solve_greedy(problem), "CP-SAT could not use the bookings as they stand"
        if any(a.referral == THIS_COURSE for a in schedule.appointments):
            return schedule, schedule.note or ""
        greedy = solve_greedy(problem)
        if any(a.referral == THIS_COURSE for a in greedy.appointments):
            return greedy, "CP-SAT found nothing in its time; first fit did"
        return schedule, ""
    if solver == "greedy":
        return solve_greedy(problem), ""
    raise workflow.WorkflowError(f"unknown solver {solver!r}: use cp-sat or greedy", "solver")


def _keeps_the_course(ctx: BookingContext, schedule: Schedule) -> bool:
    """Whether the visits booked already and the solver's keep the course rules together."""
    mine = [a for a in schedule.appointments if a.referral == THIS_COURSE]
    earlier = [Appointment(d, 0, 1, 0, THIS_COURSE, 0, "") for d in ctx.booked_days]
    return not checker.check_course_rules(ctx.whole, (*earlier, *mine))


def _solve_the_rest(ctx: BookingContext, solver: str, seconds: float) -> tuple[Schedule, str]:
    """The solver's visits; for a course begun, the first start after its last visit that
    keeps the course rules with the visits booked already (≤ 5 in any 7 days, ≥ 2 a week
    across the join), found by starting a day later each time, for up to a week."""
    assert ctx.to_book is not None
    deadline = time.monotonic() + seconds
    first = _solve(ctx, ctx.to_book, solver, seconds)
    if not ctx.booked_days or _keeps_the_course(ctx, first[0]):
        return first
    for delay in range(1, 7):
        left = max(0.5, deadline - time.monotonic())
        within = ctx.to_book.within_days - delay
        if within < 1:
            break
        later = replace(
            ctx.to_book,
            funded_on=ctx.to_book.funded_on + dt.timedelta(days=delay),
            within_days=within,
        )
        found = _solve(ctx, later, solver, left)
        if _keeps_the_course(ctx, found[0]):
            return found
    return first


def propose(
    course: Course,
    *,
    solver: str = "cp-sat",
    seconds: float = PROPOSAL_SECONDS,
    now: dt.datetime | None = None,
) -> Proposal:
    """The solver's visits for the course's remaining funded sessions, checked."""
    ctx = booking_context(course, now, solving=True)
    if ctx.to_book is None:
        assert ctx.blocked is not None
        return Proposal(ctx, None, solver, "none", 0.0, Rule(ctx.blocked.code, ctx.blocked.text))
    schedule, note = _solve_the_rest(ctx, solver, seconds)
    mine = sorted(a for a in schedule.appointments if a.referral == THIS_COURSE)
    if not mine:
        reason = next(u for u in schedule.unscheduled if u.referral == THIS_COURSE)
        return Proposal(
            ctx,
            None,
            schedule.solver,
            str(schedule.status),
            schedule.seconds,
            Rule(reason.code, reason.reason),
            note,
        )
    slots = [Slot(a.on, a.start_min, ctx.records.chairs[a.chair - 1].pk) for a in mine]
    checked = check(course, slots, now=now)
    return Proposal(
        ctx, checked, schedule.solver, str(schedule.status), schedule.seconds, None, note
    )


def why_not_bookable(course: Course) -> workflow.WorkflowError | None:
    """Why the course cannot be booked with the solver now (funding, state, all booked), or
    ``None``: what the booking page says before anything else."""
    try:
        funding = _check_bookable(course)
    except workflow.WorkflowError as error:
        return error
    if funded_now(course, funding) - len(_live(course)) < 1:
        return workflow.WorkflowError(
            f"all {funded_now(course, funding)} funded sessions of this course are booked",
            "course",
            409,
        )
    return None
