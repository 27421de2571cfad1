"""Schemathesis against the project's own OpenAPI schema, served by a real gunicorn.

Every operation, authenticated as a superuser, with a bounded number of
generated requests each: no answer is a 5xx, every answer matches the schema.
The schema is generated at collection time by the same code that serves
/api/schema/ (a test below checks that the two are the same document).
"""

import json
import os
import uuid

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.processes import assert_unharmed


def openapi_document() -> dict:
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture
def auth_headers(transactional_db, django_user_model) -> dict[str, str]:
    user = django_user_model.objects.create_superuser("fuzzer", password="pw-fuzzer-1")
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def test_it_fuzzes_the_schema_the_server_serves(module_server, auth_headers):
    served = requests.get(
        f"{module_server.url}/api/schema/",
        headers={**auth_headers, "Accept": "application/vnd.oai.openapi+json"},
        timeout=10,
    )

    assert served.status_code == 200
    assert served.json() == openapi_document()


@pytest.fixture
def existing(transactional_db, make_trigger, make_failed_execution) -> dict[str, list]:
    """Return the ids of a trigger and executions (DLQ, completed) that generated ids map onto."""
    trigger = make_trigger()
    failed = make_failed_execution(trigger, "evt-failed")
    completed = make_failed_execution(trigger, "evt-done", status="completed", category=None)
    return {"trigger": [trigger.pk], "execution": [failed.pk, completed.pk], "public_id": [trigger.public_id]}


def aim_at_existing_objects(case, existing: dict[str, list]) -> None:
    """Point generated ids at rows that exist, so operations get past their 404s.

    Ids the schema allows (non-negative integers, UUIDs) are mapped onto existing
    rows; ids it does not allow (negative testing) are sent as generated.
    """
    params = case.path_parameters or {}  # already serialized: every value is a string
    if str(params.get("id", "")).isdigit():
        rows = existing["execution" if "/executions/" in case.path else "trigger"]
        params["id"] = str(rows[int(params["id"]) % len(rows)])
    if "public_id" in params:
        try:
            uuid.UUID(str(params["public_id"]))
        except ValueError:
            return
        params["public_id"] = str(existing["public_id"][0])


@schema.parametrize()
# Derandomized: CI replays the same requests every run, so main stays green unless the
# code changes. Explore with fresh random requests by running with API_FUZZ_EXAMPLES=150
# API_FUZZ_RANDOM=1 (done before each change to the API; clean at 150 per operation).
@settings(
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "25")),
    derandomize=os.environ.get("API_FUZZ_RANDOM") != "1",
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_strays_from_the_schema(case, module_server, auth_headers, existing):
    aim_at_existing_objects(case, existing)
    # Every check but one: a schema-valid body may still be refused with a documented 400,
    # because some rules span fields or rows (the action payload depends on the action type,
    # slugs are unique, a recipient must be a phone number) and JSON Schema cannot say so.
    case.call_and_validate(
        base_url=module_server.url, headers=auth_headers, excluded_checks=[positive_data_acceptance]
    )
    assert_unharmed(module_server)
