"""End to end on both sandboxes: first sync, no-op re-sync, changes each way, conflicts, matching, dependencies."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.integrations.hubspot.run import HubSpotSync, SyncReport
from cwsync.store import Store
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.hubspot import HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app

CW_BASE = "http://cw.test"
HS_BASE = "http://hs.test"


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class World:
    """Both sandboxes, clients on them, a store, and a way to run the sync."""

    cw_box: Sandbox
    hs_box: Any
    cw: ConnectWiseClient
    hs: HubSpotClient
    hs_raw: httpx.AsyncClient
    store: Store
    config: Config
    calls: Counter[str] = field(default_factory=Counter)
    """Requests made by the engine's clients, by host (`cw.test`, `hs.test`)."""

    async def sync(self, **kw: Any) -> SyncReport:
        """One run of the HubSpot integration."""
        return await HubSpotSync(self.config, self.store, self.cw, self.hs).run(**kw)

    async def hs_all(self, object_type: str) -> list[dict[str, Any]]:
        """Every HubSpot object of a type (through the client)."""
        return [r async for page in self.hs.stream(object_type, properties=_PROPS[object_type]) for r in page]

    async def hs_change(self, object_type: str, object_id: str, properties: dict[str, str]) -> None:
        """A change made by a HubSpot user (not by cwsync)."""
        r = await self.hs_raw.patch(f"/_sandbox/objects/{object_type}/{object_id}", json={"properties": properties})
        assert r.status_code == 200, r.text


_PROPS = {
    "companies": ["name", "connectwise_company_id", "type", "lifecyclestage", "phone", "domain"],
    "contacts": ["email", "firstname", "lastname", "phone", "jobtitle", "connectwise_contact_id"],
    "deals": ["dealname", "connectwise_opportunity_id", "dealstage"],
}


def make_config(tmp_path: Path, box: Sandbox, **hubspot_sync: Any) -> Config:
    """A configuration pointing at the two sandboxes."""
    s = box.settings
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 'cwsync.db'}",
            "connections": {
                "connectwise": {
                    "site": CW_BASE,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                },
                "hubspot": {"token": HubSpotSandboxSettings().token, "base_url": HS_BASE},
            },
            "syncs": {"hubspot": hubspot_sync},
        }
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A 300-record ConnectWise sandbox, an empty HubSpot sandbox, SQLite store."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=300, seed=3))
    # The clients never wait (no sleeps in tests), so the emulator's limits are lifted rather than paced against.
    hs_box = build_hubspot_sandbox(
        HubSpotSandboxSettings(base_url=HS_BASE, rate_limit_per_10s=100_000, search_per_second=100_000)
    )
    config = make_config(tmp_path, cw_box)
    s = config.connections.connectwise
    calls: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        calls[request.url.host] += 1

    hooks: Any = {"request": [count]}
    cw = ConnectWiseClient(
        ConnectWiseSettings(
            site=s.site,
            company_id=s.company_id,
            public_key=s.public_key,
            private_key=s.private_key,
            client_id=s.client_id,
            requests_per_minute=None,
        ),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(cw_box)), event_hooks=hooks),
        sleep=_no_sleep,
    )
    hs_app = create_hubspot_app(hs_box)
    hs = HubSpotClient(
        HubSpotSettings(token=HubSpotSandboxSettings().token, base_url=HS_BASE, requests_per_10s=100_000),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=hs_app), event_hooks=hooks),
        sleep=_no_sleep,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
    )
    hs_raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=hs_app), base_url=HS_BASE)
    store = await Store.open(config.store)
    try:
        yield World(cw_box, hs_box, cw, hs, hs_raw, store, config, calls)
    finally:
        await store.close()
        await cw.aclose()
        await hs.aclose()
        await hs_raw.aclose()


def _expected_companies(box: Sandbox) -> dict[str, dict[str, Any]]:
    out = {}
    for i in box.store.ids("companies"):
        record = box.store.get("companies", i)
        assert record is not None
        if not record.get("deletedFlag"):
            out[record["identifier"]] = record
    return out


