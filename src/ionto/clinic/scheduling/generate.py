"""Seeded instances of a realistic centre, in ``ionto schedule``'s input shape.

For the benchmark (``benchmarks/bench_schedule.py``) and the tests. Every number here is an
assumption of a plausible hospital trial service (derived, no source), chosen so that the
inputs pass :mod:`.parse`:

* hours Monday–Thursday 09:00–17:00, Friday 09:00–13:00; closed on Good Friday when it falls
  in the horizon (26 March 2027); one nurse full-time, the others Monday–Thursday;
* referrals funded at random over the horizon, from two weeks before its start (a waiting
  list) to four weeks before its end (so that a course can still fit);
* regions: palms 45%, palms and soles 30%, soles 10%, armpits 15%;
* 10 sessions within 28 days (85%) or within 21 days (15%);
* availability: any weekday, any time (30%); three weekdays in the morning before work
  (15%); three weekdays, Monday–Thursday, late afternoon (20%); a school child after school,
  Monday–Thursday from 15:30 (15%); three or four set weekdays, all day (20%).
"""

from __future__ import annotations

import itertools
import random
from datetime import date, timedelta
from typing import Any

from ionto.clinic.scheduling.problem import WEEKDAY_NAMES

START = date(2027, 1, 4)
GOOD_FRIDAY_2027 = date(2027, 3, 26)
_WEEKDAYS = list(WEEKDAY_NAMES[:5])
_MON_THU = list(WEEKDAY_NAMES[:4])


def _regions(rng: random.Random) -> list[str]:
    x = rng.random()
    if x < 0.45:
        return ["palms"]
    if x < 0.75:
        return ["palms", "soles"]
    if x < 0.85:
        return ["soles"]
    return ["axillae"]


def _availability(rng: random.Random, within_days: int) -> tuple[list[str], str, str]:
    x = rng.random()
    if x < 0.30:
        return list(_WEEKDAYS), "09:00", "17:00"
    if within_days < 28:  # ten visits in three weeks need four days a week
        days = sorted(rng.sample(_WEEKDAYS, 4), key=_WEEKDAYS.index)
        return days, "09:00", "17:00"
    if x < 0.45:
        days = sorted(rng.sample(_WEEKDAYS, 3), key=_WEEKDAYS.index)
        return days, "09:00", "11:00"
    if x < 0.65:
        days = sorted(rng.sample(_MON_THU, 3), key=_MON_THU.index)
        return days, "15:00", "17:00"
    if x < 0.80:
        return list(_MON_THU), "15:30", "17:00"
    days = sorted(rng.sample(_WEEKDAYS, rng.choice((3, 4))), key=_WEEKDAYS.index)
    return days, "09:00", "17:00"


def _spread_enough(days: list[str]) -> bool:
    """Three weekdays with no gap of more than 3 days between them keep ≥ 2 a week."""
    idx = sorted(_WEEKDAYS.index(d) for d in days)
    gaps = [b - a for a, b in itertools.pairwise(idx)] + [idx[0] + 7 - idx[-1]]
    return max(gaps) <= 4


def realistic_centre(
    referrals: int,
    *,
    seed: int = 0,
    weeks: int = 12,
    chairs: int = 3,
    nurses: int = 2,
    start: date = START,
) -> dict[str, Any]:
    """A centre's booking input with ``referrals`` funded referrals (see the module doc)."""
    rng = random.Random(seed)
    end = start + timedelta(days=7 * weeks - 1)
    first_funded = start - timedelta(days=14)
    last_funded = max(first_funded, end - timedelta(days=28))
    span = (last_funded - first_funded).days
    items: list[dict[str, Any]] = []
    for i in range(referrals):
        within_days = 28 if rng.random() < 0.85 else 21
        while True:
            available, earliest, latest = _availability(rng, within_days)
            if _spread_enough(available):
                break
        items.append(
            {
                "id": f"r{i + 1:03d}",
                "funded_on": (first_funded + timedelta(days=rng.randint(0, span))).isoformat(),
                "regions": _regions(rng),
                "sessions": 10,
                "within_days": within_days,
                "available": available,
                "earliest": earliest,
                "latest": latest,
            }
        )
    items.sort(key=lambda r: (r["funded_on"], r["id"]))
    roster = [{"id": "n1", "days": list(_WEEKDAYS)}] + [
        {"id": f"n{k}", "days": list(_MON_THU)} for k in range(2, nurses + 1)
    ]
    hours = {d: ["09:00", "17:00"] for d in _MON_THU}
    hours["fri"] = ["09:00", "13:00"]
    closed = [GOOD_FRIDAY_2027.isoformat()] if start <= GOOD_FRIDAY_2027 <= end else []
    return {
        "start": start.isoformat(),
        "weeks": weeks,
        "chairs": chairs,
        "hours": hours,
        "closed": closed,
        "nurses": roster,
        "referrals": items,
    }
