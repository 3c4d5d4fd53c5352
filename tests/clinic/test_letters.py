"""Discharge letters: written once every course has its verdict, as PDF and text, saying the
verdict, the settings, the home plan (current, minutes, interval), the advice; a child's letter
goes to the parent; generalised hyperhidrosis gets the treatable regions and support. The pages:
clinical staff read and write them, a patient downloads only their own patient letter,
reception is refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zlib
from collections.abc import Callable, Iterator

import pytest
from conftest import FACTS, PASSWORD
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from ionto.clinic import letters, workflow
from ionto.clinic.demo import record_simulated_session, simulation_request
from ionto.clinic.models import (
    AuditEntry,
    Chair,
    Course,
    Letter,
    LetterKind,
    Practice,
    Referral,
    Stage,
)
from ionto.device.session import run_session

#: A virtual patient known to finish a 20-minute session comfortably (no pain report), so
#: that the verdict does not hang on which database ids a test happens to get.
COMFORTABLE_SEED = 0


# --- PDF text, without a PDF library ------------------------------------------------------
def _streams(pdf: bytes) -> Iterator[bytes]:
    for match in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", match.end())
        try:
            yield zlib.decompressobj().decompress(pdf[match.end() : end])
        except zlib.error:
            continue


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a WeasyPrint PDF: glyph codes of the TJ/Tj operators mapped to
    characters through the fonts' ToUnicode maps (merged: refused if two fonts disagree)."""
    to_unicode: dict[int, str] = {}
    contents: list[bytes] = []
    for data in _streams(pdf):
        if b"begincmap" in data:
            for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
                for src, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
                    char = bytes.fromhex(dst.decode()).decode("utf-16-be")
                    assert to_unicode.setdefault(int(src, 16), char) == char, "fonts disagree"
            pattern = rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>"
            for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
                for low, high, dst in re.findall(pattern, block):
                    for i, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                        char = chr(int(dst, 16) + i)
                        assert to_unicode.setdefault(code, char) == char, "fonts disagree"
        elif b"BT" in data:
            contents.append(data)
    chunks = []
    for data in contents:
        for operand in re.findall(rb"\[(.*?)\]\s*TJ|<([0-9a-fA-F]*)>\s*Tj", data, re.S):
            hexes = re.findall(rb"<([0-9a-fA-F]*)>", operand[0]) if operand[0] else [operand[1]]
            glyphs = b"".join(hexes).decode()
            codes = [int(glyphs[i : i + 4], 16) for i in range(0, len(glyphs), 4)]
            chunks.append("".join(to_unicode.get(code, "?") for code in codes))
    return " ".join(" ".join(chunks).split())


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- Building judged courses ----------------------------------------------------------------
def _give(course: Course, day: int, chair: Chair, user: User) -> None:
    """One session of the course, ``day`` days ago, on the simulator; recorded as comfortable."""
    tz = timezone.get_current_timezone()
    starts = dt.datetime.combine(
        timezone.localdate() + dt.timedelta(days=day), dt.time(10), tzinfo=tz
    )
    visit = workflow.book_visit(course, starts_at=starts, chair=chair)
    session = workflow.prepare_session(
        visit, chair=chair, checklist=list(workflow.PRE_SESSION_CHECKS), user=user
    )
    request = dataclasses.replace(simulation_request(session), seed=COMFORTABLE_SEED)
    record_simulated_session(session, run_session(request))
    workflow.record_after_session(session, sensation_score=3, side_effects=["tingling"])


def _judge(referral: Referral, chair: Chair, users: dict[str, User], *, only: int = 0) -> None:
    """Give one session per course and judge it works (HDSS 3 → 1); ``only`` judges just the
    first N courses."""
    courses = list(referral.courses.order_by("id"))
    for n, course in enumerate(courses):
        _give(course, -5 - n, chair, users["nurse"])
    workflow.record_assessment(
        referral, kind="hdss", timepoint="followup", score=1, user=users["nurse"]
    )
    for course in courses[:only] if only else courses:
        verdict = workflow.judge_course(course, followup_hdss=1, user=users["clinician"])
        assert verdict.outcome == "works", verdict.result