def _expected_contacts(box: Sandbox, companies: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    company_ids = {c["id"] for c in companies.values()}
    out = {}
    for i in box.store.ids("contacts"):
        c = box.store.get("contacts", i)
        assert c is not None
        email = next((x["value"] for x in c.get("communicationItems", []) if x["communicationType"] == "Email"), None)
        if c.get("inactiveFlag") or not c.get("company") or c["company"]["id"] not in company_ids or not email:
            continue
        out.setdefault(email.lower(), c)
    return out


async def test_first_sync_creates_exactly_the_expected_records(world: World) -> None:
    """A first sync creates one HubSpot company per live CW company, contacts with their company association."""
    report = await world.sync()
    companies = _expected_companies(world.cw_box)
    hs_companies = await world.hs_all("companies")
    assert sorted(c["properties"]["connectwise_company_id"] for c in hs_companies) == sorted(companies)
    contacts = _expected_contacts(world.cw_box, companies)
    hs_contacts = await world.hs_all("contacts")
    assert sorted(c["properties"]["email"] for c in hs_contacts) == sorted(contacts)
    by_identifier = {c["properties"]["connectwise_company_id"]: c["id"] for c in hs_companies}
    sample = [c for c in hs_contacts][:5]
    associations = await world.hs.batch_read_associations("contacts", "companies", [c["id"] for c in sample])
    for contact in sample:
        cw_contact = contacts[contact["properties"]["email"]]
        cw_company = world.cw_box.store.get("companies", cw_contact["company"]["id"])
        assert cw_company is not None
        assert associations[contact["id"]] == [by_identifier[cw_company["identifier"]]]
    assert report.counts.created == len(hs_companies) + len(hs_contacts) + len(await world.hs_all("deals"))
    assert report.counts.failed == 0


async def test_second_sync_writes_nothing(world: World) -> None:
    """Running the sync again creates and updates nothing (echoes of our own writes are suppressed)."""
    await world.sync()
    before = [(c["id"], c.get("updatedAt")) for c in await world.hs_all("contacts")]
    report = await world.sync()
    assert (report.counts.created, report.counts.updated, report.counts.failed) == (0, 0, 0)
    assert [(c["id"], c.get("updatedAt")) for c in await world.hs_all("contacts")] == before


async def test_the_read_back_of_our_own_writes_is_counted_not_planned(world: World) -> None:
    """The run after a first sync reads back every object it created (HubSpot's changes since its cursor); those
    still as their links remember them are counted unchanged without being planned or held: their links are left
    as they are, and one whose ConnectWise record changed meanwhile is still updated."""
    first = await world.sync()
    tenant = world.config.tenant
    ids = [str(c["id"]) for c in _expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()]
    before = await world.store.links_by_left(tenant, "contacts", ids)
    changed = ids[0]
    await world.cw.patch("company/contacts", int(changed), [{"op": "replace", "path": "title", "value": "Echo test"}])
    report = await world.sync()
    assert (report.counts.created, report.counts.updated, report.counts.failed) == (0, 1, 0)
    assert report.counts.unchanged == first.counts.created - 1  # every echo once, the changed one not twice
    after = await world.store.links_by_left(tenant, "contacts", ids)
    rewritten = {i for i in ids if after[i].synced_at != before[i].synced_at}
    # Only what ConnectWise's incremental read returned is planned (and its link recorded again): the changed
    # contact, and those its cursor's overlap re-reads; the read-back alone rewrites none.
    assert changed in rewritten
    assert len(rewritten) < len(ids) // 2, (len(rewritten), len(ids))
    hs_contact = next(c for c in await world.hs_all("contacts") if c["id"] == after[changed].right_id)
    assert hs_contact["properties"].get("jobtitle") == "Echo test"


async def test_connectwise_change_reaches_hubspot(world: World) -> None:
    """A phone changed in ConnectWise arrives in HubSpot on the next (incremental) run."""
    await world.sync()
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()))
    items = [dict(i) for i in contact["communicationItems"]]
    phone = next(i for i in items if i["communicationType"] == "Phone")
    phone["value"] = "+1 555 867 5309"
    await world.cw.patch(
        "company/contacts", contact["id"], [{"op": "replace", "path": "communicationItems", "value": items}]
    )
    report = await world.sync()
    assert report.counts.updated >= 1
    email = next(i["value"] for i in items if i["communicationType"] == "Email").lower()
    [hs_contact] = [c for c in await world.hs_all("contacts") if c["properties"]["email"] == email]
    assert "8675309" in hs_contact["properties"]["phone"].replace(" ", "")


