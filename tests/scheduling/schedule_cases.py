"""Small booking problems shared by the scheduling tests."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from ionto.clinic.scheduling.generate import realistic_centre
from ionto.clinic.scheduling.parse import parse_problem
from ionto.clinic.scheduling.problem import Problem


def small_input(
    referrals: int = 6, *, seed: int = 0, weeks: int = 5, chairs: int = 1, nurses: int = 1
) -> dict[str, Any]:
    """A small centre, tight enough that capacity matters."""
    return realistic_centre(
        referrals, seed=seed, weeks=weeks, chairs=chairs, nurses=nurses, start=date(2027, 1, 4)
    )


def problem_of(data: dict[str, Any]) -> Problem:
    return parse_problem(json.dumps(data).encode())


def one_referral_input() -> dict[str, Any]:
    """The contract's example, with a second nurse."""
    return {
        "start": "2027-01-04",
        "weeks": 6,
        "chairs": 2,
        "hours": {
            "mon": ["09:00", "17:00"],
            "tue": ["09:00", "17:00"],
            "wed": ["09:00", "17:00"],
            "thu": ["09:00", "17:00"],
            "fri": ["09:00", "13:00"],
        },
        "closed": ["2027-01-01"],
        "nurses": [
            {"id": "n1", "days": ["mon", "tue", "wed", "thu", "fri"]},
            {"id": "n2", "days": ["mon", "tue", "wed", "thu"]},
        ],
        "referrals": [
            {
                "id": "r1",
                "funded_on": "2027-01-04",
                "regions": ["palms", "soles"],
                "sessions": 10,
                "within_days": 28,
                "available": ["mon", "wed", "fri"],
                "earliest": "09:00",
                "latest": "17:00",
            },
            {
                "id": "r2",
                "funded_on": "2027-01-05",
                "regions": ["palms"],
                "sessions": 10,
                "within_days": 28,
                "available": ["mon", "tue", "wed", "thu"],
                "earliest": "15:00",
                "latest": "17:00",
            },
        ],
    }
