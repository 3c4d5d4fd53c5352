"""Shared pieces of the contract's JSON models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ionto.therapy.reasons import Limit, Reason


class Strict(BaseModel):
    """Unknown fields, wrong types, NaN and infinity are refused (CONTRACT.md: exit 2)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def reason_json(reason: Reason) -> dict[str, str]:
    return {"code": reason.code, "text": reason.text, "source": reason.source.citation}


def limit_json(limit: Limit) -> dict[str, str | float]:
    return {
        "code": limit.code,
        "text": limit.text,
        "source": limit.source.citation,
        "value": limit.value,
        "unit": limit.unit,
    }