async def test_hubspot_change_reaches_connectwise(world: World) -> None:
    """A job title changed in HubSpot arrives in ConnectWise."""
    await world.sync()
    hs_contact = (await world.hs_all("contacts"))[0]
    await world.hs_change("contacts", hs_contact["id"], {"jobtitle": "Chief Coffee Officer"})
    await world.sync()
    [cw_contact] = [
        c
        async for page in world.cw.stream("company/contacts")
        for c in page
        if any(i["value"].lower() == hs_contact["properties"]["email"] for i in c.get("communicationItems", []))
    ]
    assert cw_contact["title"] == "Chief Coffee Officer"


async def test_conflict_resolves_by_policy_and_is_recorded(world: World) -> None:
    """The same field changed on both sides: ConnectWise wins by default, and the conflict is counted and logged."""
    await world.sync()
    hs_contact = (await world.hs_all("contacts"))[0]
    email = hs_contact["properties"]["email"]
    [cw_id] = [
        c["id"]
        async for page in world.cw.stream("company/contacts")
        for c in page
        if any(i["value"].lower() == email for i in c.get("communicationItems", []))
    ]
    await world.cw.patch("company/contacts", cw_id, [{"op": "replace", "path": "firstName", "value": "FromCW"}])
    await world.hs_change("contacts", hs_contact["id"], {"firstname": "FromHS"})
    report = await world.sync()
    assert report.counts.conflicts == 1
    [after] = [c for c in await world.hs_all("contacts") if c["id"] == hs_contact["id"]]
    assert after["properties"]["firstname"] == "FromCW"
    items = await world.store.items_for_record(world.config.tenant, "contacts", left_id=str(cw_id))
    assert "conflict on firstname" in items[0].reason


async def test_existing_hubspot_contact_is_matched_not_duplicated(world: World) -> None:
    """A HubSpot contact that already has a ConnectWise contact's e-mail is linked, not created again."""
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).items()))
    email = contact[0]
    created = await world.hs.create("contacts", {"email": email.upper(), "firstname": "Pre-existing"})
    await world.sync()
    matching = [c for c in await world.hs_all("contacts") if c["properties"]["email"].lower() == email]
    assert [c["id"] for c in matching] == [created["id"]]


async def test_contact_without_company_is_reported_with_reason(world: World) -> None:
    """A ConnectWise contact with no company is skipped, and the run log says why."""
    made = await world.cw.create(
        "company/contacts",
        {
            "firstName": "Lone",
            "lastName": "Wolf",
            "communicationItems": [
                {
                    "type": {"id": 1, "name": "Email"},
                    "value": "lone@wolf.example",
                    "communicationType": "Email",
                    "defaultFlag": True,
                }
            ],
        },
    )
    await world.sync()
    items = await world.store.items_for_record(world.config.tenant, "contacts", left_id=str(made["id"]))
    assert items[0].action == "skip"
    assert "no company" in items[0].reason


async def test_company_with_several_types_gets_the_mapped_one(world: World) -> None:
    """A ConnectWise company that is Prospect and Customer becomes a HubSpot customer."""
    made = await world.cw.create(
        "company/companies",
        {
            "identifier": "TwoTypes1",
            "name": "Two Types Ltd",
            "city": "Tampa",
            "types": [{"id": _type_id(world, "Prospect")}, {"id": _type_id(world, "Customer")}],
        },
    )
    assert len(made["types"]) == 2
    await world.sync()
    [company] = [c for c in await world.hs_all("companies") if c["properties"]["connectwise_company_id"] == "TwoTypes1"]
    assert company["properties"]["lifecyclestage"] == "customer"


