"""Discharge letters (issue 4 §7): one to the GP, one to the patient (or a child's parent).

Both say the verdict and why, the settings used in the clinic, the home plan (device, current,
minutes, how often), what to do about side effects and where to get a device; for generalised
hyperhidrosis, which regions can be treated and where to find support. The GP's letter is
clinical (screening, the sessions given, the doses, the verdict's reasons with their sources);
the patient's is plain English.

Letters are rendered from Django templates (``templates/clinic/letters/``) to HTML, then to PDF
by WeasyPrint; the PDF is kept byte for byte with the letter's text beside it (for search and
checks). Clinical decisions are not made here: the verdicts, home plans and screening come from
the therapy core as they were recorded, this module only words them.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from ionto.clinic import workflow
from ionto.clinic.models import (
    Assessment,
    AssessmentKind,
    Consultation,
    Course,
    Letter,
    LetterKind,
    Referral,
    SessionStatus,
    Timepoint,
    TreatmentSession,
    Verdict,
)
from ionto.clinic.roles import role_of
from ionto.therapy import sources
from ionto.therapy.regions import age_group
from ionto.therapy.vocabulary import AgeGroup, Region, Solution

#: The service that signs the letters.
SERVICE_NAME = "Iontophoresis service, Department of Dermatology"

# --- Words ------------------------------------------------------------------------------------
REGION_WORDS = {
    "palms": "hands (palms)",
    "soles": "feet (soles)",
    "axillae": "armpits",
    "face": "face",
    "neck": "neck",
}
SOLUTION_WORDS = {
    "tap_water": "tap water",
    "glycopyrronium": "glycopyrronium 0.05%",
}
WAVEFORM_WORDS = {
    "dc": "continuous (DC) current",
    "pulsed_dc": "pulsed current",
    "ac_dc_offset": "AC on a DC offset",
}
REVERSAL_WORDS = {
    "halfway": "polarity reversed halfway",
    "none": "one polarity per session, alternating between sessions",
}
#: The applicator a region needs at home (clinical-reference §1: trays for hands and feet,
#: axillary pads, a face mask, a neck cushion).
APPLICATORS = {
    "palms": "trays for the hands",
    "soles": "trays for the feet",
    "axillae": "armpit (axillary) pads",
    "face": "a face mask",
    "neck": "a neck cushion",
}
VERDICT_WORDS = {
    "works": "iontophoresis works",
    "does_not_work": "iontophoresis did not work well enough",
    "continue": "too early to judge",
}
#: The next step as the patient reads it.
NEXT_FOR_PATIENT = {
    "home_maintenance": "Carry on {treating} at home with a device of your own, as below.",
    "continue_course": "Carry on with the course in the clinic: it is too early to tell.",
    "try_pulsed_dc": "The next step is to try a gentler, pulsed current.",
    "escalate_glycopyrronium": (
        "The next step is iontophoresis with glycopyrronium, a medicine added to the water."
    ),
    "refer_dermatologist": (
        "A dermatologist will talk with you about other treatments, such as botulinum toxin "
        "injections or tablets."
    ),
    "stop": (
        "Stop iontophoresis for now. A clinician will decide whether and when it may start again."
    ),
}
#: The next step as the GP reads it.
NEXT_FOR_GP = {
    "home_maintenance": "Home maintenance with the patient's own device (plan below).",
    "continue_course": "Continue the course in clinic.",
    "try_pulsed_dc": "Trial of pulsed DC (fewer sensations; Reinauer 1995).",
    "escalate_glycopyrronium": "Escalate to glycopyrronium 0.05% iontophoresis (funded).",
    "refer_dermatologist": (
        "Refer to a dermatologist for the next rung of the ladder (botulinum toxin, oral "
        "anticholinergics; Solish 2007)."
    ),
    "stop": "Stop iontophoresis pending clinical review.",
}
TREATMENT_WORDS = {
    "aluminium_chloride": "aluminium chloride",
    "topical_glycopyrronium": "topical glycopyrronium",
    "oral_anticholinergic": "oral anticholinergic",
    "botulinum_toxin": "botulinum toxin",
    "iontophoresis": "iontophoresis",
    "other": "other",
}
STATUS_WORDS = {
    SessionStatus.COMPLETED: "completed",
    SessionStatus.STOPPED: "stopped early",
    SessionStatus.ABORTED: "ended by a safety rule",
    SessionStatus.FAULT: "device fault",
    SessionStatus.INTERRUPTED: "interrupted",
}

# --- Advice (clinical-reference §4 "Side effects and what to do" and "Precautions") -------------
SIDE_EFFECT_SOURCE = (
    f"{sources.PRECAUTIONS_LEAFLETS.citation}; {sources.MAKERS_CONTRAINDICATIONS.citation} "
    "(clinical-reference §4)"
)
SIDE_EFFECT_ADVICE: tuple[tuple[str, str], ...] = (
    (
        "Tingling or a mild burning feeling",
        "expected during treatment. If it really burns, the current is too high or there is a "
        "cut: turn the current down and cover cuts with petroleum jelly.",
    ),
    ("Redness and small blisters", "can appear after treatment and settle on their own."),
    ("Irritation along the water line", "1% hydrocortisone cream helps."),
    ("Dry or cracked skin", "treat less often and use a moisturiser."),
    ("Tiny pinprick bruises", "mean the current was too high; lower it next time."),
    (
        "A mild shock",
        "can happen when hands or feet leave the water while current flows; keep them in the "
        "water until the device has turned the current down.",
    ),
    ("A burn", "stop treating and contact us before the next treatment."),
)
GLYCOPYRRONIUM_ADVICE = (
    "With glycopyrronium",
    "a dry mouth (more likely above 8 mA) and feeling too hot in warm weather; tell us if "
    "they happen.",
)
PRECAUTIONS: tuple[str, ...] = (
    "Take off rings, watches and jewellery, and remove nail polish, before treating.",
    "Cover small cuts and scratches with petroleum jelly (also at the polarity change).",
    "Never touch the metal electrodes.",
    "Keep hands or feet in the water while current flows.",
    "One device for one person at a time.",
    "Children are treated with an adult beside them.",
)
STOP_AND_TELL_US = (
    "Stop and contact us if you become pregnant, are fitted with a pacemaker, defibrillator or "
    "metal implant, or develop heart problems or epilepsy: some of these mean iontophoresis is "
    "no longer safe."
)
MAINTENANCE_ADVICE = (
    "Treat as soon as the skin starts to feel clammy, before the sweating comes back. The "
    "effect usually lasts 4 to 8 weeks; if the sweating has fully returned, 3 to 4 treatments "
    "close together bring it back under control."
)
MAINTENANCE_SOURCE = f"{sources.HYPERHIDROSIS_UK.citation} (clinical-reference §3)"

# --- Where to get a device (clinical-reference §1): no brand is endorsed ----------------------
DEVICE_ADVICE = (
    "You will need your own tap-water iontophoresis device, from a medical supplier or a maker "
    "(from about £325). Ask us before you buy: we will check that the device can give the "
    "settings in this letter. We do not recommend a particular brand."
)
DEVICE_ADVICE_GP = (
    "No ongoing hospital treatment is provided: the patient continues at home with a "
    "tap-water iontophoresis device of their own, from a medical supplier or a maker (from "
    "about £325). We have asked them to check with us before buying; no brand is endorsed."
)
DEVICE_SOURCE = (
    "UK centre service description (clinical-reference §1): the patient continues at home "
    "with a device bought from a maker, from about £325; armpits can be treated at home with "
    "attachments"
)

# --- Generalised hyperhidrosis (clinical-reference §1, §6) -----------------------------------
GENERALISED_TEXT = (
    "Sweating over much of the body (generalised hyperhidrosis) cannot be treated as a whole "
    "with iontophoresis: only the areas for which an applicator exists can be treated — "
    "hands and feet (trays), armpits (pads), face (a mask) and neck (a cushion). Treat the "
    "areas where the sweating bothers you most; even partial success makes daily life easier."
)
SUPPORT_TEXT = (
    "Patient organisations such as Hyperhidrosis UK and the International Hyperhidrosis "
    "Society (IHS) offer information and support forums for people with hyperhidrosis. Ask us "
    "about hyperhidrosis consultation events."
)
GENERALISED_SOURCE = (
    f"{sources.GENERALISED_FOCAL_ONLY.citation}: treat focal regions with an applicator, point "
    "the patient to a support forum and a hyperhidrosis consultation event"
)


# =============================================================================================
# What a letter says
# =============================================================================================
@dataclass(frozen=True)
class SessionRow:
    n: int
    day: dt.date | None
    status: str
    current_mA: float
    minutes: float
    dose_mA_min: float
    peak_mA: float
    sensation: int | None
    pain_reports: int
    side_effects: str


@dataclass(frozen=True)
class CourseSummary:
    """One course as both letters describe it."""

    course: Course
    verdict: Verdict
    sessions: list[SessionRow]
    sessions_given: int
    sessions_completed: int
    #: What was used: the median current and treatment minutes of the completed sessions.
    current_mA: float | None
    minutes: float | None
    waveform: str
    reversal: str
    worst_sensation: int | None
    pain_reports: int
    side_effects: list[str]
    home_plan: dict[str, Any] | None
    reasons: list[dict[str, str]]
    chart_svg: str = ""
    home_reasons: list[dict[str, str]] = field(default_factory=list)
    #: How the patient letter says who is treated: "treating yourself" or "treating Lily".
    treating: str = "treating yourself"

    @property
    def region(self) -> str:
        return REGION_WORDS.get(self.course.region, self.course.region)

    @property
    def solution(self) -> str:
        return SOLUTION_WORDS.get(self.course.solution, self.course.solution)

    @property
    def works(self) -> bool:
        return self.verdict.outcome == "works"

    @property
    def verdict_words(self) -> str:
        return VERDICT_WORDS.get(self.verdict.outcome, self.verdict.outcome)

    @property
    def next_for_patient(self) -> str:
        text = NEXT_FOR_PATIENT.get(self.verdict.next_step, self.verdict.next_step)
        return text.replace("{treating}", self.treating)

    @property
    def next_for_gp(self) -> str:
        return NEXT_FOR_GP.get(self.verdict.next_step, self.verdict.next_step)

    @property
    def waveform_words(self) -> str:
        return WAVEFORM_WORDS.get(self.waveform, self.waveform)

    @property
    def reversal_words(self) -> str:
        return REVERSAL_WORDS.get(self.reversal, self.reversal)

    @property
    def tolerance_words(self) -> str:
        parts = []
        if self.worst_sensation is not None:
            parts.append(f"worst sensation {self.worst_sensation} of 10")
        parts.append(
            "no pain reported"
            if self.pain_reports == 0
            else f"pain reported {self.pain_reports} time{'s' if self.pain_reports > 1 else ''}"
        )
        parts.append(
            "side effects: " + ", ".join(self.side_effects)
            if self.side_effects
            else "no side effects recorded"
        )
        return "; ".join(parts)

    @property
    def home_device(self) -> str:
        plan = self.home_plan or {}
        region = str(plan.get("region") or self.course.region)
        solution = str(plan.get("solution") or self.course.solution)
        applicator = APPLICATORS.get(region, "the right applicator")
        if solution == Solution.GLYCOPYRRONIUM:
            return (
                f"an iontophoresis device with {applicator}; glycopyrronium 0.05% in distilled "
                "water under the positive electrode (anode), tap water on the other side "
                f"({sources.ROBINUL_SMPC.citation})"
            )
        return f"a tap-water iontophoresis device with {applicator}"

    @property
    def home_waveform_words(self) -> str:
        plan = self.home_plan or {}
        return WAVEFORM_WORDS.get(str(plan.get("waveform", "")), str(plan.get("waveform", "")))


def _median(values: list[float]) -> float | None:
    return round(float(statistics.median(values)), 1) if values else None


def _dose_chart(rows: list[SessionRow]) -> str:
    """A small bar chart of the dose given at each session (mA·min), drawn as inline SVG:
    WeasyPrint renders it, and no plotting library is needed."""
    if not rows:
        return ""
    width, height, pad = 460, 120, 24
    top = max(r.dose_mA_min for r in rows) or 1.0
    step = (width - pad) / len(rows)
    bar = max(step * 0.6, 2.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 18}" '
        f'viewBox="0 0 {width} {height + 18}" role="img" aria-label="dose per session">',
        f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#555"/>',
        f'<text x="0" y="10" font-size="9" fill="#333">{top:.0f}</text>',
        f'<text x="0" y="{height}" font-size="9" fill="#333">0</text>',
    ]
    for i, row in enumerate(rows):
        h = (row.dose_mA_min / top) * (height - 14)
        x = pad + i * step + (step - bar) / 2
        colour = "#2a7a5a" if row.status == STATUS_WORDS[SessionStatus.COMPLETED] else "#c07020"
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 12}" font-size="9" '
            f'text-anchor="middle" fill="#333">{row.n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def summarise_course(course: Course, *, treating: str = "treating yourself") -> CourseSummary:
    """What was given in a course and what was decided, from the records."""
    verdict = Verdict.objects.get(course=course)
    given = list(
        TreatmentSession.objects.filter(course=course, started_at__isnull=False).order_by(
            "started_at", "id"
        )
    )
    rows = [
        SessionRow(
            n=i,
            day=timezone.localdate(s.started_at) if s.started_at else None,
            status=STATUS_WORDS.get(SessionStatus(s.status), s.status),
            current_mA=float(s.plan.get("current_mA", 0.0)),
            minutes=round(s.treated_s / 60, 1),
            dose_mA_min=round(s.delivered_mA_min, 1),
            peak_mA=round(s.peak_current_mA, 1),
            sensation=s.sensation_score,
            pain_reports=s.pain_reports,
            side_effects=", ".join(e.replace("_", " ") for e in s.side_effects),
        )
        for i, s in enumerate(given, 1)
    ]
    completed = [s for s in given if s.status == SessionStatus.COMPLETED]
    sensations = [s.sensation_score for s in given if s.sensation_score is not None]
    effects = sorted({e.replace("_", " ") for s in given for e in s.side_effects})
    protocol = course.protocol
    plan = verdict.result.get("home_plan")
    return CourseSummary(
        course=course,
        verdict=verdict,
        sessions=rows,
        sessions_given=len(given),
        sessions_completed=len(completed),
        current_mA=_median([float(s.plan.get("current_mA", 0.0)) for s in completed]),
        minutes=_median([s.treated_s / 60 for s in completed]),
        waveform=str(
            (completed[-1].plan.get("waveform") if completed else None)
            or protocol.get("waveform", "")
        ),
        reversal=str(protocol.get("reversal", "")),
        worst_sensation=max(sensations) if sensations else None,
        pain_reports=sum(s.pain_reports for s in given),
        side_effects=effects,
        home_plan=plan if isinstance(plan, dict) else None,
        reasons=list(verdict.result.get("reasons", [])),
        chart_svg=_dose_chart(rows),
        home_reasons=list(plan.get("reasons", [])) if isinstance(plan, dict) else [],
        treating=treating,
    )


def _score(referral: Referral, kind: str, timepoint: str) -> float | None:
    row = (
        Assessment.objects.filter(referral=referral, kind=kind, timepoint=timepoint)
        .order_by("-recorded_at", "-id")
        .first()
    )
    return row.score if row else None


def _outcomes(referral: Referral, summaries: list[CourseSummary]) -> list[dict[str, Any]]:
    """Before and after, for the measures recorded (HDSS at follow-up is the verdict's)."""
    baseline_hdss = _score(referral, AssessmentKind.HDSS, Timepoint.BASELINE) or referral.hdss
    followup_hdss = _score(referral, AssessmentKind.HDSS, Timepoint.FOLLOWUP)
    if followup_hdss is None and summaries:
        followup_hdss = min(s.verdict.followup_hdss for s in summaries)
    rows: list[dict[str, Any]] = [
        {"measure": "HDSS (1–4)", "before": f"{baseline_hdss:g}", "after": _fmt(followup_hdss)}
    ]
    for kind, label in (
        (AssessmentKind.DLQI, "DLQI (0–30)"),
        (AssessmentKind.CDLQI, "Children's DLQI (0–30)"),
        (AssessmentKind.GRAVIMETRY, "Gravimetry (mg/min)"),
    ):
        before = _score(referral, kind, Timepoint.BASELINE)
        after = _score(referral, kind, Timepoint.FOLLOWUP)
        if before is not None or after is not None:
            rows.append({"measure": label, "before": _fmt(before), "after": _fmt(after)})
    return rows


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _writer(user: User | AnonymousUser | None) -> dict[str, str]:
    if user is None or not user.is_authenticated:
        return {"name": "The iontophoresis team", "role": ""}
    name = user.get_full_name() or user.get_username()
    role = role_of(user) or ""
    return {"name": name, "role": {"nurse": "specialist nurse"}.get(role, role)}


def _screening(consultation: Consultation | None) -> dict[str, Any]:
    """The screening as the GP reads it: diagnosis, what blocks, what to check, per region."""
    if consultation is None:
        return {}
    result = consultation.screening
    regions = []
    for name, answer in result.get("regions", {}).items():
        regions.append(
            {
                "name": REGION_WORDS.get(name, name),
                "allowed": bool(answer.get("allowed")),
                "reasons": answer.get("reasons", []),
                "precautions": answer.get("precautions", []),
            }
        )
    reasons = list(result.get("diagnosis_reasons", []))
    # The criteria met are said in one line (their source once): a GP knows Hornberger's list.
    met = [r for r in reasons if str(r.get("code", "")).startswith("met_")]
    return {
        "diagnosis": str(result.get("diagnosis", "")).replace("_", " "),
        "eligible": bool(result.get("eligible")),
        "blocking": result.get("blocking", []),
        "refer": result.get("refer", []),
        "diagnosis_reasons": [r for r in reasons if r not in met],
        "criteria_met": [str(r["text"]).removeprefix("Met: ").rstrip(".") for r in met],
        "criteria_source": met[0]["source"] if met else "",
        "regions": regions,
        "regions_with_reasons": [r for r in regions if r["reasons"] or not r["allowed"]],
        "seen_at": consultation.seen_at,
    }


def is_generalised(referral: Referral, consultation: Consultation | None) -> bool:
    """Generalised hyperhidrosis: the GP said so, or the screening's diagnosis is."""
    if referral.generalised:
        return True
    return bool(consultation and consultation.screening.get("diagnosis") == "generalised")


def letter_context(referral: Referral, user: User | AnonymousUser | None = None) -> dict[str, Any]:
    """Everything both letters say, from the referral's records."""
    patient = referral.patient
    today = timezone.localdate()
    age = patient.age_years(today)
    child = age_group(age) is AgeGroup.CHILD
    consultation = Consultation.objects.filter(referral=referral).first()
    courses = list(referral.courses.order_by("created_at", "id"))
    treating = f"treating {patient.given_name}" if child else "treating yourself"
    summaries = [summarise_course(c, treating=treating) for c in courses]
    generalised = is_generalised(referral, consultation)
    screening = _screening(consultation)
    allowed_regions = [
        REGION_WORDS.get(name, name)
        for name, answer in (
            consultation.screening.get("regions", {}) if consultation else {}
        ).items()
        if answer.get("allowed")
    ]
    treated = sorted({s.course.region for s in summaries})
    guardian = patient.guardian_name.strip()
    if child:
        salutation = f"Dear {guardian}" if guardian else "Dear parent or guardian"
    else:
        salutation = f"Dear {patient.full_name}"
    glycopyrronium = any(s.course.solution == Solution.GLYCOPYRRONIUM for s in summaries) or any(
        (s.home_plan or {}).get("solution") == Solution.GLYCOPYRRONIUM for s in summaries
    )
    advice = list(SIDE_EFFECT_ADVICE) + ([GLYCOPYRRONIUM_ADVICE] if glycopyrronium else [])
    return {
        "service_name": SERVICE_NAME,
        "today": today,
        "referral": referral,
        "patient": patient,
        "age_years": int(age),
        "child": child,
        "guardian": guardian,
        "salutation": salutation,
        # "you" in the patient letter is the patient, or the parent reading about their child.
        "your": f"{patient.given_name}'s" if child else "your",
        "you_treated": patient.given_name if child else "you",
        "practice": referral.practice,
        "treatments_tried": [TREATMENT_WORDS.get(t, t) for t in referral.treatments_tried],
        "sites": [REGION_WORDS.get(s, s) for s in referral.sites],
        "screening": screening,
        "courses": summaries,
        "works": [s for s in summaries if s.works],
        "outcomes": _outcomes(referral, summaries),
        "side_effect_advice": advice,
        "side_effect_source": SIDE_EFFECT_SOURCE,
        "precautions": PRECAUTIONS,
        "stop_and_tell_us": STOP_AND_TELL_US,
        "maintenance_advice": MAINTENANCE_ADVICE,
        "maintenance_source": MAINTENANCE_SOURCE,
        "device_advice": DEVICE_ADVICE,
        "device_advice_gp": DEVICE_ADVICE_GP,
        "device_source": DEVICE_SOURCE,
        "generalised": generalised,
        "generalised_text": GENERALISED_TEXT,
        "support_text": SUPPORT_TEXT,
        "generalised_source": GENERALISED_SOURCE,
        "applicator_regions": [f"{REGION_WORDS[r.value]} ({APPLICATORS[r.value]})" for r in Region],
        "allowed_regions": allowed_regions,
        "treated_regions": [REGION_WORDS.get(r, r) for r in treated],
        "writer": _writer(user),
        "dlqi_copyright": ("© Dermatology Life Quality Index. A Y Finlay, G K Khan, April 1992."),
    }


# =============================================================================================
# Rendering
# =============================================================================================
TEMPLATES = {
    LetterKind.GP: "clinic/letters/gp.html",
    LetterKind.PATIENT: "clinic/letters/patient.html",
}


def render_html(kind: str, context: dict[str, Any]) -> str:
    return render_to_string(TEMPLATES[LetterKind(kind)], context)


def render_pdf(html: str) -> bytes:
    """The letter's PDF (A4, print CSS inside the HTML; nothing is fetched from outside)."""
    import weasyprint  # type: ignore[import-untyped]  # no stubs published
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    # A letter is self-contained (CSS inlined, charts drawn inline): no protocol is allowed,
    # so nothing typed into a record can make the server fetch anything while rendering.
    fetch_nothing = URLFetcher(allowed_protocols=())
    pdf = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetch_nothing).write_pdf()
    if not isinstance(pdf, bytes) or not pdf.startswith(b"%PDF"):
        raise RuntimeError("WeasyPrint did not produce a PDF")
    return pdf


