"""Django settings of the clinic service.

Everything that differs between a demo, a test run and a deployment comes from the
environment, set by ``ionto serve`` (see ``ionto.clinic.server``) or by the tests:

- ``IONTO_DATABASE``: SQLite path/URL or PostgreSQL URL (``ionto.clinic.database``);
- ``IONTO_DATA_DIR``: where the SQLite file and the generated secret key live (default: the
  current folder, as CONTRACT.md says for the database);
- ``IONTO_SECRET_KEY``: overrides the key kept in the data folder;
- ``IONTO_DEMO``: "1" when the demo centre is seeded (the login page shows the demo logins);
- ``IONTO_STATION_SPEED``: how much faster than real time the simulated stations run.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ionto.clinic.database import database_setting

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("IONTO_DATA_DIR", ".")).resolve()


def _secret_key() -> str:
    if key := os.environ.get("IONTO_SECRET_KEY"):
        return key
    if "IONTO_DATA_DIR" not in os.environ:
        # Django loaded outside `ionto serve` (which always names the data folder): a type
        # check or a one-off command. A key for this process only; nothing written to disk.
        return secrets.token_urlsafe(50)
    path = DATA_DIR / ".ionto-secret-key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # Created readable by its owner only: it signs sessions and CSRF tokens.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("IONTO_DEBUG") == "1"
ALLOWED_HOSTS = ["*"]  # served on an address the operator chose; Host is not trusted for URLs
DEMO = os.environ.get("IONTO_DEMO") == "1"
STATION_SPEED = float(os.environ.get("IONTO_STATION_SPEED", "1"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the API docs page (/api/docs) from local files, not a CDN
    "ionto.clinic.apps.ClinicConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ionto.clinic.audit.ActorMiddleware",
]

ROOT_URLCONF = "ionto.clinic.urls"
WSGI_APPLICATION = "ionto.clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ionto.clinic.roles.role_context",
            ],
        },
    },
]

DATABASES = {"default": database_setting(os.environ.get("IONTO_DATABASE"), base=DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_ENGINE = "ionto.clinic.session_store"
SESSION_COOKIE_HTTPONLY = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 60 * 60  # one clinic day
CSRF_COOKIE_HTTPONLY = False  # htmx and the live chart send the token from the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / ".ionto-static"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"ionto": {"level": "INFO"}},
}
