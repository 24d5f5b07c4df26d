"""HubSpot emulator: batch endpoints (notes A3) and CRM search (A4): limits, partial failure, operators, caps, rate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from tests.sandbox_hubspot.conftest import assert_error

BASE = "http://hubspot.test"
SEARCH = "/crm/v3/objects/deals/search"


class Clock:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def box() -> HubSpotSandbox:
    """An empty portal with a generous burst limit and a hand-moved clock."""
    box = build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, seed=5, rate_limit_per_10s=10_000))
    box.limits.clock = Clock()
    return box


async def make(hs: httpx.AsyncClient, object_type: str, *items: dict[str, Any]) -> list[str]:
    """Batch-create records and return their ids in input order."""
    response = await hs.post(
        f"/crm/v3/objects/{object_type}/batch/create", json={"inputs": [{"properties": p} for p in items]}
    )
    assert response.status_code == 201, response.text
    return [r["id"] for r in response.json()["results"]]


def tick(box: HubSpotSandbox, seconds: float) -> None:
    """Move the rate-limit clock."""
    clock = box.limits.clock
    assert isinstance(clock, Clock)
    clock.now += seconds


# -- batches -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["read", "create", "update", "upsert", "archive"])
async def test_more_than_100_inputs_is_400(hs: httpx.AsyncClient, op: str) -> None:
    """Every batch operation refuses more than 100 inputs with a 400 VALIDATION_ERROR (100 are fine)."""
    inputs = [{"id": str(i), "properties": {}} for i in range(101)]
    response = await hs.post(f"/crm/v3/objects/contacts/batch/{op}", json={"inputs": inputs})
    assert_error(response, 400, "VALIDATION_ERROR")
    ok = await hs.post("/crm/v3/objects/contacts/batch/archive", json={"inputs": inputs[:100]})
    assert ok.status_code == 204


async def test_batch_create_is_201_complete(hs: httpx.AsyncClient) -> None:
    """Batch create answers 201 with `status: COMPLETE`, the results and the timing fields."""
    response = await hs.post(
        "/crm/v3/objects/companies/batch/create",
        json={"inputs": [{"properties": {"name": "A"}}, {"properties": {"name": "B"}}]},
    )
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "COMPLETE"
    assert [r["properties"]["name"] for r in body["results"]] == ["A", "B"]
    assert {"startedAt", "completedAt"} <= set(body)
    assert "errors" not in body


async def test_batch_create_without_trace_ids_is_all_or_nothing(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Without objectWriteTraceIds one invalid input fails the whole batch (400) and nothing is created."""
    response = await hs.post(
        "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "ok@example.com"}}, {"properties": {"bogus": "1"}}]},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert box.state.counts()["contacts"]["live"] == 0


async def test_batch_create_with_trace_ids_is_207_partial(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """With a unique objectWriteTraceId per input, good inputs are created and bad ones reported (207)."""
    await make(hs, "contacts", {"email": "taken@example.com"})
    inputs = [
        {"properties": {"email": "new@example.com"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "taken@example.com"}, "objectWriteTraceId": "t2"},
        {"properties": {"nope": "x"}, "objectWriteTraceId": "t3"},
    ]
    response = await hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    body = response.json()
    assert response.status_code == 207
    assert [r["properties"]["email"] for r in body["results"]] == ["new@example.com"]
    assert body["numErrors"] == 2
    assert [e["category"] for e in body["errors"]] == ["CONFLICT", "VALIDATION_ERROR"]
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["t2"]
    assert body["errors"][0]["status"] == "error"


async def test_batch_read_selects_properties_and_reports_missing_with_207(hs: httpx.AsyncClient) -> None:
    """Batch read returns requested properties; unknown ids give 207 with an OBJECT_NOT_FOUND error naming them."""
    ids = await make(hs, "companies", {"name": "One", "city": "Austin"}, {"name": "Two"})
    response = await hs.post(
        "/crm/v3/objects/companies/batch/read",
        json={"inputs": [{"id": ids[0]}, {"id": "1"}, {"id": ids[1]}], "properties": ["city"]},
    )
    body = response.json()
    assert response.status_code == 207
    assert [r["id"] for r in body["results"]] == [ids[0], ids[1]]
    assert body["results"][0]["properties"]["city"] == "Austin"
    error = body["errors"][0]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["1"]}
    assert error["message"].startswith("Could not get some COMPANY objects")


async def test_batch_read_all_missing_is_404(hs: httpx.AsyncClient) -> None:
    """A batch read where no input exists is a 404 (as observed)."""
    response = await hs.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "5"}]})
    assert_error(response, 404, "OBJECT_NOT_FOUND")


