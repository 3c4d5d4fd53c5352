"""Who may do what: the five roles as Django groups with model permissions, and the two rules
permissions cannot say — a patient sees only their own record; reception sees no clinical notes.

The matrix below is the single place the roles are defined; ``ensure_roles`` (run after every
migrate) makes the groups match it, and ``docs/roles.md`` is generated from it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.db.models import QuerySet
from django.http import HttpRequest

ADMIN = "admin"
CLINICIAN = "clinician"
NURSE = "nurse"
RECEPTION = "reception"
PATIENT = "patient"
ROLES = (ADMIN, CLINICIAN, NURSE, RECEPTION, PATIENT)

_ALL = ("view", "add", "change", "delete")
_RW = ("view", "add", "change")
_R = ("view",)

#: role → model → actions. "view_clinical" (on Referral) is what separates clinical staff.
MATRIX: dict[str, dict[str, tuple[str, ...]]] = {
    ADMIN: {
        "practice": _ALL,
        "patient": _ALL,
        "referral": (*_ALL, "view_clinical"),
        "fundingrequest": _ALL,
        "consultation": _RW,
        "consent": _RW,
        "assessment": _RW,
        "course": _RW,
        "chair": _ALL,
        "visit": _ALL,
        "treatmentsession": _RW,
        "verdict": _RW,
        "letter": _RW,
        "auditentry": _R,
        # The booking set-up (admin site): hours, closed days, the nurses' roster.
        "bookingsetup": _ALL,
        "openinghours": _ALL,
        "closedday": _ALL,
        "rosterednurse": _ALL,
    },
    CLINICIAN: {
        "practice": _RW,
        "patient": _RW,
        "referral": (*_RW, "view_clinical"),
        "fundingrequest": _RW,
        "consultation": _RW,
        "consent": _RW,
        "assessment": _RW,
        "course": _RW,
        "chair": _R,
        "visit": _RW,
        "treatmentsession": _RW,
        "verdict": _RW,
        "letter": _RW,
    },
    NURSE: {
        "practice": _R,
        "patient": _RW,
        "referral": (*_RW, "view_clinical"),
        "fundingrequest": _RW,  # records the commissioner's decision when it arrives
        "consultation": _RW,
        "consent": _RW,
        "assessment": _RW,
        "course": _RW,
        "chair": _R,
        "visit": _RW,
        "treatmentsession": _RW,
        "verdict": _RW,
        "letter": _RW,
    },
    RECEPTION: {
        "practice": _RW,
        "patient": _RW,
        "referral": _RW,
        "fundingrequest": _RW,
        "chair": _R,
        "visit": _RW,
        "course": _R,
    },
    # A patient's permissions are narrowed to their own record by the views (own_patient).
    PATIENT: {
        "patient": _R,
        "referral": (*_R, "view_clinical"),
        "course": _R,
        "visit": _R,
        "treatmentsession": _R,
        "assessment": _R,
        "verdict": _R,
        "letter": _R,
    },
}


def _codename(action: str, model: str) -> str:
    return action if action == "view_clinical" else f"{action}_{model}"


def ensure_roles(**_kwargs: Any) -> None:
    """Make the five groups hold exactly the permissions of :data:`MATRIX`."""
    perms = {
        p.codename: p
        for p in Permission.objects.filter(content_type__app_label="clinic").select_related(
            "content_type"
        )
    }
    if not perms:  # the clinic's tables are not migrated yet
        return
    for role, models in MATRIX.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [perms[_codename(a, m)] for m, actions in models.items() for a in actions]
        group.permissions.set(wanted)


def role_of(user: User | AnonymousUser) -> str | None:
    """The user's role (the first of ROLES they belong to); superusers are admins."""
    if not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    return next((role for role in ROLES if role in names), None)


def is_patient(user: User | AnonymousUser) -> bool:
    return role_of(user) == PATIENT


def sees_clinical(user: User | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.has_perm("clinic.view_clinical"))


def is_staff_role(user: User | AnonymousUser) -> bool:
    return role_of(user) in {ADMIN, CLINICIAN, NURSE, RECEPTION}


def scope_patients(user: User | AnonymousUser, patients: QuerySet[Any]) -> QuerySet[Any]:
    """The patients this user may see: all for staff, their own for a patient, none else."""
    if is_staff_role(user) and user.has_perm("clinic.view_patient"):
        return patients
    if is_patient(user):
        return patients.filter(user=user)
    return patients.none()


def scope_by_patient(user: User | AnonymousUser, rows: QuerySet[Any], path: str) -> QuerySet[Any]:
    """Rows linked to a patient through ``path`` (e.g. ``referral__patient``), narrowed as
    :func:`scope_patients` narrows patients."""
    if is_staff_role(user):
        return rows
    if is_patient(user):
        return rows.filter(**{f"{path}__user": user})
    return rows.none()


def role_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the user's role and what the navigation may show."""
    user = request.user
    return {
        "role": role_of(user),
        "sees_clinical": sees_clinical(user),
        "is_patient_user": is_patient(user),
    }


def roles_markdown() -> str:
    """docs/roles.md: the matrix as a table (a test keeps the file in step)."""
    models = sorted({m for table in MATRIX.values() for m in table})
    lines = [
        "# Roles and permissions",
        "",
        "Generated from `src/ionto/clinic/roles.py` (`MATRIX`); a test fails if this file "
        "drifts. v = view, a = add, c = change, d = delete, **C** = sees clinical notes, "
        "screening and treatment records.",
        "",
        "Beyond the table: a **patient** sees only their own record (every query is narrowed "
        "to it; another patient's address gives 404); **reception** works with referrals, "
        "funding and bookings but never sees clinical notes, screening or sessions.",
        "",
        'Booking a course with the solver ("Book this course", page and API) needs *visit a*, '
        "as booking a single visit does: admin, clinician, nurse and reception, never a "
        "patient. The centre's booking set-up (opening hours, closed days, the nurses' "
        "roster) is edited in the admin site.",
        "",
        "| record | " + " | ".join(ROLES) + " |",
        "|---|" + "---|" * len(ROLES),
    ]
    letters = {"view": "v", "add": "a", "change": "c", "delete": "d", "view_clinical": "**C**"}
    for model in models:
        cells = []
        for role in ROLES:
            actions = MATRIX[role].get(model, ())
            cells.append(" ".join(letters[a] for a in actions) or "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