@pytest.fixture
def judged(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> Referral:
    """An adult, palms and soles, both courses judged 'works'."""
    referral = make_referral("planned")
    _judge(referral, chair, users)
    referral.refresh_from_db()
    assert referral.stage == Stage.TO_DISCHARGE
    return referral


def _referral(
    practice: Practice,
    users: dict[str, User],
    *,
    born: dt.date,
    sites: list[str],
    guardian: str = "",
    generalised: bool = False,
    onset: int = 12,
) -> Referral:
    """A referral taken to planned courses through the workflow, for the cases the shared
    fixture does not build (a child with a parent; generalised sweating)."""
    today = timezone.localdate()
    referral = workflow.create_referral(
        patient=workflow.PatientDetails(
            given_name="Robin", family_name="Ashby", date_of_birth=born, guardian_name=guardian
        ),
        practice=practice,
        gp_name="Dr Lewis",
        received_on=today - dt.timedelta(days=30),
        sites=sites,
        hdss=3,
        generalised=generalised,
        user=users["reception"],
    )
    workflow.decide_funding(
        referral,
        status="approved",
        decided_on=today - dt.timedelta(days=20),
        sessions_funded=10,
        solutions_funded=["tap_water"],
        user=users["clinician"],
    )
    age = int(referral.patient.age_years(today))
    history = {**FACTS["history"], "onset_age_years": onset, "generalised": generalised}
    history["duration_months"] = min(60, (age - onset) * 12)
    facts = {**FACTS, "age_years": age, "treat": sites, "sites": sites, "history": history}
    workflow.record_consultation(referral, facts=facts, user=users["nurse"])
    workflow.record_consent(
        referral,
        given_by=guardian or referral.patient.full_name,
        relationship="parent" if guardian else "self",
        safety_items=list(workflow.SAFETY_INFORMATION),
        user=users["nurse"],
    )
    workflow.plan_courses(referral)
    referral.refresh_from_db()
    return referral


# --- Writing ----------------------------------------------------------------------------------
def test_the_letters_wait_for_every_verdict(
    make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    _judge(referral, chair, users, only=1)
    with pytest.raises(workflow.WorkflowError) as refusal:
        letters.write_letters(referral, users["nurse"])
    assert refusal.value.status == 409
    open_course = referral.courses.order_by("id").last()
    assert str(open_course) in refusal.value.message
    assert not Letter.objects.exists()


def test_no_course_no_letters(
    make_referral: Callable[..., Referral], users: dict[str, User]
) -> None:
    referral = make_referral("consented")
    with pytest.raises(workflow.WorkflowError, match="nothing to discharge") as refusal:
        letters.write_letters(referral, users["nurse"])
    assert refusal.value.status == 409


def test_the_gp_and_the_patient_get_a_pdf_saying_the_verdict_and_the_home_plan(
    judged: Referral, users: dict[str, User]
) -> None:
    written = letters.write_letters(judged, users["nurse"])
    assert [letter.kind for letter in written] == [LetterKind.GP, LetterKind.PATIENT]
    judged.refresh_from_db()
    assert judged.stage == Stage.DISCHARGED
    plans = [c.verdict.result["home_plan"] for c in judged.courses.order_by("id")]
    for letter in written:
        pdf = bytes(Letter.objects.get(pk=letter.pk).pdf)
        assert pdf.startswith(b"%PDF")
        drawn = pdf_text(pdf)
        text = _flat(letter.text)
        for shown in (drawn, text):
            assert "iontophoresis works" in shown.lower()
            for plan in plans:
                assert f"{plan['current_mA']} mA" in shown
                assert f"{plan['minutes']} minutes" in shown
                assert f"every {plan['interval_days']} days" in shown
            assert "petroleum jelly" in shown  # side-effect advice
            assert "£325" in shown
            assert users["nurse"].get_username() in shown  # who wrote it
    gp = _flat(written[0].text)
    assert "Hornberger" in gp  # the screening's reasons, with their sources
    assert "Dose (mA·min)" in gp
    assert "check with us before buying" in gp
    assert "Sessions given" in gp
    patient = _flat(written[1].text)
    assert "Dear Alex1 Morgan" in patient
    assert "Carry on treating yourself at home" in patient
    assert "Ask us before you buy" in patient
    assert "Hornberger" not in patient  # plain English: no screening table for the patient
    entries = AuditEntry.objects.filter(model="clinic.Letter")
    assert entries.count() == 2
    assert all("sha256" in e.data["pdf"] for e in entries)  # the PDF by its hash


def test_letters_are_written_once(judged: Referral, users: dict[str, User]) -> None:
    letters.write_letters(judged, users["nurse"])
    with pytest.raises(workflow.WorkflowError, match="already written") as refusal:
        letters.write_letters(judged, users["clinician"])
    assert refusal.value.status == 409
    assert Letter.objects.filter(referral=judged).count() == 2


def test_a_childs_letter_goes_to_the_parent(
    practice: Practice, chair: Chair, users: dict[str, User]
) -> None:
    born = timezone.localdate() - dt.timedelta(days=round(10.5 * 365.25))
    referral = _referral(practice, users, born=born, sites=["palms"], guardian="Sam Ashby", onset=7)
    _judge(referral, chair, users)
    _, patient_letter = letters.write_letters(referral, users["nurse"])
    text = _flat(patient_letter.text)
    assert "Dear Sam Ashby" in text
    assert "parent or guardian of Robin Ashby" in text
    assert "Carry on treating Robin at home" in text
    assert "An adult stays with Robin during every treatment" in text
    assert "pulsed current" in text  # children: pulsed DC by default
    assert "Sam Ashby" in pdf_text(bytes(patient_letter.pdf))


def test_generalised_hyperhidrosis_letters_name_the_regions_and_support(
    practice: Practice, chair: Chair, users: dict[str, User]
) -> None:
    referral = _referral(
        practice, users, born=dt.date(1987, 8, 11), sites=["palms"], generalised=True
    )
    _judge(referral, chair, users)
    gp_letter, patient_letter = letters.write_letters(referral, users["nurse"])
    for letter in (gp_letter, patient_letter):
        text = _flat(letter.text)
        assert "cannot be treated as a whole" in text
        assert "armpits (pads), face (a mask) and neck (a cushion)" in text
        assert "Hyperhidrosis UK" in text
        assert "International Hyperhidrosis Society" in text
    assert "Check for an overactive thyroid" in _flat(gp_letter.text)  # checks for a cause
    assert "International Hyperhidrosis Society" in pdf_text(bytes(patient_letter.pdf))


def test_a_primary_focal_letter_says_nothing_of_generalised_sweating(
    judged: Referral, users: dict[str, User]
) -> None:
    for letter in letters.write_letters(judged, users["nurse"]):
        assert "cannot be treated as a whole" not in letter.text


# --- Pages ------------------------------------------------------------------------------------
def _login(client: Client, role: str) -> None:
    assert client.login(username=role, password=PASSWORD)


@pytest.mark.parametrize("role", ["nurse", "clinician", "admin"])
def test_clinical_staff_see_and_write_the_letters(
    client: Client, judged: Referral, role: str
) -> None:
    _login(client, role)
    url = f"/letters/referral/{judged.pk}/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'data-testid="write-letters"' in page.content
    response = client.post(url)
    assert response.status_code == 302
    assert Letter.objects.filter(referral=judged).count() == 2
    listing = client.get(url).content.decode()
    for letter in Letter.objects.filter(referral=judged):
        assert f"/letters/{letter.pk}.pdf" in listing
        download = client.get(f"/letters/{letter.pk}.pdf")
        assert download.status_code == 200
        assert download["Content-Type"] == "application/pdf"
        assert download.content.startswith(b"%PDF")
        assert "attachment" in download["Content-Disposition"]


def test_writing_too_early_answers_409_and_says_why(
    client: Client, make_referral: Callable[..., Referral], chair: Chair, users: dict[str, User]
) -> None:
    referral = make_referral("planned")
    _judge(referral, chair, users, only=1)
    _login(client, "nurse")
    response = client.post(f"/letters/referral/{referral.pk}/")
    assert response.status_code == 409
    assert "give the verdict on every course first" in response.content.decode()
    assert not Letter.objects.exists()


@pytest.fixture
def written(judged: Referral, users: dict[str, User]) -> dict[str, Letter]:
    gp, patient = letters.write_letters(judged, users["nurse"])
    return {"gp": gp, "patient": patient}


def test_reception_is_refused_the_letters(
    client: Client, judged: Referral, written: dict[str, Letter]
) -> None:
    _login(client, "reception")
    assert client.get(f"/letters/referral/{judged.pk}/").status_code == 403
    assert client.post(f"/letters/referral/{judged.pk}/").status_code == 403
    for letter in written.values():
        assert client.get(f"/letters/{letter.pk}.pdf").status_code == 403


def test_a_patient_downloads_only_their_own_patient_letter(
    client: Client,
    judged: Referral,
    written: dict[str, Letter],
    make_referral: Callable[..., Referral],
    chair: Chair,
    users: dict[str, User],
) -> None:
    patient = judged.patient
    patient.user = users["patient"]
    patient.save()
    other = make_referral("planned")
    _judge(other, chair, users)
    other_gp, other_patient = letters.write_letters(other, users["nurse"])
    _login(client, "patient")
    listing = client.get(f"/letters/referral/{judged.pk}/")
    assert listing.status_code == 200
    assert f"/letters/{written['patient'].pk}.pdf" in listing.content.decode()
    assert f"/letters/{written['gp'].pk}.pdf" not in listing.content.decode()
    assert b'data-testid="write-letters"' not in listing.content
    own = client.get(f"/letters/{written['patient'].pk}.pdf")
    assert own.status_code == 200
    assert own.content.startswith(b"%PDF")
    assert client.get(f"/letters/{written['gp'].pk}.pdf").status_code == 404
    assert client.post(f"/letters/referral/{judged.pk}/").status_code == 403
    # Another patient's letters and referral: as if they did not exist.
    for letter in (other_gp, other_patient):
        assert client.get(f"/letters/{letter.pk}.pdf").status_code == 404
    assert client.get(f"/letters/referral/{other.pk}/").status_code == 404
    assert client.get("/letters/999999.pdf").status_code == 404


def test_anonymous_users_are_sent_to_log_in(client: Client, written: dict[str, Letter]) -> None:
    response = client.get(f"/letters/{written['gp'].pk}.pdf")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_pdf_text_reads_what_weasyprint_draws() -> None:
    """The test's own PDF reader, checked on a known document (so that a pass above means the
    words are really in the PDF)."""
    pdf = letters.render_pdf("<p>Every <b>14</b> days, 15.0 mA.</p><table><td>x</td></table>")
    assert pdf_text(pdf) == "Every 14 days, 15.0 mA. x"
