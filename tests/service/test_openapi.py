"""The OpenAPI document: valid 3.1, built from the routes the app really serves, and every reply
of the live app matches it (schemathesis: generated requests, no 5xx but the documented ones)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from pmserve.api import _openapi, create_app
from pmserve.service import Service
from pmserve.settings import Settings
from pmserve.store import SQLiteStore


def test_openapi_json_is_a_valid_openapi_3_1_document(asgi_client: TestClient) -> None:
    """`GET /openapi.json` validates as OpenAPI 3.1 and describes the IBM endpoints with their odd codes."""
    reply = asgi_client.get("/openapi.json")
    assert reply.status_code == 200
    spec = reply.json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]["/pm/v1/model/{context_id}"]) == {"put", "get", "delete"}
    assert "500" in spec["paths"]["/pm/v1/score/{context_id}"]["post"]["responses"]  # IBM: no body -> 500
    assert "404" in spec["paths"]["/pm/v1/model/{context_id}"]["delete"]["responses"]
    assert "/metrics" in spec["paths"]


def test_a_route_without_a_description_stops_the_app_from_building() -> None:
    """The document cannot drift from the code: an undocumented route is an error, not a gap."""
    async def undocumented(request: object) -> None: ...
    with pytest.raises(_openapi.UndocumentedRouteError, match="undocumented"):
        _openapi.build([Route("/x", undocumented)], "0")


def test_docs_page_and_swagger_ui_are_served_by_pmserve_itself(asgi_client: TestClient) -> None:
    """/docs loads Swagger UI from pmserve's own paths only (it works offline)."""
    page = asgi_client.get("/docs")
    assert page.status_code == 200
    assert "https://" not in page.text
    assert "http://" not in page.text
    for asset in ("/docs/static/swagger-ui.css", "/docs/static/swagger-ui-bundle.js", "/docs/app/init.js"):
        assert asgi_client.get(asset).status_code == 200, asset


# -- the live app against its own document ----------------------------------------------------------

@pytest.fixture
def live(tmp_path: Path, iris_pmml: bytes) -> Iterator[tuple[object, str]]:
    settings_ = Settings(data_dir=tmp_path / "data")
    service = Service(settings_, SQLiteStore(settings_.data_dir))
    key = service.create_key("app")
    service.deploy(service.authenticate(key), "iris", "iris.pmml", iris_pmml)
    app = create_app(settings_, service)
    with TestClient(app):  # runs the lifespan, so /ready answers as it does in production
        yield app, key
    service.close()


def test_every_reply_matches_the_openapi_document(live: tuple[object, str]) -> None:
    """Generated requests for every operation (about half with a valid key and the deployed context
    id): every status, content type and body is one the document lists, so a 5xx only where it is
    documented (IBM's 500 for a score without a body, 503 with the store down)."""
    app, key = live
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    # Deletes last, so that the other operations meet the deployed model too.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        assert _exercise(operation, key), operation.label


def _exercise(operation: schemathesis.APIOperation, key: str) -> Counter[int]:
    """Run generated cases of one operation through the checks; the statuses seen."""
    seen = Counter[int]()
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]

    @given(case=operation.as_strategy(), use_key=st.booleans(), known_model=st.booleans())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case: schemathesis.Case, use_key: bool, known_model: bool) -> None:
        if use_key and case.query is not None and "accesskey" in case.query:
            case.query["accesskey"] = key
        if known_model and case.path_parameters and "context_id" in case.path_parameters:
            case.path_parameters["context_id"] = "iris"
        response = case.call_and_validate(checks=checks)
        seen[response.status_code] += 1

    run()
    return seen
