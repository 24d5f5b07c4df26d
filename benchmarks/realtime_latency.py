"""Benchmark: a ConnectWise change reaching HubSpot through the callback path (issue 4).

Both emulators run in a child process (served over loopback, sockets with TCP_NODELAY), so the emulators' own CPU
does not compete with cwsync for one interpreter: the benchmark's process is cwsync — a first `HubSpotSync`, then
`Server` + `create_app` served as `cwsync serve` serves it (`IntakeServer`: uvicorn on a thread of its own;
scheduler off, so only callbacks make jobs) with the ConnectWise callbacks installed by `CallbackManager`. The
changes and the storm's callbacks come from processes of their own. After the first sync both emulators add
`--latency-ms` (20) to every API request; HubSpot's rate limit stays at its default (190 requests / 10 s).

1. Latency: `--changes` PATCHes of linked contacts' `title` through the ConnectWise API, paced at `--rate` per
   second. The child stamps (wall clock) every HubSpot `jobtitle` change as it is committed; a change has arrived
   once that contact's `jobtitle` carries it or a later change of the same contact (a batched job brings the latest
   value). Latency runs from the PATCH response to that stamp; a change that never arrives counts as an infinite
   latency (a failure, not a missing sample) and the lost ones are printed. Targets (issue 19): p99 < 1 s at 50/s
   (with `--hog` too), 0 lost. Intake: each callback delivery is timed by the sender (POST sent → answer read),
   a thread of the child with its own event loop and HTTP client (`_Sender`), so the emulator's own work does not
   delay it; target p99 < 50 ms in the same run.
2. Storm: the emulator's own callbacks are switched off; `--storm` signed callbacks are POSTed straight to the
   server, open-loop at `--storm-rate` per second (up to `--concurrency` in flight), 70% of them distinct changes
   (made in the emulator's store before the clock starts) and 30% duplicates (a MessageId re-sent). Drain rate:
   distinct changes ÷ (first POST → runner idle); the rate HubSpot's limit allows: two calls (a batch read and a
   batch update) per 100 changed records at 19 calls/s = 950 changes/s, or the offered rate if lower. Target:
   drain ≥ 0.9× allowed, every callback answered 2xx, every changed contact equal to ConnectWise's last value,
   no contact added.

    .venv/bin/python benchmarks/realtime_latency.py                          # 1,000 changes at 50/s, storm 10,000
    .venv/bin/python benchmarks/realtime_latency.py --hog                    # the same with a one-core hog
    .venv/bin/python benchmarks/realtime_latency.py --changes 200 --storm 600 --records 2000 --settle 2
    .venv/bin/python benchmarks/realtime_latency.py --rate 15 --storm 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import bench_child
import bench_common

TARGET_P99 = 1.0
PREFIX = "rt"
POLL = 0.05  # seconds between asking the child for new arrivals


def _seq(value: str | None) -> int:
    """The change number a title written by this benchmark carries (-1 for any other value)."""
    if not value or not value.startswith(PREFIX + " "):
        return -1
    try:
        return int(value.split()[1])
    except (IndexError, ValueError):
        return -1


def _pct(values: list[float], q: float) -> float:
    return bench_common.percentile(values, q)


# -- the child: both emulators, served over loopback, answering commands on stdin ---------------------------------


class _Sender:
    """The callbacks' sender: a thread with an event loop and an HTTP client of its own, as ConnectWise's callback
    service is apart from its API servers. The emulator hands each delivery over and awaits its outcome; the time
    from sending to the answer is taken on the sender's loop, so what the emulator's loop is busy with (the API
    requests cwsync and the change sender make) is not counted as cwsync's intake latency."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.http: httpx.AsyncClient | None = None
        threading.Thread(target=self.loop.run_forever, name="callback-sender", daemon=True).start()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
        return asyncio.run_coroutine_threadsafe(self._post(url, body, headers), self.loop)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[float, int | None, str | None]:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=5)  # one client for every callback, as a real sender keeps
        sent = time.perf_counter()
        try:
            response = await self.http.post(url, content=body, headers=headers)
            return time.perf_counter() - sent, response.status_code, None
        except httpx.HTTPError as exc:
            return time.perf_counter() - sent, None, f"{type(exc).__name__}: {exc}"


