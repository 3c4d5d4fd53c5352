"""The clinic's front pages: today's lists, finding a patient, the patient page, a new
referral, a new practice and the information sheet. Each view parses the request, calls
``workflow.py`` and renders; refusals come back on the form with 409/422, never a 500."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from ionto.clinic import roles, workflow
from ionto.clinic.models import INFORMATION_SHEET_VERSION, Patient, Practice, Referral
from ionto.clinic.pages import lists
from ionto.clinic.pages.access import (
    page,
    patient_for,
    require,
    require_staff,
    user_of,
)
from ionto.clinic.pages.forms import PracticeForm, ReferralForm, SearchForm, put_error


def _own_patient(request: HttpRequest) -> Patient | None:
    user = request.user
    if not isinstance(user, User):
        return None
    return Patient.objects.filter(user=user).first()


# --- Home ---------------------------------------------------------------------------------------


@page
def home(request: HttpRequest) -> HttpResponse:
    """Today's chairs and the lists by stage; a patient goes to their own record."""
    if roles.is_patient(request.user):
        own = _own_patient(request)
        if own is None:
            return render(request, "clinic/no_record.html")
        return redirect("patient", pk=own.pk)
    require_staff(request)
    clinical = roles.sees_clinical(request.user)
    today = timezone.localdate()
    context: dict[str, Any] = {
        "today": today,
        "chairs": lists.todays_chairs(today),
        "stage_lists": lists.stage_lists(clinical=clinical),
        "outcomes": lists.outcomes_so_far() if clinical else [],
    }
    return render(request, "clinic/home.html", context)


# --- Patients -----------------------------------------------------------------------------------


def _search(form: SearchForm) -> QuerySet[Patient] | None:
    """Patients matching the search: every word of the name, or the start of an NHS number,
    and the date of birth if given. None when nothing was asked."""
    q = (form.cleaned_data.get("q") or "").strip()
    born = form.cleaned_data.get("date_of_birth")
    if not q and born is None:
        return None
    rows = Patient.objects.all()
    digits = q.replace(" ", "")
    if digits.isdigit():
        rows = rows.filter(nhs_number__startswith=digits)
    else:
        for word in q.split():
            rows = rows.filter(Q(given_name__icontains=word) | Q(family_name__icontains=word))
    if born is not None:
        rows = rows.filter(date_of_birth=born)
    return rows.order_by("family_name", "given_name", "date_of_birth")[:50]


@page
def patient_search(request: HttpRequest) -> HttpResponse:
    """Find a patient by name, NHS number and/or date of birth. As the user types, htmx asks
    for the results only (the ``HX-Request`` header) and swaps them in."""
    require_staff(request)
    require(request, "view_patient", "look up patients")
    form = SearchForm(request.GET or None)
    results = _search(form) if form.is_valid() else None
    status = 422 if form.is_bound and not form.is_valid() else 200
    context = {"form": form, "results": results}
    template = "clinic/_search_results.html" if request.headers.get("HX-Request") else None
    return render(request, template or "clinic/patient_search.html", context, status=status)


@page
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A patient's details and referrals. A patient user sees only their own (else 404)."""
    patient = patient_for(request, pk)
    referrals = (
        Referral.objects.filter(patient=patient)
        .select_related("practice", "funding")
        .order_by("-received_on", "-id")
    )
    return render(request, "clinic/patient.html", {"patient": patient, "referrals": referrals})


# --- Practices ----------------------------------------------------------------------------------


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


@page
def practice_new(request: HttpRequest) -> HttpResponse:
    """Add a GP practice (reception, clinicians, admin); back to the referral form after."""
    require_staff(request)
    require(request, "add_practice", "add a GP practice")
    form = PracticeForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            practice = form.save()
            messages.success(request, f"Practice added: {practice}.")
            target = _safe_next(request)
            if target:
                sep = "&" if "?" in target else "?"
                return redirect(f"{target}{sep}practice={practice.pk}")
            return redirect("referral_new")
        return render(
            request,
            "clinic/practice_new.html",
            {"form": form, "next": _safe_next(request)},
            status=422,
        )
    return render(request, "clinic/practice_new.html", {"form": form, "next": _safe_next(request)})


