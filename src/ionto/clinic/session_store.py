"""Django's database sessions, refusing malformed session keys before they reach the database.

A cookie is the client's to write: a session key with a NUL byte in it made PostgreSQL refuse
the lookup (a 500 on every page). Django's own keys are 32 lowercase letters and digits; any
other key is simply no session.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        if not key or not (key.isascii() and key.isalnum()):
            return False
        return bool(super()._validate_session_key(key))  # type: ignore[misc]  # not in the stubs
