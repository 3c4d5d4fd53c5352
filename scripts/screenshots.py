"""Screenshots of the clinic's main pages for the docs (docs/screenshots/).

Run by hand in the project's venv, from anywhere:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

It starts ``ionto serve --demo`` on a fresh SQLite file in a temporary folder (simulated stations
at 30× real time, so a session's chart moves quickly), logs in as the demo users in headless
Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) at 1280×800, saves one PNG per
page in the order of ``SHOTS`` (``01-login.png``, ``02-today.png``, …), then stops the server
with SIGTERM and checks that it exits 0. Every page is checked before it is shot: no error
status, no login page in its place, no script error, and the content the picture is for.

Not part of the test suite (it takes about a minute); tests/clinic/test_screenshots_script.py
checks its list of pages and its options without a browser.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("IONTO_CHROMIUM", "/usr/bin/chromium")
#: Flags for a sandboxed machine with no network beyond loopback (as tests/clinic/test_browser.py).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
DEMO_PASSWORD = "ionto-demo"
#: Simulated device time runs this many times faster than the wall clock: a 22-minute session
#: takes about 45 s, and its chart visibly moves while the picture is taken.
STATION_SPEED = 30
#: ``ionto serve`` prints this line on stderr last, once it answers (clinic/server.py).
READY = re.compile(r"the clinic is at (http://\S+?)/? ")
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
#: Samples on the live chart before it is shot (10 Hz of device time: about 3 minutes, enough
#: for the ramp up and the first minutes at the set current).
LIVE_SAMPLES = 1800
#: A file bigger than this is reported (after :func:`shrink`): the docs should stay light.
MAX_BYTES = 400_000


class ScreenshotError(Exception):
    """A page is not what its picture is meant to show, or the server misbehaved."""


# =============================================================================================
# The server
# =============================================================================================
def ready_url(line: str) -> str | None:
    """The clinic's address from ``ionto serve``'s last start-up line, else None."""
    found = READY.search(line)
    return found.group(1) if found else None


def server_command(database: Path, *, port: int = 0) -> list[str]:
    """``ionto serve --demo`` with this interpreter (the venv's), whatever is on $PATH."""
    return [
        sys.executable,
        "-c",
        "from ionto.cli import main; raise SystemExit(main())",
        "serve",
        "--demo",
        "--port",
        str(port),
        "--database",
        str(database),
    ]


def server_env(data_dir: Path, *, speed: float) -> dict[str, str]:
    """The caller's environment without its Django and Ionto settings (a test run's, a real
    clinic's database), plus the demo's data folder and the stations' speed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IONTO_"))}
    env["IONTO_DATA_DIR"] = str(data_dir)
    env["IONTO_STATION_SPEED"] = f"{speed:g}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "\n".join(self.lines[-30:])


@contextmanager
def demo_server(folder: Path, *, speed: float, port: int = 0) -> Iterator[Server]:
    """``ionto serve --demo`` on a new SQLite file in ``folder``; stopped with SIGTERM at the
    end, which must exit 0 (after the stations have saved any running session)."""
    process = subprocess.Popen(
        server_command(folder / "demo.sqlite3", port=port),
        env=server_env(folder, speed=speed),
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    seen: queue.Queue[str | None] = queue.Queue()

    def read() -> None:  # stderr must keep being read, or the server blocks on a full pipe
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            seen.put(line)
        seen.put(None)

    reader = threading.Thread(target=read, name="ionto-serve-stderr", daemon=True)
    reader.start()
    server: Server | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        url = None
        while url is None:
            try:
                line = seen.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise ScreenshotError(
                    f"ionto serve did not start in {START_TIMEOUT_S:.0f} s:\n" + "\n".join(lines)
                ) from None
            if line is None:
                process.wait()
                raise ScreenshotError(
                    f"ionto serve exited {process.returncode} before it served:\n"
                    + "\n".join(lines)
                )
            _say(f"  server: {line.rstrip()}")
            url = ready_url(line)
        server = Server(process, url, lines)
        yield server
    finally:
        returncode = _stop(process)
        reader.join(timeout=5)
    if returncode != 0:
        raise ScreenshotError(
            f"ionto serve exited {returncode} on SIGTERM, not 0:\n" + "\n".join(lines[-30:])
        )
    _say("  server: stopped cleanly (exit 0)")


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise ScreenshotError(
            f"ionto serve did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM"
        ) from None


# =============================================================================================
# The browser
# =============================================================================================
class Tour:
    """Headless Chromium on the demo server: one logged-in browser context per demo user."""

    def __init__(self, browser: Any, base_url: str, out: Path) -> None:
        self.browser = browser
        self.base_url = base_url
        self.out = out
        self._pages: dict[str, Any] = {}
        self.errors: list[str] = []

    def new_page(self) -> Any:
        # A British browser, as the clinic's. (Empty date fields still read mm/dd/yyyy: Debian's
        # Chromium here ships only its en-US locale, whatever --lang or the context says.)
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport=VIEWPORT,
            device_scale_factor=1,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        return page

    def as_user(self, username: str) -> Any:
        """A page logged in as this demo user (logged in once, then reused)."""
        if username not in self._pages:
            page = self.new_page()
            self.open(page, "/login/", allow_login=True)
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            with page.expect_navigation():
                page.get_by_role("button", name="Log in").click()
            if "/login/" in page.url:
                raise ScreenshotError(f"cannot log in as {username!r} with the demo password")
            self._pages[username] = page
        return self._pages[username]

    def open(self, page: Any, path: str, *, allow_login: bool = False) -> None:
        """Go to ``path`` and check that it answered, and not with the login page."""
        response = page.goto(path)
        self.check(page, path, response, allow_login=allow_login)

    def follow(self, page: Any, link: Any, *, what: str) -> None:
        """Click a link (or a button that navigates) and check where it led."""
        if link.count() == 0:
            raise ScreenshotError(f"{page.url}: no {what} to follow")
        with page.expect_navigation() as navigation:
            link.first.click()
        self.check(page, what, navigation.value)

    def check(self, page: Any, what: str, response: Any, *, allow_login: bool = False) -> None:
        if response is not None and not response.ok:
            raise ScreenshotError(f"{what}: HTTP {response.status} at {page.url}")
        if not allow_login and "/login/" in page.url:
            raise ScreenshotError(f"{what}: the login page came instead ({page.url})")
        if self.errors:
            raise ScreenshotError("script errors on the page: " + "; ".join(self.errors))

    def save(self, page: Any, name: str) -> Path:
        """Shoot the whole page (as long as it is) into ``out/name``."""
        # No focus ring on whatever field the page focused on load (the login's username).
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        path = self.out / name
        page.screenshot(path=str(path), full_page=True, scale="css", animations="disabled")
        if self.errors:
            raise ScreenshotError("script errors on the page: " + "; ".join(self.errors))
        shrink(path)
        return path

    def close(self) -> None:
        for page in self._pages.values():
            page.context.close()


def shrink(path: Path) -> None:
    """Rewrite the PNG with a palette of 256 colours, no dithering: the pages are flat colours
    and anti-aliased text, which look the same in a third of the bytes, so the docs stay light
    however often they are shot again. (Pillow comes with WeasyPrint, the letters' dependency.)"""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def _expect_text(page: Any, *texts: str) -> None:
    """Every one of ``texts`` is on the page (case-insensitive): it is the page wanted."""
    content = page.locator("body").inner_text().lower()
    missing = [t for t in texts if t.lower() not in content]
    if missing:
        raise ScreenshotError(f"{page.url}: expected {missing} on the page")


# --- The pages, in order --------------------------------------------------------------------
# Demo patients (clinic/demo.py): Sophie Taylor (the "patient" login) is in course with a visit
# today; James Robinson has one this morning; Grace Wilson is funded and waiting for her first
# visit; Thomas Hughes has been discharged with letters.


def shoot_login(tour: Tour, name: str) -> None:
    page = tour.new_page()
    tour.open(page, "/login/", allow_login=True)
    _expect_text(page, "Log in", "Demo logins", DEMO_PASSWORD)
    tour.save(page, name)
    page.context.close()


def shoot_today(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    tour.open(page, "/")
    _expect_text(page, "Today's chairs", "Start the session of", "Outcomes so far")
    tour.save(page, name)


def _open_record(tour: Tour, page: Any, patient: str) -> None:
    """The record hub (the referral page) of a demo patient, found as a nurse finds it."""
    tour.open(page, "/patients/?q=" + patient.replace(" ", "+"))
    tour.follow(
        page,
        page.get_by_role("link", name=re.compile(patient.split()[-1], re.I)),
        what=f"{patient} in the search results",
    )
    tour.follow(
        page,
        page.get_by_role("link", name=re.compile("^Open the referral")),
        what=f"the referral of {patient}",
    )


def shoot_record(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    _open_record(tour, page, "Sophie Taylor")
    _expect_text(page, "Sophie Taylor", "In course", "Sessions", "Timeline")
    tour.save(page, name)


def shoot_screening(tour: Tour, name: str) -> None:
    """Grace Wilson's first visit, taken as a nurse takes it: the consultation saved, the
    record hub shows the screening and the next step (safety information and consent)."""
    page = tour.as_user("nurse")
    _open_record(tour, page, "Grace Wilson")
    tour.follow(
        page,
        page.get_by_role("link", name="Take the consultation"),
        what="Grace Wilson's consultation",
    )
    page.get_by_label("How long has it lasted (months)?").fill("120")
    page.get_by_label("Age when it started (years)").fill("14")
    page.get_by_label("Episodes a week").fill("7")
    for criterion in (
        "Both sides, roughly symmetric",
        "Impairs daily activities",
        "Family history of hyperhidrosis",
        "Stops during sleep",
    ):
        page.get_by_label(criterion).check()
    tour.follow(
        page,
        page.get_by_role("button", name="Save and screen"),
        what="the screening of Grace Wilson",
    )
    _expect_text(
        page, "Consultation recorded and screened", "Eligible for iontophoresis", "Region by region"
    )
    tour.save(page, name)


def shoot_booking(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    _open_record(tour, page, "Sophie Taylor")
    tour.follow(
        page,
        page.get_by_role("link", name=re.compile("^Book visits")),
        what="the booking page of Sophie Taylor's course",
    )
    _expect_text(page, "Visits:", "Book")
    tour.save(page, name)


def shoot_live_session(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    tour.open(page, "/")
    tour.follow(
        page,
        page.get_by_role("link", name="Start the session of James Robinson"),
        what="the start of James Robinson's session",
    )
    for box in page.locator('input[name="checklist"]').all():
        box.check()
    tour.follow(page, page.get_by_role("button", name="Start the session"), what="the live session")
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=samples-count]').textContent) >= n",
        arg=LIVE_SAMPLES,
        timeout=60_000,
    )
    _expect_text(page, "Running", "Stop the session", "Patient reports pain")
    tour.save(page, name)


def shoot_finished_session(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    _open_record(tour, page, "Sophie Taylor")
    # The sessions table lists the oldest first: a full, completed session with its record.
    tour.follow(
        page, page.locator('#courses a[href^="/sessions/"]'), what="Sophie Taylor's first session"
    )
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=samples-count]').textContent) > 600"
    )
    _expect_text(page, "Completed", "After the session", "Sensation at worst")
    tour.save(page, name)


def shoot_verdict(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    _open_record(tour, page, "Thomas Hughes")
    tour.follow(
        page,
        page.get_by_role("link", name=re.compile("^All visits")),
        what="Thomas Hughes's course",
    )
    course = re.search(r"/courses/(\d+)/", page.url)
    if course is None:
        raise ScreenshotError(f"{page.url}: not a course's page")
    tour.open(page, f"/courses/{course.group(1)}/verdict/")
    _expect_text(page, "already has its verdict", "works")
    tour.save(page, name)


def shoot_letters(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    _open_record(tour, page, "Thomas Hughes")
    tour.follow(page, page.locator('#letters a[href^="/letters/"]'), what="Thomas Hughes's letters")
    _expect_text(page, "GP")
    tour.save(page, name)


def shoot_patient_view(tour: Tour, name: str) -> None:
    page = tour.as_user("patient")
    tour.open(page, "/")
    tour.follow(
        page,
        page.get_by_role("link", name=re.compile("^Open the referral")),
        what="the patient's own treatment",
    )
    _expect_text(page, "My treatment", "Sophie Taylor")
    tour.save(page, name)


def shoot_reception(tour: Tour, name: str) -> None:
    page = tour.as_user("reception")
    tour.open(page, "/")
    _expect_text(page, "Today's chairs", "Waiting for funding")
    content = page.locator("body").inner_text()
    if "Outcomes so far" in content or "Start the session" in content:
        raise ScreenshotError("reception's home shows clinical parts")
    tour.save(page, name)


def shoot_api_docs(tour: Tour, name: str) -> None:
    page = tour.as_user("nurse")
    tour.open(page, "/api/docs")
    # Swagger UI is drawn by script from the app's own static files: wait for the operations.
    page.locator(".opblock").first.wait_for()
    # The operations, grouped as in docs/api.md; the long list of schemas below them is left
    # out of the picture (it is the same page, browsable, on every server).
    page.add_style_tag(content=".swagger-ui section.models { display: none; }")
    _expect_text(page, "Ionto clinic API", "/api/sessions/{session_id}/live")
    tour.save(page, name)


@dataclass(frozen=True)
class Shot:
    file: str
    shows: str
    take: Callable[[Tour, str], None]


SHOTS: tuple[Shot, ...] = (
    Shot("01-login.png", "the login page, with the demo logins", shoot_login),
    Shot("02-today.png", "today's clinic as the nurse sees it", shoot_today),
    Shot("03-record.png", "the record hub of a patient in course", shoot_record),
    Shot("04-screening.png", "a first visit's screening result", shoot_screening),
    Shot("05-booking.png", "the booking page of a course", shoot_booking),
    Shot("06-live-session.png", "a live session, its chart moving", shoot_live_session),
    Shot("07-finished-session.png", "a finished session with its chart", shoot_finished_session),
    Shot("08-verdict.png", "the verdict of a judged course", shoot_verdict),
    Shot("09-letters.png", "the discharge letters of a patient", shoot_letters),
    Shot("10-patient-view.png", "the patient's own view", shoot_patient_view),
    Shot("11-reception.png", "reception's home, without clinical data", shoot_reception),
    Shot("12-api-docs.png", "the API's browsable docs (operations)", shoot_api_docs),
)


# =============================================================================================
# Main
# =============================================================================================
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/screenshots.py",
        description="Screenshots of the clinic's main pages, from `ionto serve --demo`.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder for the PNG files (default: {DEFAULT_OUT.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        default=[],
        help="shoot only the pages whose file name contains NAME (repeatable)",
    )
    parser.add_argument(
        "--chromium", default=CHROMIUM, help=f"the Chromium to drive (default: {CHROMIUM})"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.only if not any(n in s.file for s in SHOTS)]
    if unknown:
        parser.error(f"--only: no page matches {', '.join(unknown)}")
    return args


def chosen(only: Sequence[str]) -> list[Shot]:
    return [s for s in SHOTS if not only or any(n in s.file for n in only)]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if not Path(args.chromium).exists():
        raise ScreenshotError(f"no Chromium at {args.chromium} (scripts/system-packages.sh)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    shots = chosen(args.only)
    with tempfile.TemporaryDirectory(prefix="ionto-screenshots-") as folder:
        _say(f"starting ionto serve --demo in {folder} …")
        with demo_server(Path(folder), speed=STATION_SPEED) as server:
            take_all(shots, url=server.url, out=out, chromium=args.chromium)
    too_big = [s.file for s in shots if (out / s.file).stat().st_size > MAX_BYTES]
    if too_big:
        _say(f"warning: still bigger than {MAX_BYTES // 1000} kB: {', '.join(too_big)}")
    _say(f"{len(shots)} screenshots in {out}")
    return 0


def take_all(shots: Sequence[Shot], *, url: str, out: Path, chromium: str) -> None:
    """Shoot the pages in order in one browser (closed before the server stops)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        tour = Tour(browser, url, out)
        try:
            for shot in shots:
                started = time.monotonic()
                try:
                    shot.take(tour, shot.file)
                except PlaywrightError as error:
                    first = (error.message or str(error)).strip().splitlines()[0]
                    raise ScreenshotError(f"{shot.file}: {first}") from None
                size = (out / shot.file).stat().st_size
                _say(
                    f"{shot.file}: {shot.shows} "
                    f"({size // 1000} kB, {time.monotonic() - started:.1f} s)"
                )
        finally:
            tour.close()
            browser.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ScreenshotError as error:
        _say(f"screenshots: {error}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
