"""Every rule a schedule keeps, checked on any schedule, whoever made it.

``check(problem, schedule)`` returns what is broken (empty: nothing). One small function per
rule, each naming its source. The course rules are not re-written here: each booked course's
dates go through :func:`ionto.therapy.course.validate_course` with the referral's
:func:`~ionto.clinic.scheduling.rules.course_rules` (≤ 1 a day and ≤ 5 in any 7 days from
:mod:`ionto.therapy.frequency`; ≥ 2 a week, the window, the number of sessions and never
before funding from :mod:`ionto.therapy.course`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ionto.clinic.scheduling.problem import (
    Appointment,
    Problem,
    Referral,
    Schedule,
    clock_text,
)
from ionto.clinic.scheduling.rules import course_rules
from ionto.therapy.course import validate_course
from ionto.therapy.sources import Source

#: The rules of ``ionto schedule`` in the project's public contract.
CONTRACT_SCHEDULE = Source(
    key="contract_schedule",
    citation="Ionto CONTRACT.md, ionto schedule: the rules every schedule keeps",
    grade="D",
)
#: A course is booked whole or not at all (derived: see ionto.clinic.scheduling.greedy).
WHOLE_COURSE = Source(
    key="whole_course",
    citation=(
        "Ionto derived: the initial course is booked whole, because its aim is the verdict "
        "(clinical-reference §1); needs sign-off"
    ),
    grade="D",
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: code, plain text, source, and the referral and visits involved."""

    code: str
    text: str
    source: Source
    referral: str | None = None
    appointments: tuple[Appointment, ...] = ()


def _when(a: Appointment) -> str:
    return f"{a.on.isoformat()} {clock_text(a.start_min)}"


# --- Bookkeeping ---------------------------------------------------------------------------------
def check_accounted(problem: Problem, schedule: Schedule) -> list[Violation]:
    """Every referral is booked or listed as unscheduled, never both; no unknown referral."""
    known = {r.id for r in problem.referrals}
    booked = set(schedule.by_referral())
    listed = [u.referral for u in schedule.unscheduled]
    out: list[Violation] = []
    for ref in sorted(booked - known):
        out.append(
            Violation(
                "unknown_referral",
                f"Visits booked for unknown referral {ref!r}.",
                CONTRACT_SCHEDULE,
                ref,
            )
        )
    for ref in sorted(set(listed) - known):
        out.append(
            Violation(
                "unknown_referral",
                f"Unknown referral {ref!r} listed as unscheduled.",
                CONTRACT_SCHEDULE,
                ref,
            )
        )
    for ref in sorted(booked & set(listed)):
        out.append(
            Violation(
                "booked_and_unscheduled",
                f"Referral {ref!r} has visits and is listed as unscheduled.",
                CONTRACT_SCHEDULE,
                ref,
            )
        )
    for ref in sorted(set(listed)):
        if listed.count(ref) > 1:
            out.append(
                Violation(
                    "unscheduled_twice",
                    f"Referral {ref!r} is listed twice as unscheduled.",
                    CONTRACT_SCHEDULE,
                    ref,
                )
            )
    for r in problem.referrals:
        if r.id not in booked and r.id not in listed:
            out.append(
                Violation(
                    "referral_missing",
                    f"Referral {r.id!r} is neither booked nor listed as unscheduled.",
                    CONTRACT_SCHEDULE,
                    r.id,
                )
            )
    return out


def check_whole_course(referral: Referral, visits: tuple[Appointment, ...]) -> list[Violation]:
    """A booked course has all its sessions (a course is booked whole; derived)."""
    if len(visits) == referral.sessions:
        return []
    return [
        Violation(
            "incomplete_course",
            f"Referral {referral.id!r}: {len(visits)} visits booked, its course has "
            f"{referral.sessions}: a course is booked whole or not at all.",
            WHOLE_COURSE,
            referral.id,
            visits,
        )
    ]


def check_numbering(referral: Referral, visits: tuple[Appointment, ...]) -> list[Violation]:
    """Visits are numbered 1 … k in date order (CONTRACT.md: ``n``)."""
    ordered = sorted(visits, key=lambda a: (a.on, a.start_min))
    if [a.n for a in ordered] == list(range(1, len(ordered) + 1)):
        return []
    return [
        Violation(
            "visits_misnumbered",
            f"Referral {referral.id!r}: visits numbered {[a.n for a in ordered]} in date order, "
            f"expected 1 to {len(ordered)}.",
            CONTRACT_SCHEDULE,
            referral.id,
            tuple(ordered),
        )
    ]


def check_course_rules(referral: Referral, visits: tuple[Appointment, ...]) -> list[Violation]:
    """The course rules of the therapy core, via ``validate_course`` (each with its source):
    ≤ 1 a day, ≤ 5 in any 7 days (Dermadry; §8), ≥ 2 a week during the course, within the
    window of the first, never before funding (UK centre, clinical-reference §1)."""
    found = validate_course(
        [a.on for a in visits], course_rules(referral), funded_on=referral.funded_on
    )
    return [
        Violation(
            v.code,
            f"Referral {referral.id!r}: {v.reason.text}",
            v.reason.source,
            referral.id,
            tuple(a for a in visits if a.on in v.dates or _in_period(a.on, v.period)),
        )
        for v in found
    ]