async def test_batch_read_by_email(hs: httpx.AsyncClient) -> None:
    """Batch read with `idProperty: email` finds contacts by email."""
    ids = await make(hs, "contacts", {"email": "a@example.com"}, {"email": "b@example.com"})
    response = await hs.post(
        "/crm/v3/objects/contacts/batch/read",
        json={"idProperty": "email", "inputs": [{"id": "b@example.com"}, {"id": "a@example.com"}]},
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [ids[1], ids[0]]


async def test_batch_update_is_200_and_207_for_missing_ids(hs: httpx.AsyncClient) -> None:
    """Batch update applies changes (200); with an unknown id the rest still apply and it is reported (207)."""
    ids = await make(hs, "deals", {"dealname": "A"}, {"dealname": "B"})
    ok = await hs.post(
        "/crm/v3/objects/deals/batch/update", json={"inputs": [{"id": ids[0], "properties": {"amount": "10"}}]}
    )
    assert ok.status_code == 200
    assert ok.json()["results"][0]["properties"]["amount"] == "10"
    partial = await hs.post(
        "/crm/v3/objects/deals/batch/update",
        json={"inputs": [{"id": ids[1], "properties": {"amount": "20"}}, {"id": "77", "properties": {"amount": "1"}}]},
    )
    assert partial.status_code == 207
    assert partial.json()["errors"][0]["context"] == {"ids": ["77"]}
    assert (await hs.get(f"/crm/v3/objects/deals/{ids[1]}", params={"properties": "amount"})).json()["properties"][
        "amount"
    ] == "20"


async def test_batch_update_rejects_duplicate_ids(hs: httpx.AsyncClient) -> None:
    """The same id twice in a batch update is a 400."""
    ids = await make(hs, "deals", {"dealname": "A"})
    inputs = [{"id": ids[0], "properties": {"amount": "1"}}, {"id": ids[0], "properties": {"amount": "2"}}]
    body = assert_error(
        await hs.post("/crm/v3/objects/deals/batch/update", json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )
    assert body["message"].startswith("Duplicate IDs found in batch input")


async def test_batch_upsert_by_email_marks_new_records(hs: httpx.AsyncClient) -> None:
    """Upsert by email updates the existing contact (`new: false`) and creates the other (`new: true`)."""
    (existing,) = await make(hs, "contacts", {"email": "old@example.com", "firstname": "Old"})
    inputs = [
        {"id": "old@example.com", "idProperty": "email", "properties": {"firstname": "Updated"}},
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}},
    ]
    response = await hs.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs})
    assert response.status_code == 200
    results = response.json()["results"]
    assert (results[0]["id"], results[0]["new"], results[0]["properties"]["firstname"]) == (existing, False, "Updated")
    assert results[1]["new"] is True
    assert results[1]["properties"]["email"] == "fresh@example.com"


async def test_batch_upsert_needs_a_unique_id_property(hs: httpx.AsyncClient) -> None:
    """Upsert with a non-unique idProperty (a company's domain) is a 400."""
    inputs = [{"id": "acme.com", "idProperty": "domain", "properties": {"name": "Acme"}}]
    assert_error(
        await hs.post("/crm/v3/objects/companies/batch/upsert", json={"inputs": inputs}), 400, "VALIDATION_ERROR"
    )


