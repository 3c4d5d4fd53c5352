"""A :class:`Schedule` as ``ionto schedule``'s JSON (CONTRACT.md: exactly those field names).

Contract fields: ``solver``, ``status``, ``appointments`` (``referral``, ``n``, ``date``,
``start``, ``end``, ``chair`` from 1, ``nurse``), ``unscheduled`` (``referral``,
``reason``), ``metrics`` (``median_wait_days``, ``courses_within_window``,
``chair_utilisation``). Added: ``unscheduled[].code``, more ``metrics`` (see
:mod:`.metrics`) and ``solve`` (seconds; for CP-SAT each stage's objective, value, bound,
gap and status).
"""

from __future__ import annotations

from typing import Any

from ionto.clinic.scheduling.metrics import metrics
from ionto.clinic.scheduling.problem import Appointment, Problem, Schedule, clock_text


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
