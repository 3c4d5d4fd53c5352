"""Who is calling the JSON API and what they may touch.

Two ways in: the browser's Django session (the pages' htmx and the live chart; CSRF token
required on unsafe methods), and HTTP Basic with a username and password (scripts and other
hospital systems). Then Django's model permissions (``roles.MATRIX``) decide what a role may
do (403), and the patient rule narrows every lookup to the patient's own record: another
patient's record answers 404, exactly as a record that does not exist.

The station engineer's router (``api_sessions``) uses the same helpers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.apps import apps
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBasicAuth
from ninja.utils import check_csrf

from ionto.clinic import audit
from ionto.clinic.models import Patient
from ionto.clinic.roles import is_staff_role, role_of, scope_by_patient, scope_patients

M = TypeVar("M", bound=Model)
F = TypeVar("F", bound=Callable[..., Any])

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class BasicAuth(HttpBasicAuth):
    """Username and password on every request, checked by Django's own backends."""

    def authenticate(self, request: HttpRequest, username: str, password: str) -> User | None:
        # A NUL would reach the database in the user lookup, and PostgreSQL refuses it.
        if "\x00" in username or "\x00" in password:
            return None
        user = authenticate(request, username=username, password=password)
        if not isinstance(user, User):
            return None
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The browser's login session. Unlike ninja's own, an anonymous request is simply not
    authenticated (401, so that Basic can be tried), and the CSRF token is checked only for
    a logged-in user on an unsafe method (403 when it is missing or wrong)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=False)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:  # noqa: ARG002 - the cookie is read by Django
        user = request.user
        if not isinstance(user, User) or not user.is_authenticated:
            return None
        if request.method not in _SAFE_METHODS and check_csrf(request) is not None:
            raise HttpError(403, "CSRF check Failed")
        return user


def attributed(view: F) -> F:
    """Attribute the audit entries of an API call to the caller. The audit middleware runs
    before HTTP Basic has said who the caller is, so the API sets the actor again here."""

    @functools.wraps(view)
    def run(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with audit.acting_as(request.user.get_username()):
            return view(request, *args, **kwargs)

    return run  # type: ignore[return-value]


def caller(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # the API's auth has run: never anonymous here
        raise HttpError(401, "Unauthorized")
    return user


_VERBS = {"view": "see", "add": "add", "change": "change", "delete": "delete"}


def _refusal(user: User | AnonymousUser, codename: str) -> str:
    role = role_of(user) or "user without a role"
    if codename == "view_clinical":
        return f"a {role} login may not see clinical records"
    action, _, model_name = codename.partition("_")
    try:
        things = str(apps.get_model("clinic", model_name)._meta.verbose_name_plural)
    except LookupError:
        things = model_name
    return f"a {role} login may not {_VERBS.get(action, action)} {things}"


def require(request: HttpRequest, *codenames: str) -> User:
    """The caller, if their role holds every one of these clinic permissions; else 403."""
    user = caller(request)
    for codename in codenames:
        if not user.has_perm(f"clinic.{codename}"):
            raise HttpError(403, _refusal(user, codename))
    return user


def require_staff(request: HttpRequest, *codenames: str) -> User:
    """As :func:`require`, for the clinic's working lists: staff only, never a patient."""
    user = require(request, *codenames)
    if not is_staff_role(user):
        raise HttpError(403, "these lists are for the clinic's staff")
    return user


def scoped(request: HttpRequest, rows: QuerySet[M], path: str) -> QuerySet[M]:
    """Rows the caller may see: all for staff, their own for a patient (``path`` leads from
    the row to its Patient, e.g. ``course__referral__patient``)."""
    if rows.model is Patient:
        return scope_patients(request.user, rows)
    return scope_by_patient(request.user, rows, path)


def get_scoped(request: HttpRequest, rows: QuerySet[M], path: str, pk: int, what: str) -> M:
    """One row the caller may see, or 404 — the same answer whether it does not exist or
    belongs to another patient, so that guessing ids reveals nothing."""
    row = scoped(request, rows, path).filter(pk=pk).first()
    if row is None:
        raise Http404(f"no {what} {pk}")
    return row


def username(user: Any) -> str:
    """Who did it, for the record shown (empty when the account was removed)."""
    return user.get_username() if user is not None else ""
