"""The scale-out acceptance test on real PostgreSQL: `serve` + two `cwsync worker`s, three tenants, a callback
storm, one worker killed with SIGKILL mid-storm; the end state equals the sources, nothing doubled or left running,
one scheduler tick per period."""

from __future__ import annotations

import itertools
import json
import signal
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.conftest import auth_headers
from tests.scaleout.harness import (
    Tenant,
    cli,
    contact_ids,
    free_port,
    healthy,
    hubspot_only,
    processes,
    query,
    wait_for,
    write_tenant,
)

TENANTS = ("acme", "globex", "initech")
CONTACTS = 6
ROUNDS = 3
PERIOD_S = 3  # every tenant's incremental runs: 0.05 minutes
PAIRS = ("companies", "contacts", "deals")
_TICKED = ("schedule.enqueued", "schedule.already_enqueued", "schedule.superseded")
"""What a worker logs when a tick of a slot has run."""


def _tenant_edit(name: str, port: int) -> Any:
    def edit(data: Any) -> None:
        hubspot_only(data)
        data["server"]["public_url"] = f"http://127.0.0.1:{port}/t/{name}"
        data["server"]["api_token"] = f"token-{name}"
        data["syncs"]["hubspot"]["schedule"] = {"incremental_minutes": PERIOD_S / 60, "full_hours": 1000}

    return edit


def _hubspot_title(tenant: Tenant, url: str, contact: int) -> str | None:
    rows = query(
        url,
        "SELECT right_id FROM links WHERE tenant = :t AND pair = 'contacts' AND left_id = :c",
        t=tenant.name,
        c=str(contact),
    )
    if not rows:
        return None
    token = {"Authorization": f"Bearer {tenant.sandbox.hubspot.settings.token}"}  # type: ignore[attr-defined]
    found = httpx.get(
        f"{tenant.sandbox.hubspot_url}/crm/v3/objects/contacts/{rows[0][0]}",
        params={"properties": "jobtitle"},
        headers=token,
    )
    return found.json()["properties"].get("jobtitle")  # type: ignore[no-any-return]


