"""Schemathesis over the whole OpenAPI document (built from the route table, so a new route is
fuzzed the day it is declared), as an owner and as a store user, a few examples per operation:
no 5xx, every answer in its documented schema, every 4xx in the error schema."""
import os
import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from gateway.openapi import build_spec
from gateway.service import GatewayService
from tests.integration.conftest import PASSWORD

warnings.filterwarnings("ignore", module="schemathesis")

# per operation and role: make test's budget; FUZZ_EXAMPLES=50 make test ARGS=tests/integration/test_fuzz.py digs deeper
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
SCHEMA = schemathesis.openapi.from_dict(build_spec(GatewayService))
# server-sent events never end (a heartbeat keeps the read alive): the stream has its own tests
OPERATIONS = [op for op in (result.ok() for result in SCHEMA.get_all_operations())
              if not op.path.endswith("/stream")]


@pytest.fixture(scope="module")
def shop(onboard):
    return onboard()


def error_shaped(body):
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and set(error) == {"code", "message", "fields"}
            and isinstance(error["code"], str) and isinstance(error["message"], str)
            and isinstance(error["fields"], dict))


def problem(operation, response):
    """What is wrong with ``response`` to a generated request, or None."""
    if response.status_code >= 500:
        return "%d %s" % (response.status_code, response.text[:300])
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return "%d is not JSON: %s" % (response.status_code, response.text[:200])
        return None if error_shaped(body) else "%d outside the error schema: %s" % (
            response.status_code, response.text[:300])
    try:
        operation.validate_response(response)
    except Exception as exc:  # schemathesis says how the answer departs from its documented schema
        return "%d outside its schema: %s" % (response.status_code, str(exc)[:400])
    return None


@pytest.mark.parametrize("role", ["owner", "store_user"])
def test_every_operation_fuzzed_answers_within_its_contract(system, shop, role):
    username = {"owner": "owner-", "store_user": "store-user-"}[role] + shop["merchant"]["name"].split()[-1]
    token = {"value": shop["tokens"][role]}
    found = {}

    for operation in OPERATIONS:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case):
            case.headers = dict(case.headers or {}, Authorization="Bearer " + token["value"])
            response = case.call(base_url=system.base_url, timeout=30)
            if response.status_code == 401 and "/auth/" in operation.path:
                token["value"] = system.login(username, PASSWORD)  # a fuzzed sign-out ended our session
            wrong = problem(operation, response)
            if wrong:
                found.setdefault(operation.label, "%s  <- %s %s body=%r" % (
                    wrong, case.method, case.formatted_path, case.body)[:800])

        fuzz()
    assert not found, "\n".join("%s: %s" % item for item in sorted(found.items()))