def serve(spec: dict[str, Any]) -> None:
    """The child: serve both emulators, print their address, then answer one JSON command per stdin line."""
    from cwsync.logs import configure_logging
    from cwsync_sandbox.connectwise.resources import BY_ENTITY
    from cwsync_sandbox.faults import FaultSettings
    from cwsync_sandbox.hubspot.state import Change

    configure_logging("warning")
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.server import running_sandbox

    with running_sandbox(SandboxSettings(records=spec["records"], seed=spec["seed"])) as running:
        box, hs = running.sandbox, running.hubspot
        assert hs is not None
        arrivals: list[tuple[int, str, float]] = []
        lock = threading.Lock()

        def stamp(change: Change) -> None:  # runs in the server thread as HubSpot commits each change
            title = change.properties.get("jobtitle")
            if change.object_type == "contacts" and title is not None:
                with lock:
                    arrivals.append((change.object_id, title, time.time()))

        hs.state.listeners.append(stamp)
        posts: list[tuple[float, int | None]] = []  # (seconds from sending to the answer, status: None = no answer)
        sender = _Sender()

        async def timed_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
            seconds, status, error = await asyncio.wrap_future(sender.post(url, body, headers))
            with lock:
                posts.append((seconds, status))
            return status, error

        box.callbacks._post = timed_post  # type: ignore[method-assign]  # the sender's view of intake latency
        print(json.dumps({"base_url": running.base_url}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            out: dict[str, Any] = {}
            if cmd["cmd"] == "latency":
                faults = FaultSettings(latency_ms=cmd["ms"])
                box.faults.update(faults)
                hs.faults.update(faults)
            elif cmd["cmd"] == "arrivals":
                with lock:
                    out["arrivals"], arrivals[:] = list(arrivals), []
            elif cmd["cmd"] == "callbacks_off":
                box.store.listeners.remove(box.callbacks.on_change)
                out["signing_key"], out["key_url"] = box.callbacks.signing_key, box.callbacks.key_url
                out["company_id"] = box.settings.company_id
            elif cmd["cmd"] == "callbacks_on":
                box.store.listeners.append(box.callbacks.on_change)
            elif cmd["cmd"] == "intake":
                with lock:
                    out["posts"], posts[:] = list(posts), []
            elif cmd["cmd"] == "patch_many":
                contacts = BY_ENTITY["contacts"]
                out["records"] = [
                    box.store.patch(
                        contacts, cw_id, [{"op": "replace", "path": "title", "value": title}], member="bench"
                    )
                    for cw_id, title in cmd["changes"]
                ]
            elif cmd["cmd"] == "check":
                records = hs.state.records["contacts"]
                out["wrong"] = [
                    [cw_id, want, got]
                    for cw_id, hs_id in cmd["pairs"]
                    if (want := (box.store.get("contacts", cw_id) or {}).get("title"))
                    != (got := (records.get(hs_id) or {}).get("jobtitle"))
                ]
                emails = Counter((p.get("email") or "").lower() for p in records.values() if p.get("email"))
                out["hs_contacts"] = len(records)
                out["duplicate_emails"] = sum(1 for c in emails.values() if c > 1)
                out["live_hs_ids"] = sorted(records)
            elif cmd["cmd"] == "stats":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                out["cpu"] = usage.ru_utime + usage.ru_stime
            print(json.dumps(out), flush=True)


class Child(bench_child.Child):
    """The child process serving the emulators, and its command channel."""

    def __init__(self, records: int, seed: int) -> None:
        super().__init__({"records": records, "seed": seed}, __file__)
        self.base_url: str = self.hello["base_url"]

    def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        """Send one command and read its answer (from any thread; one at a time)."""
        return self.ask(json.dumps({"cmd": cmd, **kw}))

    async def acall(self, cmd: str, **kw: Any) -> dict[str, Any]:
        """`call` without blocking the event loop."""
        return await asyncio.to_thread(self.call, cmd, **kw)


# -- the parent: cwsync and the load ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tracker:
    """Changes waiting to show up in HubSpot, per HubSpot contact id; fed by the child's commit stamps."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.waiting: dict[int, list[tuple[int, float]]] = {}
        self.latest: dict[int, tuple[int, float]] = {}  # HubSpot id → newest change seen there, and when
        self.latencies: list[float] = []

    def add(self, hs_id: int, seq: int, at: float) -> None:
        seen = self.latest.get(hs_id)
        if seen is not None and seen[0] >= seq:  # already there (a stamp that came before the PATCH answer)
            self.latencies.append(max(0.0, seen[1] - at))
            return
        self.waiting.setdefault(hs_id, []).append((seq, at))

    async def poll(self) -> None:
        for hs_id, title, at in (await self.child.acall("arrivals"))["arrivals"]:
            seq = _seq(title)
            if seq > self.latest.get(hs_id, (-1, 0.0))[0]:
                self.latest[hs_id] = (seq, at)
            pending = self.waiting.get(hs_id)
            if not pending:
                continue
            done = [(s, sent) for s, sent in pending if s <= seq]
            self.latencies.extend(max(0.0, at - sent) for _, sent in done)
            left = [(s, sent) for s, sent in pending if s > seq]
            if left:
                self.waiting[hs_id] = left
            else:
                del self.waiting[hs_id]

    @property
    def outstanding(self) -> int:
        return sum(len(v) for v in self.waiting.values())


async def latency_phase(
    child: Child,
    api_root: str,
    headers: dict[str, str],
    contacts: list[tuple[int, int]],
    *,
    changes: int,
    rate: float,
    seq0: int,
    wait: float,
) -> tuple[dict[str, Any], int]:
    tracker = Tracker(child)
    await tracker.poll()  # forget stamps from before this phase
    tracker.latest.clear()
    errors: Counter[str] = Counter()
    patch_times: list[float] = []
    # The changes are made by a process of their own (a user editing ConnectWise is not cwsync): its HTTP client's
    # CPU, ~2.5 ms a PATCH, and its share of the GIL are not cwsync's, whose intake thread would wait for them.
    items = [[contacts[n % len(contacts)][0], seq0 + n] for n in range(changes)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump({"api_root": api_root, "headers": headers, "rate": rate, "items": items}, spec)
    changer = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--change", spec.name, stdout=asyncio.subprocess.PIPE
    )
    assert changer.stdout is not None
    started = time.perf_counter()

    async def polling() -> None:
        while True:
            await tracker.poll()
            await asyncio.sleep(POLL)

    poller = asyncio.create_task(polling())
    sent_for = float("nan")
    try:
        async for line in changer.stdout:
            done = json.loads(line)
            if isinstance(done, dict):
                sent_for = done["sent_for"]
                continue
            n, status, seconds, at = done
            if status != 200:
                errors[str(status)] += 1
                continue
            patch_times.append(seconds)
            tracker.add(contacts[n % len(contacts)][1], seq0 + n, at)
        await changer.wait()
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        await asyncio.to_thread(Path(spec.name).unlink)
    deadline = time.perf_counter() + wait
    while tracker.outstanding and time.perf_counter() < deadline:
        await tracker.poll()
        await asyncio.sleep(POLL)
    await tracker.poll()
    total = time.perf_counter() - started
    lat = tracker.latencies
    lost = tracker.outstanding
    everything = lat + [math.inf] * lost  # a change that never arrived is a failure, not a missing sample
    result = {
        "changes": changes,
        "rate_asked": rate,
        "rate_sent": changes / sent_for if sent_for else float("nan"),
        "contacts_cycled": min(changes, len(contacts)),
        "patch_ok": len(patch_times),
        "patch_errors": dict(errors),
        "patch_p50_ms": _pct(patch_times, 50) * 1000,
        "arrived": len(lat),
        "not_arrived": lost,
        "p50": _pct(everything, 50),
        "p95": _pct(everything, 95),
        "p99": _pct(everything, 99),
        "max": max(everything) if everything else float("nan"),
        "mean": statistics.fmean(lat) if lat else float("nan"),
        "wall": total,
    }
    return result, seq0 + changes


async def change(spec: dict[str, Any]) -> None:
    """The latency phase's changes (a process of its own): PATCH each contact's title at `rate` per second, open
    loop, and print one JSON line per answer: [index, status or error, seconds, wall clock at the answer]; last
    `{"sent_for": seconds}`."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    headers, rate = spec["headers"], spec["rate"]
    async with httpx.AsyncClient(base_url=spec["api_root"] + "/", headers=headers, timeout=30, limits=limits) as cw:

        async def one(n: int, cw_id: int, seq: int) -> None:
            ops = [{"op": "replace", "path": "title", "value": f"{PREFIX} {seq}"}]
            sent = time.perf_counter()
            try:
                r = await cw.patch(f"company/contacts/{cw_id}", json=ops)
            except httpx.HTTPError as exc:
                print(json.dumps([n, type(exc).__name__, None, None]), flush=True)
                return
            print(json.dumps([n, r.status_code, time.perf_counter() - sent, time.time()]), flush=True)

        started = time.perf_counter()
        tasks = []
        for n, (cw_id, seq) in enumerate(spec["items"]):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, cw_id, seq)))
        sent_for = time.perf_counter() - started
        await asyncio.gather(*tasks)
    print(json.dumps({"sent_for": sent_for}), flush=True)


