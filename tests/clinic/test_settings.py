"""``--database`` values, the role groups, and the throwaway PostgreSQL cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from ionto.clinic.database import DatabaseURLError, database_setting
from ionto.clinic.roles import MATRIX, ROLES, ensure_roles

BASE = Path("/srv/ionto")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "/srv/ionto/ionto.sqlite3"),
        ("", "/srv/ionto/ionto.sqlite3"),
        ("clinic.db", "/srv/ionto/clinic.db"),
        ("/var/lib/ionto/clinic.db", "/var/lib/ionto/clinic.db"),
        ("sqlite:///clinic.db", "/srv/ionto/clinic.db"),
        ("sqlite:////var/lib/clinic.db", "/var/lib/clinic.db"),
    ],
)
def test_sqlite_paths_and_urls(value: str | None, name: str) -> None:
    setting = database_setting(value, base=BASE)
    assert setting["ENGINE"] == "django.db.backends.sqlite3"
    assert setting["NAME"] == name
    assert setting["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_a_postgresql_url() -> None:
    setting = database_setting("postgresql://ion:s%40cret@db.local:5433/clinic", base=BASE)
    assert setting["ENGINE"] == "django.db.backends.postgresql"
    assert (setting["NAME"], setting["USER"], setting["PASSWORD"]) == ("clinic", "ion", "s@cret")
    assert (setting["HOST"], setting["PORT"]) == ("db.local", "5433")


def test_a_postgresql_url_on_a_unix_socket() -> None:
    setting = database_setting("postgresql://me@/clinic?host=%2Ftmp%2Fpg", base=BASE)
    assert setting["HOST"] == "/tmp/pg"
    assert "host" not in setting["OPTIONS"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("mysql://x@y/z", "use a SQLite file path"),
        ("postgresql://u:secret@host:5432/", "no database name"),
        ("postgresql://u@host:99999/db", "Port out of range"),
        ("sqlite://", "no file path"),
    ],
)
def test_bad_database_values_say_why(value: str, says: str) -> None:
    with pytest.raises(DatabaseURLError, match=says) as error:
        database_setting(value, base=BASE)
    assert "secret" not in str(error.value)  # a password is never echoed


@pytest.mark.django_db
def test_the_groups_hold_the_matrix() -> None:
    ensure_roles()
    for role in ROLES:
        codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        for model, actions in MATRIX[role].items():
            for action in actions:
                assert (action if action == "view_clinical" else f"{action}_{model}") in codenames
    reception = set(
        Group.objects.get(name="reception").permissions.values_list("codename", flat=True)
    )
    assert "view_clinical" not in reception
    assert "view_consultation" not in reception
    assert "view_treatmentsession" not in reception


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["abcdefgh\x00ij", "ab cd", "é" * 32, "x" * 31 + ";"])
def test_a_malformed_session_cookie_is_no_session(client: Client, key: str) -> None:
    """A session key is the client's to write: a NUL in it used to crash PostgreSQL's lookup."""
    client.cookies["sessionid"] = key
    response = client.get("/login/")
    assert response.status_code == 200
    api = client.get("/api/referrals")
    assert api.status_code == 401


def _key_in_a_fresh_process(env: dict[str, str], cwd: Path) -> str:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("IONTO_")}
    out = subprocess.run(
        [sys.executable, "-c", "import ionto.clinic.settings as s; print(s.SECRET_KEY)"],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_the_secret_key_is_kept_in_the_data_folder_and_nowhere_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = _key_in_a_fresh_process({"IONTO_DATA_DIR": str(data)}, tmp_path)
    assert first == _key_in_a_fresh_process({"IONTO_DATA_DIR": str(data)}, tmp_path)
    assert (data / ".ionto-secret-key").stat().st_mode & 0o077 == 0  # owner only
    # Django loaded with no data folder named (a type check, a one-off command): nothing is
    # written where it happens to run.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _key_in_a_fresh_process({}, elsewhere)
    assert list(elsewhere.iterdir()) == []
