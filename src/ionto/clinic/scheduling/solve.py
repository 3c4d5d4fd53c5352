"""One entry point for both solvers behind the same interface, and the CLI's glue."""

from __future__ import annotations

import math
from typing import Any

from ionto.clinic.scheduling.cpsat import CpSatSettings, solve_cpsat
from ionto.clinic.scheduling.greedy import solve_greedy
from ionto.clinic.scheduling.parse import parse_problem, parse_reschedule
from ionto.clinic.scheduling.problem import Problem, Schedule
from ionto.clinic.scheduling.render import reschedule_json, schedule_json
from ionto.clinic.scheduling.reschedule import reschedule
from ionto.contract.errors import InputError

SOLVERS = ("cp-sat", "greedy")
MAX_SECONDS = 3600.0


def solve(problem: Problem, solver: str = "cp-sat", *, seconds: float = 10.0) -> Schedule:
    """Book ``problem`` with the named solver (``cp-sat`` or ``greedy``)."""
    if solver == "greedy":
        return solve_greedy(problem)
    if solver == "cp-sat":
        return solve_cpsat(problem, CpSatSettings(seconds=seconds))
    raise ValueError(f"unknown solver {solver!r}; use {' or '.join(SOLVERS)}")


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--seconds must be a number (got {text!r})") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise InputError(f"--seconds must be more than 0 and at most {MAX_SECONDS:g} (got {text})")
    return value


def schedule_json_for(raw: bytes, *, solver: str, seconds: str) -> dict[str, Any]:
    """``ionto schedule``: input bytes → the contract's JSON."""
    limit = parse_seconds(seconds)
    problem = parse_problem(raw)
    return schedule_json(problem, solve(problem, solver, seconds=limit))


def reschedule_json_for(raw: bytes, *, solver: str = "cp-sat", seconds: str) -> dict[str, Any]:
    """``ionto reschedule``: input bytes → the schedule's JSON and what moved."""
    limit = parse_seconds(seconds)
    request = parse_reschedule(raw)
    result = reschedule(
        request.problem,
        request.previous,
        cancelled_courses=request.cancelled_courses,
        cancelled_days=request.cancelled_days,
        settings=CpSatSettings(seconds=limit),
        solver=solver,
    )
    return reschedule_json(request.problem, result)
