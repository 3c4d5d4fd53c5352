"""A :class:`Schedule` as ``ionto schedule``'s JSON (CONTRACT.md: exactly those field names).

Contract fields: ``solver``, ``status``, ``appointments`` (``referral``, ``n``, ``date``,
``start``, ``end``, ``chair`` from 1, ``nurse``), ``unscheduled`` (``referral``,
``reason``), ``metrics`` (``median_wait_days``, ``courses_within_window``,
``chair_utilisation``). Added: ``unscheduled[].code``, more ``metrics`` (see
:mod:`.metrics`) and ``solve`` (seconds; for CP-SAT each stage's objective, value, bound,
gap and status).

``ionto reschedule``: the same fields, and ``moved`` and ``reassigned`` (``referral``, ``n``,
``from`` and ``to``: a visit's ``date``, ``start``, ``end``, ``chair``, ``nurse``; ``to`` is
``null`` when its course was dropped), ``dropped``, ``added`` and ``withdrawn`` (referral
ids), ``history`` (how many visits before ``start`` were kept as they are).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ionto.clinic.scheduling.metrics import metrics
from ionto.clinic.scheduling.problem import Appointment, Problem, Schedule, clock_text
from ionto.clinic.scheduling.reschedule import Move, Rescheduled


def appointment_json(a: Appointment) -> dict[str, Any]:
    return {
        "referral": a.referral,
        "n": a.n,
        "date": a.on.isoformat(),
        "start": clock_text(a.start_min),
        "end": clock_text(a.end_min),
        "chair": a.chair,
        "nurse": a.nurse,
    }


def schedule_json(problem: Problem, schedule: Schedule) -> dict[str, Any]:
    solve: dict[str, Any] = {"seconds": round(schedule.seconds, 3)}
    if schedule.stages:
        solve["stages"] = [
            {
                "objective": s.objective,
                "sense": s.sense,
                "value": s.value,
                "bound": s.bound,
                "gap": round(s.gap, 6),
                "status": s.status.value,
                "seconds": round(s.seconds, 3),
            }
            for s in schedule.stages
        ]
        first = schedule.stages[0]
        solve["bound"] = first.bound
        solve["gap"] = round(first.gap, 6)
    if schedule.warm_start is not None:
        solve["warm_start"] = {
            "courses_booked": -schedule.warm_start[0],
            "total_wait_days": schedule.warm_start[1],
        }
    if schedule.note:
        solve["note"] = schedule.note
    return {
        "solver": schedule.solver,
        "status": schedule.status.value,
        "appointments": [appointment_json(a) for a in sorted(schedule.appointments)],
        "unscheduled": [
            {"referral": u.referral, "reason": u.reason, "code": u.code}
            for u in schedule.unscheduled
        ],
        "metrics": metrics(problem, schedule),
        "solve": solve,
    }


def _visit(a: Appointment) -> dict[str, Any]:
    return {
        "date": a.on.isoformat(),
        "start": clock_text(a.start_min),
        "end": clock_text(a.end_min),
        "chair": a.chair,
        "nurse": a.nurse,
    }


def move_json(move: Move) -> dict[str, Any]:
    return {
        "referral": move.referral,
        "n": move.n,
        "from": _visit(move.before),
        "to": None if move.after is None else _visit(move.after),
    }


def reschedule_json(problem: Problem, result: Rescheduled) -> dict[str, Any]:
    """``ionto reschedule``'s JSON: ``ionto schedule``'s fields and what changed."""
    withdrawn = set(result.withdrawn)
    now = replace(problem, referrals=tuple(r for r in problem.referrals if r.id not in withdrawn))
    out = schedule_json(now, result.schedule)
    if result.history:
        # Chair time is measured over the horizon: past visits used none of it.
        history = set(result.history)
        current = tuple(a for a in result.schedule.appointments if a not in history)
        in_horizon = metrics(now, replace(result.schedule, appointments=current))
        out["metrics"]["chair_utilisation"] = in_horizon["chair_utilisation"]
    out["moved"] = [move_json(m) for m in result.moved]
    out["reassigned"] = [move_json(m) for m in result.reassigned]
    out["dropped"] = list(result.dropped)
    out["added"] = list(result.added)
    out["withdrawn"] = list(result.withdrawn)
    out["history"] = len(result.history)
    return out
