"""Most ConnectWise records vanish at once (a broken read, a permission change): a full run removes nothing.

Every pair reconciles deletions on a full run (HubSpot and catalog archive, Hudu archives or marks, the device table
and the mirror's tables remove; each confirms by id that a record the read missed is really gone): with most of a
pair's linked records gone, the run stops with a MassDeleteError naming the setting that allows it, and the target
keeps every record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contract.pairs import CATALOG, DEVICES, HUBSPOT, HUDU, MIRROR, Pair
from tests.contract.rig import World, world

pytestmark = pytest.mark.loopback
GONE = 0.95


def vanish(w: World, entities: tuple[str, ...]) -> int:
    """Delete 95% of the ConnectWise records of `entities` (no callback); how many."""
    gone = 0
    for entity in entities:
        ids = w.cw_ids(entity)
        doomed = ids[: int(len(ids) * GONE)]
        w.delete_cw(entity, doomed)
        gone += len(doomed)
    return gone


def hubspot_targets(w: World) -> tuple[int, int]:
    """Live and archived HubSpot contacts."""
    return len(w.hubspot.state.records["contacts"]), len(w.hubspot.state.archived["contacts"])


def hudu_targets(w: World) -> tuple[int, Any]:
    """Hudu companies and assets, and their content (archived flags included)."""
    return HUDU.progress(w), HUDU.snapshot(w)


def catalog_targets(w: World) -> tuple[int, Any]:
    """HubSpot products, and their content (archived ones included)."""
    return CATALOG.progress(w), CATALOG.snapshot(w)


def device_targets(w: World) -> tuple[int, int]:
    """Devices held, and none archived (a device table removes)."""
    return DEVICES.progress(w), 0


def mirror_targets(w: World) -> tuple[int, int]:
    """Rows of the mirror's tables, and none archived (a table removes)."""
    return MIRROR.progress(w), 0


GUARDED = [
    pytest.param(
        HUBSPOT, ("contacts",), ("sync", "--full"), "syncs.hubspot.mass_delete_share", hubspot_targets, id="hubspot"
    ),
    pytest.param(
        HUDU,
        ("contacts", "configurations"),
        ("hudu", "sync"),  # a Hudu sync is a full one unless --incremental
        "syncs.hudu.mass_delete_share",
        hudu_targets,
        id="hudu",
    ),
    pytest.param(
        CATALOG,
        ("catalog_items",),
        ("catalog", "sync", "--full"),
        "syncs.catalog.mass_delete_share",
        catalog_targets,
        id="catalog",
    ),
    pytest.param(
        DEVICES,
        ("configurations",),
        ("changes", "devices", "sync", "--full"),
        "syncs.changes.devices.mass_delete_share",
        device_targets,
        id="devices",
    ),
    pytest.param(
        MIRROR,
        ("tickets",),
        ("mirror", "sync", "--full"),
        "syncs.mirror.mass_delete_share",
        mirror_targets,
        id="mirror",
    ),
]


@pytest.mark.parametrize(("pair", "entities", "command", "setting", "targets"), GUARDED)
def test_a_full_run_that_would_remove_most_records_stops_naming_the_setting(
    pair: Pair,
    entities: tuple[str, ...],
    command: tuple[str, ...],
    setting: str,
    targets: Callable[[World], tuple[int, Any]],
    tmp_path: Path,
) -> None:
    """Exit 1 with MassDeleteError and the setting in the message; the target keeps every record; the run failed."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        pair.prepare(w)
        code, out = w.cli(*pair.command)
        assert code == 0, out
        before = targets(w)
        assert before[0] >= 20
        assert vanish(w, entities) > 0
        code, out = w.cli(*command)
        assert code == 1, out
        text = " ".join(out.split())
        assert "MassDeleteError" in text
        assert setting in text
        assert "Traceback" not in text
        assert targets(w) == before
        code, out = w.cli("history", "--json")
        assert json.loads(out)[0]["status"] == "failed"
