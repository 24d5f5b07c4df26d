"""The configuration screens over HTTP (in-process): mappings, value maps, the inline type check, roles, CSRF, and
the YAML file changed with its comments kept (#14). `cfg` is the world the other test_config_* modules share."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config import Config, load_config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.connectors.hudu import HuduClient
from cwsync.console import add_console
from cwsync.integrations.hudu.context import hudu_settings
from cwsync.integrations.root import connectwise_settings
from cwsync.runtime.jobs import JobSpec
from cwsync.server.app import Server, create_app
from cwsync.store import RunRecord, Store
from cwsync.store.users import UserStore
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from cwsync_sandbox.hubspot import HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app
from tests.console.conftest import PASSWORD, csrf_of

CW, HS, HUDU = "http://cw.test", "http://hs.test", "http://hudu.test"
_BASE = re.compile(r'name="base" value="([0-9a-f]{64})"')

YAML_TEXT = """\
# cwsync configuration of the console tests — every comment here must survive the console's saves
version: 1
store: sqlite:///{store}
connections:
  connectwise:                       # the sandbox
    site: {cw}
    company_id: {company}
    public_key: {public}
    private_key: ${{CFG_TEST_CW_KEY}}
    client_id: {client}
    requests_per_minute: null
  hubspot:
    token: ${{CFG_TEST_HS_TOKEN}}    # a private app
    base_url: {hs}
    requests_per_10s: 100000
  hudu:
    base_url: {hudu}
    api_key: ${{CFG_TEST_HUDU_KEY}}
    requests_per_minute: 100000
server:
  api_token: ${{CFG_TEST_API_TOKEN}}
syncs:
  hubspot:
    conflict_policy: connectwise-wins   # ConnectWise is the source of truth
    objects:
      companies:
        direction: two-way              # both ways
      contacts:
        direction: two-way
      deals:
        direction: connectwise-to-hubspot
  hudu:                                 # documentation
    layouts:
      sort_rules:
        - {{types: [Managed Server], layout: Server}}
    create_missing_layouts: true
  catalog:
    company_type_priority: [Customer, Prospect, Partner, Vendor]   # SB-2: first listed wins
  changes:
    boards: [Help Desk]
    companies:
      acme: {{connectwise: 1}}          # the change tool's key → ConnectWise identifier
    statuses:
      created: New
"""


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Cfg:
    """A console on the three sandboxes, its YAML file, and a client logged in as nobody yet."""

    server: Server
    http: httpx.AsyncClient
    path: Path
    cw_box: Sandbox
    hudu_box: HuduSandbox
    hs_box: Any

    async def login(self, name: str = "ann") -> None:
        """Log in through the form (the viewer `vic` is added on first use: each user costs an argon2 hash)."""
        if name == "vic" and await UserStore(self.server.store).count() < 2:
            await UserStore(self.server.store).add("vic", PASSWORD, role="viewer")
        page = await self.http.get("/login")
        answer = await self.http.post(
            "/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/"}
        )
        assert answer.status_code == 303, answer.text

    async def form(self, path: str) -> dict[str, str]:
        """The CSRF token and base hash a page's forms carry."""
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        found = _BASE.search(page.text)
        return {"csrf_token": csrf_of(page.text), "base": found.group(1) if found else ""}

    async def post(self, path: str, page: str, data: dict[str, Any]) -> httpx.Response:
        """POST a form taken from `page` (its tokens added), as a browser does."""
        return await self.http.post(path, data={**await self.form(page), **data})

    def text(self) -> str:
        """The YAML file now."""
        return self.path.read_text(encoding="utf-8")

    def config(self) -> Config:
        """The file through the CLI's loader."""
        return load_config(self.path)