# --- New referral -------------------------------------------------------------------------------

#: Workflow field paths → the referral form's fields.
REFERRAL_ALIASES = {"patient": "given_name", "patient.nhs_number": "nhs_number"}


def _practice_from(form: ReferralForm) -> Practice:
    """The chosen practice, or the new one typed in (saved inside the referral's transaction,
    so a refused referral leaves no stray practice behind)."""
    chosen: Practice | None = form.cleaned_data.get("practice")
    if chosen is not None:
        return chosen
    d = form.cleaned_data
    practice = Practice(
        code=d["new_practice_code"].strip(),
        name=d["new_practice_name"].strip(),
        address=d.get("new_practice_address", ""),
    )
    practice.full_clean()
    practice.save()
    return practice


def _duplicates(details: workflow.PatientDetails) -> list[Patient]:
    try:
        nhs = workflow.normalise_nhs_number(details.nhs_number)
    except workflow.WorkflowError:
        nhs = None
    return workflow.find_duplicates(dataclasses.replace(details, nhs_number=nhs))


@page
def referral_new(request: HttpRequest) -> HttpResponse:
    """A GP's referral. A probable duplicate of a patient on record is shown (409) with a
    button to attach the referral to that patient instead."""
    require_staff(request)
    require(request, "add_referral", "record a referral")
    form_args: dict[str, Any] = {
        "can_add_practice": request.user.has_perm("clinic.add_practice"),
        "sees_clinical": roles.sees_clinical(request.user),
    }
    if request.method != "POST":
        initial = {"practice": request.GET.get("practice")}
        form = ReferralForm(initial=initial, **form_args)
        return render(request, "clinic/referral_new.html", {"form": form})

    form = ReferralForm(request.POST, **form_args)
    duplicates: list[Patient] = []
    status = 422
    if form.is_valid():
        d = form.cleaned_data
        details = form.patient_details()
        try:
            with transaction.atomic():
                practice = _practice_from(form)
                referral = workflow.create_referral(
                    patient=details,
                    practice=practice,
                    gp_name=d["gp_name"],
                    received_on=d["received_on"],
                    sites=d["sites"],
                    hdss=d["hdss"],
                    treatments_tried=d["treatments_tried"],
                    generalised=d["generalised"],
                    clinical_notes=d.get("clinical_notes", ""),
                    existing_patient=d.get("existing_patient"),
                    user=user_of(request),
                )
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                target = f"new_practice_{name}"
                form.add_error(target if target in form.fields else None, problems)
        except workflow.WorkflowError as error:
            status = error.status
            if error.status == 409 and error.field == "patient" and not d.get("existing_patient"):
                duplicates = _duplicates(details)
                form.add_error(
                    None,
                    "This patient may already be on record. Attach the referral to the "
                    "patient below if it is the same person.",
                )
            else:
                put_error(form, error, REFERRAL_ALIASES)
        else:
            messages.success(
                request,
                f"Referral recorded for {referral.patient.full_name}; funding requested.",
            )
            return redirect("referral", pk=referral.pk)
    context = {"form": form, "duplicates": duplicates}
    return render(request, "clinic/referral_new.html", context, status=status)


# --- Information sheet --------------------------------------------------------------------------


@page
def information_sheet(request: HttpRequest) -> HttpResponse:
    """The patient information sheet whose version consent is recorded against (printable)."""
    context = {
        "version": INFORMATION_SHEET_VERSION,
        "safety": list(workflow.SAFETY_INFORMATION.values()),
    }
    return render(request, "clinic/information_sheet.html", context)