def _hubspot_contacts(sandbox: RunningSandbox) -> int:
    token = {"Authorization": f"Bearer {sandbox.hubspot.settings.token}"}  # type: ignore[attr-defined]
    count, after = 0, None
    while True:
        params = {"limit": 100, **({"after": after} if after else {})}
        page = httpx.get(f"{sandbox.hubspot_url}/crm/v3/objects/contacts", params=params, headers=token).json()
        count += len(page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return count


def _patch_title(sandbox: RunningSandbox, contact: int, title: str) -> None:
    api, headers = sandbox.sandbox.api_root, auth_headers(sandbox.sandbox.settings)
    patch = [{"op": "replace", "path": "title", "value": title}]
    assert httpx.patch(f"{api}/company/contacts/{contact}", json=patch, headers=headers).status_code == 200


def _ticks(logs: list[Path], event_name: str = "schedule.enqueued") -> list[tuple[str, str, str, str]]:
    """(tenant, pair, kind, slot) of every `event_name` line the workers logged: a tick that queued its job
    (`schedule.enqueued`); a tick retried after its worker died that found its slot queued already
    (`schedule.already_enqueued`: the dead worker queued it, and may have died before it logged so); a tick run
    once a newer slot of its schedule was deferred (`schedule.superseded`: a copy deferred again by a lagging
    worker, or one that waited past the next slot)."""
    found = []
    for log in logs:
        for line in log.read_text().splitlines():
            if f'"{event_name}"' in line:
                event = json.loads(line)
                found.append((event["tenant"], event["pair"], event["kind"], event["slot"]))
    return found


def _worker_started(log: Path) -> bool:
    """Whether the worker logging to `log` has started taking jobs (procrastinate's worker loop runs)."""
    return log.exists() and "Starting worker on queues" in log.read_text()


def _worker_id(log: Path) -> str:
    """The id a worker claims store jobs under (its `jobs.worker_started` line, logged before it takes any)."""
    for line in log.read_text().splitlines():
        if '"jobs.worker_started"' in line:
            return str(json.loads(line)["worker"])
    raise AssertionError(f"no jobs.worker_started in {log.name}")


def _slots(logs: list[Path]) -> dict[tuple[str, str], list[str]]:
    """The slots ticked so far of each tenant's incremental schedule of each pair, in order (a slot once, whichever
    worker, whatever its tick found)."""
    ticks = [tick for event in _TICKED for tick in _ticks(logs, event)]
    slots: dict[tuple[str, str], set[str]] = {(t, p): set() for t in TENANTS for p in PAIRS}
    for tenant, pair, kind, slot in ticks:
        if kind == "incremental" and (tenant, pair) in slots:
            slots[tenant, pair].add(slot)
    return {key: sorted(found) for key, found in slots.items()}


def _two_ticks_each(logs: list[Path]) -> bool:
    """Whether every tenant's schedule of every pair has ticked twice (its next slot after the first one seen)."""
    return all(len(found) >= 2 for found in _slots(logs).values())


def test_two_workers_three_tenants_storm_and_a_killed_worker(tmp_path: Path, pg_url: str) -> None:
    """Every tenant ends equal to its ConnectWise, with no duplicate, nothing running, one tick per period."""
    port = free_port()
    directory = tmp_path / "tenants"
    directory.mkdir()
    with processes() as procs:
        sandboxes = [running_sandbox(SandboxSettings(records=60, seed=20 + n)) for n in range(len(TENANTS))]
        boxes = [box.__enter__() for box in sandboxes]
        try:
            tenants = [
                write_tenant(directory, name, box, pg_url, edit=_tenant_edit(name, port))
                for name, box in zip(TENANTS, boxes, strict=True)
            ]
            for tenant in tenants:
                for command in ("sync", "callbacks"):
                    args = (
                        [command, "-c", str(tenant.path)]
                        if command == "sync"
                        else [command, "install", "-c", str(tenant.path)]
                    )
                    result = cli.invoke(app, args)
                    assert result.exit_code == 0, result.stdout
            base = f"http://127.0.0.1:{port}"
            logs = {name: tmp_path / f"{name}.log" for name in ("serve", "w1", "w2")}
            serve = procs.start(
                "serve", "--tenants", str(directory), "--port", str(port), "--no-worker", log=logs["serve"]
            )
            wait_for(lambda: healthy(base, serve, logs["serve"]), "serve", 90)
            procs.env["CWSYNC_LOG_FORMAT"] = "json"
            workers = [
                procs.start("worker", "--tenants", str(directory), log=logs[n], level="info") for n in ("w1", "w2")
            ]
            # Both workers take jobs, and defer the schedules' slots, before the storm: the one killed is one at work,
            # and the survivor was ticking already when it dies (a slot no worker lives through is never ticked).
            for name in ("w1", "w2"):
                wait_for(lambda n=name: _worker_started(logs[n]), f"worker {name} to take jobs", 90)
            ids = {t.name: contact_ids(t.sandbox, CONTACTS) for t in tenants}
            for storm in range(ROUNDS):
                for tenant in tenants:
                    for contact in ids[tenant.name]:
                        _patch_title(tenant.sandbox, contact, f"storm {storm} {contact}")
                if storm == 0:
                    wait_for(
                        lambda: query(pg_url, "SELECT count(*) FROM jobs WHERE status <> 'queued'")[0][0] > 0, "work"
                    )
                    workers[0].send_signal(signal.SIGKILL)
                    before_kill = query(pg_url, "SELECT coalesce(max(id), 0) FROM procrastinate_jobs")[0][0]
            final = f"storm {ROUNDS - 1}"
            for tenant in tenants:
                for contact in ids[tenant.name]:
                    wait_for(
                        lambda t=tenant, c=contact: _hubspot_title(t, pg_url, c) == f"{final} {c}", "the storm", 60
                    )
            # The ticks are the workers' while they run, one a period: the storm may settle within the first period
            # (the first tick is the slot before the workers started), so wait for the second of each schedule.
            worker_logs = [logs["w1"], logs["w2"]]
            wait_for(lambda: _two_ticks_each(worker_logs), "a second scheduler tick of every schedule", 90)
            # What the killed worker held, and only that (the survivor runs the schedules' jobs all along, so a moment
            # with nothing running at all may not come under load): its store jobs are queued again (by the next
            # drain of their lane, which also closes its runs), and its procrastinate rows are swept (`doing` until
            # the survivor's stalled-job sweep takes them, seconds after its heartbeats stop) — the ticks among them
            # run again too. Rows from before the kill still `doing` are the survivor's, which end on their own.
            dead = _worker_id(logs["w1"])
            running = "SELECT count(*) FROM jobs WHERE status = 'running' AND worker = :w"
            wait_for(lambda: query(pg_url, running, w=dead)[0][0] == 0, "the killed worker's jobs requeued", 60)
            held = (
                "SELECT count(*) FROM procrastinate_jobs WHERE id <= :k"
                " AND (status = 'doing' OR (status = 'todo' AND task_name = 'cwsync.tick'))"
            )
            wait_for(lambda: query(pg_url, held, k=before_kill)[0][0] == 0, "the stalled-job sweep", 90)
            procs.stop_all()
            assert workers[1].returncode == 0
            for tenant in tenants:
                links = query(
                    pg_url, "SELECT count(*) FROM links WHERE tenant = :t AND pair = 'contacts'", t=tenant.name
                )
                assert _hubspot_contacts(tenant.sandbox) == links[0][0]  # one HubSpot contact per linked contact
        finally:
            for box in sandboxes:
                box.__exit__(None, None, None)
    assert query(pg_url, "SELECT count(*) FROM jobs WHERE status = 'running'")[0][0] == 0
    assert query(pg_url, "SELECT count(*) FROM runs WHERE status = 'running'")[0][0] == 0
    assert query(pg_url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")[0][0] == 0
    failed = "SELECT count(*) FROM jobs WHERE status = 'failed' AND error NOT LIKE '%left to queued job%'"
    assert query(pg_url, failed)[0][0] == 0  # none, but those coalesced into a newer queued job of their record
    ticks = _ticks([logs["w1"], logs["w2"]])
    assert ticks, "no scheduler tick"
    doubled = [tick for tick, n in Counter(ticks).items() if n > 1]
    assert doubled == []  # a slot queued once, whatever the workers (a copy of its tick logs another event)
    for (tenant, pair), slots in _slots([logs["w1"], logs["w2"]]).items():
        assert len(slots) >= 2, (tenant, pair)
        times = [datetime.fromisoformat(s).timestamp() for s in slots]
        assert {round(b - a) for a, b in itertools.pairwise(times)} == {PERIOD_S}, (tenant, pair, slots)
