"""hudu-magic (Hudu's own Python client, 1.x) driving the Hudu emulator over real HTTP: companies, asset layouts,
assets, websites and relations through its resources (and its low-level `put` where a resource has no update),
paging, and its errors (401, 404). Its answers are wrapped in its models, so a create it cannot read fails here.

hudu-magic forces `https://` onto the instance URL; the tests point `client.instance.instance_url` at the
emulator's plain-HTTP address after building the client (api-notes B9). `max_retries=0`: no sleeping retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hudu_magic import HuduClient
from hudu_magic.validation import HuduAPIError

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.hudu import HuduSandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.loopback


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSandbox]:
    hudu = HuduSandboxSettings(rate_limit_per_minute=100_000)
    with running_sandbox(SandboxSettings(records=100, seed=7), hudu=hudu) as running:
        yield running


def magic(served: RunningSandbox, api_key: str | None = None) -> HuduClient:
    client = HuduClient(api_key=api_key or served.hudu.settings.api_key, instance_url=served.hudu_url, max_retries=0)
    client.instance.instance_url = served.hudu_url + "/api/v1"
    return client


def test_companies_create_read_update_archive(served: RunningSandbox) -> None:
    """Create (201 bare, as the Swagger says) comes back as a hudu-magic `Company`; read, update and archive."""
    client = magic(served)
    before = len(client.companies.list())
    made = client.companies.create({"name": "Magic Co", "city": "Austin"})
    assert (type(made).__name__, made.name, made.city) == ("Company", "Magic Co", "Austin")
    assert client.companies.get(made.id).city == "Austin"
    client.put(f"companies/{made.id}", json={"company": {"nickname": "Magic"}})
    assert client.companies.get(made.id).nickname == "Magic"
    assert len(client.companies.list()) == before + 1
    client.put(f"companies/{made.id}/archive")
    assert client.companies.get(made.id).archived is True


def test_layouts_assets_websites_relations(served: RunningSandbox) -> None:
    """A layout (201 wrapped), an asset on it (201 bare) with a custom field, read back, updated, listed by
    company; a website; a relation between the asset and the website."""
    client = magic(served)
    company = client.companies.create({"name": "Magic Assets"})
    layout = client.asset_layouts.create(
        {"name": "Magic Layout", "icon": "fas fa-box", "fields": [{"label": "Serial"}]}
    )
    assert (type(layout).__name__, layout.name) == ("AssetLayout", "Magic Layout")
    asset = client.assets.create(
        company.id, {"name": "Magic-1", "asset_layout_id": layout.id, "custom_fields": [{"serial": "MX-1"}]}
    )
    assert (type(asset).__name__, asset.name, asset.company_id) == ("Asset", "Magic-1", company.id)
    assert [f["value"] for f in asset.fields] == ["MX-1"]
    assert client.assets.get(asset.id, company_id=company.id).name == "Magic-1"
    client.assets.update(asset.id, company.id, {"primary_serial": "SN-42"})
    assert client.assets.get(asset.id, company_id=company.id).primary_serial == "SN-42"
    assert [a.id for a in client.assets.list(company_id=company.id)] == [asset.id]
    site = client.websites.create({"company_id": company.id, "name": "https://magic.example"})
    assert site.name == "https://magic.example"
    relation = client.relations.create(asset, site, description="cwsync test")
    assert relation.toable_id == site.id


def test_errors_401_and_404(served: RunningSandbox) -> None:
    """A wrong key is 401 and an unknown company 404, as hudu-magic's HuduAPIError."""
    with pytest.raises(HuduAPIError, match="401"):
        magic(served, api_key="not-the-key").companies.list()
    with pytest.raises(HuduAPIError, match="404"):
        magic(served).companies.get(987_654)