async def test_hubspot_company_without_address_fails_alone_with_the_reason(world: World) -> None:
    """ConnectWise refuses a company with no address field: that HubSpot company is a failed item saying so (no
    POST is sent for it), and one with a city in the same run is created."""
    await world.sync()
    bare = await world.hs.create("companies", {"name": "No Address Ltd"})
    placed = await world.hs.create("companies", {"name": "Placed Ltd", "city": "Austin"})
    report = await world.sync()
    assert report.counts.failed == 1
    [failed] = await world.store.items_for_record(world.config.tenant, "companies", right_id=bare["id"])
    assert failed.status == "failed"
    assert "at least one address field" in (failed.reason or "")
    names = {
        c["name"]: c
        for c in (world.cw_box.store.get("companies", i) for i in world.cw_box.store.ids("companies"))
        if c is not None
    }
    assert "No Address Ltd" not in names
    assert names["Placed Ltd"]["city"] == "Austin"
    [made] = await world.store.items_for_record(world.config.tenant, "companies", right_id=placed["id"])
    assert made.status != "failed"


def _type_id(world: World, name: str) -> int:
    for i in world.cw_box.store.ids("company_types"):
        record = world.cw_box.store.get("company_types", i)
        if record and record["name"] == name:
            return int(record["id"])
    raise AssertionError(f"no company type {name}")


async def test_dry_run_writes_nothing(world: World) -> None:
    """`plan` lists the creates and writes nothing anywhere."""
    report = await world.sync(dry_run=True)
    assert report.counts.created > 0
    assert await world.hs_all("companies") == []
    assert await world.store.link_count(world.config.tenant, "companies") == 0


async def test_replay_one_record(world: World) -> None:
    """`sync --record connectwise:contacts:ID` reads and applies that record only, leaving cursors alone (BY-2)."""
    from cwsync.integrations.hubspot.run import RecordRef

    await world.sync()
    cursor = await world.store.cursor(world.config.tenant, "contacts", "left")
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()))
    await world.cw.patch("company/contacts", contact["id"], [{"op": "replace", "path": "title", "value": "Replayed"}])
    report = await world.sync(record=RecordRef("connectwise", "contacts", str(contact["id"])))
    assert report.counts.updated == 1
    assert sum(p.counts.total for p in report.pairs) == 1
    assert await world.store.cursor(world.config.tenant, "contacts", "left") == cursor
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert run.kind == "record"
    email = next(i["value"] for i in contact["communicationItems"] if i["communicationType"] == "Email").lower()
    [hs_contact] = [c for c in await world.hs_all("contacts") if c["properties"]["email"] == email]
    got = await world.hs.get("contacts", hs_contact["id"], properties=["jobtitle"])
    assert got["properties"]["jobtitle"] == "Replayed"


async def test_replay_many_records_as_one_batch(world: World) -> None:
    """Twenty changed contacts, a deleted one and a HubSpot-side change replay in one run with a few calls."""
    from cwsync.integrations.hubspot.run import RecordRef

    await world.sync()
    contacts = list(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values())[:22]
    changed, deleted, hs_side = contacts[:20], contacts[20], contacts[21]
    for n, contact in enumerate(changed):
        ops = [{"op": "replace", "path": "title", "value": f"Batch {n}"}]
        await world.cw.patch("company/contacts", contact["id"], ops)
    await world.cw.delete("company/contacts", deleted["id"])
    ids = [str(c["id"]) for c in contacts]
    links = await world.store.links_by_left(world.config.tenant, "contacts", ids)
    await world.hs_change("contacts", links[str(hs_side["id"])].right_id, {"jobtitle": "From HubSpot"})
    refs = [RecordRef("connectwise", "contacts", str(c["id"])) for c in [*changed, deleted]]
    refs.append(RecordRef("hubspot", "contacts", links[str(hs_side["id"])].right_id))
    refs.append(RecordRef("hubspot", "contacts", "999999999"))  # archived or unknown: left alone
    engine = HubSpotSync(world.config, world.store, world.cw, world.hs)
    await engine.prepare()  # once per process (properties, owners), as `cwsync serve` does at start
    world.calls.clear()
    report = await engine.run(records=refs, trigger="callback")

    assert (report.counts.updated, report.counts.deleted, report.counts.failed) == (21, 1, 0)
    assert world.calls["cw.test"] <= 2  # one read of the 21 contacts (+ the write back of the HubSpot change)
    assert world.calls["hs.test"] <= 6  # read, associations, update, archive; the HubSpot side: read + associations
    titles = {
        c["id"]: c["properties"].get("jobtitle")
        for c in await world.hs.batch_read(
            "contacts", [links[str(c["id"])].right_id for c in changed], properties=["jobtitle"]
        )
    }
    assert sorted(titles.values()) == sorted(f"Batch {n}" for n in range(20))
    assert (await world.cw.get("company/contacts", hs_side["id"]))["title"] == "From HubSpot"
    assert links[str(deleted["id"])].right_id not in [c["id"] for c in await world.hs_all("contacts")]
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert (run.kind, run.trigger) == ("record", "callback")