class _Connection:
    """One keep-alive HTTP/1.1 connection of the storm's sender: a prebuilt request out, the status and body in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, request: bytes) -> int:
        """Send `request`; the answer's status (its body is read and dropped)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            raise ConnectionResetError("the server closed the connection")
        return status


async def send(spec: dict[str, Any]) -> dict[str, Any]:
    """The storm's sender (its own process): POST every item open-loop at `offered` per second, at most
    `concurrency` in flight (one keep-alive connection each); each answer's time (None: no answer) and status.

    Raw HTTP/1.1 over asyncio streams, each request's bytes built before the clock starts: httpx spends ~2.5 ms of
    CPU per request (its pool's scan, anyio's socket attributes, h11), so a storm of 10,000 made with it cost the
    sender more CPU than cwsync spent answering, on the same two cores: the sender, not cwsync, set the pace.
    """
    statuses: Counter[str] = Counter()
    answer_s: list[float | None] = []
    host, port, path = spec["host"], spec["port"], spec["path"]
    requests = [
        _request(host, port, path + str(record_id), body.encode(), signature)
        for record_id, body, signature in spec["items"]
    ]
    idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
    for _ in range(spec["concurrency"]):
        idle.put_nowait(None)  # a slot; its connection is opened on first use

    async def post(request: bytes, connection: _Connection | None) -> None:
        sent = time.perf_counter()
        try:
            if connection is None:
                reader, writer = await asyncio.open_connection(host, port)
                writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection = _Connection(reader, writer)
            status = await connection.post(request)
            statuses[str(status)] += 1
            answer_s.append(time.perf_counter() - sent if 200 <= status < 300 else None)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            statuses[type(exc).__name__] += 1
            answer_s.append(None)
            if connection is not None:
                connection.writer.close()
            connection = None
        idle.put_nowait(connection)

    offered = spec["offered"]
    cpu0 = _cpu()
    wall, started = time.time(), time.perf_counter()
    tasks = []
    for n, request in enumerate(requests):
        delay = started + n / offered - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(request, await idle.get())))
    sent_in = time.perf_counter() - started
    await asyncio.gather(*tasks)
    answered_in = time.perf_counter() - started
    cpu = _cpu() - cpu0
    while not idle.empty():
        connection = idle.get_nowait()
        if connection is not None:
            connection.writer.close()
    return {
        "started": wall,
        "statuses": statuses,
        "answer_s": answer_s,
        "sent_s": sent_in,
        "answered_s": answered_in,
        "cpu": cpu,
    }