class _TextOfHTML(HTMLParser):
    """The readable text of a letter's HTML: one line per block, table cells apart."""

    BLOCKS = frozenset(
        {"p", "div", "h1", "h2", "h3", "h4", "li", "tr", "br", "table", "section", "header"}
        | {"footer", "address", "dt", "dd", "ul", "ol", "caption"}
    )
    SKIP = frozenset({"style", "script", "svg", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skipping = 0

    def _end_line(self) -> None:
        line = " ".join("".join(self.current).split())
        if line:
            self.lines.append(line)
        self.current = []

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self._end_line()
        elif tag in {"td", "th"}:
            self.current.append(" | " if self.current else "")
        if tag == "li":
            self.current.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.current.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHTML()
    parser.feed(html)
    parser.close()
    parser._end_line()
    return "\n".join(parser.lines) + "\n"


# =============================================================================================
# The workflow step
# =============================================================================================
def missing_verdicts(referral: Referral) -> list[Course]:
    """Courses of the referral still without a saved verdict."""
    return [c for c in referral.courses.all() if not Verdict.objects.filter(course=c).exists()]


@transaction.atomic
def write_letters(referral: Referral, user: User | AnonymousUser | None = None) -> list[Letter]:
    """Write the GP's and the patient's discharge letters, once every course of the referral
    has its verdict; the referral is then discharged. Letters are kept as sent: writing them a
    second time is refused (409)."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.letters.exists():
        first = referral.letters.order_by("created_at").first()
        when = timezone.localdate(first.created_at) if first else timezone.localdate()
        raise workflow.WorkflowError(
            f"the discharge letters were already written on {when:%d %B %Y}", "referral", 409
        )
    courses = list(referral.courses.all())
    if not courses:
        raise workflow.WorkflowError(
            "no course was planned for this referral: there is nothing to discharge",
            "referral",
            409,
        )
    missing = missing_verdicts(referral)
    if missing:
        names = ", ".join(str(c) for c in missing)
        raise workflow.WorkflowError(
            f"give the verdict on every course first (still open: {names})", "courses", 409
        )
    context = letter_context(referral, user)
    author = user if isinstance(user, User) else None
    letters = []
    for kind in (LetterKind.GP, LetterKind.PATIENT):
        html = render_html(kind, {**context, "kind": kind})
        letter = Letter(
            referral=referral,
            kind=kind,
            pdf=render_pdf(html),
            text=html_to_text(html),
            created_by=author,
        )
        letter.save()
        letters.append(letter)
    workflow.refresh_stage(referral)
    return letters
