"""Manual sync per data type everywhere (Salesbuildr's "select the data types to sync", Hudu's per-card re-sync):
`--only` on every sync command and `only=` on every sync route, comma-separated, in the integration's order, and an
unknown or switched-off type refused naming the valid ones (exit 2 / 422). Against the served sandboxes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from cwsync.core.selection import UnknownTypeError, select_types
from cwsync.server.app import Server, create_app
from cwsync.store import Store
from tests.contract.pairs import HUDU
from tests.contract.rig import Data, World, world
from tests.syncs_hudu.conftest import hudu_sync_section

pytestmark = pytest.mark.loopback

SYNCS = {
    "hubspot": {},
    "hudu": hudu_sync_section(),
    "mirror": {"objects": ["companies", "tickets"]},
}


def test_select_types_keeps_the_integrations_order_and_names_the_valid_ones() -> None:
    """Comma lists and repeats, any case, in the valid order; unknown and switched-off names refused."""
    valid = ["companies", "contacts", "deals"]
    assert select_types(["deals,Companies", "deals"], valid) == ["companies", "deals"]
    assert select_types(None, valid) == select_types(" , ", valid) == []
    with pytest.raises(UnknownTypeError, match="unknown objects 'tickets', 'x': use companies, contacts, deals"):
        select_types("tickets,x", valid)
    with pytest.raises(UnknownTypeError, match="'deals' switched off in the configuration"):
        select_types("deals", ["companies"], off=valid)


def _json(w: World, *args: str) -> dict[str, object]:
    code, out = w.cli(*args, "--json")
    assert code == 0, out
    data: dict[str, object] = json.loads(out)
    return data


def _refused(w: World, *args: str) -> tuple[int, str]:
    """A refused command's exit code and error message (its `--json` error)."""
    code, out = w.cli(*args, "--json")
    return code, str(json.loads(out)["error"]["message"])


def test_only_on_every_sync_command(tmp_path: Path) -> None:
    """HubSpot, Hudu and mirror syncs run just the named types; unknown ones exit 2 with the valid ones."""
    with world(Data(records=150, seed=3), tmp_path, SYNCS) as w:
        HUDU.prepare(w)
        hubspot = _json(w, "sync", "--only", "contacts,companies")
        assert list(hubspot["pairs"]) == ["companies", "contacts"]  # type: ignore[call-overload]
        code, out = _refused(w, "sync", "--only", "deals,tickets")
        assert (code, "unknown HubSpot object 'tickets': use companies, contacts, deals" in out) == (2, True)
        hudu = _json(w, "hudu", "sync", "--only", "sites", "--only", "contacts")
        assert list(hudu["types"]) == ["sites", "contacts"]  # type: ignore[call-overload]
        code, out = _refused(w, "hudu", "sync", "--only", "tickets")
        assert (code, "use companies, sites, contacts, configurations, agreements" in out) == (2, True)
        mirror = _json(w, "mirror", "sync", "--only", "tickets")
        assert list(mirror["pairs"]) == ["mirror:tickets"]  # type: ignore[call-overload]
        code, out = _refused(w, "mirror", "sync", "--only", "contacts")
        assert (code, "'contacts' switched off in the configuration" in out) == (2, True)


def test_only_on_every_sync_route(tmp_path: Path) -> None:
    """`POST /api/sync`, `/api/hudu/sync` and `/api/mirror/sync` take `only=`; a mirror run of one object covers it
    alone; unknown names answer 422 naming the valid ones."""
    with world(Data(records=100, seed=5), tmp_path, SYNCS) as w:
        asyncio.run(_routes(w))


async def _routes(w: World) -> None:
    config = w.config
    store = await Store.open(config.store)
    auth = {"Authorization": "Bearer contract-api-token"}
    try:
        async with w.cw_client() as cw, w.hubspot_client() as hs, httpx.AsyncClient() as key_http:
            server = Server(config, store, cw, hs, key_http, workers=1)
            await server.start(schedule=False)
            try:
                transport = httpx.ASGITransport(app=create_app(server))
                async with httpx.AsyncClient(transport=transport, base_url="http://cwsync.test") as api:
                    bad = await api.post("/api/sync", params={"only": "companies,tickets"}, headers=auth)
                    assert (bad.status_code, "use companies, contacts, deals" in bad.text) == (422, True)
                    bad = await api.post("/api/hudu/sync", params={"only": "tickets"}, headers=auth)
                    assert (bad.status_code, "unknown data type 'tickets'" in bad.text) == (422, True)
                    bad = await api.post("/api/mirror/sync", params={"only": "opportunities"}, headers=auth)
                    assert (bad.status_code, "switched off" in bad.text) == (422, True)
                    queued = await api.post("/api/mirror/sync", params={"only": "tickets"}, headers=auth)
                    assert (queued.status_code, queued.json()["only"]) == (202, ["tickets"])
                    await server.runner.wait_idle(timeout=60)
                    [run] = await store.runs(config.tenant, integration="mirror")
                    assert (run.pairs, run.status, run.trigger) == (("mirror:tickets",), "succeeded", "api")
                    queued = await api.post("/api/sync", params={"only": "contacts"}, headers=auth)
                    assert (queued.status_code, len(queued.json()["jobs"])) == (202, 1)
                    await server.runner.wait_idle(timeout=60)
            finally:
                await server.stop()
    finally:
        await store.close()
