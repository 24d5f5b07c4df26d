"""Benchmark: a ConnectWise change reaching HubSpot through the callback path (issue 4).

One process, the wiring of `cwsync demo --once`: both emulators served on loopback in a thread
(`running_sandbox`), a rendered configuration, a first `HubSpotSync`, then `Server` + `create_app` under uvicorn in
this asyncio loop with the ConnectWise callbacks installed (`CallbackManager`). Then, with `--latency-ms` added to
every API request of both emulators and HubSpot's rate limit at its default (190 requests / 10 s):

1. Latency: `--changes` PATCHes of linked contacts' `title` through the ConnectWise API, paced at `--rate` per
   second. A change has arrived once HubSpot's `jobtitle` of that contact carries it or a later change of the same
   contact (the emulator's state is read directly, every 5 ms, so polling costs no API call). Latency runs from the
   PATCH response to that moment. Target: p99 < 1 s.
2. Burst: the sandbox's own callbacks are switched off; 70% of `--burst` distinct changes are made in the sandbox
   store, each followed by a signed callback POSTed straight to the server, plus 30% duplicates (the same MessageId
   again). Reported: callbacks accepted per second, jobs created, time until the runner is idle, and whether every
   changed contact's HubSpot value equals ConnectWise's last value with no duplicate HubSpot contacts.

    .venv/bin/python benchmarks/realtime_latency.py                          # 1,000 changes at 50/s, burst 5,000
    .venv/bin/python benchmarks/realtime_latency.py --changes 100 --burst 500
    .venv/bin/python benchmarks/realtime_latency.py --rate 15 --burst 0
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import random
import socket
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from cwsync.cli.callbacks import specs_for
from cwsync.cli.sandbox import sandbox_config_values
from cwsync.config import load_config
from cwsync.config.template import render_template
from cwsync.logs import configure_logging
from cwsync.runtime.callbacks import CallbackManager
from cwsync.runtime.intake import connectwise_signature
from cwsync.sandbox.connectwise.app import SandboxSettings
from cwsync.sandbox.connectwise.resources import BY_ENTITY
from cwsync.sandbox.faults import FaultSettings
from cwsync.sandbox.server import RunningSandbox, running_sandbox
from cwsync.server.app import Server, create_app
from cwsync.syncs.hubspot.context import Context, opened
from cwsync.syncs.hubspot.run import HubSpotSync

TARGET_P99 = 1.0
POLL = 0.005
PREFIX = "rt"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cw_headers(running: RunningSandbox) -> dict[str, str]:
    s = running.sandbox.settings
    user = f"{s.company_id}+{s.public_key}:{s.private_key}"
    return {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": s.client_id,
        "Accept": "application/vnd.connectwise.com+json; version=2025.8",
        "Content-Type": "application/json",
    }


def _seq(value: str | None) -> int:
    """The change number a title written by this benchmark carries (-1 for any other value)."""
    if not value or not value.startswith(PREFIX + " "):
        return -1
    try:
        return int(value.split()[1])
    except (IndexError, ValueError):
        return -1


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Tracker:
    """Changes waiting to show up in HubSpot, per HubSpot contact id; polled from the emulator's state."""

    running: RunningSandbox
    waiting: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    empty: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, hs_id: int, seq: int, at: float) -> None:
        self.waiting.setdefault(hs_id, []).append((seq, at))

    def poll_once(self) -> None:
        records = self.running.hubspot.state.records["contacts"]  # type: ignore[union-attr]
        now = time.perf_counter()
        for hs_id in list(self.waiting):
            props = records.get(hs_id)
            current = _seq(props.get("jobtitle") if props else None)
            pending = self.waiting[hs_id]
            left = [(seq, at) for seq, at in pending if seq > current]
            self.latencies.extend(now - at for seq, at in pending if seq <= current)
            if left:
                self.waiting[hs_id] = left
            else:
                del self.waiting[hs_id]
        if not self.waiting:
            self.empty.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.poll_once()
            await asyncio.sleep(POLL)

    @property
    def outstanding(self) -> int:
        return sum(len(v) for v in self.waiting.values())


async def _linked_contacts(ctx: Context, running: RunningSandbox) -> list[tuple[int, int]]:
    """(ConnectWise id, HubSpot id) of every linked contact that is live on both sides."""
    cw_ids = [str(i) for i in running.sandbox.store.ids("contacts")]
    out: list[tuple[int, int]] = []
    records = running.hubspot.state.records["contacts"]  # type: ignore[union-attr]
    for start in range(0, len(cw_ids), 500):
        links = await ctx.store.links_by_left(ctx.config.tenant, "contacts", cw_ids[start : start + 500])
        for left, link in links.items():
            if int(link.right_id) in records:
                out.append((int(left), int(link.right_id)))
    return out


