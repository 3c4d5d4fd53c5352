"""``--database``: a SQLite path or URL, or a PostgreSQL URL, turned into Django's setting.

Kept apart from the settings module so that it can be tested without Django configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_SQLITE = "ionto.sqlite3"


class DatabaseURLError(ValueError):
    """A ``--database`` value Ionto cannot use (the message says why)."""


def database_setting(value: str | None, *, base: Path) -> dict[str, Any]:
    """Django's ``DATABASES['default']`` for a SQLite path/URL or a PostgreSQL URL.

    ``base`` is the folder a relative SQLite path is relative to.
    """
    value = (value or "").strip() or DEFAULT_SQLITE
    if "://" not in value:
        return _sqlite(Path(value), base)
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as in dj-database-url.
        path = unquote(parts.path)
        if not path or path == "/":
            raise DatabaseURLError(f"database URL {value!r}: no file path after sqlite://")
        return _sqlite(Path(path[1:]) if path.startswith("/") else Path(path), base)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise DatabaseURLError(f"database URL {_redact(value)!r}: no database name")
        try:
            port = parts.port
        except ValueError as error:
            raise DatabaseURLError(f"database URL {_redact(value)!r}: {error}") from None
        options = dict(parse_qsl(parts.query))
        host = unquote(parts.hostname or "") or options.pop("host", "")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(port or ""),
            "ATOMIC_REQUESTS": True,
            "CONN_MAX_AGE": 0,
            "OPTIONS": options,
        }
    raise DatabaseURLError(
        f"database {_redact(value)!r}: use a SQLite file path, sqlite:///FILE or "
        "postgresql://user:pass@host:port/db"
    )


def _sqlite(path: Path, base: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path if path.is_absolute() else base / path),
        "ATOMIC_REQUESTS": True,
        # IMMEDIATE: a transaction takes the write lock when it begins, so that two writers
        # never read the same audit-chain head (clinic/audit.py) nor fail half-way.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # WAL: readers (the live chart) never wait for the station writing its trace.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
