"""The lists a clinic lives by (issue 4, §8), the audit check, and the reference lists the
forms need (the safety points explained before consent, the checks before a session)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from ninja import P, QueryEx, Router

from ionto.clinic import audit, workflow
from ionto.clinic.api_access import require, require_staff
from ionto.clinic.api_errors import LIST_ERRORS, PLAIN_ERRORS, responses
from ionto.clinic.api_referrals import referral_summary
from ionto.clinic.api_schemas import (
    AuditReportOut,
    ClinicDate,
    CodeTextOut,
    OutcomesOut,
    StageName,
    StagesOut,
    TodayOut,
)
from ionto.clinic.api_visits import chair_json, visit_json, visits
from ionto.clinic.models import Chair, Referral, Stage, Verdict, VisitStatus
from ionto.clinic.pages.lists import day_bounds
from ionto.therapy.vocabulary import VerdictKind

router = Router()

#: Stages whose referrals are still being worked on: their rows are listed by default.
OPEN_STAGES = (
    Stage.WAITING_FUNDING,
    Stage.WAITING_FIRST_VISIT,
    Stage.WAITING_TO_START,
    Stage.IN_COURSE,
    Stage.AWAITING_VERDICT,
    Stage.TO_DISCHARGE,
)


@router.get(
    "/lists/today",
    response=responses(200, TodayOut, LIST_ERRORS),
    tags=["lists"],
    summary="Today's chairs and their visits (or another day's, with ?date=)",
)
def today(
    request: HttpRequest,
    date: QueryEx[ClinicDate | None, P(description="Another day than today")] = None,
) -> dict[str, Any]:
    require_staff(request, "view_visit", "view_chair")
    day = date or timezone.localdate()
    start, end = day_bounds(day)
    rows = (
        visits()
        .filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status=VisitStatus.CANCELLED)
        .order_by("starts_at", "id")
    )
    by_chair: dict[int | None, list[dict[str, Any]]] = {}
    for visit in rows:
        by_chair.setdefault(visit.chair_id, []).append(visit_json(visit))
    return {
        "date": day,
        "chairs": [
            {"chair": chair_json(c), "visits": by_chair.get(c.pk, [])} for c in Chair.objects.all()
        ],
        "without_chair": by_chair.get(None, []),
    }


@router.get(
    "/lists/stages",
    response=responses(200, StagesOut, LIST_ERRORS),
    tags=["lists"],
    summary="How many referrals at each stage, with the rows of the open stages",
)
def stages(
    request: HttpRequest,
    stage: QueryEx[StageName | None, P(description="List the rows of this stage only")] = None,
) -> dict[str, Any]:
    require_staff(request, "view_referral")
    counts = dict(
        # order_by() first: the model's default ordering would split the groups.
        Referral.objects.order_by()
        .values("stage")
        .annotate(n=Count("id"))
        .values_list("stage", "n")
    )
    listed = {stage} if stage is not None else {s.value for s in OPEN_STAGES}
    rows: dict[str, list[dict[str, Any]]] = {}
    referrals = (
        Referral.objects.filter(stage__in=listed)
        .select_related("patient", "practice", "funding")
        .order_by("received_on", "id")
    )
    for referral in referrals:
        rows.setdefault(referral.stage, []).append(referral_summary(referral))
    return {
        "stages": [
            {
                "stage": s.value,
                "label": str(s.label),
                "count": counts.get(s.value, 0),
                "referrals": rows.get(s.value, []),
            }
            for s in Stage
        ]
    }


@router.get(
    "/lists/outcomes",
    response=responses(200, OutcomesOut, PLAIN_ERRORS),
    tags=["lists"],
    summary="Outcomes so far: responders by region and solution",
)
def outcomes(request: HttpRequest) -> dict[str, Any]:
    require_staff(request, "view_verdict", "view_course")
    tally: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for verdict in Verdict.objects.select_related("course"):
        tally[(verdict.course.region, verdict.course.solution)][verdict.outcome] += 1
    rows = []
    for (region, solution), counted in sorted(tally.items()):
        judged = counted.total()
        works = counted[VerdictKind.WORKS]
        rows.append(
            {
                "region": region,
                "solution": solution,
                "courses": judged,
                "works": works,
                "does_not_work": counted[VerdictKind.DOES_NOT_WORK],
                "responders": round(works / judged, 3),
            }
        )
    return {"rows": rows}


@router.get(
    "/audit/verify",
    response=responses(200, AuditReportOut, PLAIN_ERRORS),
    tags=["audit"],
    summary="Check the whole audit chain (admin)",
)
def verify_audit(request: HttpRequest) -> dict[str, Any]:
    require(request, "view_auditentry")
    return audit.verify().as_json()


@router.get(
    "/reference/safety-information",
    response=responses(200, list[CodeTextOut], (401,)),
    tags=["reference"],
    summary="The safety points explained before consent",
)
def safety_information(request: HttpRequest) -> list[dict[str, str]]:  # noqa: ARG001 - ninja passes the request
    return [{"code": c, "text": t} for c, t in workflow.SAFETY_INFORMATION.items()]


@router.get(
    "/reference/pre-session-checks",
    response=responses(200, list[CodeTextOut], (401,)),
    tags=["reference"],
    summary="The checks ticked before every session",
)
def pre_session_checks(request: HttpRequest) -> list[dict[str, str]]:  # noqa: ARG001 - ninja passes the request
    return [{"code": c, "text": t} for c, t in workflow.PRE_SESSION_CHECKS.items()]