def _in_period(on: date, period: tuple[date, date] | None) -> bool:
    return period is not None and period[0] <= on <= period[1]


# --- One visit -----------------------------------------------------------------------------------
def check_visit(problem: Problem, referral: Referral, a: Appointment) -> list[Violation]:
    """One visit: in the horizon, on an open day, within opening hours and the patient's
    days and times, lasting the visit's minutes, on a chair in service, with a nurse rostered
    that day (CONTRACT.md)."""
    centre = problem.centre
    out: list[Violation] = []

    def add(code: str, text: str) -> None:
        out.append(
            Violation(
                code,
                f"Referral {referral.id!r}, visit {a.n} on {_when(a)}: {text}",
                CONTRACT_SCHEDULE,
                referral.id,
                (a,),
            )
        )

    if not centre.start <= a.on <= centre.end:
        add("outside_horizon", "outside the planning horizon.")
    hours = centre.hours_on(a.on.weekday())
    if a.on in centre.closed or hours is None:
        add("centre_closed", "the centre is closed that day.")
    elif a.start_min < hours.open_min or a.end_min > hours.close_min:
        add("outside_opening_hours", "outside the opening hours.")
    if a.on.weekday() not in referral.available:
        add("patient_unavailable", "the patient is not available on that weekday.")
    if a.start_min < referral.earliest_min or a.end_min > referral.latest_min:
        add("outside_patient_times", "outside the patient's earliest and latest times.")
    if a.end_min - a.start_min != referral.visit_minutes:
        add(
            "wrong_visit_length",
            f"lasts {a.end_min - a.start_min} min, a visit lasts {referral.visit_minutes} min.",
        )
    if not 1 <= a.chair <= centre.chairs:
        add("unknown_chair", f"chair {a.chair} does not exist.")
    elif a.chair not in centre.chairs_on(a.on):
        add("chair_out_of_service", f"chair {a.chair} is out of service that day.")
    nurse = next((n for n in centre.nurses if n.id == a.nurse), None)
    if nurse is None:
        add("unknown_nurse", f"nurse {a.nurse!r} is not on the roster.")
    elif a.on.weekday() not in nurse.weekdays:
        add("nurse_not_rostered", f"nurse {a.nurse!r} does not work that weekday.")
    return out


# --- Resources -----------------------------------------------------------------------------------
def _overlap(a: Appointment, b: Appointment) -> bool:
    return a.on == b.on and a.start_min < b.end_min and b.start_min < a.end_min


def check_chairs(appointments: Iterable[Appointment]) -> list[Violation]:
    """No chair double-booked: no two visits overlap on one chair (CONTRACT.md)."""
    by_chair: dict[tuple[date, int], list[Appointment]] = defaultdict(list)
    for a in appointments:
        by_chair[(a.on, a.chair)].append(a)
    out: list[Violation] = []
    for (on, chair), visits in sorted(by_chair.items()):
        visits.sort()
        for i, a in enumerate(visits):
            for b in visits[i + 1 :]:
                if b.start_min >= a.end_min:
                    break
                out.append(
                    Violation(
                        "chair_double_booked",
                        f"Chair {chair} on {on.isoformat()}: {a.referral!r} visit {a.n} and "
                        f"{b.referral!r} visit {b.n} overlap.",
                        CONTRACT_SCHEDULE,
                        b.referral,
                        (a, b),
                    )
                )
    return out


def check_nurses(problem: Problem, appointments: Iterable[Appointment]) -> list[Violation]:
    """No nurse double-booked: at most ``chairs_per_nurse`` visits at once (CONTRACT.md)."""
    cap = problem.centre.chairs_per_nurse
    by_nurse: dict[tuple[date, str], list[Appointment]] = defaultdict(list)
    for a in appointments:
        by_nurse[(a.on, a.nurse)].append(a)
    out: list[Violation] = []
    for (on, nurse), visits in sorted(by_nurse.items()):
        for a in sorted(visits):
            at_once = tuple(b for b in visits if b.start_min <= a.start_min < b.end_min)
            if len(at_once) > cap:
                out.append(
                    Violation(
                        "nurse_double_booked",
                        f"Nurse {nurse!r} on {on.isoformat()} at {clock_text(a.start_min)}: "
                        f"{len(at_once)} visits at once, at most {cap}.",
                        CONTRACT_SCHEDULE,
                        a.referral,
                        tuple(sorted(at_once)),
                    )
                )
                break
    return out


def check(
    problem: Problem, schedule: Schedule, *, history_before: date | None = None
) -> list[Violation]:
    """Everything the schedule breaks (empty: a valid schedule).

    ``history_before``: visits before this day are history (a plan re-made from a later
    start): checked only as part of their course (whole, numbered, the course rules), not
    against today's centre (horizon, hours, chairs, nurses).
    """

    def current(a: Appointment) -> bool:
        return history_before is None or a.on >= history_before

    out = check_accounted(problem, schedule)
    by = schedule.by_referral()
    for referral in problem.referrals:
        visits = by.get(referral.id, ())
        if not visits:
            continue
        out += check_whole_course(referral, visits)
        out += check_numbering(referral, visits)
        out += check_course_rules(referral, visits)
        for a in visits:
            if current(a):
                out += check_visit(problem, referral, a)
    now = [a for a in schedule.appointments if current(a)]
    out += check_chairs(now)
    out += check_nurses(problem, now)
    return out
