"""Which system a stored pair syncs ConnectWise with, by the pair's name (what `explain` shows of a link).

HubSpot pairs are named by object (`companies`, `contacts`, `deals`); the others carry their integration as a prefix:
`hudu:configurations`, `catalog:products` (HubSpot products), `mirror:tickets` (the SQL mirror); the device sync is
`devices` (the device inventory). ConnectWise is always the left side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cwsync.core.mapping import ObjectMapping
from cwsync.engine.pair import Links
from cwsync.integrations.devices.sync import PAIR as DEVICES_PAIR
from cwsync.integrations.devices.sync import device_links
from cwsync.integrations.explain import trace
from cwsync.store import Store

SYSTEMS = ("connectwise", "hubspot", "hudu")
"""The systems a record can be named by in `explain`."""

_RIGHT_OF_PREFIX = {"hudu": "hudu", "catalog": "hubspot", "mirror": "mirror"}
_RIGHT_OF_PAIR = {"devices": "devices"}
LABELS = {
    "connectwise": "ConnectWise",
    "hubspot": "HubSpot",
    "hudu": "Hudu",
    "mirror": "the SQL mirror",
    "devices": "the device inventory",
}


@dataclass(frozen=True)
class RecordPair:
    """A record named as SYSTEM OBJECT: the stored pair it belongs to, and which side of it the id is."""

    pair: str
    side: str  # "left" (ConnectWise) or "right" (the other system)
    counterpart: str  # the system on the right: hubspot or hudu


def right_system(pair: str) -> str:
    """The system on the right of a pair (`hudu:contacts` → hudu, `deals` → hubspot)."""
    prefix, _, rest = pair.partition(":")
    return _RIGHT_OF_PREFIX.get(prefix, "hubspot") if rest else _RIGHT_OF_PAIR.get(pair, "hubspot")


def resolve(system: str, obj: str) -> RecordPair:
    """The pair of `SYSTEM OBJECT` (`hudu configurations` → `hudu:configurations`, right side); ValueError if the
    system is unknown."""
    if system not in SYSTEMS:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}, not {system!r}")
    if system == "hudu" and not obj.startswith("hudu:"):
        obj = f"hudu:{obj}"
    side = "left" if system == "connectwise" else "right"
    counterpart = right_system(obj)
    if side == "right" and counterpart != system:
        raise ValueError(f"{obj} is synced with {LABELS[counterpart]}, not {LABELS[system]}")
    return RecordPair(obj, side, counterpart)


async def explain_record(
    store: Store,
    tenant: str,
    named: RecordPair,
    record_id: str,
    *,
    mapping: ObjectMapping | None = None,
    flat: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A record's link (ids, match key, values last synced on each side), each field map applied to it (`mapping`:
    over `flat`, the record read now, else over the latest decision's values) with the planned diff, and its
    latest decisions with their diffs and remote answers (BY-2). The device inventory holds its links itself (its
    rows, keyed by the ConnectWise id)."""
    side = {"left_id": record_id} if named.side == "left" else {"right_id": record_id}
    items = await store.items_for_record(tenant, named.pair, limit=20, **side)
    held: Links | None = device_links(store, tenant) if named.pair == DEVICES_PAIR else None
    if held is not None:
        link = (await held.by_left([record_id])).get(record_id)
    else:
        finder = store.links_by_left if named.side == "left" else store.links_by_right
        link = (await finder(tenant, named.pair, [record_id])).get(record_id)
    other = named.counterpart
    recorded = items[0].source_values if items else None
    return {
        "pair": named.pair,
        "counterpart": other,
        "mapping": trace(mapping, named.side, flat=flat, recorded=recorded, link=link),
        "link": None
        if link is None
        else {
            "connectwise_id": link.left_id,
            f"{other}_id": link.right_id,
            "match_key": link.match_key,
            "synced_at": link.synced_at,
            "connectwise_values": link.left_values,
            f"{other}_values": link.right_values,
        },
        "decisions": [
            {
                "run": i.run_id,
                "at": i.created_at,
                "action": i.action,
                "status": i.status,
                "reason": i.reason,
                "diff": i.diff,
                "source_values": i.source_values,
                "remote_status": i.remote_status,
                "remote_response": i.remote_response,
            }
            for i in items
        ],
    }
