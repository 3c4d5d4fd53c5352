"""Bad input, said in one line: which field and why."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class InputError(Exception):
    """Input that Ionto refuses. ``field`` is a dotted path such as ``history.onset_age_years``."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"field '{self.field}': {self.message}" if self.field else self.message
        return " ".join(text.split())


def read_input(path: str) -> bytes:
    """The bytes of a file, or of standard input for ``-``; unreadable input is an InputError."""
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _field_path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _describe(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in {"json_invalid", "json_type"}:
        return message
    shown = error.get("input")
    rendered = json.dumps(shown, default=str)
    if len(rendered) > 40:
        rendered = rendered[:37] + "..."
    return f"{message[0].lower()}{message[1:]} (got {rendered})"


def parse_json(model: type[ModelT], raw: bytes, what: str) -> ModelT:
    """Validate raw JSON bytes against a model; the first problem becomes an InputError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"{what} is empty: expected a JSON object")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        field = _field_path(loc) if loc else None
        if field is None and first.get("type") == "model_type":
            raise InputError(f"{what} must be a JSON object") from None
        raise InputError(_describe(first), field) from None