def _request(host: str, port: int, target: str, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {target} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"x-content-signature: {signature}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def storm_phase(
    child: Child,
    server: Any,
    port: int,
    contacts: list[tuple[int, int]],
    *,
    callbacks: int,
    dup_share: float,
    seq0: int,
    offered: float,
    concurrency: int,
    wait: float,
    hs_rate: int,
) -> dict[str, Any]:
    """`callbacks` signed callbacks (a `dup_share` of them re-sent MessageIds) POSTed open-loop at `offered` per second;
    how fast cwsync answers them, how fast it drains them into HubSpot, and whether HubSpot ends right."""
    from cwsync.runtime.intake import connectwise_signature

    signing = await child.acall("callbacks_off")  # only our POSTs reach the server from here on
    distinct = round(callbacks * (1 - dup_share))
    rng = random.Random(4)
    hs_of = dict(contacts)
    order = [cw_id for cw_id, _ in contacts]
    rng.shuffle(order)
    changes = [(order[i % len(order)], f"{PREFIX} {seq0 + i}") for i in range(distinct)]
    records = (await child.acall("patch_many", changes=changes))["records"]  # made before the clock starts
    bodies: list[tuple[int, bytes, str]] = []
    for i, ((cw_id, _), record) in enumerate(zip(changes, records, strict=True)):
        body = json.dumps(
            {
                "MessageId": f"storm-{seq0 + i}",
                "Action": "updated",
                "Type": "contact",
                "ID": cw_id,
                "CompanyId": signing["company_id"],
                "Entity": json.dumps(record),
                "Metadata": {"key_url": signing["key_url"]},
            }
        ).encode()
        bodies.append((cw_id, body, connectwise_signature(body, signing["signing_key"])))
    # Each duplicate re-sends a callback already sent, later in the stream.
    stream: list[tuple[int, bytes, str]] = list(bodies)
    for _ in range(callbacks - distinct):
        at = rng.randrange(1, len(stream) + 1)
        stream.insert(at, stream[rng.randrange(at)])
    path = f"/hooks/connectwise/{server.config.tenant}?id="
    hs_before = (await child.acall("check", pairs=[]))["hs_contacts"]
    jobs_before = sum((await server.jobs.counts()).values())
    runs_before = await server.store.runs(server.config.tenant, limit=1)
    claims = _count_claims(server.jobs)
    # The sender is a process of its own, so that its HTTP client's CPU is not cwsync's.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        items = [[record_id, body.decode(), signature] for record_id, body, signature in stream]
        json.dump(
            {
                "host": "127.0.0.1",
                "port": port,
                "path": path,
                "items": items,
                "offered": offered,
                "concurrency": concurrency,
            },
            spec,
        )
    cpu0, child0, threads0 = _cpu(), (await child.acall("stats"))["cpu"], _thread_cpu()
    sender = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--send", spec.name, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await sender.communicate()
    await asyncio.to_thread(Path(spec.name).unlink)
    sent = json.loads(out)
    started = time.perf_counter() - (time.time() - sent["started"])  # the sender's first POST, on this clock
    statuses: dict[str, int] = sent["statuses"]
    answer_s = [math.inf if a is None else a for a in sent["answer_s"]]
    sent_in, answered_in = sent["sent_s"], sent["answered_s"]
    jobs_after_intake = sum((await server.jobs.counts()).values())
    idle_error = None
    try:
        await server.runner.wait_idle(timeout=wait)
    except TimeoutError:
        idle_error = f"not idle after {wait:.0f} s"
    drained_in = time.perf_counter() - started
    cpu_engine, cpu_child = _cpu() - cpu0, (await child.acall("stats"))["cpu"] - child0
    threads = _cpu_by_thread(threads0, _thread_cpu())
    batches = await _batches(server, since=runs_before[0].run_id if runs_before else 0)
    jobs_after = await server.jobs.counts()
    # Final correctness: HubSpot holds ConnectWise's last value for every changed contact; no contact was added.
    changed = sorted({cw_id for cw_id, _ in changes})
    check = await child.acall("check", pairs=[[cw_id, hs_of[cw_id]] for cw_id in changed])
    await child.acall("callbacks_on")
    # What HubSpot's limit allows: each 100 changed records need at least a batch read and a batch update.
    allowed = min(offered * distinct / callbacks, 100 * (hs_rate / 10) / 2)
    return {
        "callbacks": len(stream),
        "answered_ok": sum(1 for a in answer_s if a != math.inf),
        "distinct": distinct,
        "duplicates": len(stream) - distinct,
        "contacts_changed": len(changed),
        "statuses": dict(statuses),
        "offered": offered,
        "sent_s": sent_in,
        "answered_s": answered_in,
        "answer_p50": _pct(answer_s, 50),
        "answer_p99": _pct(answer_s, 99),
        "answered_per_s": len(stream) / answered_in if answered_in else float("nan"),
        "jobs_created": jobs_after_intake - jobs_before,
        "jobs_total_after": sum(jobs_after.values()) - jobs_before,
        "job_statuses": {k: v for k, v in jobs_after.items() if v},
        "drained_s": drained_in,
        "drain_rate": distinct / drained_in,
        "allowed_rate": allowed,
        "idle_error": idle_error,
        "wrong": len(check["wrong"]),
        "wrong_examples": check["wrong"][:5],
        "hs_contacts_before": hs_before,
        "hs_contacts_after": check["hs_contacts"],
        "duplicate_emails": check["duplicate_emails"],
        "cpu_engine": cpu_engine,
        "cpu_child": cpu_child,
        "cpu_sender": sent["cpu"],
        "cpu_threads": threads,
        "claims": claims[0],
        **batches,
    }


