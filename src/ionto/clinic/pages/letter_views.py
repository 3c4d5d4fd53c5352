"""The discharge letters of a referral: the list, "write the letters", and the PDF download.

Clinical staff (nurse, clinician, admin) see both letters and write them; a patient sees only
their own patient letter (the GP's letter and anyone else's give 404, as if they did not
exist); reception, who sees no clinical records, is refused (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from ionto.clinic import letters, roles, workflow
from ionto.clinic.models import Letter, LetterKind, Referral
from ionto.clinic.pages.access import Refused, page, referral_for


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind ``page``, which requires a login)."""
    user = request.user
    if not isinstance(user, User):
        raise Http404
    return user


def _may_read(request: HttpRequest) -> None:
    """Letters are clinical: reception (and anyone without the permission) is refused."""
    user = request.user
    if not user.has_perm("clinic.view_letter") or not (
        roles.sees_clinical(user) or roles.is_patient(user)
    ):
        role = roles.role_of(user) or "no role"
        raise Refused(f"Your role ({role}) cannot read discharge letters: they are clinical.")


def _may_write(request: HttpRequest) -> bool:
    user = request.user
    return roles.is_staff_role(user) and user.has_perm("clinic.add_letter")


def _visible_letters(request: HttpRequest, referral: Referral | None = None) -> list[Letter]:
    rows = Letter.objects.select_related("referral__patient", "created_by").defer("pdf")
    if referral is not None:
        rows = rows.filter(referral=referral)
    if roles.is_patient(request.user):
        rows = rows.filter(referral__patient__user=_user(request), kind=LetterKind.PATIENT)
    return list(rows.order_by("created_at", "id"))


def _list_page(
    request: HttpRequest, referral: Referral, *, error: str = "", status: int = 200
) -> HttpResponse:
    missing = letters.missing_verdicts(referral)
    context = {
        "referral": referral,
        "patient": referral.patient,
        "letters": _visible_letters(request, referral),
        "courses": list(referral.courses.all()),
        "missing": missing,
        "can_write": _may_write(request)
        and not referral.letters.exists()
        and referral.courses.exists()
        and not missing,
        "may_write": _may_write(request),
        "error": error,
    }
    return render(request, "clinic/letters/referral.html", context, status=status)


@page
@require_http_methods(["GET", "POST"])
def referral_letters(request: HttpRequest, referral_id: int) -> HttpResponse:
    """GET: the referral's letters. POST: write them (``letters.write_letters``)."""
    referral = referral_for(request, referral_id)  # another patient's referral: 404
    _may_read(request)
    if request.method == "POST":
        if not _may_write(request):
            role = roles.role_of(request.user) or "no role"
            raise Refused(f"Your role ({role}) cannot write discharge letters.")
        try:
            written = letters.write_letters(referral, request.user)
        except workflow.WorkflowError as refusal:
            return _list_page(request, referral, error=refusal.message, status=refusal.status)
        messages.success(
            request,
            f"{len(written)} letters written; {referral.patient.full_name} is discharged.",
        )
        return redirect("letters_for_referral", referral_id=referral.pk)
    return _list_page(request, referral)


@page
@require_http_methods(["GET", "HEAD"])
def letter_pdf(request: HttpRequest, letter_id: int) -> HttpResponse:
    """The letter's PDF, byte for byte as written."""
    _may_read(request)
    rows = Letter.objects.select_related("referral__patient")
    if roles.is_patient(request.user):
        rows = rows.filter(referral__patient__user=_user(request), kind=LetterKind.PATIENT)
    elif not roles.is_staff_role(request.user):
        raise Http404
    letter = get_object_or_404(rows, pk=letter_id)
    patient = letter.referral.patient
    written = letter.created_at.date().isoformat()
    filename = f"ionto-{letter.kind}-letter-{patient.family_name.lower()}-{written}.pdf"
    filename = "".join(ch for ch in filename if ch.isalnum() or ch in "-._")
    response = HttpResponse(bytes(letter.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
