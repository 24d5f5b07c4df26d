"""Explain shows the mapping (BY-2): `cwsync explain` and `GET /api/records/...` give, for a record, each field map
applied (ConnectWise path → field, direction, value map, source value, transformed value), the value last synced,
the planned diff, and the decisions with the remote answer. Against the served sandboxes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.server.app import Server, create_app
from cwsync.store import Store
from tests.contract.rig import Data, World, world

pytestmark = pytest.mark.loopback


def explain(w: World, *args: str) -> dict[str, Any]:
    code, out = w.cli("explain", *args, "--json")
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def by_field(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["field"]: f for f in data["mapping"]["fields"]}


async def linked(w: World, pair: str) -> str:
    store = await Store.open(w.config.store)
    try:
        async for batch in store.iter_link_ids(w.config.tenant, pair):
            return sorted(batch, key=lambda ids: int(ids[0]))[0][0]
    finally:
        await store.close()
    raise AssertionError(f"nothing linked in {pair}")


async def rename(w: World, contact_id: str, first_name: str) -> None:
    async with w.cw_client() as cw:
        await cw.patch(
            "company/contacts", int(contact_id), [{"op": "replace", "path": "firstName", "value": first_name}]
        )


async def api_explain(w: World, path: str) -> dict[str, Any]:
    store = await Store.open(w.config.store)
    try:
        async with w.cw_client() as cw, w.hubspot_client() as hs, httpx.AsyncClient() as key_http:
            server = Server(w.config, store, cw, hs, key_http, workers=1)
            transport = httpx.ASGITransport(app=create_app(server))
            async with httpx.AsyncClient(transport=transport, base_url="http://cwsync.test") as api:
                answer = await api.get(path, headers={"Authorization": "Bearer contract-api-token"})
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data
    finally:
        await store.close()


def test_explain_shows_each_field_map_and_the_planned_diff(tmp_path: Path) -> None:
    """A contact renamed in ConnectWise: --live shows the raw first name through its map, planned against the
    synced one; the value-mapped company type shows its map; the API answers the same; the mirror's columns too."""
    syncs = {"hubspot": {}, "mirror": {"objects": ["tickets"]}}
    with world(Data(records=120, seed=3), tmp_path, syncs) as w:
        code, out = w.cli("sync", "--json")
        assert code == 0, out
        contact = asyncio.run(linked(w, "contacts"))
        recorded = by_field(explain(w, "connectwise", "contacts", contact))
        old = recorded["firstname"]["value"]
        assert old
        assert recorded["firstname"]["last_synced"] == old
        assert recorded["firstname"]["planned"] is False  # nothing changed since the sync
        asyncio.run(rename(w, contact, "Zelda"))
        data = explain(w, "connectwise", "contacts", contact, "--live")
        assert data["mapping"]["source"] == "live"
        first = by_field(data)["firstname"]
        wanted = {"connectwise": "firstName", "other": "firstname", "direction": "<->", "source_value": "Zelda"}
        assert {k: first[k] for k in wanted} == wanted
        assert (first["value"], first["last_synced"], first["planned"]) == ("Zelda", old, True)
        assert data["mapping"]["planned_diff"] == {"firstname": [old, "Zelda"]}
        code, out = w.cli("explain", "connectwise", "contacts", contact, "--live")
        assert (code, "Mapping, as read now" in out, "Zelda" in out) == (0, True, True)
        [created] = data["decisions"]
        assert (created["action"], created["status"], created["diff"]["firstname"]) == (
            "create",
            "applied",
            [None, old],
        )
        assert "remote_response" in created
        company = asyncio.run(linked(w, "companies"))
        kind = by_field(explain(w, "connectwise", "companies", company, "--live"))["type"]
        assert (kind["connectwise"], kind["other"], kind["direction"]) == ("company_type", "type", "->")
        assert kind["value_map"]["*"] == "OTHER"
        assert kind["value"] == kind["value_map"].get(kind["source_value"], "OTHER")
        over_http = asyncio.run(api_explain(w, f"/api/records/connectwise/contacts/{contact}?live=true"))
        assert over_http["mapping"] == data["mapping"]
        code, out = w.cli("mirror", "sync", "--json")
        assert code == 0, out
        ticket = asyncio.run(linked(w, "mirror:tickets"))
        summary = by_field(explain(w, "connectwise", "mirror:tickets", ticket, "--live"))["summary"]
        assert (summary["connectwise"], summary["planned"]) == ("summary", False)
        assert summary["value"] == summary["last_synced"] is not None