def _count_claims(jobs: Any) -> list[int]:
    """Count the runner's claim transactions from now on (the first item of the list returned, updated live)."""
    counted = [0]
    claim_batch = jobs.claim_batch

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counted[0] += 1
        return await claim_batch(*args, **kwargs)

    jobs.claim_batch = counting
    return counted


async def _batches(server: Any, *, since: int) -> dict[str, Any]:
    """How the record jobs were batched: engine runs of kind `record` after run `since`, and their sizes."""
    runs = [r for r in await server.store.runs(server.config.tenant, limit=100_000) if r.run_id > since]
    sizes = [r.counts.total for r in runs if r.kind == "record"]
    return {
        "batches": len(sizes),
        "batch_mean": statistics.fmean(sizes) if sizes else 0.0,
        "batch_max": max(sizes, default=0),
    }


def _print_latency(r: dict[str, Any], hog: bool) -> None:
    print(
        f"\n== latency: {r['changes']} changes at {r['rate_asked']:g}/s (sent at {r['rate_sent']:.1f}/s),"
        f" {r['contacts_cycled']} contacts cycled =="
    )
    print(f"PATCH ok {r['patch_ok']}, errors {r['patch_errors'] or 'none'}, PATCH p50 {r['patch_p50_ms']:.0f} ms")
    print(
        f"arrived {r['arrived']} / {r['patch_ok']}; LOST (never arrived): {r['not_arrived']}; "
        f"phase wall {r['wall']:.1f} s"
    )
    print(
        f"latency (a lost change counts as infinite) p50 {r['p50']:.3f} s  p95 {r['p95']:.3f} s  p99 {r['p99']:.3f} s"
        f"  max {r['max']:.3f} s  mean of the arrived {r['mean']:.3f} s"
    )
    print(
        f"record batches {r['batches']} (records per batch: mean {r['batch_mean']:.1f}, max {r['batch_max']});"
        f" HubSpot calls {r['hs_calls']:.0f} = {r['hs_calls'] / r['wall']:.1f}/s over the phase (its limit: 19/s)"
    )
    print(
        f"callback deliveries (the emulator's view): {r['deliveries']}, not answered 2xx: {r['deliveries_failed']}; "
        f"answer p50 {1000 * r['intake_p50']:.1f} ms, p99 {1000 * r['intake_p99']:.1f} ms, "
        f"max {1000 * r['intake_max']:.1f} ms"
    )
    print(
        f"inside cwsync (app received → answer started): p50 {1000 * r['handler_p50']:.1f} ms, "
        f"p99 {1000 * r['handler_p99']:.1f} ms; event loop lag p50 {1000 * r['lag_p50']:.0f} ms, "
        f"p99 {1000 * r['lag_p99']:.0f} ms"
    )
    print(
        f"cwsync CPU {r['cpu_engine']:.1f} s ({r['cpu_threads']}), emulators' CPU {r['cpu_child']:.1f} s over the phase"
    )
    bench_common.target(
        f"real-time p99 at {r['rate_asked']:g}/s{' with a one-core hog' if hog else ''}",
        r["p99"],
        TARGET_P99,
        unit=" s",
    )
    bench_common.target("changes lost", r["not_arrived"], 0)
    bench_common.target("webhook intake p99", 1000 * r["intake_p99"], 50, unit=" ms")


