"""The clinic's records, in the order a patient meets them (shared/DESIGN.md, "The way of a
treatment"): referral → funding → first visit (consultation, consent, assessments) → course →
visits and treatment sessions → verdict → letters.

Clinical values that the therapy core computes (a screening, a protocol, a verdict) are kept as
the JSON the contract gives (shared/CONTRACT.md), exactly as shown to the nurse at the time, so
that a later change of the rules never rewrites what was decided then.

Every model holding clinical data is :class:`Audited`: each save and delete writes an entry to
the hash-chained audit log in the same transaction (``ionto.clinic.audit``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q

from ionto.clinic.scheduling.problem import DEFAULT_CHAIRS_PER_NURSE, DEFAULT_SETUP_MINUTES
from ionto.therapy.vocabulary import Region, SideEffect, Solution


def _choices(enum: Any) -> list[tuple[str, str]]:
    return [(member.value, member.value.replace("_", " ")) for member in enum]


REGION_CHOICES = _choices(Region)
SOLUTION_CHOICES = _choices(Solution)
SIDE_EFFECT_CHOICES = _choices(SideEffect)


class Audited(models.Model):
    """A model whose every change is written to the audit log in the same transaction.

    ``QuerySet.update`` and ``bulk_create`` bypass this; the clinic never uses them on these
    models (a test checks the code for it).
    """

    #: Fields left out of the audit entry's data (large or derived); their hash is kept.
    audit_digest_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        from ionto.clinic import audit

        with transaction.atomic(using=kwargs.get("using")):
            created = self._state.adding
            super().save(*args, **kwargs)
            audit.record(self, "create" if created else "update")

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        from ionto.clinic import audit

        with transaction.atomic(using=kwargs.get("using")):
            audit.record(self, "delete")
            return super().delete(*args, **kwargs)


class Practice(Audited):
    """A GP practice that refers patients."""

    code = models.CharField("practice code", max_length=12, unique=True)
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    email = models.EmailField(blank=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Patient(Audited):
    """A person referred to the service. A patient user sees only their own record."""

    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        unique=True,
        null=True,
        blank=True,
        help_text="10 digits; unique. Leave empty if not known.",
    )
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(
        max_length=10,
        blank=True,
        choices=[("female", "female"), ("male", "male"), ("other", "other")],
    )
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    address = models.TextField(blank=True)
    guardian_name = models.CharField(
        "parent or guardian",
        max_length=200,
        blank=True,
        help_text="For a child: who gives consent and receives the letter.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
        help_text="The patient's own login, if they have one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["family_name", "given_name"]
        indexes: ClassVar = [models.Index(fields=["family_name", "given_name", "date_of_birth"])]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def age_years(self, on: dt.date) -> float:
        """Age in years (fractional) on a date: the therapy core's limits go by it."""
        return (on - self.date_of_birth).days / 365.25


class Stage(models.TextChoices):
    """Where a referral stands: the lists a clinic lives by (issue 4, §8)."""

    WAITING_FUNDING = "waiting_funding", "waiting for funding"
    DECLINED = "declined", "funding declined"
    WAITING_FIRST_VISIT = "waiting_first_visit", "waiting for first visit"
    WAITING_TO_START = "waiting_to_start", "waiting to start"
    IN_COURSE = "in_course", "in course"
    AWAITING_VERDICT = "awaiting_verdict", "awaiting verdict"
    TO_DISCHARGE = "to_discharge", "verdict given: letters to send"
    DISCHARGED = "discharged", "discharged"
    NOT_SUITABLE = "not_suitable", "not suitable"


TREATMENTS_TRIED = [
    ("aluminium_chloride", "aluminium chloride"),
    ("topical_glycopyrronium", "topical glycopyrronium"),
    ("oral_anticholinergic", "oral anticholinergic"),
    ("botulinum_toxin", "botulinum toxin"),
    ("iontophoresis", "iontophoresis"),
    ("other", "other"),
]


