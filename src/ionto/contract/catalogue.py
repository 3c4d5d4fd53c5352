"""Every preset and limit of the therapy core with its source: ``ionto catalogue``.

The same data renders as JSON (for machines) and as the Markdown page
``docs/limits-and-presets.md`` (for people); a test regenerates the page and fails if the
committed copy differs, so the documented table cannot drift from the code.
"""

from __future__ import annotations

from typing import Any

from ionto.therapy import course, frequency, limits, protocols, screening
from ionto.therapy.limits import LimitRow
from ionto.therapy.reasons import Limit
from ionto.therapy.sources import Source
from ionto.therapy.vocabulary import Region, Solution


def _source(source: Source) -> dict[str, str]:
    return {"citation": source.citation, "grade": source.grade}


def _limit(limit: Limit) -> dict[str, Any]:
    return {
        "code": limit.code,
        "value": limit.value,
        "unit": limit.unit,
        "text": limit.text,
        "source": _source(limit.source),
    }


def _row(row: LimitRow) -> dict[str, Any]:
    return {
        "quantity": row.quantity,
        "group": row.group,
        "applies_to": row.applies_to,
        "value": row.value,
        "unit": row.unit,
        "code": row.code,
        "source": row.source,
        "grade": row.grade,
    }


def _protocol_presets() -> list[dict[str, Any]]:
    out = []
    for preset in protocols.PRESETS.values():
        out.append(
            {
                "name": preset.name,
                "description": preset.description,
                "solutions": sorted(s.value for s in preset.solutions),
                "waveform": preset.waveform.value,
                "reversal": preset.reversal.value,
                "alternate_between_sessions": preset.alternate_between_sessions,
                "pulse_frequency_hz": preset.pulse_frequency_hz,
                "duty_cycle": preset.duty_cycle,
                "minutes": {r.value: m.minutes for r, m in preset.minutes.items()},
                "minutes_sources": {r.value: m.source.citation for r, m in preset.minutes.items()},
                "source": _source(preset.source),
            }
        )
    return out


def _schedules() -> list[dict[str, Any]]:
    out = []
    for schedule in course.INDUCTION_SCHEDULES.values():
        out.append(
            {
                "name": schedule.name,
                "summary": schedule.summary,
                "sessions": schedule.sessions,
                "day_offsets": list(schedule.day_offsets),
                "on_weekdays": sorted(schedule.on_weekdays),
                "rules": [_limit(lim) for lim in schedule.rules.limits()],
                "source": _source(schedule.source),
            }
        )
    return out


def _screening_presets() -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "minimum_age_years": s.minimum_age.years,
            "minimum_age_source": _source(s.minimum_age.source),
            "breastfeeding": s.breastfeeding.value,
            "protocol_preset": s.protocol_preset,
        }
        for s in screening.SCREENING_PRESETS.values()
    ]


def catalogue_json() -> dict[str, Any]:
    return {
        "limits": [_row(r) for r in limits.limits_table()],
        "target_currents": [_row(r) for r in protocols.target_table()],
        "density_presets": [
            {"name": d.name, "density_mA_cm2": d.density_mA_cm2, "source": _source(d.source)}
            for d in limits.DENSITY_PRESETS.values()
        ],
        "protocol_presets": _protocol_presets(),
        "frequency": [_limit(lim) for lim in _frequency_limits()],
        "course_rules": [_limit(lim) for lim in course.TRIAL_COURSE.limits()],
        "induction_schedules": _schedules(),
        "maintenance_plans": [
            {"name": p.name, "interval_days": p.interval_days, "source": _source(p.source)}
            for p in course.MAINTENANCE_PLANS.values()
        ],
        "screening_presets": _screening_presets(),
    }


def _frequency_limits() -> tuple[Limit, ...]:
    seen: dict[str, Limit] = {}
    for solution in Solution:
        for lim in frequency.frequency_limits(solution):
            seen.setdefault(lim.code, lim)
    return tuple(seen.values())


# --- Markdown ------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:g}"


