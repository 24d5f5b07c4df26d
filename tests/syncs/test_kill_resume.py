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
from cwsync_sandbox.hubspot import HubSpotSandboxSettings
from tests.cli.test_sandbox_cli import serving

SANDBOX_ARGS = ("--records", "1500", "--seed", "11", "--latency-ms", "40")


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


def _kill_on_progress(config: Path, site: str, total: int) -> bool:
    """Start a sync, SIGKILL it as soon as it has written something new (polled with a deadline).

    True when the kill left HubSpot half-written (something new, not everything).
    """
    baseline = _created_count(site)
    proc = _cwsync("sync", "-c", str(config), "--json")
    deadline = time.monotonic() + 120
    while _created_count(site) <= baseline and proc.poll() is None:
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.005)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    return _created_count(site) < total


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
    assert len(expected["contacts"]) > 20
    with serving(*SANDBOX_ARGS) as (site, _):
        config = _init(site, tmp_path, "killed")
        total = sum(len(v) for v in expected.values())
        partial = [_kill_on_progress(config, site, total) for _ in range(3)]
        assert sum(partial) >= 2, f"too few kills left HubSpot half-written: {partial}"
        resumed = _sync_to_end(config)
        assert resumed["counts"]["failed"] == 0
        history = _cwsync("history", "-c", str(config), "--json").communicate(timeout=60)[0]
        assert json.loads(history)[0]["status"] == "succeeded"
        got = _snapshot(site)
        assert got == expected
        again = _sync_to_end(config)
        assert (again["counts"]["created"], again["counts"]["updated"]) == (0, 0)
