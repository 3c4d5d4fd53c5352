"""``ionto serve`` and ``ionto audit verify`` as a user runs them (shared/CONTRACT.md): a real
server in a subprocess, on SQLite or — with ``IONTO_TEST_DB=postgresql`` — on a throwaway
PostgreSQL cluster; clean stops on SIGTERM and SIGINT; a restart seeds nothing twice; the audit
chain verifies, and tampering is found; bad options exit 2 with one line."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ionto.cli import main

BACKEND = os.environ.get("IONTO_TEST_DB", "sqlite")
READY = re.compile(r"the clinic is at (http://\S+/)")
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0


def _env(data_dir: Path) -> dict[str, str]:
    """The environment of a user's shell: none of the test run's Django settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "IONTO_"))}
    env["IONTO_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _ionto(*args: str) -> list[str]:
    return [sys.executable, "-c", "from ionto.cli import main; raise SystemExit(main())", *args]


@dataclass
class Database:
    url: str
    backend: str
    sqlite_path: Path | None = None
    pg: Any = None

    def execute(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run SQL straight on the database (no Django), returning the last result."""
        rows: list[tuple[Any, ...]] = []
        if self.sqlite_path is not None:
            with sqlite3.connect(self.sqlite_path) as con:
                for sql in statements:
                    rows = con.execute(sql).fetchall()
            return rows
        import psycopg

        with psycopg.connect(
            host=str(self.pg.socket_dir), user=self.pg.user, dbname=self.pg.database
        ) as con:
            for sql in statements:
                cursor = con.execute(sql)
                rows = cursor.fetchall() if cursor.description else []
        return rows

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {table}")[0][0])


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    if BACKEND == "postgresql":
        from ionto.clinic import pgcluster

        cluster = pgcluster.start("ionto_serve")
        try:
            yield Database(cluster.url, "postgresql", pg=cluster)
        finally:
            cluster.stop()
    else:
        path = tmp_path / "clinic.sqlite3"
        yield Database(str(path), "sqlite", sqlite_path=path)


class Server:
    """``ionto serve`` in a subprocess; its stderr is read on a thread."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            _ionto("serve", "--port", "0", *args),
            cwd=cwd,
            env=_env(cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if match := READY.search(line):
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self) -> str:
        assert self._ready.wait(START_TIMEOUT_S), "the server did not start:\n" + self.log
        assert self.url, "the server stopped before it was ready:\n" + self.log
        return self.url

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT_S)

    @property
    def log(self) -> str:
        return "".join(self.lines)


def _get(url: str, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, bytes]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _log_in(base: str, username: str, password: str) -> tuple[int, str]:
    """A browser's login: the form's CSRF cookie, then the POST; (status, where it went)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _ = _get(base + "login/", opener)
    assert status == 200
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(base + "login/", data=form, headers={"Referer": base})
    with opener.open(request, timeout=30) as response:
        return response.status, response.url


def _verify(database: Database, cwd: Path) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        _ionto("audit", "verify", "--database", database.url),
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def test_serve_demo_answers_stops_cleanly_restarts_without_duplicates_and_verifies(
    database: Database, tmp_path: Path
) -> None:
    first = Server(tmp_path, "--demo", "--database", database.url)
    try:
        base = first.wait_ready()
        assert "demo logins" in first.log
        assert "ionto-demo" in first.log
        status, page = _get(base + "login/")
        assert status == 200
        assert b"csrfmiddlewaretoken" in page
        status, schema = _get(base + "api/openapi.json")
        assert status == 200
        assert "openapi" in json.loads(schema)
        assert _get(base + "static/clinic/ionto.css")[0] == 200
        assert _log_in(base, "nurse", "ionto-demo") == (200, base)  # → the home page
        assert _log_in(base, "nurse", "wrong")[1].endswith("/login/")
        # A second server on the same port is refused in one line.
        port = urllib.parse.urlsplit(base).port
        assert port is not None
        clash = subprocess.run(
            _ionto("serve", "--port", str(port), "--database", database.url),
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert clash.returncode == 2
        assert clash.stderr.strip().splitlines()[-1].startswith("ionto: error: cannot listen")
        assert "Traceback" not in clash.stderr
    finally:
        code = first.stop(signal.SIGTERM)
    assert code == 0, first.log
    assert "Traceback" not in first.log

    counts = {t: database.count(t) for t in ("auth_user", "clinic_patient", "clinic_referral")}
    sessions = database.count("clinic_treatmentsession")
    assert counts["clinic_patient"] >= 12
    code, report, _ = _verify(database, tmp_path)
    assert code == 0
    assert report["ok"] is True
    assert report["first_bad_id"] is None
    assert report["entries"] == database.count("clinic_auditentry") > 0

    again = Server(tmp_path, "--demo", "--database", database.url)
    try:
        again.wait_ready()
        assert "seeding" not in again.log
    finally:
        code = again.stop(signal.SIGINT)
    assert code == 0, again.log
    assert {t: database.count(t) for t in counts} == counts
    assert database.count("clinic_treatmentsession") == sessions

    # Tampering: lift the database's refusal (as an attacker with the file would), edit one
    # entry, and the chain no longer verifies — from that entry on.
    victim = int(database.execute("SELECT id FROM clinic_auditentry ORDER BY id")[40][0])
    if database.backend == "sqlite":
        lift = ["DROP TRIGGER clinic_audit_no_update"]
    else:
        lift = ["DROP TRIGGER clinic_audit_no_change ON clinic_auditentry"]
    database.execute(*lift, f"UPDATE clinic_auditentry SET actor = 'mallory' WHERE id = {victim}")
    code, report, _ = _verify(database, tmp_path)
    assert code == 1
    assert report["ok"] is False
    assert report["first_bad_id"] == victim
    assert report["problem"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--port", "eighty"], "--port"),
        (["serve", "--host", "two words"], "--host"),
        (["serve", "--colour"], "unrecognized arguments"),
        (["audit"], "required"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert len(err.strip().splitlines()) == 1


def test_an_unusable_database_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "clinic.sqlite3"
    not_sqlite = tmp_path / "notes.sqlite3"
    not_sqlite.write_text("not a database, just words " * 100)
    cases = [
        (["serve", "--database", "mysql://ion@db.example/clinic"], "use a SQLite file path"),
        (["serve", "--database", str(missing)], "does not exist"),
        (
            ["serve", "--database", f"postgresql://nobody@/nodb?host={tmp_path}"],
            "cannot open the PostgreSQL database 'nodb'",
        ),
        (["serve", "--database", str(not_sqlite)], "cannot"),
        (["audit", "verify", "--database", str(tmp_path / "none.sqlite3")], "no SQLite file"),
    ]
    for args, says in cases:
        done = subprocess.run(
            _ionto(*args), cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True
        )
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (args, done.stderr)
        assert lines[0].startswith("ionto: error: ")
        assert says in lines[0], (args, lines[0])
        assert done.stdout == ""
