"""The JSON API under /api/ (django-ninja), its OpenAPI schema at /api/openapi.json.

The whole way of a treatment, step by step, each step calling its ``workflow`` function, for
the pages' scripts (session login + CSRF token) and for other systems (HTTP Basic). See
docs/api.md. The pieces:

- ``api_access``: authentication, role permissions, the patient rule (another patient's
  record is a 404);
- ``api_errors``: every refusal as ``{"detail": [{"field", "message"}]}``;
- ``api_schemas``: the inputs and outputs;
- ``api_referrals``, ``api_visits``, ``api_treatment``, ``api_lists``: the endpoints;
- ``api_sessions``: the station's live endpoints (start, stop, pain).
"""

from __future__ import annotations

from django.conf import settings
from ninja import NinjaAPI

from ionto.clinic import api_errors
from ionto.clinic.api_access import BasicAuth, SessionAuth, attributed
from ionto.clinic.api_booking import router as booking_router
from ionto.clinic.api_lists import router as lists_router
from ionto.clinic.api_referrals import router as referrals_router
from ionto.clinic.api_sessions import router as sessions_router
from ionto.clinic.api_treatment import router as treatment_router
from ionto.clinic.api_visits import router as visits_router

api = NinjaAPI(
    title="Ionto clinic API",
    version="1",
    description="The iontophoresis service from GP referral to verdict. Log in with the "
    "browser session (send the CSRF token on POST) or HTTP Basic. Every refusal is "
    '`{"detail": [{"field": "dotted.path", "message": "why"}]}`.',
    urls_namespace="api",
    # The browsable docs only with Swagger UI's files served by the app itself: ninja falls
    # back to a CDN otherwise, and a hospital's pages fetch nothing from elsewhere.
    docs_url="/docs" if "ninja" in settings.INSTALLED_APPS else None,
    # HTTP Basic first: a script's credentials are checked before any session cookie.
    auth=[BasicAuth(), SessionAuth()],
)
api_errors.install(api)
# Audit entries written while answering are the caller's, however they logged in.
api.add_decorator(attributed)

api.add_router("", referrals_router)
api.add_router("", visits_router)
api.add_router("", booking_router)
api.add_router("", treatment_router)
api.add_router("", lists_router)
api.add_router("/sessions/", sessions_router)