async def test_custom_field_maps_to_custom_property_both_ways(tmp_path: Path, world: World) -> None:
    """A ConnectWise custom field mapped to a HubSpot property (created for it) syncs both ways (HS-3, HS-5)."""
    world.config = make_config(
        tmp_path,
        world.cw_box,
        objects={
            "companies": {
                "fields": {
                    "add": [
                        {"connectwise": "customFields/Tier", "hubspot": "cw_tier"},
                        {"connectwise": "customFields/Onboarded", "hubspot": "cw_onboarded", "type": "date"},
                    ]
                }
            }
        },
    )
    await world.sync()
    company = next(
        c
        for c in _expected_companies(world.cw_box).values()
        if any(f["caption"] == "Tier" and f.get("value") for f in c.get("customFields", []))
    )
    tier = next(f["value"] for f in company["customFields"] if f["caption"] == "Tier")
    [hs_company] = [
        c
        async for page in world.hs.stream("companies", properties=["connectwise_company_id", "cw_tier"])
        for c in page
        if c["properties"]["connectwise_company_id"] == company["identifier"]
    ]
    assert hs_company["properties"]["cw_tier"] == tier
    await world.hs_change("companies", hs_company["id"], {"cw_tier": "Platinum"})
    await world.sync()
    after = await world.cw.get("company/companies", company["id"])
    assert next(f["value"] for f in after["customFields"] if f["caption"] == "Tier") == "Platinum"
    assert len(after["customFields"]) == len(company["customFields"])


def test_two_way_deals_load(tmp_path: Path) -> None:
    """Deals may flow both ways (HS-1, HS-2; end to end in tests/parity/test_deals_two_way.py): the stage maps
    back to a status, the company and contact are required for an opportunity."""
    from cwsync.config.vocabulary import Direction
    from cwsync.integrations.hubspot.run import mappings

    box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=50))
    config = make_config(tmp_path, box, objects={"deals": {"direction": "two-way"}})
    deals = mappings(config)["deals"]
    fields = deals.by_name()
    assert (deals.direction, fields["dealstage"].direction) == (Direction.BOTH, Direction.BOTH)
    assert fields["company"].required_left
    assert fields["contact"].required_left


async def test_deal_owner_maps_member_to_owner_by_email(world: World) -> None:
    """A deal's owner is the HubSpot owner whose e-mail is the sales rep's (value map built per run)."""
    opportunity = world.cw_box.store.get("opportunities", 1)
    assert opportunity is not None
    member = world.cw_box.store.get("members", opportunity["primarySalesRep"]["id"])
    assert member is not None
    owner = world.hs_box.state.owners[0]
    owner["email"] = member["primaryEmail"]
    await world.sync()
    [deal] = [
        d
        async for page in world.hs.stream("deals", properties=["connectwise_opportunity_id", "hubspot_owner_id"])
        for d in page
        if d["properties"]["connectwise_opportunity_id"] == "1"
    ]
    assert deal["properties"]["hubspot_owner_id"] == str(owner["id"])