def _print_storm(b: dict[str, Any]) -> None:
    print(f"\n== storm: {b['callbacks']} callbacks ({b['distinct']} distinct, {b['duplicates']} duplicates) ==")
    print(f"HTTP statuses {b['statuses']}; contacts changed {b['contacts_changed']}")
    print(
        f"offered at {b['offered']:g}/s (sent in {b['sent_s']:.2f} s); all answered in {b['answered_s']:.2f} s = "
        f"{b['answered_per_s']:.0f}/s; answer p50 {1000 * b['answer_p50']:.1f} ms, p99 {1000 * b['answer_p99']:.1f} ms"
    )
    print(
        f"jobs created {b['jobs_created']} (coalescing: {b['distinct']} distinct callbacks →"
        f" {b['jobs_created']} jobs), total after idle {b['jobs_total_after']}; all jobs so far {b['job_statuses']}"
    )
    print(
        f"record batches {b['batches']} (records per batch: mean {b['batch_mean']:.1f}, max {b['batch_max']});"
        f" claims made by the runner {b['claims']}"
    )
    print(
        f"drained (runner idle) {b['drained_s']:.1f} s after the first POST: {b['drain_rate']:.0f} distinct changes/s; "
        f"HubSpot's limit allows {b['allowed_rate']:.0f}/s (2 calls per 100 records at its rate, or the offered rate)"
        f"{'; ' + b['idle_error'] if b['idle_error'] else ''}"
    )
    print(
        f"correctness: {b['contacts_changed'] - b['wrong']}/{b['contacts_changed']} contacts equal ConnectWise's last"
        f" value (wrong: {b['wrong']} {b['wrong_examples'] or ''}); HubSpot contacts {b['hs_contacts_before']} →"
        f" {b['hs_contacts_after']}, duplicate e-mails {b['duplicate_emails']}"
    )
    print(
        f"CPU from the sender's start to idle: cwsync {b['cpu_engine']:.1f} s"
        f" ({1e3 * b['cpu_engine'] / b['callbacks']:.2f} ms per callback), emulators {b['cpu_child']:.1f} s,"
        f" sender {b['cpu_sender']:.1f} s; cwsync's threads: {b['cpu_threads']}"
    )
    bench_common.target("storm drain rate / allowed rate", b["drain_rate"] / b["allowed_rate"], 0.9, at_most=False)
    refused = sum(n for status, n in b["statuses"].items() if not status.startswith("2"))
    bench_common.target("storm callbacks not answered 2xx", refused, 0)
    bench_common.target(
        "storm contacts wrong at the end", b["wrong"] + (b["hs_contacts_after"] != b["hs_contacts_before"]), 0
    )


class LoopLag:
    """How late the event loop wakes a 50 ms sleep (samples while the phase runs): a busy or starved loop delays
    every handler, whatever the handler does."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.05)
            self.lags.append(time.perf_counter() - before - 0.05)

    def take(self) -> list[float]:
        taken, self.lags = self.lags, []
        return taken


class HookTimer:
    """ASGI wrapper timing each webhook inside cwsync: from the app receiving it to its answer's start (what the
    handler costs, without the time a request waits for the event loop or the sender's side)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/hooks/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seconds.append(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed)

    def take(self) -> list[float]:
        taken, self.seconds = self.seconds, []
        return taken


def _intake(posts: list[tuple[float, int | None]]) -> dict[str, Any]:
    """The emulator's callback deliveries: how long cwsync took to answer, and how many got no 2xx."""
    seconds = [t if status is not None and 200 <= status < 300 else math.inf for t, status in posts]
    return {
        "deliveries": len(posts),
        "deliveries_failed": sum(1 for t in seconds if t == math.inf),
        "intake_p50": _pct(seconds, 50),
        "intake_p99": _pct(seconds, 99),
        "intake_max": max(seconds, default=float("nan")),
    }


