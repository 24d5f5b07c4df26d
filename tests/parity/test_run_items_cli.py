"""Searchable history on the command line (PL-4): `cwsync runs show ID` lists one run's decisions filtered by object,
action, outcome, record id and text in the reason, paged — what `GET /api/runs/{id}` gives over HTTP. Against the
store a real sync of both sandboxes (in-process) wrote."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cwsync.cli.app import app
from tests.syncs.test_hubspot_e2e import World, world

__all__ = ["world"]  # the fixture, used here


async def cli(config: Path, *args: str) -> tuple[int, Any]:
    """A cwsync command, in a thread of its own (it runs its own event loop, as from a shell)."""
    invoke = functools.partial(CliRunner().invoke, app, [*args, "-c", str(config)], env={"CWSYNC_LOG_LEVEL": "error"})
    result = await asyncio.to_thread(invoke)
    return result.exit_code, json.loads(result.stdout) if "--json" in args and result.exit_code == 0 else result.output


async def test_runs_show_filters_and_pages_a_runs_decisions(world: World, tmp_path: Path) -> None:
    """Each filter narrows the decisions to what it names, pages do not overlap, no match is not an error, and an
    unknown run exits 2."""
    report = await world.sync()
    assert report.run_id is not None
    config = tmp_path / "cwsync.yaml"
    store = f"sqlite:///{tmp_path / 'cwsync.db'}"  # the store the sync wrote
    assert CliRunner().invoke(app, ["init", str(config), "--sandbox", "--store", store]).exit_code == 0
    created = {p.pair: p.counts.created for p in report.pairs}
    run = str(report.run_id)

    wanted = ("--object", "contacts", "--action", "create", "--limit", "1000", "--json")
    code, shown = await cli(config, "runs", "show", run, *wanted)
    assert code == 0
    assert shown["counts"] == report.counts.as_dict()
    assert len(shown["items"]) == created["contacts"] > 0
    assert {(i["pair"], i["action"], i["status"]) for i in shown["items"]} == {("contacts", "create", "applied")}

    first, second = [(await cli(config, "runs", "show", run, "--limit", "2", "--offset", o, "--json"))[1]
                     for o in ("0", "2")]  # fmt: skip
    assert len(first["items"]) == len(second["items"]) == 2
    assert not {i["connectwise_id"] for i in first["items"]} & {i["connectwise_id"] for i in second["items"]}

    one = shown["items"][0]
    by_id = ("--object", "contacts", "--record", one["hubspot_id"], "--json")  # the HubSpot id finds it too
    _, by_record = await cli(config, "runs", "show", run, *by_id)
    assert [i["connectwise_id"] for i in by_record["items"]] == [one["connectwise_id"]]
    word = one["reason"].split()[-1].upper()
    _, by_text = await cli(config, "runs", "show", run, "--text", word, "--limit", "1000", "--json")
    assert by_text["items"]
    assert all(word.lower() in i["reason"].lower() for i in by_text["items"])

    code, table = await cli(config, "runs", "show", run, "--status", "failed")
    assert (code, "No decision matches" in table) == (0, report.counts.failed == 0)
    code, missing = await cli(config, "runs", "show", "99999")
    assert (code, "no run 99999" in missing) == (2, True)