async def test_batch_archive_is_204(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Batch archive answers 204 and the records are archived."""
    ids = await make(hs, "companies", {"name": "A"}, {"name": "B"})
    response = await hs.post("/crm/v3/objects/companies/batch/archive", json={"inputs": [{"id": i} for i in ids]})
    assert response.status_code == 204
    assert box.state.counts()["companies"] == {"live": 0, "archived": 2}


# -- search ------------------------------------------------------------------------------------------------------


@pytest.fixture
async def deals(hs: httpx.AsyncClient) -> list[str]:
    """Four deals with known values: amount, stage, name and close date."""
    return await make(
        hs,
        "deals",
        {"dealname": "Firewall refresh", "amount": "100", "dealstage": "closedwon", "closedate": "2024-01-10"},
        {"dealname": "Backup renewal", "amount": "250", "dealstage": "qualifiedtobuy", "closedate": "2024-02-10"},
        {"dealname": "VoIP rollout", "amount": "900", "dealstage": "closedlost"},
        {"dealname": "firewall audit", "dealstage": "closedwon", "closedate": "2024-03-10T12:00:00Z"},
    )


def one(name: str, operator: str, **extra: Any) -> dict[str, Any]:
    """A search body with a single filter."""
    return {"filterGroups": [{"filters": [{"propertyName": name, "operator": operator, **extra}]}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (one("amount", "EQ", value="250"), [1]),
        (one("dealstage", "EQ", value="CLOSEDWON"), [0, 3]),
        (one("amount", "NEQ", value="250"), [0, 2, 3]),
        (one("amount", "LT", value="250"), [0]),
        (one("amount", "LTE", value="250"), [0, 1]),
        (one("amount", "GT", value=250), [2]),
        (one("amount", "GTE", value="250"), [1, 2]),
        (one("amount", "BETWEEN", value="200", highValue="900"), [1, 2]),
        (one("dealstage", "IN", values=["closedlost", "qualifiedtobuy"]), [1, 2]),
        (one("dealstage", "NOT_IN", values=["closedwon"]), [1, 2]),
        (one("amount", "HAS_PROPERTY"), [0, 1, 2]),
        (one("amount", "NOT_HAS_PROPERTY"), [3]),
        (one("dealname", "CONTAINS_TOKEN", value="firewall"), [0, 3]),
        (one("dealname", "CONTAINS_TOKEN", value="roll*"), [2]),
        (one("dealname", "NOT_CONTAINS_TOKEN", value="firewall"), [1, 2]),
        (one("closedate", "GTE", value="1707523200000"), [1, 3]),
        (one("closedate", "GTE", value="2024-02-10T00:00:00Z"), [1, 3]),
        (one("closedate", "BETWEEN", value="2024-01-01", highValue="2024-02-28"), [0, 1]),
    ],
)
async def test_search_operators(
    hs: httpx.AsyncClient, deals: list[str], body: dict[str, Any], expected: list[int]
) -> None:
    """Each of the 13 operators filters as documented; dates compare as epoch ms or ISO alike."""
    response = await hs.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    assert sorted(r["id"] for r in response.json()["results"]) == sorted(deals[i] for i in expected)
    assert response.json()["total"] == len(expected)


async def test_filters_and_within_a_group_or_across_groups(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """Filters in a group are ANDed; groups are ORed."""
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                    {"propertyName": "amount", "operator": "HAS_PROPERTY"},
                ]
            },
            {"filters": [{"propertyName": "amount", "operator": "GT", "value": "500"}]},
        ]
    }
    results = (await hs.post(SEARCH, json=body)).json()["results"]
    assert sorted(r["id"] for r in results) == sorted([deals[0], deals[2]])


async def test_search_sorts_in_object_and_string_form(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """`sorts` accepts {propertyName, direction} and the "-name" string form; records without a value come last."""
    by_object = await hs.post(SEARCH, json={"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}]})
    assert [r["id"] for r in by_object.json()["results"]] == [deals[2], deals[1], deals[0], deals[3]]
    by_string = await hs.post(SEARCH, json={"sorts": ["-amount"]})
    assert [r["id"] for r in by_string.json()["results"]] == [deals[2], deals[1], deals[0], deals[3]]
    ascending = await hs.post(SEARCH, json={"sorts": ["amount"], "properties": ["amount"]})
    assert [r["properties"]["amount"] for r in ascending.json()["results"]] == ["100", "250", "900", None]


async def test_search_returns_default_or_requested_properties(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """Without `properties` a deal shows the default set; with it, those plus the id and timestamps."""
    default = (await hs.post(SEARCH, json={"limit": 1})).json()["results"][0]
    assert set(default["properties"]) == {
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
    chosen = (await hs.post(SEARCH, json={"limit": 1, "properties": ["dealname"]})).json()["results"][0]
    assert set(chosen["properties"]) == {"dealname", "createdate", "hs_lastmodifieddate", "hs_object_id"}


async def test_search_query_matches_text_properties(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """Free-text `query` matches word prefixes of the default text properties."""
    results = (await hs.post(SEARCH, json={"query": "fire"})).json()["results"]
    assert sorted(r["id"] for r in results) == sorted([deals[0], deals[3]])


async def test_search_pages_with_after_and_total(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """`limit` and `after` page through results; `total` counts them all; the last page has no paging."""
    first = (await hs.post(SEARCH, json={"limit": 3})).json()
    assert first["total"] == 4
    assert first["paging"]["next"]["after"] == "3"
    second = (await hs.post(SEARCH, json={"limit": 3, "after": first["paging"]["next"]["after"]})).json()
    assert len(second["results"]) == 1
    assert "paging" not in second


async def test_search_limit_above_200_is_400(hs: httpx.AsyncClient) -> None:
    """A search `limit` over 200 is a 400 VALIDATION_ERROR."""
    assert (await hs.post(SEARCH, json={"limit": 200})).status_code == 200
    assert_error(await hs.post(SEARCH, json={"limit": 201}), 400, "VALIDATION_ERROR")


async def test_paging_past_10000_results_is_400() -> None:
    """A query can page to 10,000 results; `paging.next.after` then reads 10000 and asking for it is a 400."""
    box = build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, companies=10_050, search_per_second=1000))
    transport = httpx.ASGITransport(app=create_hubspot_app(box))
    headers = {"Authorization": f"Bearer {box.settings.token}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as hs:
        last = (await hs.post("/crm/v3/objects/companies/search", json={"limit": 200, "after": "9800"})).json()
        assert last["total"] == 10_050
        assert last["paging"]["next"]["after"] == "10000"
        beyond = await hs.post("/crm/v3/objects/companies/search", json={"limit": 200, "after": "10000"})
        assert_error(beyond, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("groups", "per_group"),
    [(6, 1), (1, 7), (4, 5)],
)
async def test_filter_group_and_filter_caps_are_400(hs: httpx.AsyncClient, groups: int, per_group: int) -> None:
    """More than 5 groups, 6 filters in a group or 18 filters in all is a 400 (caps from settings)."""
    f = {"propertyName": "amount", "operator": "HAS_PROPERTY"}
    body = {"filterGroups": [{"filters": [f] * per_group} for _ in range(groups)]}
    assert_error(await hs.post(SEARCH, json=body), 400, "VALIDATION_ERROR")
    ok = {"filterGroups": [{"filters": [f] * 6} for _ in range(3)]}
    assert (await hs.post(SEARCH, json=ok)).status_code == 200


async def test_search_caps_follow_the_limits_endpoint(hs: httpx.AsyncClient) -> None:
    """PUT /_sandbox/limits changes the filter-group cap for the next search."""
    f = {"propertyName": "amount", "operator": "HAS_PROPERTY"}
    body = {"filterGroups": [{"filters": [f]} for _ in range(6)]}
    assert (await hs.post(SEARCH, json=body)).status_code == 400
    assert (await hs.put("/_sandbox/limits", json={"search_max_groups": 6})).status_code == 200
    assert (await hs.post(SEARCH, json=body)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        one("shoe_size", "EQ", value="9"),
        one("amount", "ROUGHLY", value="9"),
        one("amount", "EQ"),
        one("amount", "IN", values=[]),
        one("amount", "BETWEEN", value="1"),
        one("amount", "EQ", value="lots"),
        one("closedate", "GTE", value="last tuesday"),
        {"sorts": [{"propertyName": "amount"}, {"propertyName": "dealname"}]},
        {"after": "-3"},
    ],
)
async def test_malformed_searches_are_400(hs: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """Unknown properties or operators, missing values, bad numbers/dates, two sorts, a bad cursor: each a 400."""
    assert_error(await hs.post(SEARCH, json=body), 400, "VALIDATION_ERROR")


async def test_search_excludes_archived_records(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """An archived record no longer appears in search results."""
    await hs.delete(f"/crm/v3/objects/deals/{deals[0]}")
    results = (await hs.post(SEARCH, json={})).json()["results"]
    assert deals[0] not in [r["id"] for r in results]


async def test_incremental_sync_recipe_on_last_modified(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Filtering `lastmodifieddate` GTE a watermark, sorted ascending, returns only contacts changed since."""
    box.state.now = lambda: datetime(2025, 1, 1, tzinfo=UTC)
    old, changed = await make(hs, "contacts", {"email": "old@example.com"}, {"email": "changed@example.com"})
    box.state.now = lambda: datetime(2025, 6, 1, tzinfo=UTC)
    await hs.patch(f"/crm/v3/objects/contacts/{changed}", json={"properties": {"firstname": "New"}})
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1735776000000"}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 200,
    }
    results = (await hs.post("/crm/v3/objects/contacts/search", json=body)).json()["results"]
    assert [r["id"] for r in results] == [changed]
    assert old not in [r["id"] for r in results]