async def latency_phase(
    running: RunningSandbox, contacts: list[tuple[int, int]], *, changes: int, rate: float, seq0: int, wait: float
) -> tuple[dict[str, Any], int]:
    tracker = Tracker(running)
    stop = asyncio.Event()
    poller = asyncio.create_task(tracker.run(stop))
    errors: Counter[str] = Counter()
    patch_times: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=running.sandbox.api_root + "/", headers=_cw_headers(running), timeout=30, limits=limits
    ) as cw:

        async def change(n: int) -> None:
            cw_id, hs_id = contacts[n % len(contacts)]
            seq = seq0 + n
            ops = [{"op": "replace", "path": "title", "value": f"{PREFIX} {seq}"}]
            sent = time.perf_counter()
            try:
                r = await cw.patch(f"company/contacts/{cw_id}", json=ops)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                return
            done = time.perf_counter()
            if r.status_code != 200:
                errors[str(r.status_code)] += 1
                return
            patch_times.append(done - sent)
            tracker.add(hs_id, seq, done)

        started = time.perf_counter()
        tasks = []
        for n in range(changes):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(change(n)))
        sent_for = time.perf_counter() - started
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + wait
        tracker.empty.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.empty.wait(), max(0.0, deadline - time.perf_counter()))
        tracker.poll_once()
        stop.set()
        await poller
        total = time.perf_counter() - started
    lat = tracker.latencies
    result = {
        "changes": changes,
        "rate_asked": rate,
        "rate_sent": changes / sent_for if sent_for else float("nan"),
        "contacts_cycled": min(changes, len(contacts)),
        "patch_ok": len(patch_times),
        "patch_errors": dict(errors),
        "patch_p50_ms": _pct(patch_times, 50) * 1000,
        "arrived": len(lat),
        "not_arrived": tracker.outstanding,
        "p50": _pct(lat, 50),
        "p95": _pct(lat, 95),
        "p99": _pct(lat, 99),
        "max": max(lat) if lat else float("nan"),
        "mean": statistics.fmean(lat) if lat else float("nan"),
        "wall": total,
    }
    return result, seq0 + changes


