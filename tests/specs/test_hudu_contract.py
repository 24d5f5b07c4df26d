"""The Hudu emulator's answers, on every route cwsync's client calls, against the Swagger's schemas
(`tests/specs/hudu.py`), including what each create answers (201; bare or wrapped as the Swagger says)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app
from tests.specs import hudu as h

BASE = "http://hudu.test"


@pytest.fixture
def box() -> HuduSandbox:
    return build_hudu_sandbox(HuduSandboxSettings(base_url=BASE))


@pytest.fixture
async def api(box: HuduSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_hudu_app(box))
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE + "/api/v1/", headers={"x-api-key": box.settings.api_key}
    ) as client:
        yield client


async def test_companies_match_the_swagger(api: httpx.AsyncClient) -> None:
    """List, read, create (201 bare), update, archive and unarchive (wrapped)."""
    listed = h.CompanyList.model_validate((await api.get("companies")).json())
    h.CompanyEnvelope.model_validate((await api.get(f"companies/{listed.companies[0].id}")).json())
    created = await api.post("companies", json={"company": {"name": "Spec Co", "city": "Austin", "id_number": "9"}})
    assert created.status_code == 201
    company = h.Company.model_validate(created.json())
    updated = await api.put(f"companies/{company.id}", json={"company": {"nickname": "Spec"}})
    assert h.CompanyEnvelope.model_validate(updated.json()).company.nickname == "Spec"
    archived = await api.put(f"companies/{company.id}/archive")
    assert h.CompanyEnvelope.model_validate(archived.json()).company.archived is True
    h.CompanyEnvelope.model_validate((await api.put(f"companies/{company.id}/unarchive")).json())


async def test_assets_and_layouts_match_the_swagger(api: httpx.AsyncClient) -> None:
    """Layouts (201 wrapped on create), assets (201 bare on create; bare GET and PUT), lists of both."""
    layouts = h.AssetLayoutList.model_validate((await api.get("asset_layouts")).json()).asset_layouts
    h.AssetLayoutEnvelope.model_validate((await api.get(f"asset_layouts/{layouts[0].id}")).json())
    made = await api.post("asset_layouts", json={"asset_layout": {"name": "Spec", "fields": [{"label": "Serial"}]}})
    assert made.status_code == 201
    layout = h.AssetLayoutEnvelope.model_validate(made.json()).asset_layout
    body = {"asset": {"name": "Spec-1", "asset_layout_id": layout.id, "custom_fields": [{"serial": "S1"}]}}
    created = await api.post("companies/1/assets", json=body)
    assert created.status_code == 201
    asset = h.Asset.model_validate(created.json())
    assert [f.value for f in asset.fields] == ["S1"]
    h.Asset.model_validate((await api.get(f"companies/1/assets/{asset.id}")).json())
    put = await api.put(f"companies/1/assets/{asset.id}", json={"asset": {"primary_serial": "X"}})
    assert h.Asset.model_validate(put.json()).primary_serial == "X"
    h.AssetList.model_validate((await api.get("companies/1/assets")).json())
    h.AssetList.model_validate((await api.get("assets", params={"company_id": 1})).json())


async def test_websites_and_relations_match_the_swagger(api: httpx.AsyncClient) -> None:
    """Websites (bare), relations (201 wrapped on create, `{"relations": […]}` listed)."""
    for row in (await api.get("websites")).json():
        h.Website.model_validate(row)
    created = await api.post("websites", json={"website": {"company_id": 1, "name": "https://spec.example"}})
    site = h.Website.model_validate(created.json())
    h.Website.model_validate((await api.get(f"websites/{site.id}")).json())
    h.Website.model_validate((await api.put(f"websites/{site.id}", json={"website": {"paused": True}})).json())
    relation = {"fromable_type": "Company", "fromable_id": 1, "toable_type": "Website", "toable_id": site.id}
    made = await api.post("relations", json={"relation": relation})
    assert made.status_code == 201
    h.RelationEnvelope.model_validate(made.json())
    assert h.RelationList.model_validate((await api.get("relations")).json()).relations


def test_the_schemas_can_fail() -> None:
    """A wrapped record where a bare one is due, and a string id: refused."""
    with pytest.raises(ValueError, match="name"):
        h.Company.model_validate({"company": {"id": 1, "name": "A", "archived": False}})
    with pytest.raises(ValueError, match="id"):
        h.Relation.model_validate(
            {"id": "1", "fromable_id": 1, "fromable_type": "Company", "toable_id": 2, "toable_type": "Website"}
        )
