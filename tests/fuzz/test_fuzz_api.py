"""Fuzzing every REST route with its own OpenAPI schema (and against it), issue 20.

Each example picks a route of the app's OpenAPI document and sends a request built from its schema — path and query
parameters, a body shaped like the schema's or any JSON or bytes — with the right token, a wrong one or none.
Properties: never a 5xx; an error is a JSON body; a refused request (4xx) queues no job and writes no run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.harness import AUTH, Edge, edge
from tests.fuzz.strategies import NASTY_NUMBERS, NASTY_TEXT, json_values, raw_bodies

SLOW = {("POST", "/api/catalog/sync")}
"""Routes that run a whole sync per request: fuzzed by their parameters only in the refusal test."""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Edge]:
    async with edge(tmp_path) as e:
        yield e


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like a JSON schema (the subset FastAPI writes), with hostile scalars mixed in."""
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    if depth > 4:
        return json_values
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of([from_schema(s, components, depth + 1) for s in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props = {k: from_schema(v, components, depth + 1) for k, v in schema.get("properties", {}).items()}
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=3)
    if kind == "integer":
        return st.integers(min_value=-(2**64), max_value=2**64) | NASTY_NUMBERS
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | NASTY_NUMBERS
    if kind == "string":
        return st.text(max_size=12) | NASTY_TEXT
    if kind == "boolean":
        return st.booleans()
    return json_values


def _operations(site: Edge) -> list[tuple[str, str, dict[str, Any]]]:
    document = site.app._transport.app.openapi()  # type: ignore[attr-defined]
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if (method.upper(), path) not in SLOW
    ]


param_values = st.one_of(st.text(max_size=10), NASTY_TEXT, st.integers().map(str), NASTY_NUMBERS.map(str))


@st.composite
def requests(draw: st.DrawFn, site: Edge) -> tuple[str, str, dict[str, str], bytes | None, dict[str, Any]]:
    document = site.app._transport.app.openapi()  # type: ignore[attr-defined]
    components = document.get("components", {}).get("schemas", {})
    method, path, operation = draw(st.sampled_from(_operations(site)))
    query: dict[str, str] = {}
    for param in operation.get("parameters", []):
        shaped = from_schema(param.get("schema", {}), components).map(_text)
        value = draw(shaped | param_values)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", quote(value, safe="") or "x")
        elif param["in"] == "query" and draw(st.booleans()):
            query[param["name"]] = value
    body: bytes | None = None
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is not None or draw(st.booleans()):
        shaped = from_schema(schema, components) if schema else json_values
        body = draw(shaped.map(lambda v: json.dumps(v).encode()) | raw_bodies)
    headers = draw(st.sampled_from([AUTH, AUTH, AUTH, {}, {"Authorization": "Bearer nope"}]))
    return method, path, query, body, headers


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@settings(FUZZ, max_examples=100)
@given(data=st.data())
async def test_every_route_answers_without_a_500(site: Edge, data: st.DataObject) -> None:
    """Any route, any parameters, any body: a 2xx/4xx with a JSON body; a 4xx queues and writes nothing."""
    method, path, query, body, headers = data.draw(requests(site))
    before = (await site.server.jobs.counts(), len(await site.server.store.runs("default", limit=1000)))
    extra = {"content-type": "application/json"} if body is not None else {}
    r = await site.app.request(method, path, params=query, content=body, headers={**headers, **extra})
    assert r.status_code < 500, (method, path, query, body, r.status_code, r.text)
    if r.status_code >= 400:
        assert isinstance(r.json(), dict), r.text
        after = (await site.server.jobs.counts(), len(await site.server.store.runs("default", limit=1000)))
        assert after == before, (method, path, r.status_code)


@settings(FUZZ, max_examples=20)
@given(query=st.dictionaries(st.sampled_from(["full", "plan"]), param_values, max_size=2))
async def test_slow_routes_refuse_bad_parameters(site: Edge, query: dict[str, str]) -> None:
    """The whole-sync routes are fuzzed without a token (401, nothing runs) and with bad parameters (422)."""
    for method, path in SLOW:
        r = await site.app.request(method, path, params=query)
        assert r.status_code == 401, r.text
        if any(v.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off") for v in query.values()):
            assert (await site.app.request(method, path, params=query, headers=AUTH)).status_code == 422