def flash(response: httpx.Response) -> str:
    """The message a redirect carries to the next page."""
    from urllib.parse import unquote

    cookie = response.headers.get("set-cookie", "")
    found = re.search(r"cwsync_flash=\"?([^;\"]+)", cookie)
    return unquote(found.group(1)) if found else ""


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The secrets the YAML refers to, in the environment."""
    cw = SandboxSettings()
    values = {
        "CFG_TEST_CW_KEY": cw.private_key,
        "CFG_TEST_HS_TOKEN": HubSpotSandboxSettings().token,
        "CFG_TEST_HUDU_KEY": HuduSandboxSettings().api_key,
        "CFG_TEST_API_TOKEN": "cfg-test-api-token",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
async def cfg(tmp_path: Path, secrets_env: dict[str, str]) -> AsyncIterator[Cfg]:
    """The console of a server on the ConnectWise (300 records), HubSpot and Hudu sandboxes, the admin ann."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW, records=300, seed=3))
    hs_box = build_hubspot_sandbox(
        HubSpotSandboxSettings(base_url=HS, rate_limit_per_10s=100_000, search_per_second=100_000)
    )
    hudu_box = build_hudu_sandbox(HuduSandboxSettings(base_url=HUDU, rate_limit_per_minute=100_000))
    s = cw_box.settings
    path = tmp_path / "cwsync.yaml"
    path.write_text(
        YAML_TEXT.format(
            store=tmp_path / "cwsync.db",
            cw=CW,
            company=s.company_id,
            public=s.public_key,
            client=s.client_id,
            hs=HS,
            hudu=HUDU,
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    store = await Store.open(config.store)
    cw = ConnectWiseClient(
        connectwise_settings(config),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(cw_box))),
        sleep=_no_sleep,
    )
    hs = HubSpotClient(
        HubSpotSettings(token=secrets_env["CFG_TEST_HS_TOKEN"], base_url=HS, requests_per_10s=100_000),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_hubspot_app(hs_box))),
        sleep=_no_sleep,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
    )
    hudu_app = create_hudu_app(hudu_box)

    def hudu_client() -> HuduClient:
        return HuduClient(
            hudu_settings(config),
            http=httpx.AsyncClient(transport=httpx.ASGITransport(app=hudu_app)),
            sleep=_no_sleep,
            retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
        )

    async with httpx.AsyncClient() as key_http, cw, hs:
        server = Server(config, store, cw, hs, key_http, clients={"hudu": hudu_client})
        app = create_app(server)
        app.state.hudu.client_factory = hudu_client
        add_console(app, server)
        users = UserStore(store)
        await users.add("ann", PASSWORD, role="admin")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Cfg(server, http, path, cw_box, hudu_box, hs_box)
    await store.close()


# --- mappings ------------------------------------------------------------------------------------------------------

MAPPINGS = "/mappings?pair=deals"


async def test_the_mappings_page_lists_defaults_with_the_files_changes(cfg: Cfg) -> None:
    """Every default field of the pair is listed with its ConnectWise field and direction."""
    await cfg.login()
    page = await cfg.http.get("/mappings?pair=companies")
    assert page.status_code == 200
    for name in ("connectwise_company_id", "name", "phone", "domain", "lifecyclestage"):
        assert f'data-field="{name}"' in page.text
    assert "customFields/" in page.text  # the custom fields ConnectWise has are offered


async def test_a_date_into_a_number_is_refused_inline_and_on_save(cfg: Cfg) -> None:
    """The inline check names the reason and the fix; saving anyway writes nothing."""
    await cfg.login()
    before = cfg.text()
    wanted = {"connectwise": "expectedCloseDate", "hubspot": "amount", "direction": "->"}
    check = await cfg.post("/mappings/deals/check", MAPPINGS, wanted)
    assert check.status_code == 200
    assert "HubSpot cannot store a datetime in a number property" in check.text
    saved = await cfg.post("/mappings/deals/add", MAPPINGS, wanted)
    assert saved.status_code == 303
    assert "Not saved" in flash(saved)
    assert "HubSpot cannot store a datetime in a number property" in flash(saved)
    assert cfg.text() == before