class Referral(Audited):
    """A GP's referral of a patient; the record the whole course hangs on."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referrals")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="referrals")
    gp_name = models.CharField("referring GP", max_length=200)
    received_on = models.DateField()
    sites = models.JSONField(help_text="Regions the GP asks to treat (palms, soles, …).")
    generalised = models.BooleanField(
        default=False, help_text="The GP describes sweating over much of the body."
    )
    hdss = models.PositiveSmallIntegerField(
        "HDSS at referral", validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    treatments_tried = models.JSONField(default=list, blank=True)
    clinical_notes = models.TextField(
        "referral letter notes",
        blank=True,
        help_text="Clinical; not shown to reception.",
    )
    stage = models.CharField(
        max_length=24, choices=Stage.choices, default=Stage.WAITING_FUNDING, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the patient can come, from the booking page ("book this course"): kept with the
    # referral, so that a later re-plan books around school or work too.
    available_weekdays = models.JSONField(
        "weekdays the patient can come",
        default=list,
        blank=True,
        help_text="0 (Monday) to 6 (Sunday); empty: any day the centre is open.",
    )
    available_from = models.TimeField(
        "earliest start", null=True, blank=True, help_text="Empty: from opening time."
    )
    available_until = models.TimeField(
        "latest end", null=True, blank=True, help_text="Empty: until closing time."
    )

    class Meta:
        ordering: ClassVar = ["received_on", "id"]
        permissions: ClassVar = [
            ("view_clinical", "Can see clinical notes, screening and treatment records"),
        ]

    def __str__(self) -> str:
        return f"Referral {self.pk} — {self.patient}"


class FundingStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class FundingRequest(Audited):
    """The individual funding request: nothing is booked before it is approved."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="funding")
    reference = models.CharField("IFR reference", max_length=40, blank=True)
    requested_on = models.DateField()
    status = models.CharField(
        max_length=10, choices=FundingStatus.choices, default=FundingStatus.PENDING
    )
    decided_on = models.DateField(null=True, blank=True)
    sessions_funded = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    solutions_funded = models.JSONField(default=list, blank=True)
    decline_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    @property
    def approved(self) -> bool:
        return self.status == FundingStatus.APPROVED


class Consultation(Audited):
    """The first visit's consultation: the facts screened and the therapy core's answer."""

    referral = models.OneToOneField(Referral, on_delete=models.CASCADE, related_name="consultation")
    #: The facts as ``ionto screen`` takes them (shared/CONTRACT.md).
    facts = models.JSONField()
    #: ``ionto screen``'s answer at the time, with every reason and source.
    screening = models.JSONField()
    history_notes = models.TextField(blank=True)
    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    seen_at = models.DateTimeField()


#: The patient information sheet whose version consent is recorded against. Bump it when the
#: sheet's text changes (templates/clinic/information_sheet.html).
INFORMATION_SHEET_VERSION = "2026-11-v1"


class Consent(Audited):
    """Consent to iontophoresis after the safety information was given."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="consents")
    given_by = models.CharField(max_length=200, help_text="Who consented (patient or parent).")
    relationship = models.CharField(
        max_length=20,
        default="self",
        choices=[("self", "patient"), ("parent", "parent"), ("guardian", "guardian")],
    )
    information_sheet_version = models.CharField(max_length=20)
    safety_items = models.JSONField(help_text="The safety points explained, by code.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)


class AssessmentKind(models.TextChoices):
    HDSS = "hdss", "HDSS"
    DLQI = "dlqi", "DLQI"
    CDLQI = "cdlqi", "Children's DLQI"
    GRAVIMETRY = "gravimetry", "gravimetry (mg/min)"
    STARCH_IODINE = "starch_iodine", "starch-iodine test"


class Timepoint(models.TextChoices):
    BASELINE = "baseline"
    DURING = "during"
    FOLLOWUP = "followup"


class Assessment(Audited):
    """One outcome measure at one time point (therapy.outcomes gives the scales)."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="assessments")
    kind = models.CharField(max_length=16, choices=AssessmentKind.choices)
    timepoint = models.CharField(max_length=10, choices=Timepoint.choices)
    region = models.CharField(max_length=10, choices=REGION_CHOICES, blank=True)
    score = models.FloatField()
    answers = models.JSONField(default=list, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering: ClassVar = ["recorded_at", "id"]


class CourseStatus(models.TextChoices):
    PLANNED = "planned"
    ACTIVE = "active"
    FINISHED = "finished"
    STOPPED = "stopped"


class Course(Audited):
    """A course of treatments for one region with one solution, as the therapy core plans it."""

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="courses")
    region = models.CharField(max_length=10, choices=REGION_CHOICES)
    solution = models.CharField(max_length=16, choices=SOLUTION_CHOICES)
    #: The protocol as ``ionto screen`` gives it (target current, minutes, waveform, …).
    protocol = models.JSONField()
    sessions_planned = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    status = models.CharField(
        max_length=10, choices=CourseStatus.choices, default=CourseStatus.PLANNED
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.region.replace('_', ' ')}, {self.solution.replace('_', ' ')}"


