"""Plain-text renderings of the JSON results, for a nurse reading a terminal (``--text``)."""

from __future__ import annotations

from typing import Any


def _reasons(label: str, reasons: list[dict[str, str]], indent: str) -> list[str]:
    return [f"{indent}{label} {r['text']}  [{r['code']}; {r['source']}]" for r in reasons]


def screening_text(result: dict[str, Any]) -> str:
    verdict = "ELIGIBLE" if result["eligible"] else "NOT ELIGIBLE"
    lines = [f"{verdict} — diagnosis: {result['diagnosis'].replace('_', ' ')}"]
    lines += _reasons("✖", result["blocking"], "  ")
    lines += _reasons("→ refer/check:", result["refer"], "  ")
    if result["diagnosis"] != "primary_focal":
        lines += _reasons("·", result.get("diagnosis_reasons", []), "  ")
    allowed = [rs for rs in result["regions"].values() if rs["allowed"]]
    # Precautions shared by every allowed region are said once, not once per region.
    shared = [
        p
        for p in (allowed[0]["precautions"] if len(allowed) > 1 else [])
        if all(p in rs["precautions"] for rs in allowed)
    ]
    for region, rs in result["regions"].items():
        if rs["allowed"]:
            p = rs["protocol"]
            lines.append(
                f"  {region}: allowed — {p['solution'].replace('_', ' ')}, {p['waveform']}, "
                f"target {p['target_current_mA']:g} mA (max {p['max_current_mA']:g} mA), "
                f"{p['minutes']} min, reversal {p['reversal']} [{p['preset']}]"
            )
        else:
            state = "not now" if rs.get("temporary") else "not allowed"
            lines.append(f"  {region}: {state}")
        lines += _reasons("✖", rs["reasons"], "      ")
        lines += _reasons("!", [p for p in rs["precautions"] if p not in shared], "      ")
    if shared:
        lines.append("  for every region:")
        lines += _reasons("!", shared, "      ")
    return "\n".join(lines)


def verdict_text(result: dict[str, Any]) -> str:
    lines = [f"{result['verdict'].replace('_', ' ').upper()} — next: {result['next']}"]
    lines += _reasons("•", result["reasons"], "  ")
    plan = result.get("home_plan")
    if plan:
        lines.append(
            f"  home plan: every {plan['interval_days']} days, {plan['current_mA']:g} mA, "
            f"{plan['minutes']} min, {plan['waveform']}"
        )
    return "\n".join(lines)
