"""Property-based run of the management API against its own OpenAPI document.

Schemathesis loads the schema from the running Django application (WSGI, in this process, so
the requests see the test's database) and sends generated requests to every operation as the
owner of `acme` with an API token holding every scope. Each answer must not be a server error,
and its status code, content type, headers and body must be the ones the schema documents.
"""

from datetime import timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from tests.support.api import bearer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def owner_token(acme, alice, acme_gateway, api_token_for, settings):
    # Throttling is tested on its own (tests/gateways/test_limits.py); here it would only
    # turn the later operations into 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/minute", "anonymous": "100000/minute"},
    }
    return api_token_for(acme, alice)


def in_the_test_transaction(app):
    """The WSGI application, but keeping the test's database connection open across requests
    (as Django's test client does): the requests see and roll back with the test's data."""

    def wsgi(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            return list(app(environ, start_response))
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return wsgi


@pytest.fixture
def api_schema(owner_token):
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        in_the_test_transaction(get_wsgi_application()),
        headers=bearer_header(owner_token),
    )


def bearer_header(secret: str) -> dict:
    return {"Authorization": bearer(secret)["HTTP_AUTHORIZATION"]}


# No shrinking (a failure is reported as found) and few examples: the run stays well under a
# minute on either database.
BOUNDED = settings(
    max_examples=3,
    phases=[Phase.explicit, Phase.generate],
    deadline=timedelta(seconds=5),
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


def answers_as_documented(operation, headers: dict) -> None:
    @BOUNDED
    @given(case=operation.as_strategy())
    def check(case):
        # The owner's own workspace and gateway, so requests reach the views, not a 404.
        if "workspace" in (case.path_parameters or {}):
            case.path_parameters["workspace"] = "acme"
        if "gateway" in (case.path_parameters or {}):
            case.path_parameters["gateway"] = "dev"
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def test_every_operation_answers_as_documented(api_schema, owner_token):
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            answers_as_documented(operation, bearer_header(owner_token))
        # Every operation is tried, and all failures are reported at once.
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    assert operations > 80
    assert not failures, "\n\n".join(failures)
