"""The forms of the pages. They check what a form can check (a date is a date, a number a
number, a required box filled); every clinical and workflow rule is ``workflow.py``'s, whose
refusals the views put back on the form next to the field they name (:func:`put_error`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar

from django import forms
from django.utils import timezone

from ionto.clinic import workflow
from ionto.clinic.models import (
    INFORMATION_SHEET_VERSION,
    TREATMENTS_TRIED,
    Chair,
    Consent,
    Patient,
    Practice,
)
from ionto.clinic.pages import words
from ionto.therapy import outcomes
from ionto.therapy.vocabulary import (
    BodyLocation,
    Condition,
    ImplantKind,
    Region,
    SkinFinding,
    Solution,
)

# --- Widgets and choices ------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


REGION_CHOICES = [(r.value, words.region(r.value)) for r in Region]
SOLUTION_CHOICES = [(s.value, words.solution(s.value)) for s in Solution]
CONDITION_CHOICES = [(c.value, words.CONDITION_WORDS[c.value]) for c in Condition]
IMPLANT_CHOICES = [("", "— none —")] + [
    (k.value, words.IMPLANT_WORDS[k.value]) for k in ImplantKind
]
LOCATION_CHOICES = [("", "— choose —")] + [(b.value, words.plain(b.value)) for b in BodyLocation]
SKIN_CHOICES = [(f.value, words.SKIN_WORDS[f.value]) for f in SkinFinding]
HDSS_CHOICES = [(str(n), f"{n} — {text}") for n, text in outcomes.HDSS_ANSWERS.items()]
SEX_CHOICES = [("", "— not given —"), ("female", "female"), ("male", "male"), ("other", "other")]

#: How many implant rows the consultation form offers (few patients have more than one).
IMPLANT_ROWS = 3


def put_error(form: forms.Form, error: workflow.WorkflowError, aliases: dict[str, str]) -> None:
    """Put a workflow refusal on the form, next to the field it names.

    ``error.field`` is a dotted path such as ``patient.nhs_number``, ``sites[1]`` or
    ``facts.history.onset_age_years``; ``aliases`` maps a path (or its last part) to the
    form's field. A path the form has no field for becomes an error of the whole form.
    """
    path = re.sub(r"\[\d+\]", "", error.field)
    candidates = [path, path.split(".")[-1]] if path else []
    for candidate in candidates:
        name = aliases.get(candidate, candidate)
        if name in form.fields:
            form.add_error(name, error.message)
            return
    form.add_error(None, error.message)


# --- Referral -----------------------------------------------------------------------------------


class ReferralForm(forms.Form):
    """A GP's referral: the patient, the practice, what the GP asks for."""

    given_name = forms.CharField(label="Given name", max_length=100)
    family_name = forms.CharField(label="Family name", max_length=100)
    date_of_birth = forms.DateField(label="Date of birth", widget=DateInput())
    nhs_number = forms.CharField(
        label="NHS number",
        max_length=14,
        required=False,
        help_text="10 digits, spaces allowed. Leave empty if not known.",
    )
    sex = forms.ChoiceField(label="Sex", choices=SEX_CHOICES, required=False)
    email = forms.EmailField(label="Email", required=False)
    phone = forms.CharField(label="Phone", max_length=30, required=False)
    address = forms.CharField(
        label="Address", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    guardian_name = forms.CharField(
        label="Parent or guardian",
        max_length=200,
        required=False,
        help_text="For a child: the parent or guardian who gives consent and receives letters.",
    )
    practice = forms.ModelChoiceField(
        label="GP practice",
        queryset=Practice.objects.all(),
        required=False,
        empty_label="— choose the practice —",
    )
    new_practice_code = forms.CharField(label="New practice code", max_length=12, required=False)
    new_practice_name = forms.CharField(label="New practice name", max_length=200, required=False)
    new_practice_address = forms.CharField(
        label="New practice address", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    gp_name = forms.CharField(label="Referring GP", max_length=200)
    received_on = forms.DateField(label="Referral received on", widget=DateInput())
    sites = forms.MultipleChoiceField(
        label="Sites to treat", choices=REGION_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    generalised = forms.BooleanField(
        label="The GP describes sweating over much of the body (generalised)", required=False
    )
    hdss = forms.TypedChoiceField(
        label=f"HDSS at referral: {outcomes.HDSS_QUESTION}",
        choices=HDSS_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    treatments_tried = forms.MultipleChoiceField(
        label="Treatments already tried",
        choices=TREATMENTS_TRIED,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    clinical_notes = forms.CharField(
        label="Clinical notes from the referral letter",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    #: Set by the "attach to this patient" button after a probable duplicate was found.
    existing_patient = forms.ModelChoiceField(
        queryset=Patient.objects.all(), required=False, widget=forms.HiddenInput
    )

    def __init__(
        self, *args: Any, can_add_practice: bool, sees_clinical: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.can_add_practice = can_add_practice
        if not can_add_practice:
            for name in ("new_practice_code", "new_practice_name", "new_practice_address"):
                del self.fields[name]
        # Reception types in the administrative part of a GP's letter; its clinical notes
        # are entered by clinical staff, who are the only ones to read them.
        if not sees_clinical:
            del self.fields["clinical_notes"]
        self.fields["received_on"].initial = timezone.localdate()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        new_code = (data.get("new_practice_code") or "").strip()
        new_name = (data.get("new_practice_name") or "").strip()
        if data.get("practice") is None and "practice" not in self.errors:
            if not self.can_add_practice:
                self.add_error("practice", "Choose the GP practice.")
            elif not (new_code or new_name):
                self.add_error("practice", "Choose the GP practice, or add a new one below.")
            else:
                if not new_code:
                    self.add_error("new_practice_code", "Give the new practice's code.")
                if not new_name:
                    self.add_error("new_practice_name", "Give the new practice's name.")
        elif data.get("practice") is not None and (new_code or new_name):
            self.add_error(
                "new_practice_name",
                "Either choose a practice or add a new one, not both.",
            )
        return data

    def patient_details(self) -> workflow.PatientDetails:
        d = self.cleaned_data
        return workflow.PatientDetails(
            given_name=d["given_name"].strip(),
            family_name=d["family_name"].strip(),
            date_of_birth=d["date_of_birth"],
            nhs_number=d["nhs_number"] or None,
            sex=d["sex"],
            email=d["email"],
            phone=d["phone"],
            address=d["address"],
            guardian_name=d["guardian_name"].strip(),
        )


class PracticeForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Practice
        fields = ("code", "name", "address", "email")
        widgets: ClassVar = {"address": forms.Textarea(attrs={"rows": 3})}


# --- Funding ------------------------------------------------------------------------------------


class FundingForm(forms.Form):
    status = forms.ChoiceField(
        label="Decision",
        choices=[("approved", "Approved"), ("declined", "Declined")],
        widget=forms.RadioSelect,
    )
    decided_on = forms.DateField(label="Decided on", widget=DateInput())
    reference = forms.CharField(label="IFR reference", max_length=40, required=False)
    sessions_funded = forms.IntegerField(
        label="Sessions funded", required=False, min_value=1, max_value=30
    )
    solutions_funded = forms.MultipleChoiceField(
        label="Solutions funded",
        choices=SOLUTION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    decline_reason = forms.CharField(
        label="Why funding was declined", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["decided_on"].initial = timezone.localdate()
        self.fields["sessions_funded"].initial = 10
        self.fields["solutions_funded"].initial = [Solution.TAP_WATER.value]


# --- First visit: consultation ------------------------------------------------------------------

#: The Hornberger criteria (Hornberger et al., JAAD 2004) as the screening's history fields.
CRITERIA = (
    ("bilateral_symmetric", "Both sides, roughly symmetric"),
    ("impairs_daily_activities", "Impairs daily activities"),
    ("family_history", "Family history of hyperhidrosis"),
    ("stops_during_sleep", "Stops during sleep"),
)
#: Red flags for a secondary cause (clinical-reference §6).
RED_FLAGS = (
    ("night_sweats", "Night sweats"),
    ("generalised", "Sweating over much of the body (generalised)"),
    ("systemic_symptoms", "Fever, weight loss or swollen lymph nodes"),
)


class ConsultationForm(forms.Form):
    """The facts of ``ionto screen`` (shared/CONTRACT.md), as a nurse takes the history."""

    sites = forms.MultipleChoiceField(
        label="Where the patient sweats",
        choices=REGION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    treat = forms.MultipleChoiceField(
        label="Regions to treat", choices=REGION_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    solution = forms.ChoiceField(label="Solution", choices=SOLUTION_CHOICES)
    duration_months = forms.FloatField(
        label="How long has it lasted (months)?", required=False, min_value=0
    )
    onset_age_years = forms.FloatField(
        label="Age when it started (years)", required=False, min_value=0
    )
    episodes_per_week = forms.FloatField(label="Episodes a week", required=False, min_value=0)
    conditions = forms.MultipleChoiceField(
        label="Conditions",
        choices=CONDITION_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    hdss = forms.TypedChoiceField(
        label=outcomes.HDSS_QUESTION,
        choices=HDSS_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    history_notes = forms.CharField(
        label="History and examination notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in (*CRITERIA, *RED_FLAGS):
            self.fields[name] = forms.BooleanField(label=label, required=False)
        for n in range(1, IMPLANT_ROWS + 1):
            self.fields[f"implant_{n}_kind"] = forms.ChoiceField(
                label=f"Implant {n}", choices=IMPLANT_CHOICES, required=False
            )
            self.fields[f"implant_{n}_location"] = forms.ChoiceField(
                label=f"Where is implant {n}?", choices=LOCATION_CHOICES, required=False
            )
        for r in Region:
            self.fields[f"skin_{r.value}"] = forms.MultipleChoiceField(
                label=f"Skin of the {words.region(r.value)}",
                choices=SKIN_CHOICES,
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )

    # Groups of fields, for the template.
    def criteria_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _ in CRITERIA]

    def red_flag_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _ in RED_FLAGS]

    def implant_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"implant_{n}_kind"], self[f"implant_{n}_location"])
            for n in range(1, IMPLANT_ROWS + 1)
        ]

    def skin_fields(self) -> list[forms.BoundField]:
        return [self[f"skin_{r.value}"] for r in Region]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for n in range(1, IMPLANT_ROWS + 1):
            kind, where = data.get(f"implant_{n}_kind"), data.get(f"implant_{n}_location")
            if kind and not where:
                self.add_error(f"implant_{n}_location", "Say where the implant is.")
            if where and not kind:
                self.add_error(f"implant_{n}_kind", "Say what kind of implant it is.")
        return data

    def facts(self, age_years: float) -> dict[str, Any]:
        """The screening's input, exactly as ``ionto screen`` takes it."""
        d = self.cleaned_data
        history: dict[str, Any] = {name: bool(d.get(name)) for name, _ in (*CRITERIA, *RED_FLAGS)}
        for name in ("duration_months", "onset_age_years", "episodes_per_week"):
            if d.get(name) is not None:
                history[name] = d[name]
        return {
            "age_years": round(age_years, 2),
            "treat": list(d["treat"]),
            "solution": d["solution"],
            "sites": list(d.get("sites") or []),
            "history": history,
            "conditions": list(d.get("conditions") or []),
            "implants": [
                {"kind": d[f"implant_{n}_kind"], "location": d[f"implant_{n}_location"]}
                for n in range(1, IMPLANT_ROWS + 1)
                if d.get(f"implant_{n}_kind") and d.get(f"implant_{n}_location")
            ],
            "skin": [
                {"region": r.value, "finding": finding}
                for r in Region
                for finding in d.get(f"skin_{r.value}") or []
            ],
            "hdss": d["hdss"],
        }

    @staticmethod
    def initial_from(facts: dict[str, Any]) -> dict[str, Any]:
        """The form filled from facts screened before (a repeat consultation)."""
        history = facts.get("history", {})
        initial: dict[str, Any] = {
            "sites": facts.get("sites", []),
            "treat": facts.get("treat", []),
            "solution": facts.get("solution", Solution.TAP_WATER.value),
            "conditions": facts.get("conditions", []),
            "hdss": facts.get("hdss"),
        }
        for name in ("duration_months", "onset_age_years", "episodes_per_week"):
            initial[name] = history.get(name)
        for name, _ in (*CRITERIA, *RED_FLAGS):
            initial[name] = bool(history.get(name))
        for n, implant in enumerate(facts.get("implants", [])[:IMPLANT_ROWS], start=1):
            initial[f"implant_{n}_kind"] = implant.get("kind", "")
            initial[f"implant_{n}_location"] = implant.get("location", "")
        for entry in facts.get("skin", []):
            initial.setdefault(f"skin_{entry['region']}", []).append(entry["finding"])
        return initial


# --- First visit: consent -----------------------------------------------------------------------


class ConsentForm(forms.Form):
    safety_items = forms.MultipleChoiceField(
        label="Safety information explained",
        choices=list(workflow.SAFETY_INFORMATION.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    given_by = forms.CharField(label="Consent given by (full name)", max_length=200)
    relationship = forms.ChoiceField(
        label="Relationship to the patient",
        choices=Consent._meta.get_field("relationship").choices or [],
    )
    information_sheet_version = forms.CharField(
        widget=forms.HiddenInput, initial=INFORMATION_SHEET_VERSION
    )


# --- Assessments: HDSS, DLQI, gravimetry --------------------------------------------------------

#: The topic of each DLQI question, for entering the answers from the patient's completed
#: questionnaire. The questions themselves are on the licensed form (Cardiff University);
#: the pages name their topics and always carry the copyright statement.
DLQI_TOPICS = (
    "Itchy, sore, painful or stinging skin",
    "Embarrassed or self-conscious",
    "Shopping, home or garden",
    "Clothes worn",
    "Social or leisure activities",
    "Sport",
    "Work or study",
    "Partner, close friends or relatives",
    "Sexual difficulties",
    "Problems from the treatment (mess, time)",
)
_A = outcomes.DlqiAnswer
_DLQI_USUAL = [
    ("", "— not answered —"),
    (_A.VERY_MUCH.value, "Very much (3)"),
    (_A.A_LOT.value, "A lot (2)"),
    (_A.A_LITTLE.value, "A little (1)"),
    (_A.NOT_AT_ALL.value, "Not at all (0)"),
]
_DLQI_NOT_RELEVANT = [(_A.NOT_RELEVANT.value, "Not relevant (0)")]
_DLQI_WORK = [
    ("", "— not answered —"),
    (_A.YES.value, "Yes, it prevented work or study (3)"),
    (_A.A_LOT.value, "No, but a lot of a problem (2)"),
    (_A.A_LITTLE.value, "No, but a little of a problem (1)"),
    (_A.NOT_AT_ALL.value, "No, not at all (0)"),
    *_DLQI_NOT_RELEVANT,
]


def _dlqi_choices(number: int) -> list[tuple[str, str]]:
    if number == outcomes.DLQI_WORK_ITEM:
        return _DLQI_WORK
    if number in outcomes.DLQI_ITEMS_WITHOUT_NOT_RELEVANT:
        return _DLQI_USUAL
    return _DLQI_USUAL + _DLQI_NOT_RELEVANT


class OutcomesForm(forms.Form):
    """HDSS (required), DLQI answers or a Children's DLQI total, gravimetry per region.

    Used at baseline and at follow-up (the verdict). A DLQI left wholly blank is not recorded;
    one partly answered is scored by the DLQI's own rules (``therapy.outcomes.score_dlqi``).
    """

    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(
        self,
        *args: Any,
        hdss_field: str,
        age_years: float,
        regions: list[str],
        with_notes: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.hdss_field = hdss_field
        self.age_years = age_years
        # Under the DLQI's age its children's version is used instead (therapy.outcomes).
        child = outcomes.dlqi_not_valid_for_age(age_years) is not None
        self.child = child
        self.regions = regions
        if not with_notes:
            del self.fields["notes"]
        self.fields[hdss_field] = forms.TypedChoiceField(
            label=outcomes.HDSS_QUESTION, choices=HDSS_CHOICES, coerce=int, widget=forms.RadioSelect
        )
        if child:
            self.fields["cdlqi_total"] = forms.IntegerField(
                label="Children's DLQI total (0–30)",
                required=False,
                min_value=0,
                max_value=outcomes.DLQI_MAX,
            )
        else:
            for n, topic in enumerate(DLQI_TOPICS, start=1):
                self.fields[f"dlqi_{n}"] = forms.ChoiceField(
                    label=f"{n}. {topic}", choices=_dlqi_choices(n), required=False
                )
        for region in regions:
            self.fields[f"gravimetry_{region}"] = forms.FloatField(
                label=f"Gravimetry, {words.region(region)} (mg/min)",
                required=False,
                min_value=0,
            )

    def hdss_bound_field(self) -> forms.BoundField:
        return self[self.hdss_field]

    def dlqi_fields(self) -> list[forms.BoundField]:
        if self.child:
            return []
        return [self[f"dlqi_{n}"] for n in range(1, outcomes.DLQI_ITEMS + 1)]

    def gravimetry_fields(self) -> list[forms.BoundField]:
        return [self[f"gravimetry_{r}"] for r in self.regions]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.dlqi: outcomes.DlqiResult | None = None
        if not self.child:
            answers = [data.get(f"dlqi_{n}") or None for n in range(1, outcomes.DLQI_ITEMS + 1)]
            if any(answers):
                items = [outcomes.DlqiAnswer(a) if a else None for a in answers]
                try:
                    self.dlqi = outcomes.score_dlqi(items, self.age_years)
                except ValueError as error:
                    self.add_error(None, f"The DLQI cannot be scored: {error}.")
        return data

    def measures(self) -> list[dict[str, Any]]:
        """What to record, as ``workflow.record_assessment`` keyword arguments, each with the
        form field an error about it belongs to."""
        d = self.cleaned_data
        out: list[dict[str, Any]] = [
            {"kind": "hdss", "score": float(d[self.hdss_field]), "field": self.hdss_field}
        ]
        if self.dlqi is not None:
            out.append(
                {
                    "kind": "dlqi",
                    "answers": list(self.dlqi.item_scores),
                    "field": "dlqi_1",
                }
            )
        if self.child and d.get("cdlqi_total") is not None:
            out.append({"kind": "cdlqi", "score": float(d["cdlqi_total"]), "field": "cdlqi_total"})
        for region in self.regions:
            value = d.get(f"gravimetry_{region}")
            if value is not None:
                out.append(
                    {
                        "kind": "gravimetry",
                        "score": value,
                        "region": region,
                        "field": f"gravimetry_{region}",
                    }
                )
        return out


# --- Booking ------------------------------------------------------------------------------------


class BookingForm(forms.Form):
    day = forms.DateField(label="Date", widget=DateInput())
    time = forms.TimeField(label="Time", widget=TimeInput())
    chair = forms.ModelChoiceField(
        label="Chair",
        queryset=Chair.objects.filter(in_service=True),
        required=False,
        empty_label="— no chair yet —",
    )

    def starts_at(self) -> dt.datetime:
        d = self.cleaned_data
        return timezone.make_aware(dt.datetime.combine(d["day"], d["time"]))


class CancelForm(forms.Form):
    outcome = forms.ChoiceField(
        label="What happened",
        choices=[("cancelled", "Cancelled"), ("did_not_attend", "Did not attend")],
        initial="cancelled",
    )


# --- Patient search -----------------------------------------------------------------------------


class SearchForm(forms.Form):
    q = forms.CharField(label="Name or NHS number", max_length=100, required=False)
    date_of_birth = forms.DateField(label="Date of birth", required=False, widget=DateInput())
