"""The Hudu emulator: authentication, envelopes, paging, company filters and writes (notes B1, B2, B7, B10)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from cwsync_sandbox.hudu import HuduSandbox, create_hudu_app
from tests.sandbox_hudu.conftest import API, assert_error


async def test_missing_or_wrong_key_is_401(box: HuduSandbox) -> None:
    """Without `x-api-key`, or with a wrong one, every API path answers 401 with an `error` body."""
    transport = httpx.ASGITransport(app=create_hudu_app(box))
    async with httpx.AsyncClient(transport=transport, base_url=API + "/") as client:
        assert_error(await client.get("companies"), 401, "api key")
        assert_error(await client.get("companies", headers={"x-api-key": "nope"}), 401)
        assert_error(await client.get("no/such/route", headers={"Authorization": "Bearer x"}), 401)
        admin = await client.get("../../_sandbox")
        assert admin.status_code == 200
        assert admin.json()["api_key"] == box.settings.api_key


async def test_api_info(hudu: httpx.AsyncClient) -> None:
    """`/api_info` answers the version and a date."""
    body = (await hudu.get("api_info")).json()
    assert body["version"] == "2.44.0"
    datetime.fromisoformat(body["date"])


async def test_unknown_route_and_layout_delete_are_404(hudu: httpx.AsyncClient) -> None:
    """Routes Hudu lacks (an asset layout DELETE, B4) answer 404 with an error body."""
    assert_error(await hudu.delete("asset_layouts/1"), 404)
    assert_error(await hudu.get("nothing_here"), 404)


async def test_company_list_envelope_and_default_page(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """Companies come as `{"companies": [...]}`, 25 a page by default, in id order, with the B2 fields."""
    for n in range(30):
        box.state.create_company({"name": f"Client {n:02d}"})
    first = (await hudu.get("companies")).json()["companies"]
    assert len(first) == 25
    assert [c["id"] for c in first] == sorted(c["id"] for c in first)
    company = first[0]
    assert company["object_type"] == "Company"
    assert company["full_url"].startswith("http://hudu.test/c/")
    assert {"slug", "id_number", "integrations", "archived", "created_at", "updated_at"} <= set(company)
    second = (await hudu.get("companies", params={"page": 2})).json()["companies"]
    assert len(second) == 34 - 25
    assert (await hudu.get("companies", params={"page": 3})).json() == {"companies": []}


async def test_page_size_pages_without_overlap(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`page`/`page_size` walk every company exactly once and end with a short page."""
    for n in range(11):
        box.state.create_company({"name": f"Paged {n}"})
    seen: list[int] = []
    for page in range(1, 10):
        rows = (await hudu.get("companies", params={"page": page, "page_size": 4})).json()["companies"]
        seen += [r["id"] for r in rows]
        if len(rows) < 4:
            break
    assert seen == sorted(box.state.companies)
    assert page == 4  # 15 companies: 4 + 4 + 4 + 3


