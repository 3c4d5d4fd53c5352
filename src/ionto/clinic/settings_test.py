"""Settings for the test suite: a throwaway data folder, fast password hashing, and the
database chosen by ``IONTO_TEST_DB``: ``sqlite`` (default) or ``postgresql``, for which a
throwaway cluster is started here and removed at exit (``ionto.clinic.pgcluster``)."""

from __future__ import annotations

import atexit
import os
import tempfile

os.environ.setdefault("IONTO_DATA_DIR", tempfile.mkdtemp(prefix="ionto-test-"))
os.environ.setdefault("IONTO_SECRET_KEY", "ionto-test-suite-only")

if os.environ.get("IONTO_TEST_DB", "sqlite") == "postgresql" and "IONTO_DATABASE" not in os.environ:
    from ionto.clinic import pgcluster

    _cluster = pgcluster.start()
    atexit.register(_cluster.stop)
    os.environ["IONTO_DATABASE"] = _cluster.url

from ionto.clinic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # tests only: speed

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # On a file, not in memory: the stations' threads share the test database, and SQLite's
    # shared in-memory database locks whole tables between connections.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