class Chair(Audited):
    """A treatment chair and the station (device) that belongs to it."""

    name = models.CharField(max_length=40, unique=True)
    #: "simulated" (the default device) or a serial port path for a real device.
    device = models.CharField(max_length=200, default="simulated")
    in_service = models.BooleanField(default=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name


# --- The centre's booking set-up (issue 5) ----------------------------------------------------
WEEKDAY_CHOICES = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


class BookingSetup(Audited):
    """How the centre books: one record (``key`` is unique), edited in the admin site, with its
    opening hours, closed days and nurses' roster. A centre without one, or without hours or a
    roster in it, books with the defaults of ``ionto.clinic.booking`` (documented there)."""

    key = models.CharField(max_length=10, default="centre", unique=True, editable=False)
    chairs_per_nurse = models.PositiveSmallIntegerField(
        default=DEFAULT_CHAIRS_PER_NURSE,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many chairs one nurse looks after at once.",
    )
    setup_minutes = models.PositiveSmallIntegerField(
        "set-up minutes",
        default=DEFAULT_SETUP_MINUTES,
        validators=[MaxValueValidator(120)],
        help_text="Added to every visit: seating, trays, water, paperwork.",
    )

    class Meta:
        verbose_name = "booking set-up"
        verbose_name_plural = "booking set-up"
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=Q(chairs_per_nurse__gte=1), name="booking_setup_chairs_per_nurse"
            )
        ]

    def __str__(self) -> str:
        return "The centre's booking set-up"


class OpeningHours(Audited):
    """The centre's hours on one weekday: visits start and end between ``opens`` and
    ``closes``. A weekday without a row is closed."""

    setup = models.ForeignKey(BookingSetup, on_delete=models.PROTECT, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering: ClassVar = ["weekday"]
        verbose_name_plural = "opening hours"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["setup", "weekday"], name="opening_hours_once"),
            models.CheckConstraint(condition=Q(opens__lt=F("closes")), name="opens_before_close"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="opening_hours_weekday"),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class ClosedDay(Audited):
    """A day the centre is closed although its weekday has hours (bank holiday, training)."""

    setup = models.ForeignKey(BookingSetup, on_delete=models.PROTECT, related_name="closed_days")
    on = models.DateField("date")
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering: ClassVar = ["on"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["setup", "on"], name="closed_day_once")
        ]

    def __str__(self) -> str:
        return f"{self.on:%d %b %Y}" + (f" ({self.reason})" if self.reason else "")


class RosteredNurse(Audited):
    """A nurse (a user in the nurse group) and the weekdays she works the centre's hours."""

    setup = models.ForeignKey(BookingSetup, on_delete=models.PROTECT, related_name="nurses")
    # PROTECT here and on ``setup``: a cascade would delete roster rows past the audit log;
    # take a nurse off the roster first (audited), or deactivate her account.
    nurse = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"groups__name": "nurse"},
    )
    monday = models.BooleanField(default=True)
    tuesday = models.BooleanField(default=True)
    wednesday = models.BooleanField(default=True)
    thursday = models.BooleanField(default=True)
    friday = models.BooleanField(default=True)
    saturday = models.BooleanField(default=False)
    sunday = models.BooleanField(default=False)

    class Meta:
        verbose_name = "nurse on the roster"
        verbose_name_plural = "nurses' roster"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["setup", "nurse"], name="rostered_nurse_once")
        ]

    #: The day fields in weekday order (0 = Monday), as ``datetime.date.weekday`` counts.
    DAY_FIELDS: ClassVar[tuple[str, ...]] = (
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    )

    def __str__(self) -> str:
        return self.nurse.get_full_name() or self.nurse.get_username()

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(i for i, name in enumerate(self.DAY_FIELDS) if getattr(self, name))

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.nurse_id and not self.nurse.groups.filter(name="nurse").exists():
            raise ValidationError({"nurse": "Only a user in the nurse group can be rostered."})


class VisitStatus(models.TextChoices):
    BOOKED = "booked"
    ATTENDED = "attended"
    CANCELLED = "cancelled"
    DID_NOT_ATTEND = "did_not_attend", "did not attend"


