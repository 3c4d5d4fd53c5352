"""Generated requests against the API's own OpenAPI schema (schemathesis): whatever is sent,
the answer is never a server error, and it matches the schema (status, content type, body).

The schema is loaded from the Django app through WSGI and the requests run in-process
against the real test database, filled with a small clinic: referrals at every stage,
booked visits, a prepared and a finished session. Path ids are steered towards these
records most of the time, so that generated bodies reach the workflow's rules rather than
stopping at "no such record".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from conftest import PASSWORD
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, settings
from ninja.responses import NinjaJSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_api import Clinic, build_clinic

from ionto.clinic.api import api
from ionto.clinic.models import Referral


@pytest.fixture
def one_connection() -> Iterator[None]:
    """Keep the test's database connection open across requests, as Django's own test client
    does: the WSGI handler closes it at the end of every request, and with it the test's
    transaction (PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def clinic(make_referral: Callable[..., Referral], users: dict[str, User], chair: Any) -> Clinic:
    return build_clinic(make_referral, users, chair)


def _served_schema() -> dict[str, Any]:
    """The document /api/openapi.json serves, built the way its view builds it."""
    return json.loads(json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder))


# Loaded when the module is collected, when no database may be touched (every request runs in
# a transaction, ATOMIC_REQUESTS): so the document is built here, and
# test_the_schema_tested_is_the_one_served checks it against the one served through WSGI.
# (``schemathesis.pytest.from_fixture``, which could load it inside a test, does not run under
# pytest 9.) The generated requests go through WSGI to the Django app.
# The station's orders (start, stop, pain) are left out: starting a session here would start a
# simulated station's thread inside this test's transaction; the station's own tests cover
# them with a station running.
schema = schemathesis.openapi.from_dict(_served_schema()).exclude(
    method="POST", path_regex=r"^/api/sessions/\{session_id\}/(start|stop|pain)$"
)
schema.app = get_wsgi_application()


def test_the_schema_is_valid_openapi() -> None:
    schema.validate()  # against the OpenAPI specification's own JSON schema
    assert schema.raw_schema["openapi"].startswith("3.1")
    with pytest.raises(Exception, match="required"):  # the check can fail
        schemathesis.openapi.from_dict({"openapi": "3.1.0", "paths": {}}).validate()


@pytest.mark.usefixtures("db")
def test_the_schema_tested_is_the_one_served(client: Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == schema.raw_schema


#: Path parameter → the kind of record it names (Clinic.ids holds the real ones).
_KINDS = {
    "referral_id": "referral",
    "patient_id": "patient",
    "course_id": "course",
    "visit_id": "visit",
    "session_id": "session",
}


def _steer(value: Any, ids: list[int]) -> Any:
    """Three times in four, a generated id becomes a real record's id."""
    if isinstance(value, int) and ids and value % 4:
        return ids[value % len(ids)]
    return value


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.usefixtures("one_connection")
def test_no_server_error_and_schema_kept(case: Any, clinic: Clinic) -> None:
    for name, kind in _KINDS.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = _steer(case.path_parameters[name], clinic.ids[kind])
    if isinstance(case.body, dict):
        for name, kind in (*_KINDS.items(), ("chair_id", "chair")):
            if name in case.body:
                case.body[name] = _steer(case.body[name], clinic.ids[kind])
    token = base64.b64encode(f"clinician:{PASSWORD}".encode()).decode()
    case.call_and_validate(
        headers={"Authorization": f"Basic {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
