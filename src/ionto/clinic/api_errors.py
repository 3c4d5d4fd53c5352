"""Every refusal of the JSON API in one shape: ``{"detail": [{"field", "message"}]}``.

``field`` is a dotted path into the request (``patient.nhs_number``, ``sites[0]``) or empty
when the whole request is at fault; ``message`` says why in plain English. The statuses:
400 the body is not JSON, 401 not logged in, 403 the role may not, 404 no such record (or
not this patient's: the two are not told apart), 409 the record's state forbids the step,
422 the input is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from ionto.clinic.api_schemas import ErrorOut
from ionto.clinic.workflow import WorkflowError

#: The error answers an operation may give, for its OpenAPI description: reading one record,
#: a list with filters, a list without, changing a record, adding one.
READ_ERRORS = (401, 403, 404, 422)
LIST_ERRORS = (401, 403, 422)
PLAIN_ERRORS = (401, 403)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422)
CREATE_ERRORS = (400, 401, 403, 409, 422)


def responses(ok: int, schema: Any, errors: Iterable[int] = WRITE_ERRORS) -> dict[int, Any]:
    """An operation's ``response=`` mapping: its success and the error shape for each refusal."""
    out: dict[int, Any] = {ok: schema}
    out.update(dict.fromkeys(errors, ErrorOut))
    return out


def problems(*items: tuple[str, str]) -> dict[str, Any]:
    return {"detail": [{"field": field, "message": message} for field, message in items]}


def field_path(loc: Sequence[int | str]) -> str:
    """``("sites", 0, "x")`` → ``sites[0].x``, the way ``workflow`` names fields."""
    out = ""
    for item in loc:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def _describe(error: dict[str, Any], field: str) -> str:
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid value"))
    if kind == "missing":
        return "required field is missing" if field else "send a JSON object as the request body"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in {"model_type", "dict_type", "model_attributes_type"} and not field:
        return "the request body must be a JSON object"
    return message.removeprefix("Value error, ")


def reshape_validation_errors(errors: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """ninja's errors (``loc`` = source, parameter, path…) as (field, message) pairs."""
    out: list[tuple[str, str]] = []
    for error in errors:
        loc = list(error.get("loc", ()))
        source = loc.pop(0) if loc else ""
        if source == "body" and loc:
            loc.pop(0)  # the view's body parameter, not part of the JSON sent
        field = field_path(loc)
        item = (field, _describe(error, field))
        if item not in out:
            out.append(item)
    return out


def install(api: NinjaAPI) -> None:
    """Answer every refusal in the one shape, whichever layer refused."""

    def answer(request: HttpRequest, status: int, *items: tuple[str, str]) -> HttpResponse:
        return api.create_response(request, problems(*items), status=status)

    def on_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return answer(request, 422, *reshape_validation_errors(exc.errors))

    def on_workflow(request: HttpRequest, exc: WorkflowError) -> HttpResponse:
        return api.create_response(request, exc.as_json(), status=exc.status)

    def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        items: list[tuple[str, str]] = []
        if hasattr(exc, "error_dict"):
            for name, messages in exc.message_dict.items():
                field = "" if name == NON_FIELD_ERRORS else name
                items.extend((field, str(m)) for m in messages)
        else:
            items.extend(("", str(m)) for m in exc.messages)
        return answer(request, 422, *items)

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = exc.message
        if isinstance(exc, AuthenticationError):
            message = "log in, or send a username and password (HTTP Basic authentication)"
        elif exc.status_code == 400 and message.startswith("Cannot parse request body"):
            message = "the request body is not valid JSON"
        elif message == "CSRF check Failed":
            message = (
                "the CSRF token is missing or wrong: send the csrftoken cookie's value "
                "in the X-CSRFToken header"
            )
        return answer(request, exc.status_code, ("", message))

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        message = str(exc) or "not found"
        return answer(request, 404, ("", message))

    def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return answer(request, 403, ("", str(exc) or "your role may not do this"))

    def on_integrity(request: HttpRequest, _exc: IntegrityError) -> HttpResponse:
        # Two requests racing for the same unique value: the loser is told to look again.
        return answer(
            request,
            409,
            ("", "this clashes with a record saved at the same moment: reload and try again"),
        )

    def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
        if isinstance(exc, RequestDataTooBig):
            return answer(request, 400, ("", "the request body is too large"))
        return answer(request, 400, ("", "the request was refused as malformed"))

    handlers: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
        (NinjaValidationError, on_validation),
        (WorkflowError, on_workflow),
        (DjangoValidationError, on_django_validation),
        (HttpError, on_http_error),
        (Http404, on_not_found),
        (PermissionDenied, on_forbidden),
        (IntegrityError, on_integrity),
        (SuspiciousOperation, on_suspicious),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
