"""The whole workflow in a real browser, as a nurse walks it: referral → funding → first visit
(screening, consent, baseline) → course and booking → a live simulated session on a station
(the chart moves) → the record after → the verdict → the letters, downloaded as PDF and read.

Headless Chromium from Debian (``/usr/bin/chromium``, installed by scripts/system-packages.sh)
driven by Playwright, against the service on pytest-django's live server with its stations
running in the same process, on the real test database.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from playwright import sync_api as playwright_sync

from ionto.clinic import stations
from ionto.clinic.models import Chair, Letter, Practice, Referral, TreatmentSession

CHROMIUM = os.environ.get("IONTO_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are plain
# synchronous calls between its steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

#: Flags for a sandboxed machine with no network beyond loopback (the env notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NURSE_PASSWORD = "a nurse's long password"
#: Device time runs this many times faster than the wall clock: a 22-minute session in ~5 s.
SPEED = 250.0
SCREENS = Path(os.environ.get("IONTO_BROWSER_SCREENS", "/tmp/ionto-browser"))


@pytest.fixture
def clinic(live_server: Any) -> Iterator[str]:
    """The live service with a nurse, a practice, a chair and its running station."""
    nurse = User.objects.create_user("nurse.jones", password=NURSE_PASSWORD)
    nurse.groups.add(Group.objects.get(name="nurse"))
    Practice.objects.create(code="P81001", name="Riverside Surgery")
    Chair.objects.create(name="Chair 1")
    stations.start_stations(speed=SPEED)
    try:
        yield live_server.url
    finally:
        stations.stop_stations(timeout_s=10)


@pytest.fixture
def page(clinic: str) -> Iterator[Any]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            base_url=clinic, viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield tab
        except Exception:
            tab.screenshot(path=str(SCREENS / "failure.png"), full_page=True)
            raise
        finally:
            context.close()
            browser.close()
        assert not errors, f"script errors on the pages: {errors}"


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _submit(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def test_a_nurse_walks_a_patient_from_referral_to_discharge_letter(page: Any) -> None:
    today = timezone.localdate()
    # --- Log in ---------------------------------------------------------------------------
    page.goto("/login/")
    page.get_by_label("Username").fill("nurse.jones")
    page.get_by_label("Password").fill(NURSE_PASSWORD)
    _submit(page, "Log in")

    # --- Referral from the GP -------------------------------------------------------------
    page.goto("/referrals/new/")
    page.get_by_label("Given name").fill("Amira")
    page.get_by_label("Family name").fill("Hassan")
    page.get_by_label("Date of birth").fill("1990-05-01")
    page.get_by_label("NHS number").fill("943 476 5919")
    page.get_by_label("GP practice").select_option(label="Riverside Surgery (P81001)")
    page.get_by_label("Referring GP").fill("Dr Patel")
    page.get_by_label("Referral received on").fill(str(today - dt.timedelta(days=14)))
    page.locator('input[name="sites"][value="palms"]').check()
    page.locator('input[name="hdss"][value="3"]').check()
    page.locator('input[name="treatments_tried"][value="aluminium_chloride"]').check()
    _submit(page, "Record the referral")
    assert page.get_by_test_id("stage").inner_text().lower() == "waiting for funding"
    referral = Referral.objects.get(patient__family_name="Hassan")
    hub = f"/referrals/{referral.pk}/"
    assert page.url.endswith(hub)

    # --- Funding --------------------------------------------------------------------------
    page.goto(f"{hub}funding/")
    page.locator('input[name="status"][value="approved"]').check()
    page.get_by_label("Decided on").fill(str(today - dt.timedelta(days=7)))
    page.get_by_label("Sessions funded").fill("10")
    page.locator('input[name="solutions_funded"][value="tap_water"]').check()
    page.locator('input[name="solutions_funded"][value="glycopyrronium"]').check()
    _submit(page, "Save the decision")
    assert page.get_by_test_id("stage").inner_text().lower() == "waiting for first visit"

    # --- First visit: consultation and screening -------------------------------------------
    page.goto(f"{hub}consultation/")
    page.locator('input[name="sites"][value="palms"]').check()
    page.locator('input[name="treat"][value="palms"]').check()
    page.get_by_label("How long has it lasted (months)?").fill("120")
    page.get_by_label("Age when it started (years)").fill("13")
    page.get_by_label("Episodes a week").fill("7")
    for criterion in (
        "Both sides, roughly symmetric",
        "Impairs daily activities",
        "Family history of hyperhidrosis",
        "Stops during sleep",
    ):
        page.get_by_label(criterion).check()
    page.locator('input[name="hdss"][value="3"]').check()
    _submit(page, "Save and screen")
    page.goto(hub)
    assert "primary focal" in page.content().lower()
    _shot(page, "01-screened")

    # --- Consent after the safety information ---------------------------------------------
    page.goto(f"{hub}consent/")
    for box in page.locator('input[name="safety_items"]').all():
        box.check()
    page.get_by_label("Consent given by (full name)").fill("Amira Hassan")
    _submit(page, "Record consent")

    # --- Baseline measures ----------------------------------------------------------------
    page.goto(f"{hub}baseline/")
    page.locator('input[name="hdss"][value="3"]').first.check()
    _submit(page, "Save baseline measures")

    # --- Course and booking ---------------------------------------------------------------
    page.goto(hub)
    _submit(page, "Plan the tap-water courses")
    page.get_by_role("link", name=re.compile(r"^Book visits")).first.click()
    page.get_by_label("Date").fill(str(today))
    page.get_by_label("Time").fill("09:00")
    page.get_by_label("Chair").select_option(label="Chair 1")
    _submit(page, "Book the visit")
    page.get_by_role("link", name="Start session").first.click()

    # --- The session: safety checks, then live on the station ------------------------------
    for box in page.locator('input[name="checklist"]').all():
        box.check()
    page.get_by_label("Chair").select_option(label="Chair 1")
    _submit(page, "Start the session")
    # The start form sets the session off on the station at once (no second click).
    count = page.get_by_test_id("samples-count")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=samples-count]').textContent) > 5"
    )
    first = int(count.inner_text())
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-testid=samples-count]').textContent) > {first}"
    )
    assert int(count.inner_text()) > first  # the chart moves
    _shot(page, "02-live-session")
    page.wait_for_function(
        "() => /completed/i.test("
        "document.querySelector('[data-testid=session-state]').textContent)",
        timeout=60_000,
    )
    # The page shows the station's live state; the station closes the record in the
    # database just after (under load, a moment later): wait for that, as a nurse would
    # before recording and judging.
    session = TreatmentSession.objects.get(course__referral=referral)
    for _ in range(300):
        if session.status != "running":
            break
        time.sleep(0.1)
        session.refresh_from_db()
    assert session.status == "completed"
    assert session.delivered_mA_min > 100  # ~15 mA for 20 minutes, both polarities
    assert session.trace.exists()
    assert session.events.filter(code="session_started").exists()

    # --- After the session ----------------------------------------------------------------
    page.reload()
    page.locator('input[name="sensation_score"][value="3"]').check()
    page.locator('input[name="side_effects"][value="tingling"]').check()
    _submit(page, "Save the record")
    session.refresh_from_db()
    assert session.sensation_score == 3
    assert session.side_effects == ["tingling"]

    # --- Verdict --------------------------------------------------------------------------
    page.goto(hub)
    page.get_by_role("link", name=re.compile(r"^Give the verdict")).first.click()
    page.locator('input[name="followup_hdss"][value="1"]').first.check()
    _submit(page, "Judge the course")
    judged = page.inner_text("main")
    page.goto(hub)
    assert "works" in page.content().lower(), f"after judging the page said: {judged[:2000]}"
    referral.refresh_from_db()
    assert referral.stage == "to_discharge"
    _shot(page, "03-verdict")

    # --- Letters, downloaded and read ------------------------------------------------------
    page.goto(f"/letters/referral/{referral.pk}/")
    _submit(page, "Write the letters")
    with page.expect_download() as download_info:
        page.get_by_test_id("letter-patient").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    kept = Letter.objects.get(referral=referral, kind="patient")
    assert "Amira" in text
    verdict = referral.courses.get().verdict
    home = verdict.result["home_plan"]
    assert f"{home['current_mA']:g}" in text
    assert str(home["interval_days"]) in text
    assert kept.pdf == pdf  # the letter downloaded is the letter kept
    with page.expect_download() as download_info:
        page.get_by_test_id("letter-gp").click()
    gp_text = _pdf_text(Path(download_info.value.path()).read_bytes())
    assert "Dr Patel" in gp_text
    referral.refresh_from_db()
    assert referral.stage == "discharged"


def _pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return " ".join(
        " ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages
    )