async def burst_phase(
    running: RunningSandbox,
    ctx: Context,
    server: Server,
    port: int,
    contacts: list[tuple[int, int]],
    *,
    burst: int,
    dup_share: float,
    seq0: int,
    concurrency: int,
    wait: float,
) -> dict[str, Any]:
    box = running.sandbox
    hs_state = running.hubspot.state  # type: ignore[union-attr]
    resource = BY_ENTITY["contacts"]
    # Only our POSTs reach the server: the sandbox's own dispatcher stops listening to its store.
    box.store.listeners.remove(box.callbacks.on_change)
    await box.callbacks.drain()
    distinct = round(burst * (1 - dup_share))
    duplicates = burst - distinct
    rng = random.Random(4)
    hs_of = dict(contacts)
    order = [cw_id for cw_id, _ in contacts]
    rng.shuffle(order)
    # Each distinct callback follows its own change; duplicates re-send one already sent, later in the stream.
    events: list[tuple[str, int]] = [("new", i) for i in range(distinct)]
    for _ in range(duplicates):
        events.insert(rng.randrange(1, len(events) + 1), ("dup", -1))
    token = ctx.config.server.callback_token.get_secret_value()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/hooks/connectwise/{ctx.config.tenant}/{token}?id="
    hs_before = len(hs_state.records["contacts"])
    jobs_before = sum((await server.jobs.counts()).values())
    statuses: Counter[str] = Counter()
    sent: list[tuple[int, bytes, str]] = []
    changed: set[int] = set()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def post(record_id: int, body: bytes, signature: str) -> None:
            try:
                r = await http.post(
                    url + str(record_id),
                    content=body,
                    headers={"content-type": "application/json", "x-content-signature": signature},
                )
                statuses[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            finally:
                gate.release()

        started = time.perf_counter()
        tasks = []
        for kind, i in events:
            if kind == "new":
                cw_id = order[i % len(order)]
                seq = seq0 + i
                ops = [{"op": "replace", "path": "title", "value": f"{PREFIX} {seq}"}]
                record = box.store.patch(resource, cw_id, ops, member="bench")
                changed.add(cw_id)
                body = json.dumps(
                    {
                        "MessageId": f"burst-{seq}",
                        "Action": "updated",
                        "Type": "contact",
                        "ID": cw_id,
                        "CompanyId": box.settings.company_id,
                        "Entity": json.dumps(record),
                        "Metadata": {"key_url": box.callbacks.key_url},
                    }
                ).encode()
                item = (cw_id, body, connectwise_signature(body, box.callbacks.signing_key))
                sent.append(item)
            else:
                item = sent[rng.randrange(len(sent))] if sent else None
                if item is None:
                    continue
            await gate.acquire()
            tasks.append(asyncio.create_task(post(*item)))
        await asyncio.gather(*tasks)
        accepted_in = time.perf_counter() - started
    jobs_after_intake = sum((await server.jobs.counts()).values())
    idle_error = None
    try:
        await server.runner.wait_idle(timeout=wait)
    except TimeoutError:
        idle_error = f"not idle after {wait:.0f} s"
    idle_in = time.perf_counter() - started
    jobs_after = await server.jobs.counts()
    # Final correctness: HubSpot holds ConnectWise's last value for every changed contact; no contact was added.
    wrong = []
    for cw_id in changed:
        want = (box.store.get("contacts", cw_id) or {}).get("title")
        got = (hs_state.records["contacts"].get(hs_of[cw_id]) or {}).get("jobtitle")
        if want != got:
            wrong.append((cw_id, want, got))
    emails = Counter((p.get("email") or "").lower() for p in hs_state.records["contacts"].values() if p.get("email"))
    box.store.listeners.append(box.callbacks.on_change)
    return {
        "callbacks": len(tasks),
        "distinct": distinct,
        "duplicates": len(tasks) - distinct,
        "contacts_changed": len(changed),
        "statuses": dict(statuses),
        "intake_s": accepted_in,
        "accepted_per_s": len(tasks) / accepted_in if accepted_in else float("nan"),
        "jobs_created": jobs_after_intake - jobs_before,
        "jobs_total_after": sum(jobs_after.values()) - jobs_before,
        "job_statuses": {k: v for k, v in jobs_after.items() if v},
        "idle_s": idle_in,
        "idle_error": idle_error,
        "wrong": len(wrong),
        "wrong_examples": wrong[:5],
        "hs_contacts_before": hs_before,
        "hs_contacts_after": len(hs_state.records["contacts"]),
        "duplicate_emails": sum(1 for c in emails.values() if c > 1),
    }


async def _batches(server: Server, *, since: int) -> dict[str, Any]:
    """How the record jobs were batched: engine runs of kind `record` after run `since`, and their sizes."""
    runs = [r for r in await server.store.runs(server.config.tenant, limit=100_000) if r.run_id > since]
    sizes = [r.counts.total for r in runs if r.kind == "record"]
    return {
        "batches": len(sizes),
        "batch_mean": statistics.fmean(sizes) if sizes else 0.0,
        "batch_max": max(sizes, default=0),
    }


def _print_latency(r: dict[str, Any]) -> None:
    print(
        f"\n== latency: {r['changes']} changes at {r['rate_asked']:g}/s (sent at {r['rate_sent']:.1f}/s),"
        f" {r['contacts_cycled']} contacts cycled =="
    )
    print(f"PATCH ok {r['patch_ok']}, errors {r['patch_errors'] or 'none'}, PATCH p50 {r['patch_p50_ms']:.0f} ms")
    print(f"arrived {r['arrived']} / {r['patch_ok']} (not arrived: {r['not_arrived']}); phase wall {r['wall']:.1f} s")
    print(
        f"latency p50 {r['p50']:.3f} s  p95 {r['p95']:.3f} s  p99 {r['p99']:.3f} s  max {r['max']:.3f} s"
        f"  mean {r['mean']:.3f} s"
    )
    print(
        f"record batches {r['batches']} (records per batch: mean {r['batch_mean']:.1f}, max {r['batch_max']});"
        f" HubSpot calls ≈ 3 per batch"
    )
    print(f"p99 / target ({TARGET_P99:g} s): {r['p99'] / TARGET_P99:.2f}")


def _print_burst(b: dict[str, Any]) -> None:
    print(f"\n== burst: {b['callbacks']} callbacks ({b['distinct']} distinct, {b['duplicates']} duplicates) ==")
    print(f"HTTP statuses {b['statuses']}; contacts changed {b['contacts_changed']}")
    print(f"intake {b['intake_s']:.2f} s = {b['accepted_per_s']:.0f} callbacks/s accepted")
    print(
        f"jobs created {b['jobs_created']} (coalescing: {b['distinct']} distinct callbacks →"
        f" {b['jobs_created']} jobs), total after idle {b['jobs_total_after']}; all jobs so far {b['job_statuses']}"
    )
    print(f"runner idle {b['idle_s']:.1f} s after the first POST{'; ' + b['idle_error'] if b['idle_error'] else ''}")
    print(
        f"correctness: {b['contacts_changed'] - b['wrong']}/{b['contacts_changed']} contacts equal ConnectWise's last"
        f" value (wrong: {b['wrong']} {b['wrong_examples'] or ''}); HubSpot contacts {b['hs_contacts_before']} →"
        f" {b['hs_contacts_after']}, duplicate e-mails {b['duplicate_emails']}"
    )


async def run(running: RunningSandbox, folder: Path, args: argparse.Namespace) -> None:
    hs = running.hubspot
    assert hs is not None
    port = _free_port()
    path = folder / "cwsync.yaml"
    values = sandbox_config_values(running.base_url, server_port=port)
    path.write_text(render_template(store=f"sqlite:///{folder / 'cwsync.db'}", **values), encoding="utf-8")
    config = load_config(path)
    async with opened(config) as ctx:
        started = time.perf_counter()
        await HubSpotSync(config, ctx.store, ctx.cw, ctx.hs).run()
        print(f"first sync: {time.perf_counter() - started:.1f} s")
        contacts = await _linked_contacts(ctx, running)
        print(f"linked contacts: {len(contacts)}")
        random.Random(1).shuffle(contacts)
        if args.shared_callback_client:
            # The emulator's dispatcher opens a new httpx client (and SSL context) per callback unless given one.
            running.sandbox.callbacks.http = httpx.AsyncClient(timeout=5)
        faults = FaultSettings(latency_ms=args.latency_ms)
        running.sandbox.faults.update(faults)
        hs.faults.update(faults)
        if args.settle:
            print(f"letting HubSpot's 10 s rate window empty ({args.settle:g} s)")
            await asyncio.sleep(args.settle)
        async with httpx.AsyncClient(timeout=10) as key_http:
            server = Server(config, ctx.store, ctx.cw, ctx.hs, key_http)
            await server.start(schedule=False)
            uvi = uvicorn.Server(uvicorn.Config(create_app(server), port=port, log_level="warning", lifespan="off"))
            serving = asyncio.create_task(uvi.serve())
            try:
                while not uvi.started:  # noqa: ASYNC110 - uvicorn offers no event for it
                    await asyncio.sleep(0.01)
                await CallbackManager(ctx.cw, tenant=config.tenant).install(specs_for(config))
                seq = 1
                for rate in args.rate:
                    if args.changes:
                        before = await server.store.runs(config.tenant, limit=1)
                        result, seq = await latency_phase(
                            running, contacts, changes=args.changes, rate=rate, seq0=seq, wait=args.wait
                        )
                        result["run_id_before"] = before[0].run_id if before else 0
                        with contextlib.suppress(TimeoutError):
                            await server.runner.wait_idle(timeout=args.wait)
                        result |= await _batches(server, since=result["run_id_before"])
                        _print_latency(result)
                        if args.settle:
                            await asyncio.sleep(args.settle)
                if args.burst:
                    b = await burst_phase(
                        running,
                        ctx,
                        server,
                        port,
                        contacts,
                        burst=args.burst,
                        dup_share=args.duplicates,
                        seq0=seq + 1_000_000,
                        concurrency=args.concurrency,
                        wait=args.burst_wait,
                    )
                    _print_burst(b)
            finally:
                uvi.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
                await server.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=4000, help="approximate ConnectWise records generated")
    p.add_argument("--changes", type=int, default=1000, help="changes in the latency phase (0 skips it)")
    p.add_argument("--rate", type=float, nargs="+", default=[50.0], help="changes per second (several: one run each)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="added to every API request of both emulators")
    p.add_argument("--burst", type=int, default=5000, help="callbacks in the burst (0 skips it)")
    p.add_argument("--duplicates", type=float, default=0.3, help="share of the burst that re-sends a MessageId")
    p.add_argument("--concurrency", type=int, default=64, help="callback POSTs in flight during the burst")
    p.add_argument("--wait", type=float, default=300.0, help="longest wait for changes to arrive (s)")
    p.add_argument("--burst-wait", type=float, default=1800.0, help="longest wait for the runner to go idle (s)")
    p.add_argument("--settle", type=float, default=10.0, help="pause after the first sync and between phases (s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--shared-callback-client",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give the ConnectWise emulator's callback dispatcher one httpx client (else one per callback)",
    )
    args = p.parse_args()
    configure_logging("warning")
    settings = SandboxSettings(records=args.records, seed=args.seed)
    with running_sandbox(settings) as running, tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(running, Path(folder), args))


if __name__ == "__main__":
    main()
