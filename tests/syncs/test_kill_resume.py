"""HS-11: a sync killed with SIGKILL at several points and run again ends exactly like an uninterrupted sync."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.sandbox.hubspot import HubSpotSandboxSettings
from tests.cli.test_sandbox_cli import serving

SANDBOX_ARGS = ("--records", "400", "--seed", "11", "--latency-ms", "10")


def _cwsync(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CWSYNC_LOG_LEVEL": "error"}
    return subprocess.Popen(
        [sys.executable, "-m", "cwsync", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _init(site: str, tmp: Path, name: str) -> Path:
    config = tmp / f"{name}.yaml"
    proc = _cwsync("init", str(config), "--sandbox", "--sandbox-url", site, "--store", f"sqlite:///{tmp / name}.db")
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return config


def _sync_to_end(config: Path) -> dict[str, Any]:
    proc = _cwsync("sync", "-c", str(config), "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _created_count(site: str) -> int:
    state = httpx.get(f"{site}/hubspot/_sandbox", timeout=10).json()
    return sum(int(v["live"]) for v in state["counts"].values())


def _kill_when(config: Path, site: str, created_at_least: int) -> None:
    """Start a sync and SIGKILL it once HubSpot holds `created_at_least` objects (polled with a deadline)."""
    proc = _cwsync("sync", "-c", str(config), "--json")
    deadline = time.monotonic() + 120
    while _created_count(site) < created_at_least:
        assert proc.poll() is None, "the sync finished before the kill point: make the sandbox slower"
        assert time.monotonic() < deadline, "the sync never got that far"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _snapshot(site: str) -> dict[str, Any]:
    """HubSpot's content, keyed by what identifies records across runs (ids differ between sandboxes)."""

    async def read() -> dict[str, Any]:
        settings = HubSpotSettings(token=HubSpotSandboxSettings().token, base_url=f"{site}/hubspot")
        async with HubSpotClient(settings) as hs:
            companies = [
                c async for p in hs.stream("companies", properties=["connectwise_company_id", "name"]) for c in p
            ]
            contacts = [c async for p in hs.stream("contacts", properties=["email", "firstname"]) for c in p]
            deals = [d async for p in hs.stream("deals", properties=["connectwise_opportunity_id"]) for d in p]
            assoc = await hs.batch_read_associations("contacts", "companies", [c["id"] for c in contacts])
        company_key = {c["id"]: c["properties"]["connectwise_company_id"] for c in companies}
        return {
            "companies": sorted(c["properties"]["connectwise_company_id"] for c in companies),
            "contacts": sorted(
                (c["properties"]["email"], tuple(company_key[x] for x in assoc[c["id"]])) for c in contacts
            ),
            "deals": sorted(d["properties"]["connectwise_opportunity_id"] for d in deals),
        }

    return asyncio.run(read())


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Killed after some companies, mid-contacts and mid-deals; the resumed result equals a clean run, no dupes."""
    with serving(*SANDBOX_ARGS) as (reference_site, _):
        reference = _init(reference_site, tmp_path, "reference")
        _sync_to_end(reference)
        expected = _snapshot(reference_site)
    total = len(expected["companies"]) + len(expected["contacts"]) + len(expected["deals"])
    assert len(expected["contacts"]) > 20
    with serving(*SANDBOX_ARGS) as (site, _):
        config = _init(site, tmp_path, "killed")
        for share in (0.1, 0.45, 0.9):
            _kill_when(config, site, int(total * share))
        resumed = _sync_to_end(config)
        assert resumed["counts"]["failed"] == 0
        history = _cwsync("history", "-c", str(config), "--json").communicate(timeout=60)[0]
        assert [r["status"] for r in json.loads(history)][1:4] == ["interrupted"] * 3
        got = _snapshot(site)
        assert got == expected
        again = _sync_to_end(config)
        assert (again["counts"]["created"], again["counts"]["updated"]) == (0, 0)