async def intake_cpu(n: int) -> None:
    """`--intake-cpu N`: the CPU of the webhook path alone — N signed callbacks (64 at a time) as ASGI calls straight
    into the server's app, no sockets, no emulator, nothing else running: the handler thread's CPU and the whole
    process's (the accept writer's included) per callback. Steadier than the storm on a shared machine."""
    from cwsync.cli.sandbox import sandbox_config_values
    from cwsync.config import load_config
    from cwsync.config.template import render_template
    from cwsync.integrations.hubspot.context import opened
    from cwsync.runtime.intake import connectwise_signature
    from cwsync.server.app import Server, create_app

    base, key = "http://127.0.0.1:9", "k" * 32
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cwsync.yaml"
        values = sandbox_config_values(base, server_port=_free_port())
        path.write_text(render_template(store=f"sqlite:///{Path(folder) / 'cwsync.db'}", **values), encoding="utf-8")
        config = load_config(path)
        async with opened(config) as ctx, httpx.AsyncClient() as key_http:
            server = Server(config, ctx.store, ctx.cw, ctx.hs, key_http)
            app = create_app(server)
            key_url = f"{base}/key"

            async def signing_key(url: str, *, refresh: bool = False) -> str:
                return key  # no key server: every callback is signed with this one

            server.keys.key_for = signing_key  # type: ignore[method-assign]
            record: dict[str, Any] = {
                "id": 1,
                "firstName": "Ada",
                "company": {"id": 2, "name": "Acme", "_info": {}},
                "communicationItems": [{"type": {"id": 1, "name": "Email"}, "value": "ada@example.com"}] * 3,
                "_info": {"lastUpdated": "", "updatedBy": "bench"},
            }
            calls = []
            for i in range(n):
                record["_info"]["lastUpdated"] = f"2026-12-03T10:00:00.{i:06d}Z"
                payload = {
                    "MessageId": f"cpu-{i}",
                    "Action": "updated",
                    "Type": "contact",
                    "ID": 1 + i % 400,
                    "CompanyId": config.connections.connectwise.company_id,
                    "Entity": json.dumps(record),
                    "Metadata": {"key_url": key_url},
                }
                body = json.dumps(payload).encode()
                calls.append((1 + i % 400, body, connectwise_signature(body, key)))
            statuses: Counter[int] = Counter()

            async def post(record_id: int, body: bytes, signature: str) -> None:
                headers = [(b"content-type", b"application/json"), (b"x-content-signature", signature.encode())]
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": "POST",
                    "scheme": "http",
                    "path": f"/hooks/connectwise/{config.tenant}",
                    "raw_path": b"",
                    "query_string": f"id={record_id}".encode(),
                    "root_path": "",
                    "headers": [(b"host", b"cwsync"), (b"content-length", str(len(body)).encode()), *headers],
                    "client": ("127.0.0.1", 1),
                    "server": ("127.0.0.1", 2),
                }
                messages = [{"type": "http.request", "body": body, "more_body": False}]

                async def receive() -> dict[str, Any]:
                    return messages.pop() if messages else {"type": "http.disconnect"}

                async def send(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        statuses[message["status"]] += 1

                await app(scope, receive, send)

            gate = asyncio.Semaphore(64)

            async def one(call: tuple[int, bytes, str]) -> None:
                async with gate:
                    await post(*call)

            warm = min(50, n // 10)
            await asyncio.gather(*(one(call) for call in calls[:warm]))
            statuses.clear()
            process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
            await asyncio.gather(*(one(call) for call in calls[warm:]))
            process, thread = time.process_time() - process, time.thread_time() - thread
            wall = time.perf_counter() - wall
            await server.jobs.close()
    timed = n - warm
    print(
        f"{timed} signed callbacks in-process: {1e3 * process / timed:.3f} ms of CPU each"
        f" ({1e3 * thread / timed:.3f} ms in the handler's thread), wall {1e3 * wall / timed:.3f} ms each;"
        f" statuses {dict(statuses)}"
    )


def _http_server(app: Any, port: int) -> Any:
    """The HTTP server `cwsync serve` runs: uvicorn on a thread of its own, webhooks answered there (issue 19);
    plain uvicorn on this loop for code from before it (a base worktree on `PYTHONPATH`, to compare)."""
    settings: dict[str, Any] = {"port": port, "log_level": "warning", "lifespan": "off"}
    try:
        from cwsync.server.intake import IntakeServer
    except ImportError:
        print("HTTP: uvicorn on the engine's event loop (this cwsync has no IntakeServer)")
        return uvicorn.Server(uvicorn.Config(app, **settings))
    print("HTTP: IntakeServer (webhooks on a thread and event loop of their own)")
    return IntakeServer(app, **settings)


def _api_calls(system: str) -> float:
    """Requests cwsync has sent to `system` so far (every attempt, every status: `cwsync_api_requests`)."""
    from prometheus_client import REGISTRY

    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "cwsync_api_requests"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("system") == system
    )


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by thread name (from /proc: Linux only; else empty)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        name = "aiosqlite" if thread.name.startswith("Thread-") else thread.name.split(" ")[0]
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_by_thread(before: dict[str, float], after: dict[str, float]) -> str:
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(child: Child, folder: Path, args: argparse.Namespace) -> None:
    import base64

    from cwsync.cli.callbacks import specs_for
    from cwsync.cli.sandbox import sandbox_config_values
    from cwsync.config import load_config
    from cwsync.config.template import render_template
    from cwsync.integrations.hubspot.context import opened
    from cwsync.integrations.hubspot.run import HubSpotSync
    from cwsync.runtime.callbacks import CallbackManager
    from cwsync.server.app import Server, create_app

    port = _free_port()
    path = folder / "cwsync.yaml"
    values = sandbox_config_values(child.base_url, server_port=port)
    path.write_text(render_template(store=f"sqlite:///{folder / 'cwsync.db'}", **values), encoding="utf-8")
    config = load_config(path)
    cw_conf = config.connections.connectwise
    user = f"{cw_conf.company_id}+{cw_conf.public_key}:{cw_conf.private_key.get_secret_value()}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": cw_conf.client_id,
        "Accept": "application/vnd.connectwise.com+json; version=2025.8",
        "Content-Type": "application/json",
    }
    async with opened(config) as ctx:
        started = time.perf_counter()
        await HubSpotSync(config, ctx.store, ctx.cw, ctx.hs).run()
        print(f"first sync: {time.perf_counter() - started:.1f} s")
        live = set((await child.acall("check", pairs=[]))["live_hs_ids"])
        contacts = [
            (int(link.left_id), int(link.right_id))
            async for batch in ctx.store.iter_links(config.tenant, "contacts")
            for link in batch
            if int(link.right_id) in live
        ]
        print(f"linked contacts: {len(contacts)}")
        random.Random(1).shuffle(contacts)
        api_root = f"{child.base_url}/{(await ctx.cw.company_info()).codebase}apis/3.0"
        await child.acall("latency", ms=args.latency_ms)
        if args.settle:
            print(f"letting HubSpot's 10 s rate window empty ({args.settle:g} s)")
            await asyncio.sleep(args.settle)
        async with httpx.AsyncClient(timeout=10) as key_http:
            server = Server(config, ctx.store, ctx.cw, ctx.hs, key_http)
            await server.start(schedule=False)
            app = HookTimer(create_app(server))
            lag = LoopLag()
            lag.start()
            uvi = _http_server(app, port)
            serving = asyncio.create_task(uvi.serve())
            try:
                while not uvi.started:  # noqa: ASYNC110 - uvicorn offers no event for it
                    await asyncio.sleep(0.01)
                await CallbackManager(ctx.cw, tenant=config.tenant).install(specs_for(config))
                seq = 1
                for rate in args.rate:
                    if args.changes:
                        before = await server.store.runs(config.tenant, limit=1)
                        cpu0, child0, threads0 = _cpu(), (await child.acall("stats"))["cpu"], _thread_cpu()
                        hs_calls0 = _api_calls("hubspot")
                        result, seq = await latency_phase(
                            child,
                            api_root,
                            headers,
                            contacts,
                            changes=args.changes,
                            rate=rate,
                            seq0=seq,
                            wait=args.wait,
                        )
                        result["cpu_engine"] = _cpu() - cpu0
                        result["cpu_child"] = (await child.acall("stats"))["cpu"] - child0
                        result["cpu_threads"] = _cpu_by_thread(threads0, _thread_cpu())
                        result["hs_calls"] = _api_calls("hubspot") - hs_calls0
                        with contextlib.suppress(TimeoutError):
                            await server.runner.wait_idle(timeout=args.wait)
                        result |= await _batches(server, since=before[0].run_id if before else 0)
                        result |= _intake((await child.acall("intake"))["posts"])
                        inside = app.take()
                        result["handler_p50"], result["handler_p99"] = _pct(inside, 50), _pct(inside, 99)
                        lags = lag.take()
                        result["lag_p50"], result["lag_p99"] = _pct(lags, 50), _pct(lags, 99)
                        _print_latency(result, args.hog)
                        if args.settle:
                            await asyncio.sleep(args.settle)
                if args.storm:
                    app.take()
                    b = await storm_phase(
                        child,
                        server,
                        port,
                        contacts,
                        callbacks=args.storm,
                        dup_share=args.duplicates,
                        seq0=seq + 1_000_000,
                        offered=args.storm_rate,
                        concurrency=args.concurrency,
                        wait=args.storm_wait,
                        hs_rate=190,
                    )
                    inside = app.take()
                    p50, p99 = 1000 * _pct(inside, 50), 1000 * _pct(inside, 99)
                    print(f"storm inside cwsync: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
                    _print_storm(b)
            finally:
                uvi.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
                await server.stop()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(json.loads(sys.argv[2]))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--change":
        asyncio.run(change(json.loads(Path(sys.argv[2]).read_text())))
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--send":
        print(json.dumps(asyncio.run(send(json.loads(Path(sys.argv[2]).read_text())))))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=4000, help="approximate ConnectWise records generated")
    p.add_argument("--changes", type=int, default=1000, help="changes in the latency phase (0 skips it)")
    p.add_argument("--rate", type=float, nargs="+", default=[50.0], help="changes per second (several: one run each)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="added to every API request of both emulators")
    p.add_argument("--storm", type=int, default=10_000, help="callbacks in the storm (0 skips it)")
    p.add_argument("--storm-rate", type=float, default=2000.0, help="callbacks per second the storm offers")
    p.add_argument("--duplicates", type=float, default=0.3, help="share of the storm that re-sends a MessageId")
    p.add_argument("--concurrency", type=int, default=64, help="most callback POSTs in flight during the storm")
    p.add_argument("--wait", type=float, default=300.0, help="longest wait for changes to arrive (s)")
    p.add_argument("--storm-wait", type=float, default=1800.0, help="longest wait for the runner to go idle (s)")
    p.add_argument("--settle", type=float, default=10.0, help="pause after the first sync and between phases (s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log-level", default="warning", help="engine events on stderr (info shows each record batch)")
    p.add_argument(
        "--intake-cpu",
        type=int,
        default=0,
        metavar="N",
        help="only measure the webhook path's CPU: N signed callbacks as in-process ASGI calls (no emulator)",
    )
    bench_common.add_arguments(p)
    args = p.parse_args()
    from cwsync.logs import configure_logging

    configure_logging(args.log_level)
    if args.intake_cpu:
        with bench_common.session("realtime_latency --intake-cpu", args.hog):
            asyncio.run(intake_cpu(args.intake_cpu))
        return
    with bench_common.session("realtime_latency", args.hog):
        child = Child(args.records, args.seed)
        try:
            with tempfile.TemporaryDirectory() as folder:
                asyncio.run(run(child, Path(folder), args))
        finally:
            child.close()


if __name__ == "__main__":
    main()
