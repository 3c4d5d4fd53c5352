"""Re-scheduling benchmark (issue 5): how much of a realistic centre's plan moves after a change.

A realistic centre (:func:`ionto.clinic.scheduling.generate.realistic_centre`: 3 chairs,
2 nurses, 12 weeks, 150 referrals by default) is booked once (``ionto schedule``: CP-SAT
30 s, or the greedy first fit to save time), then re-planned through ``ionto reschedule``'s
own parser and solver after each change:

* ``chair_week`` — one chair out of service for the whole of week 6 (mid-horizon);
* ``cancel_10`` — 10 booked courses withdrawn at random;
* ``days_20`` — 20 patient day-cancellations: 20 booked visits drawn at random (distinct
  patients), each patient unable to come that day;
* ``chair_week_today`` — the chair outage again, but re-planned on the Monday it starts:
  the first five weeks are history (kept as they are), the horizon is the last seven.

For each: the visits the change hits directly (on the broken chair that week; on a cancelled
day), the visits moved and reassigned (chair or nurse only), courses dropped and added, the
solve's wall-clock time and stages, and the checker's verdict on the result (every rule;
history checked as part of its courses).

    .venv/bin/python benchmarks/bench_reschedule.py                   # 150 referrals
    .venv/bin/python benchmarks/bench_reschedule.py --initial greedy --seconds 10 --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from ionto.clinic.scheduling.generate import realistic_centre
from ionto.clinic.scheduling.parse import parse_reschedule
from ionto.clinic.scheduling.render import appointment_json
from ionto.clinic.scheduling.reschedule import Move, check_with_history, reschedule
from ionto.clinic.scheduling.solve import CpSatSettings, parse_problem, solve

OUTAGE_WEEK = 5  # the sixth week, counted from 0
OUTAGE_CHAIR = 1


def initial_plan(
    data: dict[str, Any], solver: str, seconds: float
) -> tuple[list[dict[str, Any]], float]:
    problem = parse_problem(json.dumps(data).encode())
    began = time.perf_counter()
    schedule = solve(problem, solver, seconds=seconds)
    wall = time.perf_counter() - began
    return [appointment_json(a) for a in sorted(schedule.appointments)], wall


def scenarios(
    data: dict[str, Any], booked: list[dict[str, Any]], seed: int
) -> dict[str, tuple[dict[str, Any], int]]:
    """Each change as ``ionto reschedule`` input, with the visits it hits directly."""
    rng = random.Random(seed)
    start = date.fromisoformat(data["start"])
    monday = start + timedelta(days=7 * OUTAGE_WEEK)
    friday = monday + timedelta(days=4)
    base = {**data, "booked": booked}
    out: dict[str, tuple[dict[str, Any], int]] = {}

    outage = [{"chair": OUTAGE_CHAIR, "date": monday.isoformat(), "until": friday.isoformat()}]
    hit = sum(
        1
        for a in booked
        if a["chair"] == OUTAGE_CHAIR and monday.isoformat() <= a["date"] <= friday.isoformat()
    )
    out["chair_week"] = ({**base, "out_of_service": outage}, hit)

    courses = sorted({a["referral"] for a in booked})
    gone = rng.sample(courses, min(10, len(courses)))
    out["cancel_10"] = ({**base, "cancelled_courses": sorted(gone)}, 0)

    days: dict[str, list[str]] = {}
    for a in rng.sample(booked, len(booked)):
        if a["referral"] not in days:
            days[a["referral"]] = [a["date"]]
        if len(days) == 20:
            break
    out["days_20"] = ({**base, "cancelled_days": days}, len(days))

    today = {
        **base,
        "start": monday.isoformat(),
        "weeks": data["weeks"] - OUTAGE_WEEK,
        "out_of_service": outage,
    }
    out["chair_week_today"] = (today, hit)
    return out


def run(name: str, data: dict[str, Any], hit: int, seconds: float, solver: str) -> dict[str, Any]:
    began = time.perf_counter()
    request = parse_reschedule(json.dumps(data).encode())
    result = reschedule(
        request.problem,
        request.previous,
        cancelled_courses=request.cancelled_courses,
        cancelled_days=request.cancelled_days,
        settings=CpSatSettings(seconds=seconds),
        solver=solver,
    )
    wall = time.perf_counter() - began
    withdrawn = set(result.withdrawn)
    problem = request.problem
    now = replace(problem, referrals=tuple(r for r in problem.referrals if r.id not in withdrawn))
    moved_from_hit_days = _moved_off(result.moved, data)
    return {
        "scenario": name,
        "solver": solver,
        "hit": hit,
        "moved": len(result.moved),
        "moved_elsewhere": len(result.moved) - moved_from_hit_days,
        "reassigned": len(result.reassigned),
        "dropped": len(result.dropped),
        "added": len(result.added),
        "history": len(result.history),
        "status": result.schedule.status.value,
        "seconds": round(wall, 2),
        "stages": [
            {"objective": s.objective, "value": s.value, "bound": s.bound, "status": s.status}
            for s in result.schedule.stages
        ],
        "violations": len(check_with_history(now, result.schedule)),
    }


def _moved_off(moves: Sequence[Move], data: dict[str, Any]) -> int:
    """Moves of visits that sat where the change hit (cancelled day, broken chair's days)."""
    cancelled = {(ref, d) for ref, days in data.get("cancelled_days", {}).items() for d in days}
    out_days: set[str] = set()
    for o in data.get("out_of_service", []):
        first = date.fromisoformat(o["date"])
        last = date.fromisoformat(o.get("until", o["date"]))
        out_days |= {
            (first + timedelta(days=k)).isoformat() for k in range((last - first).days + 1)
        }
    count = 0
    for m in moves:
        on = m.before.on.isoformat()
        if (m.referral, on) in cancelled or on in out_days:
            count += 1
    return count


def bench(
    referrals: int,
    *,
    seed: int,
    initial: str,
    initial_seconds: float,
    seconds: float,
    weeks: int = 12,
) -> dict[str, Any]:
    data = realistic_centre(referrals, seed=seed, weeks=weeks)
    booked, initial_wall = initial_plan(data, initial, initial_seconds)
    rows = [
        run(name, case, hit, seconds, solver)
        for name, (case, hit) in scenarios(data, booked, seed).items()
        for solver in ("repair", "cp-sat")
    ]
    return {
        "referrals": referrals,
        "initial": initial,
        "initial_seconds": round(initial_wall, 2),
        "initial_visits": len(booked),
        "initial_courses": len({a["referral"] for a in booked}),
        "rows": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    head = (
        f"Initial plan: {report['initial']}, {report['initial_courses']} courses, "
        f"{report['initial_visits']} visits ({report['initial_seconds']} s).\n\n"
        "| change | solver | visits hit | moved | of them elsewhere | reassigned | dropped | "
        "added | history kept | solve (s) | status | violations |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['scenario']} | {r['solver']} | {r['hit']} | {r['moved']} | {r['moved_elsewhere']} | "
        f"{r['reassigned']} | {r['dropped']} | {r['added']} | {r['history']} | "
        f"{r['seconds']} | {r['status']} | {r['violations']} |"
        for r in report["rows"]
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--initial", choices=["cp-sat", "greedy"], default="cp-sat")
    parser.add_argument("--initial-seconds", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="per re-plan")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    args = parser.parse_args(argv)
    print(f"bench_reschedule: {args.referrals} referrals …", file=sys.stderr)
    report = bench(
        args.referrals,
        seed=args.seed,
        initial=args.initial,
        initial_seconds=args.initial_seconds,
        seconds=args.seconds,
        weeks=args.weeks,
    )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