async def test_search_has_its_own_rate_limit_and_no_headers(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Five searches a second pass without rate-limit headers; the sixth is 429 SECONDLY; a second later it passes."""
    for _ in range(5):
        response = await hs.post(SEARCH, json={})
        assert response.status_code == 200
        assert not [h for h in response.headers if h.lower().startswith("x-hubspot-ratelimit")]
    limited = await hs.post(SEARCH, json={})
    body = assert_error(limited, 429, "RATE_LIMITS")
    assert body["policyName"] == "SECONDLY"
    assert body["message"] == "You have reached your secondly limit."
    assert body["errorType"] == "RATE_LIMIT"
    assert (await hs.get("/crm/v3/objects/deals")).status_code == 200
    tick(box, 1.0)
    assert (await hs.post(SEARCH, json={})).status_code == 200


async def test_search_on_date_versioned_path(hs: httpx.AsyncClient, deals: list[str]) -> None:
    """`/crm/objects/2026-03/{type}/search` answers like the v3 search."""
    body = one("amount", "GTE", value="250")
    legacy = (await hs.post(SEARCH, json=body)).json()
    dated = (await hs.post("/crm/objects/2026-03/deals/search", json=body)).json()
    assert dated == legacy


async def test_batch_create_duplicate_of_an_existing_value_is_a_whole_batch_409(
    box: HubSpotSandbox, hs: httpx.AsyncClient
) -> None:
    """HubSpot docs ("Error handling", multi-status errors): partial failures only with a unique objectWriteTraceId
    per input. Without them, one input holding an existing unique value fails the whole batch: 409 CONFLICT naming
    the holder, and nothing is created. With them, the batch is 207 and only that input fails."""
    [holder] = await make(hs, "contacts", {"email": "taken@example.com"})
    inputs = [{"properties": {"email": "fresh@example.com"}}, {"properties": {"email": "TAKEN@example.com"}}]
    response = await hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs})
    body = assert_error(response, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {holder}"
    assert box.state.counts()["contacts"]["live"] == 1
    traced = [{**item, "objectWriteTraceId": f"t{i}"} for i, item in enumerate(inputs)]
    response = await hs.post("/crm/v3/objects/contacts/batch/create", json={"inputs": traced})
    assert response.status_code == 207
    body = response.json()
    assert {"status", "results", "startedAt", "completedAt", "requestedAt", "links", "numErrors", "errors"} <= set(body)
    [error] = body["errors"]
    assert {"status", "category", "message", "context", "errors", "links"} <= set(error)
    assert (error["category"], error["context"]["objectWriteTraceId"]) == ("CONFLICT", ["t1"])
    assert [r["properties"]["email"] for r in body["results"]] == ["fresh@example.com"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/crm/v3/objects/companies", {"associations": []}),
        ("/crm/v3/objects/companies/batch/create", {"inputs": [{"properties": {"name": "A"}}, {}]}),
        ("/crm/v3/objects/contacts/batch/upsert", {"inputs": [{"id": "a@example.com", "idProperty": "email"}]}),
    ],
)
async def test_writes_without_properties_are_400(
    box: HubSpotSandbox, hs: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    """`properties` is required on create, update and batch inputs (an empty object is fine); nothing is written."""
    assert_error(await hs.post(path, json=body), 400, "VALIDATION_ERROR")
    assert box.state.counts()["companies"]["live"] == box.state.counts()["contacts"]["live"] == 0
    ok = await hs.post("/crm/v3/objects/companies", json={"properties": {}})
    assert ok.status_code == 201