def catalogue_markdown() -> str:
    data = catalogue_json()
    out = [
        "# Limits and presets, with their sources",
        "",
        "Generated from the code by `ionto catalogue --markdown`; `tests/test_catalogue.py`",
        "fails if this page and the code disagree. Grades: **P** primary or authoritative,",
        "**S** secondary, **?** uncertain or conflicting, **D** derived in Ionto (a proposal that",
        "needs clinical sign-off). Where sources disagree the value is a named, configurable",
        "preset; the default is listed first and the alternatives below it.",
        "",
        "## Current, density, voltage and time limits (defaults)",
        "",
    ]
    out += _md_table(
        ["quantity", "group", "applies to", "value", "unit", "code", "source", "grade"],
        [
            [
                r["quantity"],
                r["group"],
                r["applies_to"],
                _num(r["value"]),
                r["unit"],
                r["code"],
                r["source"],
                r["grade"],
            ]
            for r in data["limits"]
        ],
    )
    out += ["", "### Current-density presets (sources disagree)", ""]
    out += _md_table(
        ["preset", "mA/cm²", "source", "grade"],
        [
            [d["name"], _num(d["density_mA_cm2"]), d["source"]["citation"], d["source"]["grade"]]
            for d in data["density_presets"]
        ],
    )
    out += ["", "## Target currents (before caps)", ""]
    out += _md_table(
        ["group", "solution/region", "mA", "source", "grade"],
        [
            [r["group"], r["applies_to"], _num(r["value"]), r["source"], r["grade"]]
            for r in data["target_currents"]
        ],
    )
    out += ["", "## Protocol presets", ""]
    regions = [r.value for r in Region]
    out += _md_table(
        [
            "preset",
            "solutions",
            "waveform",
            "reversal",
            *[f"{r} min" for r in regions],
            "source",
            "grade",
        ],
        [
            [
                p["name"],
                ", ".join(p["solutions"]),
                p["waveform"]
                + (
                    f" {_num(p['pulse_frequency_hz'])} Hz, duty {_num(p['duty_cycle'])}"
                    if p["pulse_frequency_hz"]
                    else ""
                ),
                p["reversal"]
                + (" (alternate between sessions)" if p["alternate_between_sessions"] else ""),
                *[str(p["minutes"][r]) for r in regions],
                p["source"]["citation"],
                p["source"]["grade"],
            ]
            for p in data["protocol_presets"]
        ],
    )
    out += ["", "## How often", ""]
    out += _md_table(
        ["code", "value", "unit", "rule", "source", "grade"],
        [
            [
                lim["code"],
                _num(lim["value"]),
                lim["unit"],
                lim["text"],
                lim["source"]["citation"],
                lim["source"]["grade"],
            ]
            for lim in [*data["frequency"], *data["course_rules"]]
        ],
    )
    out += ["", "## Induction schedules", ""]
    out += _md_table(
        ["schedule", "sessions", "when", "source", "grade"],
        [
            [
                s["name"],
                str(s["sessions"]),
                ("days " + ", ".join(str(d + 1) for d in s["day_offsets"]))
                if s["day_offsets"]
                else "weekdays " + ", ".join(_WEEKDAYS[d] for d in s["on_weekdays"]),
                s["source"]["citation"],
                s["source"]["grade"],
            ]
            for s in data["induction_schedules"]
        ],
    )
    out += ["", "## Maintenance plans", ""]
    out += _md_table(
        ["plan", "every (days)", "source", "grade"],
        [
            [p["name"], str(p["interval_days"]), p["source"]["citation"], p["source"]["grade"]]
            for p in data["maintenance_plans"]
        ],
    )
    out += ["", "## Screening presets", ""]
    out += _md_table(
        ["preset", "minimum age", "breastfeeding", "protocol preset", "age source"],
        [
            [
                s["name"],
                _num(s["minimum_age_years"]),
                s["breastfeeding"],
                str(s["protocol_preset"] or "by region and age"),
                s["minimum_age_source"]["citation"],
            ]
            for s in data["screening_presets"]
        ],
    )
    return "\n".join(out) + "\n"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
