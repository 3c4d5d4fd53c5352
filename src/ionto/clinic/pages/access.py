"""Who may open which page: the role matrix (``ionto.clinic.roles``) applied to a request.

Two answers besides "yes": **404** when the record is not the user's to see at all (a patient
guessing another patient's address learns nothing, not even that it exists), and **403** with a
page saying why when the user may see the record but not take the step (reception opening the
consultation form). The record is looked up first, so a patient always gets the 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render

from ionto.clinic import roles
from ionto.clinic.models import Course, Patient, Referral, Visit

M = TypeVar("M", bound=Model)
View = Callable[..., HttpResponse]


class Refused(Exception):  # noqa: N818 - the name other page modules import; it reads as what happened
    """The user may not take this step (answered 403 with ``message``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def user_of(request: HttpRequest) -> User | None:
    """The logged-in user, as the workflow records who did a step."""
    return request.user if isinstance(request.user, User) else None


def refused_page(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "clinic/refused.html", {"message": message}, status=403)


def page(view: View) -> View:
    """A page for logged-in users (GET and POST; other methods 405); :class:`Refused` becomes
    a 403 page saying why."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in {"GET", "HEAD", "POST"}:
            return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
        try:
            return view(request, *args, **kwargs)
        except Refused as refusal:
            return refused_page(request, refusal.message)

    return wrapper


def require(request: HttpRequest, perm: str, what: str) -> None:
    """Refuse unless the user holds ``clinic.<perm>``; ``what`` says the step in plain words."""
    if not request.user.has_perm(f"clinic.{perm}"):
        role = roles.role_of(request.user) or "no role"
        raise Refused(f"Your role ({role}) cannot {what}.")


def require_staff(request: HttpRequest) -> None:
    if not roles.is_staff_role(request.user):
        raise Refused("This page is for the clinic's staff.")


def require_clinical(request: HttpRequest, what: str) -> None:
    """Clinical pages: clinical staff only (reception never sees clinical records)."""
    if not (roles.is_staff_role(request.user) and roles.sees_clinical(request.user)):
        role = roles.role_of(request.user) or "no role"
        raise Refused(f"Your role ({role}) cannot {what}.")


def _scoped(request: HttpRequest, rows: QuerySet[M], path: str) -> QuerySet[M]:
    return roles.scope_by_patient(request.user, rows, path)


def patient_for(request: HttpRequest, pk: int) -> Patient:
    rows: QuerySet[Patient] = roles.scope_patients(request.user, Patient.objects.all())
    return get_object_or_404(rows, pk=pk)


def referral_for(request: HttpRequest, pk: int) -> Referral:
    rows = Referral.objects.select_related("patient", "practice")
    return get_object_or_404(_scoped(request, rows, "patient"), pk=pk)


def course_for(request: HttpRequest, pk: int) -> Course:
    rows = Course.objects.select_related("referral__patient", "referral__practice")
    return get_object_or_404(_scoped(request, rows, "referral__patient"), pk=pk)


def visit_for(request: HttpRequest, pk: int) -> Visit:
    rows = Visit.objects.select_related("course__referral__patient", "chair")
    return get_object_or_404(_scoped(request, rows, "course__referral__patient"), pk=pk)