async def test_map_a_field_and_a_value_map_then_the_yaml_keeps_its_comments(cfg: Cfg) -> None:
    """A new field and a value map are saved into the YAML; every comment stays; the CLI loads the result."""
    await cfg.login()
    fine = {"connectwise": "name", "hubspot": "cw_opportunity_name", "direction": "->", "new_property": "on"}
    fine |= {"label": "ConnectWise opportunity", "group": "cwsync"}
    check = await cfg.post("/mappings/deals/check", MAPPINGS, fine)
    assert "passes every check" in check.text
    saved = await cfg.post("/mappings/deals/add", MAPPINGS, fine)
    assert "Saved as version" in flash(saved)
    assert "affects future syncs only" in flash(saved)
    assert any(p["name"] == "cw_opportunity_name" for p in cfg.hs_box.state.properties["deals"].values())
    values = "/mappings/companies/values/lifecyclestage"
    bad = await cfg.post(f"{values}/check", values, {"cw_value": ["Customer"], "hs_value": ["bestfriend"]})
    assert "does not offer" in bad.text
    saved = await cfg.post(values, values, {"cw_value": ["Customer", "*"], "hs_value": ["customer", "lead"]})
    assert "Saved as version" in flash(saved)
    text = cfg.text()
    for line in YAML_TEXT.splitlines():
        if "#" in line:
            assert line.split("#", 1)[1] in text
    config = cfg.config()
    assert config.syncs.hubspot is not None
    deals, companies = config.syncs.hubspot.objects["deals"], config.syncs.hubspot.objects["companies"]
    assert [(a.connectwise, a.other, a.label) for a in deals.fields.add] == [
        ("name", "cw_opportunity_name", "ConnectWise opportunity")
    ]
    assert companies.value_maps == {"lifecyclestage": {"Customer": "customer", "*": "lead"}}


async def test_direction_remove_and_restore(cfg: Cfg) -> None:
    """A field's direction changes, a default is removed and mapped again, each as a version."""
    await cfg.login()
    page = "/mappings?pair=contacts"
    assert "Saved" in flash(await cfg.post("/mappings/contacts/direction", page, {"field": "email", "value": "->"}))
    assert "Saved" in flash(await cfg.post("/mappings/contacts/remove", page, {"field": "jobtitle"}))
    contacts = cfg.config().syncs.hubspot.objects["contacts"]  # type: ignore[union-attr]
    assert contacts.fields.direction == {"email": "->"}
    assert contacts.fields.remove == ["jobtitle"]
    listed = await cfg.http.get(page)
    assert 'data-field="jobtitle"' not in listed.text
    assert "Removed defaults" in listed.text
    assert "Saved" in flash(await cfg.post("/mappings/contacts/restore", page, {"field": "jobtitle"}))
    assert cfg.config().syncs.hubspot.objects["contacts"].fields.remove == []  # type: ignore[union-attr]


