"""``ionto serve`` and ``ionto audit verify``: the clinic service on waitress, and the check of
the audit log's hash chain (shared/CONTRACT.md).

``serve`` sets the environment the settings read (``IONTO_DATABASE``, ``IONTO_DEMO``,
``IONTO_DATA_DIR``), opens the database, migrates it, seeds the demo centre if asked, starts one
station per chair, and serves the pages, the API and the static files until SIGINT or SIGTERM;
then the stations ramp their sessions down and save them as interrupted, and it exits 0.

Static files are served from the apps' own folders (Django's finders) by :class:`StaticFiles`,
a few lines of WSGI in front of Django: no ``collectstatic`` step and no extra dependency.

Bad options and an unusable database are :class:`ServeError`: one line on stderr, exit 2.
"""

from __future__ import annotations

import importlib
import logging
import mimetypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from ionto.clinic.database import DatabaseURLError, database_setting

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_BAD_INPUT = 2
#: How long a clean stop may wait for threads that are not ours (a browser's open live chart).
STOP_GRACE_S = 5.0

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ServeError(Exception):
    """Bad options or a database Ionto cannot use: said in one line, exit 2."""


# =============================================================================================
# Options and the environment
# =============================================================================================
def parse_port(text: str) -> int:
    """A TCP port, 1–65535 (0: any free port, the one chosen is printed)."""
    try:
        port = int(text)
    except ValueError:
        raise ServeError(f"--port: expected a whole number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ServeError(f"--port: must be between 1 and 65535, got {port}")
    return port


def parse_host(text: str) -> str:
    host = text.strip()
    if not host or any(ch.isspace() for ch in host) or "/" in host:
        raise ServeError(f"--host: not a host name or address: {text!r}")
    return host


def data_dir() -> Path:
    """Where the SQLite file and the secret key live: $IONTO_DATA_DIR, else the current
    folder (CONTRACT.md: "default: a SQLite file in the current folder")."""
    return Path(os.environ.get("IONTO_DATA_DIR") or Path.cwd()).resolve()


def describe(setting: dict[str, Any]) -> str:
    """The database in words, without its password."""
    if setting["ENGINE"].endswith("sqlite3"):
        return f"SQLite file {setting['NAME']}"
    where = setting.get("HOST") or "the local socket"
    port = f":{setting['PORT']}" if setting.get("PORT") else ""
    return f"PostgreSQL database {setting['NAME']!r} on {where}{port}"


def configure(database: str | None, *, demo: bool, must_exist: bool = False) -> dict[str, Any]:
    """Check ``--database`` and set up Django for it; returns Django's database setting.

    ``database`` None: $IONTO_DATABASE, else ``ionto.sqlite3`` in the data folder.
    ``must_exist``: a SQLite file must already be there (``audit verify`` never creates one).
    """
    folder = data_dir()
    value = database if database is not None else os.environ.get("IONTO_DATABASE")
    try:
        setting = database_setting(value, base=folder)
    except DatabaseURLError as error:
        raise ServeError(f"--database: {error}") from None
    if setting["ENGINE"].endswith("sqlite3"):
        path = Path(setting["NAME"])
        if must_exist and not path.is_file():
            raise ServeError(f"--database: no SQLite file at {path}")
        if not path.parent.is_dir():
            raise ServeError(f"--database: the folder {path.parent} does not exist")
    if not folder.is_dir():
        raise ServeError(f"the data folder {folder} does not exist")
    os.environ["IONTO_DATA_DIR"] = str(folder)
    os.environ["IONTO_DATABASE"] = value or ""
    os.environ["IONTO_DEMO"] = "1" if demo else "0"
    # Always the service's settings, whatever the shell had (a test run's settings_test, …).
    os.environ["DJANGO_SETTINGS_MODULE"] = "ionto.clinic.settings"
    import django

    django.setup()
    return setting


def open_database(setting: dict[str, Any]) -> None:
    """Connect once, so that an unreachable database is one clear line, not a traceback."""
    from django.db import DatabaseError, connection

    try:
        connection.ensure_connection()
    except DatabaseError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ServeError(f"cannot open the {describe(setting)}: {first}") from None


def migrate(setting: dict[str, Any]) -> None:
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        call_command("migrate", interactive=False, verbosity=0)
    except DatabaseError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ServeError(f"cannot migrate the {describe(setting)}: {first}") from None


# =============================================================================================
# Static files
# =============================================================================================
class StaticFiles:
    """Serves ``STATIC_URL`` from the apps' static folders (Django's finders, which refuse
    paths outside them); everything else goes to Django."""

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = "/" + prefix.strip("/") + "/"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in {"GET", "HEAD"}:
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        found = self.find(path[len(self.prefix) :])
        if found is None:
            body = b"Not found\n"
            start_response(
                "404 Not Found",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        content_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        size = found.stat().st_size
        start_response(
            "200 OK",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(size)),
                ("Cache-Control", "public, max-age=3600"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        if method == "HEAD":
            return [b""]
        return _read_file(found)

    @staticmethod
    def find(relative: str) -> Path | None:
        from django.contrib.staticfiles import finders

        if not relative or "\x00" in relative or ".." in relative.split("/"):
            return None
        found = finders.find(relative)
        if not found or isinstance(found, list):
            return None
        path = Path(found)
        return path if path.is_file() else None


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(64 * 1024):
            yield chunk


def application() -> WSGIApp:
    """Django's WSGI application with the static files in front."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    return StaticFiles(get_wsgi_application(), settings.STATIC_URL)


# =============================================================================================
# Stations
# =============================================================================================
def stations_module() -> ModuleType | None:
    """``ionto.clinic.stations``, if it is there: the service still serves without it."""
    try:
        return importlib.import_module("ionto.clinic.stations")
    except ModuleNotFoundError as error:
        if error.name != "ionto.clinic.stations":
            raise
        _say("ionto: warning: no stations module: sessions cannot be run on this server")
        return None


def _call(module: ModuleType | None, name: str) -> None:
    function = getattr(module, name, None) if module is not None else None
    if callable(function):
        function()
    elif module is not None:
        log.warning("ionto.clinic.stations has no %s()", name)


# =============================================================================================
# Serve
# =============================================================================================
@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database: str | None = None
    demo: bool = False


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGINT or SIGTERM: stop cleanly. Raised as KeyboardInterrupt, which waitress's loop
    answers by stopping its worker threads and returning."""
    _say(f"ionto: {signal.Signals(signum).name}: stopping")
    raise KeyboardInterrupt


def serve(options: ServeOptions) -> int:
    """Run the clinic service until SIGINT or SIGTERM; 0 after a clean stop."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stations: ModuleType | None = None
    server: Any = None
    try:
        setting = configure(options.database, demo=options.demo)
        open_database(setting)
        server = _bind(options)
        _say(f"ionto: {describe(setting)}: migrating")
        migrate(setting)
        _prepare_data(demo=options.demo)
        stations = stations_module()
        _call(stations, "recover_interrupted")
        _call(stations, "start_stations")
        _announce(server, demo=options.demo)
        server.run()  # returns after SIGINT/SIGTERM (KeyboardInterrupt)
    except KeyboardInterrupt:
        pass  # a signal before the server ran (while migrating or seeding)
    finally:
        _shutdown(server, stations)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def _bind(options: ServeOptions) -> Any:
    from waitress.server import create_server  # type: ignore[import-untyped]  # no stubs

    try:
        return create_server(
            application(),
            host=options.host,
            port=options.port,
            threads=8,
            ident="ionto",
        )
    except OSError as error:
        reason = error.strerror or str(error)
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {reason}") from None


def _prepare_data(*, demo: bool) -> None:
    from ionto.clinic import demo as demo_centre

    if demo:
        started = time.perf_counter()
        if not demo_centre.is_seeded():
            _say("ionto: seeding the demo centre (once)…")
        summary = demo_centre.seed_demo_centre()
        if summary.seeded:
            _say(
                f"ionto: demo centre seeded in {time.perf_counter() - started:.1f} s: "
                f"{summary.patients} patients, {summary.sessions} simulated sessions"
            )
    elif demo_centre.is_seeded():
        _say(
            "ionto: warning: this database holds the demo centre, whose logins have a "
            "published password: do not use it for real patients"
        )


def _announce(server: Any, *, demo: bool) -> None:
    host = server.effective_host
    port = server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    if demo:
        from ionto.clinic.demo import DEMO_PASSWORD, DEMO_USERS

        names = ", ".join(username for username, *_ in DEMO_USERS)
        _say(f"ionto: demo logins ({DEMO_PASSWORD!r} for all, demo mode only): {names}")
    # Last: scripts and tests wait for this line.
    _say(f"ionto: the clinic is at http://{shown}:{port}/ (Ctrl-C to stop)")


def _shutdown(server: Any, stations: ModuleType | None) -> None:
    """Stations first (their sessions ramp down and are saved as interrupted), then the web
    server; threads that are not ours get a few seconds, then the process goes anyway."""
    # A second Ctrl-C while stopping must not cut the stations' ramp-down short.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        _call(stations, "stop_stations")
    except Exception:
        log.exception("stopping the stations failed")
    if server is not None:
        try:
            server.task_dispatcher.shutdown(timeout=1)
            server.close()
        except Exception:
            log.exception("closing the web server failed")
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and _lingering():
        time.sleep(0.1)
    if _lingering():
        names = ", ".join(t.name for t in _lingering())
        log.warning("leaving threads that did not stop: %s", names)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)


def _lingering() -> list[threading.Thread]:
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]


# =============================================================================================
# Audit verify
# =============================================================================================
def audit_verify(database: str | None) -> tuple[int, dict[str, Any]]:
    """Verify the audit log's hash chain: (exit code, the report as JSON)."""
    setting = configure(database, demo=False, must_exist=True)
    open_database(setting)
    from django.db import DatabaseError

    from ionto.clinic import audit

    try:
        report = audit.verify()
    except DatabaseError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ServeError(
            f"the {describe(setting)} holds no readable Ionto audit log: {first}"
        ) from None
    return (EXIT_OK if report.ok else EXIT_BROKEN), report.as_json()
