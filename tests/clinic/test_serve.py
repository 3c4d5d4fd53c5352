"""The pieces of ``ionto serve`` that run inside the process: options, the static files in
front of Django, the database described without its password. (The whole server, its signals
and the demo logins over HTTP are tested as a subprocess in tests/test_cli_serve.py.)"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from ionto.clinic import server
from ionto.clinic.database import database_setting


@pytest.mark.parametrize(("text", "port"), [("8000", 8000), ("1", 1), ("65535", 65535), ("0", 0)])
def test_ports(text: str, port: int) -> None:
    assert server.parse_port(text) == port


@pytest.mark.parametrize(
    ("text", "says"),
    [("99999", "between 1 and 65535"), ("-1", "between"), ("80a", "whole number"), ("", "whole")],
)
def test_bad_ports_say_why(text: str, says: str) -> None:
    with pytest.raises(server.ServeError, match=says):
        server.parse_port(text)


@pytest.mark.parametrize("text", ["", "  ", "a host", "http://x/"])
def test_bad_hosts_say_why(text: str) -> None:
    with pytest.raises(server.ServeError, match="--host"):
        server.parse_host(text)


def test_a_database_is_described_without_its_password() -> None:
    setting = database_setting("postgresql://ion:s3cret@db.example:5433/clinic", base=Path("/srv"))
    words = server.describe(setting)
    assert "s3cret" not in words
    assert "'clinic' on db.example:5433" in words


class _Recorder:
    """The WSGI application behind the static files: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.paths.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"django"]


def _get(
    app: server.StaticFiles, path: str, method: str = "GET"
) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"] = status
        answer["headers"] = dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return answer["status"], answer["headers"], body


def test_static_files_are_served_from_the_apps_and_the_rest_goes_to_django() -> None:
    django = _Recorder()
    app = server.StaticFiles(django, "static/")
    status, headers, body = _get(app, "/static/clinic/ionto.css")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/css; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body) > 0
    assert b"{" in body
    status, _, body = _get(app, "/static/admin/css/base.css", "HEAD")
    assert status == "200 OK"
    assert body == b""
    assert _get(app, "/login/")[2] == b"django"
    assert django.paths == ["/login/"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/clinic/nothing.css",
        "/static/../settings.py",
        "/static/clinic/../../settings.py",
        "/static/",
        "/static/clinic/ionto.css\x00.txt",
    ],
)
def test_static_files_outside_the_apps_are_not_found(path: str) -> None:
    django = _Recorder()
    status, _, _ = _get(server.StaticFiles(django, "/static/"), path)
    assert status == "404 Not Found"
    assert django.paths == []


def test_static_files_are_read_only() -> None:
    status, headers, _ = _get(server.StaticFiles(_Recorder(), "static"), "/static/x.css", "POST")
    assert status.startswith("405")
    assert headers["Allow"] == "GET, HEAD"