async def test_deleted_company_is_archived_in_hubspot(world: World) -> None:
    """A company deleted in ConnectWise (soft: deletedFlag) is archived in HubSpot and its link dropped (CW-6)."""
    await world.sync()
    company = next(iter(_expected_companies(world.cw_box).values()))
    links = await world.store.links_by_left(world.config.tenant, "companies", [str(company["id"])])
    hs_id = links[str(company["id"])].right_id
    await world.cw.delete("company/companies", company["id"])
    report = await world.sync()
    assert report.counts.deleted == 1
    remaining = [c["id"] for c in await world.hs_all("companies")]
    assert hs_id not in remaining
    assert await world.store.links_by_left(world.config.tenant, "companies", [str(company["id"])]) == {}


async def test_deleted_contact_replay_archives_and_ignore_policy_keeps(tmp_path: Path, world: World) -> None:
    """A hard-deleted contact (404 on re-read, as after a `deleted` callback) is archived; `ignore` keeps it."""
    from cwsync.integrations.hubspot.run import RecordRef

    await world.sync()
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()))
    cid = str(contact["id"])
    hs_id = (await world.store.links_by_left(world.config.tenant, "contacts", [cid]))[cid].right_id
    await world.cw.delete("company/contacts", contact["id"])
    report = await world.sync(record=RecordRef("connectwise", "contacts", cid))
    assert report.counts.deleted == 1
    assert hs_id not in [c["id"] for c in await world.hs_all("contacts")]
    other = list(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values())[1]
    oid = str(other["id"])
    other_hs = (await world.store.links_by_left(world.config.tenant, "contacts", [oid]))[oid].right_id
    world.config = make_config(tmp_path, world.cw_box, objects={"contacts": {"on_delete": "ignore"}})
    await world.cw.delete("company/contacts", other["id"])
    report = await world.sync(record=RecordRef("connectwise", "contacts", oid))
    assert report.counts.deleted == 0
    assert other_hs in [c["id"] for c in await world.hs_all("contacts")]


async def test_full_run_reconciles_silent_deletions_with_a_guard(world: World) -> None:
    """A contact deleted with no callback is archived by the next full run; a mass disappearance stops the run."""
    from cwsync.integrations.hubspot.run import MassDeleteError

    await world.sync()
    contacts = list(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values())
    world.cw_box.store.overlay.setdefault("contacts", {})[contacts[0]["id"]] = None  # gone, no callback
    report = await world.sync(full=True)
    assert report.counts.deleted == 1
    before = len(await world.hs_all("contacts"))
    for contact in contacts[1:]:
        world.cw_box.store.overlay["contacts"][contact["id"]] = None
    with pytest.raises(MassDeleteError, match="nothing was archived"):
        await world.sync(full=True)
    assert len(await world.hs_all("contacts")) == before
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert run.status == "failed"


async def test_a_full_run_confirms_a_missing_record_by_id_before_archiving(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A linked contact the full read did not return, but that ConnectWise still has (created or restored while the
    read went by), is looked up by id and kept, with a run item saying why; only a confirmed deletion archives."""
    from cwsync.integrations.hubspot.sides import ConnectWiseSide

    await world.sync()
    contacts = list(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values())
    unread, deleted = str(contacts[0]["id"]), str(contacts[1]["id"])
    world.cw_box.store.overlay.setdefault("contacts", {})[contacts[1]["id"]] = None  # gone, no callback
    changed = ConnectWiseSide.changed

    async def missing_one(self: ConnectWiseSide, since: Any) -> Any:
        async for page in changed(self, since):
            yield [raw for raw in page if not (self.pair == "contacts" and str(raw["id"]) == unread)]

    monkeypatch.setattr(ConnectWiseSide, "changed", missing_one)
    report = await world.sync(full=True)
    assert report.counts.deleted == 1
    links = await world.store.links_by_left(world.config.tenant, "contacts", [unread, deleted])
    assert list(links) == [unread]  # kept; the deleted one's link went with its archived contact
    hs_ids = [c["id"] for c in await world.hs_all("contacts")]
    assert links[unread].right_id in hs_ids
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=unread, limit=1)
    assert item.action == "skip"
    assert item.reason.startswith("not read by this full run but still in ConnectWise"), item.reason


async def test_a_full_run_reads_every_link_only_when_one_may_be_gone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reconciliation compares the store's link count with the linked records the run read: equal, no link scan;
    one more link than records (its ConnectWise record vanished), the scan finds it and archives its object."""
    await world.sync()
    scans: list[str] = []
    real_scan = world.store.iter_link_ids

    def counting_scan(tenant: str, pair: str, **kwargs: Any) -> Any:
        scans.append(pair)
        return real_scan(tenant, pair, **kwargs)

    monkeypatch.setattr(world.store, "iter_link_ids", counting_scan)
    report = await world.sync(full=True)
    assert (report.counts.deleted, scans) == (0, [])
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()))
    world.cw_box.store.overlay.setdefault("contacts", {})[contact["id"]] = None  # gone, no callback
    report = await world.sync(full=True)
    assert (report.counts.deleted, scans) == (1, ["contacts"])