async def test_company_filters(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`name` and `id_number` match exactly (ignoring case), `search` a substring, `id_in_integration` a marker."""
    by_name = (await hudu.get("companies", params={"name": "northwind logistics"})).json()["companies"]
    assert [c["id_number"] for c in by_name] == ["NORTH01"]
    assert (await hudu.get("companies", params={"name": "Northwind"})).json()["companies"] == []
    by_number = (await hudu.get("companies", params={"id_number": "CONTOSO"})).json()["companies"]
    assert [c["name"] for c in by_number] == ["Contoso Legal LLP"]
    found = (await hudu.get("companies", params={"search": "dental"})).json()["companies"]
    assert [c["name"] for c in found] == ["Acme Dental Group"]
    marker = {"integrator_name": "cw_manage", "sync_id": 250}
    marked = await hudu.post("../../_sandbox/companies/2/integrations", json=marker)
    assert marked.json()["company"]["integrations"][0]["sync_id"] == 250
    linked = (await hudu.get("companies", params={"id_in_integration": "250"})).json()["companies"]
    assert [c["id"] for c in linked] == [2]


async def test_updated_at_range_forms(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`updated_at` accepts `start,end`, `start,`, `,end` and an exact time (B1), bounds inclusive."""
    box.state.now = lambda: datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    await hudu.put("companies/1", json={"company": {"notes": "changed"}})
    box.state.now = lambda: datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    await hudu.put("companies/2", json={"company": {"notes": "changed"}})

    async def ids(value: str) -> list[int]:
        return [c["id"] for c in (await hudu.get("companies", params={"updated_at": value})).json()["companies"]]

    assert await ids("2025-02-01T00:00:00Z,") == [1, 2]
    assert await ids("2025-02-01T00:00:00Z,2025-03-01T12:00:00Z") == [1]
    assert await ids(",2025-01-01T00:00:00Z") == [3, 4]
    assert await ids("2025-04-01T12:00:00.000Z") == [2]
    assert_error(await hudu.get("companies", params={"updated_at": "yesterday,"}), 422, "updated_at")


async def test_company_write_round_trip(hudu: httpx.AsyncClient) -> None:
    """Create answers 201 with a bare Company (Swagger v2.44.0), update changes only sent fields, delete is 204."""
    created = await hudu.post("companies", json={"company": {"name": "Woodgrove Bank", "city": "Boston"}})
    assert created.status_code == 201
    company = created.json()
    assert "company" not in company
    assert (company["name"], company["city"], company["archived"]) == ("Woodgrove Bank", "Boston", False)
    updated = (await hudu.put(f"companies/{company['id']}", json={"company": {"id_number": "CW-19"}})).json()
    assert (updated["company"]["city"], updated["company"]["id_number"]) == ("Boston", "CW-19")
    fetched = (await hudu.get(f"companies/{company['id']}")).json()["company"]
    assert fetched == updated["company"]
    assert (await hudu.delete(f"companies/{company['id']}")).status_code == 204
    assert_error(await hudu.get(f"companies/{company['id']}"), 404)


async def test_archive_hides_company_from_default_list(hudu: httpx.AsyncClient) -> None:
    """An archived company leaves the default list, shows with `archived=true`, and comes back on unarchive."""
    archived = (await hudu.put("companies/1/archive")).json()["company"]
    assert archived["archived"] is True
    default_ids = [c["id"] for c in (await hudu.get("companies")).json()["companies"]]
    assert 1 not in default_ids
    only_archived = (await hudu.get("companies", params={"archived": "true"})).json()["companies"]
    assert [c["id"] for c in only_archived] == [1]
    assert (await hudu.put("companies/1/unarchive")).json()["company"]["archived"] is False


async def test_company_validation_errors(hudu: httpx.AsyncClient) -> None:
    """A blank or taken name is a 422; a missing company is a 404; broken JSON is a 400."""
    assert_error(await hudu.post("companies", json={"company": {"name": " "}}), 422, "blank")
    assert_error(await hudu.post("companies", json={"company": {"name": "ACME DENTAL GROUP"}}), 422, "taken")
    assert_error(await hudu.put("companies/999", json={"company": {"name": "x"}}), 404)
    broken = await hudu.post("companies", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(broken, 400)


async def test_unwrapped_bodies_follow_the_setting(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """A body without `{"company": ...}` is accepted by default and refused (422) when turned off (B10)."""
    assert (await hudu.post("companies", json={"name": "Bare Co"})).json()["name"] == "Bare Co"
    box.tune({"accept_unwrapped": False})
    assert_error(await hudu.post("companies", json={"name": "Bare Two"}), 422, "company")


async def test_observed_answers_are_200_and_wrapped(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`answers: observed` keeps what B1 reports real instances send: 200 `{"company": …}`, `{"asset": …}`."""
    box.tune({"answers": "observed"})
    created = await hudu.post("companies", json={"company": {"name": "Observed Co"}})
    assert (created.status_code, created.json()["company"]["name"]) == (200, "Observed Co")
    layout = (await hudu.get("asset_layouts")).json()["asset_layouts"][0]
    body = {"asset": {"name": "A1", "asset_layout_id": layout["id"]}}
    asset = await hudu.post(f"companies/{created.json()['company']['id']}/assets", json=body)
    assert (asset.status_code, asset.json()["asset"]["name"]) == (200, "A1")
