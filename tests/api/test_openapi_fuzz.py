"""openapi.json against the real server: schemathesis generates requests from the documented schema
(bounded examples per operation) and checks every answer's status code, content type, headers and
body against what the schema documents, and that nothing answers 5xx.

The server is ``python -m api`` (tests/e2e_server.py) on a copy of the trained mine, Ollama the
protocol test server; the grid limits are small so a generated request stays quick (bigger ones are a
documented 202 job, then a documented 422).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_headers_conformance,
                                 response_schema_conformance, status_code_conformance)

from tests.api.test_app import module_mine  # noqa: F401  (a fixture)
from tests.e2e_server import running_api
from tests.ollama_server import OllamaTestServer
from training.settings import ENV_PREFIX

#: Generated requests per operation (bounded: the whole test takes about a minute).
MAX_EXAMPLES = 20
#: Simulations a generated strategies request gets answered synchronously; up to JOB_LIMIT it is a
#: background job (202 + Location), above that a 422; the schema documents all three.
GRID_LIMIT = 40
JOB_LIMIT = 80
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def api_url(module_mine):
    with OllamaTestServer() as ollama, running_api(module_mine, ollama.url, env_extra={
            f"{ENV_PREFIX}SIM_MAX_GRID_SIMULATIONS": str(GRID_LIMIT), f"{ENV_PREFIX}SIM_WORKERS": "1",
            f"{ENV_PREFIX}SIM_MAX_JOB_SIMULATIONS": str(JOB_LIMIT),
            f"{ENV_PREFIX}OLLAMA_TIMEOUT_S": "2"}) as api:
        yield api.url


@pytest.fixture(scope="module")
def api_schema(api_url):
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


# /live/* answers 503 by design while live ingestion is not configured (no Redis here); its own tests
# (tests/api/test_routes_live.py) run it against a real Redis.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex="^/live")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_every_answer_is_what_openapi_documents(case, api_url):
    case.call_and_validate(base_url=api_url, checks=CHECKS, timeout=60)