class Visit(Audited):
    """A booked treatment visit (one course's session at a time and chair)."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="visits")
    chair = models.ForeignKey(
        Chair, null=True, blank=True, on_delete=models.SET_NULL, related_name="visits"
    )
    starts_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=VisitStatus.choices, default=VisitStatus.BOOKED
    )

    class Meta:
        ordering: ClassVar = ["starts_at", "id"]


class SessionStatus(models.TextChoices):
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    ABORTED = "aborted"
    FAULT = "fault"
    INTERRUPTED = "interrupted"


FINAL_SESSION_STATUSES = frozenset(
    {
        SessionStatus.COMPLETED,
        SessionStatus.STOPPED,
        SessionStatus.ABORTED,
        SessionStatus.FAULT,
        SessionStatus.INTERRUPTED,
    }
)


class TreatmentSession(Audited):
    """One treatment on a station: what was planned, what happened, how it was tolerated."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="sessions")
    visit = models.OneToOneField(
        Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="session"
    )
    chair = models.ForeignKey(Chair, on_delete=models.PROTECT, related_name="sessions")
    #: The plan sent to the device: current, minutes, waveform, reversal, limits with reasons.
    plan = models.JSONField()
    checklist = models.JSONField(help_text="Pre-session safety checks, by code.")
    status = models.CharField(
        max_length=12, choices=SessionStatus.choices, default=SessionStatus.READY
    )
    #: The virtual patient on a simulated station (its seed), so a session can be replayed.
    simulator_seed = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    #: Device time so far (s): elapsed on the station's clock.
    device_time_s = models.FloatField(default=0.0)
    treated_s = models.FloatField(default=0.0)
    forward_mA_min = models.FloatField(default=0.0)
    reverse_mA_min = models.FloatField(default=0.0)
    peak_current_mA = models.FloatField(default=0.0)
    pain_reports = models.PositiveSmallIntegerField(default=0)
    # Afterwards, from the nurse.
    sensation_score = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(10)],
        help_text="What the patient felt at worst, 0 (nothing) to 10 (worst imaginable).",
    )
    side_effects = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    #: When the nurse recorded how the session went (sensation, side effects, notes): a
    #: verdict waits for every session's record, so that a burn noted late is never missed.
    recorded_at = models.DateTimeField(null=True, blank=True)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["started_at", "id"]

    @property
    def finished(self) -> bool:
        return self.status in FINAL_SESSION_STATUSES

    @property
    def delivered_mA_min(self) -> float:
        return self.forward_mA_min + self.reverse_mA_min


class SessionEventRow(models.Model):
    """One event of a session (contact lost, pain step-down, …), written as it happens.

    Written by the station only, append-only; the session's own audit entries cover the
    clinical record (the events are the device's log, kept whole with the trace).
    """

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="events")
    t_s = models.FloatField()
    code = models.CharField(max_length=40)
    text = models.TextField()

    class Meta:
        ordering: ClassVar = ["t_s", "id"]


class TraceChunk(models.Model):
    """A run of downsampled trace samples, written about once a second by the station, so
    that a crash loses at most the last second and the live chart can read from any process.

    ``samples``: ``[[t_s, current_mA, voltage_V, state], …]``.
    """

    session = models.ForeignKey(TreatmentSession, on_delete=models.CASCADE, related_name="trace")
    seq = models.PositiveIntegerField()
    samples = models.JSONField()

    class Meta:
        ordering: ClassVar = ["seq"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["session", "seq"], name="trace_chunk_once")
        ]


class Verdict(Audited):
    """The trial verdict on a course (``ionto course verdict``'s answer at the time)."""

    course = models.OneToOneField(Course, on_delete=models.CASCADE, related_name="verdict")
    result = models.JSONField()
    followup_hdss = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    notes = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()

    @property
    def outcome(self) -> str:
        return str(self.result.get("verdict", ""))

    @property
    def next_step(self) -> str:
        return str(self.result.get("next", ""))


class LetterKind(models.TextChoices):
    GP = "gp", "letter to the GP"
    PATIENT = "patient", "letter to the patient"


class Letter(Audited):
    """A discharge letter as sent: the PDF is kept byte for byte."""

    audit_digest_fields: ClassVar[tuple[str, ...]] = ("pdf",)

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="letters")
    kind = models.CharField(max_length=10, choices=LetterKind.choices)
    pdf = models.BinaryField()
    text = models.TextField(help_text="The letter's text, for search and checks.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["created_at", "id"]


class AuditEntry(models.Model):
    """One link of the append-only, hash-chained audit log (``ionto.clinic.audit``).

    The database refuses UPDATE and DELETE on this table (a trigger, migration 0002).
    """

    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=10)
    model = models.CharField(max_length=60)
    object_pk = models.CharField(max_length=40)
    data = models.JSONField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering: ClassVar = ["id"]
        verbose_name_plural = "audit entries"
        default_permissions: ClassVar = ("view",)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError("the audit log is append-only")