async def test_no_op_resyncs_make_one_call_per_object_type(world: World) -> None:
    """A run with nothing to do makes one read per side and object type — the first one after the first sync too:
    it reads back what the first sync wrote (a HubSpot change made meanwhile must not be lost), but those objects
    carry the stamp cwsync stored when it wrote them, so their associations are not read."""
    await world.sync()
    engine = HubSpotSync(world.config, world.store, world.cw, world.hs)
    await engine.prepare()
    started = world.hs_box.state.now()

    def minutes_later(m: int) -> None:  # HubSpot's clock moves on between runs, as between scheduled cycles
        world.hs_box.state.now = lambda: started + timedelta(minutes=m)

    minutes_later(5)
    world.calls.clear()
    readback = await engine.run()
    assert (readback.counts.created, readback.counts.updated, readback.counts.failed) == (0, 0, 0)
    readback_calls = world.calls["hs.test"]
    for m in (10, 15):
        minutes_later(m)
        world.calls.clear()
        report = await engine.run()
        assert (report.counts.created, report.counts.updated, report.counts.failed) == (0, 0, 0)
        assert world.calls == {"hs.test": 3, "cw.test": 3}, world.calls  # one search / one read per object type
    assert readback_calls == 3  # the objects come back in one search page each; stamped, so no association reads
    # ... and a change made after that is still seen
    contact = next(iter(_expected_contacts(world.cw_box, _expected_companies(world.cw_box)).values()))
    hs_id = (await world.store.links_by_left(world.config.tenant, "contacts", [str(contact["id"])]))[
        str(contact["id"])
    ].right_id
    await world.hs_change("contacts", hs_id, {"jobtitle": "Seen after the no-op runs"})
    report = await engine.run()
    assert report.counts.updated == 1
    assert (await world.cw.get("company/contacts", contact["id"]))["title"] == "Seen after the no-op runs"


async def test_progress_counts_up_to_connectwise_own_totals(world: World) -> None:
    """A full run tells each pair's total from ConnectWise's count, and its progress reaches exactly that total;
    an incremental run with nothing changed has a total of 0 and no progress."""
    totals: dict[str, int] = {}
    done: dict[str, int] = {}

    def advance(pair: str, n: int) -> None:
        done[pair] = done.get(pair, 0) + n

    engine = HubSpotSync(
        world.config, world.store, world.cw, world.hs, progress=advance, total=lambda p, n: totals.update({p: n})
    )
    await engine.run(full=True)
    assert set(totals) == {"companies", "contacts", "deals"}
    expected = {
        "companies": world.cw_box.store.live_count("companies"),
        "contacts": world.cw_box.store.live_count("contacts"),
        "deals": world.cw_box.store.live_count("opportunities"),
    }
    assert totals == expected
    assert done == totals
    totals.clear()
    done.clear()
    await engine.run()  # incremental: ConnectWise counts only what changed since the cursor (its overlap window)
    assert set(totals) == {"companies", "contacts", "deals"}
    assert all(done.get(p, 0) == n for p, n in totals.items())
    assert sum(totals.values()) < sum(expected.values())
