"""Booking benchmark (issue 5): CP-SAT against the greedy first fit on a realistic centre.

Generated instances (:func:`ionto.clinic.scheduling.generate.realistic_centre`: 3 chairs,
2 nurses, 12 weeks, referrals funded over time with realistic availability), each solved by
both solvers, every schedule checked against every rule, and the figures side by side:
median and p90 days from funding to the first visit, the share of referrals whose course is
booked within 4 weeks, chair utilisation, solve time, and CP-SAT's gap to its own bound
(first objective: courses booked).

    .venv/bin/python benchmarks/bench_schedule.py                 # 150 and 600 referrals, 30 s
    .venv/bin/python benchmarks/bench_schedule.py --referrals 40 --seconds 5 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from ionto.clinic.scheduling.checker import check
from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.generate import realistic_centre
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.metrics import metrics, objective_key
from ionto.clinic.scheduling.parse import parse_problem
from ionto.clinic.scheduling.problem import Problem, Schedule


def row(problem: Problem, schedule: Schedule, wall_s: float) -> dict[str, Any]:
    values = metrics(problem, schedule)
    key = objective_key(problem, schedule)
    out: dict[str, Any] = {
        "solver": schedule.solver,
        "status": schedule.status.value,
        "booked": values["courses_booked"],
        "median_wait_days": values["median_wait_days"],
        "p90_wait_days": values["p90_wait_days"],
        "within_4_weeks": values["courses_within_4_weeks"],
        "chair_utilisation": values["chair_utilisation"],
        "total_wait_days": key[1],
        "time_spread_min": key[2],
        "chair_spread_min": key[3],
        "seconds": round(wall_s, 2),
        "violations": len(check(problem, schedule)),
    }
    if schedule.stages:
        first = schedule.stages[0]
        out["bound"] = first.bound
        out["gap"] = round(first.gap, 4)
        out["stages"] = [
            {"objective": s.objective, "value": s.value, "bound": s.bound, "gap": round(s.gap, 4)}
            for s in schedule.stages
        ]
    if schedule.warm_start is not None:
        out["warm_start_booked"] = -schedule.warm_start[0]
        out["warm_start_wait_days"] = schedule.warm_start[1]
    return out


def bench(referrals: int, *, seed: int, seconds: float, weeks: int = 12) -> list[dict[str, Any]]:
    data = realistic_centre(referrals, seed=seed, weeks=weeks)
    problem = parse_problem(json.dumps(data).encode())
    began = time.perf_counter()
    greedy = solve_greedy(problem)
    greedy_s = time.perf_counter() - began
    began = time.perf_counter()
    cpsat = solve_cpsat(problem, CpSatSettings(seconds=seconds))
    cpsat_s = time.perf_counter() - began
    rows = [row(problem, greedy, greedy_s), row(problem, cpsat, cpsat_s)]
    for r in rows:
        r["referrals"] = referrals
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| referrals | solver | booked | median wait (d) | p90 wait (d) | within 4 weeks | "
        "chair use | solve (s) | bound | gap | violations |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )

    def gap(r: dict[str, Any]) -> str:
        return f"{r['gap']:.1%}" if "gap" in r else "–"

    lines = [
        f"| {r['referrals']} | {r['solver']} | {r['booked']} | {r['median_wait_days']} | "
        f"{r['p90_wait_days']} | {r['within_4_weeks']:.1%} | {r['chair_utilisation']:.1%} | "
        f"{r['seconds']} | {r.get('bound', '–')} | "
        f"{gap(r)} | {r['violations']} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--referrals", type=int, nargs="+", default=[150, 600])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for n in args.referrals:
        print(f"bench_schedule: {n} referrals …", file=sys.stderr)
        rows += bench(n, seed=args.seed, seconds=args.seconds, weeks=args.weeks)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