async def _run_job(cfg: Cfg, pair: str) -> RunRecord:
    """Queue one incremental job of `pair` as the scheduler does, and wait (deadline) for its run to finish."""
    tenant = cfg.server.tenant
    before = {r.run_id for r in await cfg.server.store.runs(tenant, limit=50)}
    spec = JobSpec(tenant=tenant, pair=pair, kind="incremental", queueing_key=f"test:{pair}", payload={})
    await cfg.server.runner.enqueue(spec)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [r for r in await cfg.server.store.runs(tenant, limit=50) if r.run_id not in before]
        if done and done[0].finished_at is not None:
            return done[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {pair} job did not finish within 60 s")


async def test_a_saved_mapping_reaches_the_next_job_without_a_restart(cfg: Cfg) -> None:
    """A default field removed in the console is not written by the running server's next job (no restart)."""
    store = cfg.cw_box.store
    phones = [(store.get("companies", i) or {}).get("phoneNumber") for i in store.ids("companies")]
    assert sum(1 for p in phones if p) >= 5  # the field would be written if the old mapping were used
    await cfg.login()
    saved = await cfg.post("/mappings/companies/remove", "/mappings?pair=companies", {"field": "phone"})
    assert "the running server uses it from its next job" in flash(saved)
    await cfg.server.start(schedule=False)
    try:
        run = await _run_job(cfg, "companies")
    finally:
        await cfg.server.stop(grace=5)
    assert run.status == "succeeded", run.error
    assert run.counts.created >= 5
    companies = list(cfg.hs_box.state.records["companies"].values())
    assert len(companies) >= run.counts.created
    assert [c["phone"] for c in companies if c.get("phone")] == []
    assert all(c.get("name") for c in companies)  # the rest of the mapping still applied


async def test_a_saved_schedule_restarts_the_running_scheduler_on_it(cfg: Cfg) -> None:
    """A new incremental period saved in the console is the running scheduler's at once; a save that leaves the
    schedules alone keeps the scheduler (and its rhythm) as it was."""
    await cfg.login()
    await cfg.server.start(schedule=True)
    try:
        first = cfg.server.scheduler
        assert first is not None
        saved = await cfg.post("/mappings/contacts/remove", "/mappings?pair=contacts", {"field": "jobtitle"})
        assert "the running server uses it from its next job" in flash(saved)
        assert cfg.server.scheduler is first
        saved = await cfg.post("/integrations/hubspot/schedule", "/integrations", {"incremental_minutes": "7"})
        assert "the running server uses it from its next job" in flash(saved)
        second = cfg.server.scheduler
        assert second is not None
        assert second is not first
        periods = {(s.pair, s.kind): s.every_seconds for s in second._schedules}
        assert periods[("contacts", "incremental")] == 7 * 60
        assert cfg.server._scheduler_task is not None
        assert not cfg.server._scheduler_task.done()
    finally:
        await cfg.server.stop(grace=5)


async def test_a_saved_changes_mapping_reaches_the_change_api_without_a_restart(cfg: Cfg) -> None:
    """The change-management API's workflow is started again for a new `changes:` (a company mapped in the
    console is one the running API knows), and kept as it was for a save that does not touch it."""
    from cwsync.server.changes_api import changes_workflow

    app = cfg.http._transport.app  # type: ignore[attr-defined]
    await cfg.login()
    before = await changes_workflow(app)
    saved = await cfg.post("/mappings/contacts/remove", "/mappings?pair=contacts", {"field": "jobtitle"})
    assert "Saved" in flash(saved)
    assert await changes_workflow(app) is before
    first = (await cfg.server.cw.list_page("company/companies", page_size=1, conditions=None))[0]
    form = {"key": "reloaded", "connectwise": str(first["identifier"]), "boards": ["Help Desk"]}
    assert "the running server uses it from its next job" in flash(
        await cfg.post("/changes/companies", "/changes", form)
    )
    after = await changes_workflow(app)
    assert after is not before
    assert "reloaded" in after.setup.companies
    assert "reloaded" not in before.setup.companies


async def test_a_viewer_sees_but_cannot_save(cfg: Cfg) -> None:
    """A viewer's page has no edit forms, and a save posted anyway is refused (403) with the file unchanged."""
    await cfg.login("vic")
    page = await cfg.http.get("/mappings?pair=contacts")
    assert page.status_code == 200
    assert 'action="/mappings/contacts/add"' not in page.text
    before = cfg.text()
    refused = await cfg.post(
        "/mappings/contacts/direction", "/mappings?pair=contacts", {"field": "email", "value": "->"}
    )
    assert refused.status_code == 403
    assert cfg.text() == before


async def test_a_form_without_its_csrf_token_is_refused(cfg: Cfg) -> None:
    """A save without the CSRF token (or with another) is refused before it runs."""
    await cfg.login()
    before = cfg.text()
    form = await cfg.form("/mappings?pair=contacts")
    for token in ("", "not-the-token"):
        data = {"base": form["base"], "field": "email", "value": "->", "csrf_token": token}
        refused = await cfg.http.post("/mappings/contacts/direction", data=data)
        assert refused.status_code == 403
        assert "security token" in refused.text
    assert cfg.text() == before


async def test_a_stale_form_does_not_overwrite_a_newer_file(cfg: Cfg) -> None:
    """A form rendered before a hand edit cannot save over it."""
    await cfg.login()
    form = await cfg.form("/mappings?pair=contacts")
    cfg.path.write_text(cfg.text() + "# edited by hand meanwhile\n", encoding="utf-8")
    answer = await cfg.http.post("/mappings/contacts/direction", data={**form, "field": "email", "value": "->"})
    assert "changed since" in flash(answer)
    assert cfg.text().endswith("# edited by hand meanwhile\n")


# --- integrations --------------------------------------------------------------------------------------------------


async def test_integrations_lists_the_registry_and_switches_objects_and_schedules(cfg: Cfg) -> None:
    """Every registry entry is shown; an object switched off, a direction and a schedule are saved to the file."""
    from cwsync.server.registry import REGISTRY

    await cfg.login()
    page = await cfg.http.get("/integrations")
    assert page.status_code == 200
    for entry in REGISTRY:
        assert f'id="integration-{entry.name}"' in page.text
    form = {"enabled:companies": "on", "direction:companies": "->", "enabled:contacts": "on"}
    form |= {"direction:contacts": "<->", "direction:deals": "->"}
    saved = await cfg.post("/integrations/hubspot/objects", "/integrations", form)
    assert "Saved as version" in flash(saved)
    saved = await cfg.post("/integrations/hubspot/schedule", "/integrations", {"incremental_minutes": "15"})
    assert "Saved as version" in flash(saved)
    hubspot = cfg.config().syncs.hubspot
    assert hubspot is not None
    assert hubspot.objects["deals"].enabled is False
    assert hubspot.objects["companies"].direction == "->"
    assert hubspot.schedule.incremental_minutes == 15
    assert "direction: connectwise-to-hubspot" in cfg.text()  # deals' own spelling kept: only what changed moved
    off = await cfg.post("/integrations/hudu/enabled", "/integrations", {"value": "off"})
    assert "Saved" in flash(off)
    assert cfg.config().syncs.hudu.enabled is False  # type: ignore[union-attr]


# --- filters -------------------------------------------------------------------------------------------------------


async def test_filters_show_a_live_count_and_save_rules(cfg: Cfg) -> None:
    """The count is ConnectWise's; the rule being added shows its count; saved and removed rules reach the file."""
    from cwsync.config.model import FilterRule
    from cwsync.core.filters import failing_rule
    from cwsync.integrations.hubspot.shapes import flatten_company

    await cfg.login()
    page = "/filters?pair=companies"
    whole = await cfg.http.get("/filters/companies/count")
    assert "companies pass" in whole.text
    rule = {"side": "connectwise", "field": "types", "op": "in", "value": "Customer"}
    check = await cfg.post("/filters/companies/check", page, rule)
    rows = [r async for r in cfg.server.cw.stream_records("company/companies")]
    kept = sum(
        1
        for r in rows
        if failing_rule([FilterRule(field="types", op="in", value=["Customer"])], flatten_company(r)) is None
    )
    assert f"{kept:,} of {len(rows):,} companies pass" in check.text
    assert "Saved" in flash(await cfg.post("/filters/companies/add", page, rule))
    unknown = {"side": "hubspot", "field": "no_such_property", "op": "eq", "value": "x"}
    refused = await cfg.post("/filters/companies/check", page, unknown)
    assert "HubSpot companies have no property 'no_such_property'" in html.unescape(refused.text)
    rules = cfg.config().syncs.hubspot.objects["companies"].filters.connectwise  # type: ignore[union-attr]
    assert [(r.field, r.op, r.value) for r in rules] == [("types", "in", ["Customer"])]
    assert f"{kept:,} of {len(rows):,}" in (await cfg.http.get("/filters/companies/count")).text
    assert "Saved" in flash(await cfg.post("/filters/companies/remove", page, {"side": "connectwise", "index": "0"}))
    assert cfg.config().syncs.hubspot.objects["companies"].filters.connectwise == []  # type: ignore[union-attr]


# --- hudu ----------------------------------------------------------------------------------------------------------


async def test_hudu_matching_bulk_exact_one_by_hand_then_sync(cfg: Cfg) -> None:
    """Accept every exact suggestion, match one company by hand, sync it alone, then sync everything."""
    from cwsync.integrations.hudu.decisions import load_decisions

    companies = [c async for c in cfg.server.cw.stream_records("company/companies", fields="id,name,identifier")]
    for twin in companies[:2]:  # Hudu already has two of them under the same name: exact suggestions
        cfg.hudu_box.state.create_company({"name": str(twin["name"]).upper()})
    free = cfg.hudu_box.state.create_company({"name": "Docs for the third one"})
    cw_id = int(companies[2]["id"])
    hudu_before = len(cfg.hudu_box.state.companies)
    await cfg.login()
    page = await cfg.http.get("/hudu")
    assert page.status_code == 200
    assert "Accept all 2 exact matches" in page.text
    searched = await cfg.http.get("/hudu", params={"q": str(companies[2]["name"])[:8], "show": "all"})
    assert f'data-cw-id="{cw_id}"' in searched.text
    accepted = await cfg.post("/hudu/match/auto", "/hudu", {})
    assert "Accepted 2 exact matches" in flash(accepted)
    by_hand = await cfg.post("/hudu/match", "/hudu", {"cw_id": str(cw_id), "kind": "match", "hudu_id": str(free["id"])})
    assert "matched" in flash(by_hand)
    decisions = await load_decisions(cfg.server.store, "default")
    assert decisions[cw_id].hudu_id == free["id"]
    assert decisions[cw_id].by == "console:ann"
    assert len(decisions) == 3
    one = await cfg.post(f"/hudu/match/{cw_id}/sync", "/hudu", {})
    assert f"Company {cw_id} synced" in flash(one)
    started = await cfg.post("/hudu/sync", "/hudu", {})
    assert "started" in flash(started)
    task = cfg.http._transport.app.state.console.background[cfg.server.tenant]["hudu_sync"]["task"]  # type: ignore[attr-defined]
    await asyncio.wait_for(task, 60)  # the background sync started by the page
    fragment = await cfg.http.get("/hudu/sync")
    assert "Hudu sync done" in fragment.text, fragment.text
    assert len(cfg.hudu_box.state.companies) == hudu_before  # the matched ones were linked; no "create" decision
    links = await cfg.server.store.links_by_left("default", "hudu:companies", [str(cw_id)])
    assert links[str(cw_id)].right_id == str(free["id"])


async def test_hudu_settings_save_sort_rules_and_options(cfg: Cfg) -> None:
    """Sort rules, the default layout and the skip lists are saved to syncs.hudu with the file's comments kept."""
    await cfg.login()
    page = "/hudu/settings"
    assert (await cfg.http.get(page)).status_code == 200
    layouts = {
        "contacts": "People",
        "locations": "Locations",
        "agreements": "Agreements",
        "configurations": "Configurations",
    }
    rules = {
        "rule_types": ["Managed Server, Virtual Machine", "Firewall", ""],
        "rule_layout": ["Server", "Network Device", ""],
    }
    assert "Saved" in flash(await cfg.post("/hudu/layouts", page, {**layouts, **rules}))
    options = {f"import:{t}": "on" for t in ("companies", "sites", "contacts", "configurations")}
    options |= {"skip_company_types": ["Vendor"], "match_assets_on_serial": "on", "update_company_details": "on"}
    options |= {"create_missing_layouts": "on"}
    assert "Saved" in flash(await cfg.post("/hudu/options", page, options))
    hudu = cfg.config().syncs.hudu
    assert hudu is not None
    assert [(r.types, r.layout) for r in hudu.layouts.sort_rules] == [
        (["Managed Server", "Virtual Machine"], "Server"),
        (["Firewall"], "Network Device"),
    ]
    assert hudu.skip == ["agreements"]
    assert hudu.skip_company_types == ["Vendor"]
    assert hudu.match_assets_on_serial is True
    assert "# documentation" in cfg.text()


# --- catalog -------------------------------------------------------------------------------------------------------


async def test_catalog_priority_order_and_mappings(cfg: Cfg) -> None:
    """The dragged order (hidden input) and a move without scripts are saved, flow style and comment kept; the
    mapping tables and defaults reach syncs.catalog; an order that drops a type is refused."""
    await cfg.login()
    page = "/catalog"
    assert (await cfg.http.get(page)).status_code == 200
    order = "Prospect\nCustomer\nVendor\nPartner"
    assert "Saved" in flash(await cfg.post("/catalog/priority", page, {"order": order}))
    assert "company_type_priority: [Prospect, Customer, Vendor, Partner]   # SB-2: first listed wins" in cfg.text()
    moved = await cfg.http.post(
        "/catalog/priority?type=Partner", data={**await cfg.form(page), "move": "up", "order": order}
    )
    assert "Saved" in flash(moved)
    assert cfg.config().syncs.catalog.company_type_priority == ["Prospect", "Customer", "Partner", "Vendor"]  # type: ignore[union-attr]
    refused = await cfg.post("/catalog/priority", page, {"order": "Prospect\nCustomer"})
    assert refused.status_code == 400
    form = {"categories:from": ["Hardware", ""], "categories:to": ["Hardware (HS)", ""]}
    form |= {"product_statuses:from": ["Active", "Inactive"], "product_statuses:to": ["active", "archive"]}
    form |= {"product_terms:from": ["Monthly"], "product_terms:to": ["P1M"]}
    form |= {"opportunity_statuses:from": ["Won"], "opportunity_statuses:to": ["Won"]}
    form |= {"shipping_product": "SHIP-GROUND", "default_category": "Uncategorized", "default_product_type": "Other"}
    form |= {"quote_opportunity_status": "Won", "quote_deal_stage": "closedwon"}
    assert "Saved" in flash(await cfg.post("/catalog/mappings", page, form))
    catalog = cfg.config().syncs.catalog
    assert catalog is not None
    assert catalog.categories == {"Hardware": "Hardware (HS)"}
    assert catalog.product_terms == {"Monthly": "P1M"}
    assert catalog.shipping_product == "SHIP-GROUND"


# --- change management ---------------------------------------------------------------------------------------------


async def test_changes_company_picker_statuses_devices_and_sync(cfg: Cfg) -> None:
    """A company found with the picker is mapped with its boards; statuses come from the boards (an unknown one is
    refused by the workflow's setup check); device types are saved and "sync configurations now" counts."""
    await cfg.login()
    page = await cfg.http.get("/changes")
    assert page.status_code == 200, page.text
    statuses = re.findall(r'<select name="board:Help Desk:completed".*?</select>', page.text, re.S)[0]
    names = re.findall(r"<option>([^<]+)</option>", statuses)
    assert names
    first = (await cfg.server.cw.list_page("company/companies", page_size=1, conditions=None))[0]
    picked = await cfg.http.get("/changes/companies", params={"q": str(first["name"])[:6]})
    assert str(first["identifier"]) in picked.text
    form = {"key": "first", "connectwise": str(first["identifier"]), "boards": ["Help Desk"]}
    assert "Saved" in flash(await cfg.post("/changes/companies", "/changes", form))
    chosen = {"default:created": "New", "board:Help Desk:completed": names[-1]}
    assert "Saved" in flash(await cfg.post("/changes/statuses", "/changes", chosen))
    refused = await cfg.post("/changes/statuses", "/changes", {"default:created": "No Such Status"})
    assert "is not a status of this board" in flash(refused)
    changes = cfg.config().syncs.changes
    assert changes is not None
    assert changes.companies["first"].connectwise == str(first["identifier"])
    assert changes.board_statuses["Help Desk"].completed == names[-1]
    types = [t async for t in cfg.server.cw.stream_records("company/configurations/types", fields="id,name")]
    mapped = {"type:from": [str(types[0]["name"]), str(types[1]["name"])], "type:to": ["Server", ""]}
    assert "Saved" in flash(await cfg.post("/changes/devices", "/changes", {**mapped, "companies": "all"}))
    assert cfg.config().syncs.changes.devices.types == {str(types[0]["name"]): "Server"}  # type: ignore[union-attr]
    synced = await cfg.post("/changes/devices/sync", "/changes", {})
    message = flash(synced)
    assert "Configurations synced" in message
    created = int(re.search(r"(\d+) created", message).group(1))  # type: ignore[union-attr]
    configs = [c async for c in cfg.server.cw.stream_records("company/configurations", fields="id,type")]
    assert created == sum(1 for c in configs if (c.get("type") or {}).get("name") == types[0]["name"])
    assert "created," in (await cfg.http.get("/changes")).text


# --- versions ------------------------------------------------------------------------------------------------------


async def test_versions_list_diff_and_roll_back(cfg: Cfg) -> None:
    """Saves are listed newest first with who and what; a diff shows the change; rolling back restores the text."""
    await cfg.login()
    original = cfg.text()
    page = "/mappings?pair=contacts"
    assert "Saved" in flash(await cfg.post("/mappings/contacts/direction", page, {"field": "email", "value": "->"}))
    listing = await cfg.http.get("/config/versions")
    numbers = [int(n) for n in re.findall(r'data-version="(\d+)"', listing.text)]
    assert len(numbers) == 2
    assert "original" in listing.text
    assert "ann" in listing.text
    newest, first = numbers
    diff = await cfg.http.get(f"/config/versions/{newest}?against=previous")
    added = [line for line in html.unescape(diff.text).splitlines() if line.startswith("+ ")]
    assert added == ["+        fields:", "+          direction:", "+            email: ->"]  # only what changed
    back = await cfg.post(f"/config/versions/{first}/rollback", f"/config/versions/{first}", {})
    assert f"Rolled back to version {first}" in flash(back)
    assert cfg.text() == original
    assert len(re.findall(r'data-version="(\d+)"', (await cfg.http.get("/config/versions")).text)) == 3
    await cfg.http.post("/logout", data={"csrf_token": (await cfg.form("/config/versions"))["csrf_token"]})
    await cfg.login("vic")
    viewer = await cfg.http.get(f"/config/versions/{first}")
    assert 'id="rollback"' not in viewer.text
    refused = await cfg.post(f"/config/versions/{newest}/rollback", f"/config/versions/{newest}", {})
    assert refused.status_code == 403
    assert cfg.text() == original
