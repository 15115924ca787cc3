"""The gateway's OpenAPI document: valid, in sync with dispatch.proto, served."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from openapi_spec_validator import validate

from dispatcher.api import http_rules, openapi

if TYPE_CHECKING:
    from tests.service.conftest import Http


def test_committed_document_is_fresh() -> None:
    """dispatcher/api/openapi.json equals a fresh generation (else: run ./dev proto)."""
    assert openapi.DOCUMENT_PATH.read_text() == openapi.render()


def test_document_is_valid_openapi() -> None:
    """openapi-spec-validator accepts the committed document."""
    validate(json.loads(openapi.DOCUMENT_PATH.read_text()))


def test_document_lists_every_route() -> None:
    """One operation per HTTP route, under its template and verb."""
    paths = json.loads(openapi.DOCUMENT_PATH.read_text())["paths"]
    for route in http_rules.routes():
        operation = paths[route.template][route.verb.lower()]
        assert operation["operationId"].endswith(route.method.name)


@pytest.mark.integration
async def test_gateway_serves_the_document(http: Http) -> None:
    """GET /v1/openapi.json returns the committed file."""
    async with http.session.get(http.base + "/v1/openapi.json") as resp:
        assert resp.status == 200
        assert await resp.json() == json.loads(openapi.DOCUMENT_PATH.read_text())
