"""Outbound callbacks, as ConnectWise Manage sends them (api-notes §4).

Every committed change of an entity with a callback `Type` is POSTed to each active `/system/callbacks` entry whose
type and level match, with the record id appended to the registered URL. The body carries PascalCase fields and the
record as a JSON *string* in `Entity`; it is signed in `x-content-signature` as
`base64(HMAC-SHA256(key=SHA256(signing_key), msg=raw body))`, with the signing key served at `Metadata.key_url`.
Delivery: 5 s timeout; on 404, 409, 419 or 429 two more tries, 2 s then 4 s later; an entry that has failed on
3 consecutive days is disabled (`inactiveFlag`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cwsync_sandbox.connectwise.state import Change, Store
from cwsync_sandbox.tls import tls_context

RETRY_STATUSES = frozenset({404, 409, 419, 429})
RETRY_DELAYS = (2.0, 4.0)
DISABLE_AFTER = timedelta(days=3)

# Which field of a record a callback `level` filters on (the `objectId` names a record of that kind).
_LEVEL_FIELDS = {
    "status": "status",
    "statusid": "status",
    "type": "type",
    "board": "board",
    "company": "company",
    "member": "member",
    "territory": "territory",
}


def sign(body: bytes, signing_key: str) -> str:
    """The `x-content-signature` value for a body."""
    key = hashlib.sha256(signing_key.encode("utf-8")).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def level_matches(entry: Mapping[str, Any], callback_type: str, record: Mapping[str, Any]) -> bool:
    """Whether a callback entry subscribes to this change of this record."""
    if str(entry.get("type", "")).lower() != callback_type or entry.get("inactiveFlag"):
        return False
    level = str(entry.get("level", "")).lower()
    object_id = entry.get("objectId")
    if level == "owner":
        return True
    if level == callback_type:
        return record.get("id") == object_id
    ref_field = _LEVEL_FIELDS.get(level)
    ref = record.get(ref_field) if ref_field else None
    if isinstance(ref, list):
        return any(isinstance(item, Mapping) and item.get("id") == object_id for item in ref)
    return isinstance(ref, Mapping) and ref.get("id") == object_id


@dataclass
class Delivery:
    """One attempt to deliver one message (kept for /_sandbox/callbacks/deliveries)."""

    callback_id: int
    url: str
    message_id: str
    action: str
    record_id: int
    attempt: int
    status: int | None
    error: str | None
    at: str


@dataclass
class CallbackDispatcher:
    """Turns store changes into signed callback POSTs, in the background."""

    store: Store
    company_id: str
    key_url: str
    signing_key: str
    http: httpx.AsyncClient | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    retry_scale: float = 1.0
    product_instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deliveries: list[Delivery] = field(default_factory=list)
    failing_since: dict[int, datetime] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.store.listeners.append(self.on_change)

    def on_change(self, change: Change) -> None:
        """Store listener: schedule a delivery to every matching callback entry."""
        if change.resource.callback_type is None:
            return
        for entry in self._entries():
            if level_matches(entry, change.resource.callback_type, change.record):
                self._spawn(self._deliver(entry, change))

    def _entries(self) -> list[dict[str, Any]]:
        entries = []
        for callback_id in self.store.ids("callbacks"):
            entry = self.store.get("callbacks", callback_id)
            if entry is not None:
                entries.append(entry)
        return entries

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (a synchronous admin call): nothing can be delivered
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every pending delivery (used by tests and on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def payload(self, entry: Mapping[str, Any], change: Change) -> dict[str, Any]:
        """The JSON body ConnectWise POSTs for a change."""
        return {
            "MessageId": str(uuid.uuid4()),
            "FromUrl": self.key_url.split("/")[2] if "//" in self.key_url else self.key_url,
            "CompanyId": self.company_id,
            "MemberId": change.member,
            "Action": change.action,
            "Type": change.resource.callback_type,
            "ID": change.record["id"],
            "ProductInstanceId": self.product_instance_id,
            "PartnerId": self.company_id,
            "Entity": json.dumps(change.record),
            "Metadata": {"key_url": self.key_url},
            "CallbackObjectRecId": entry["id"],
        }

    async def _deliver(self, entry: Mapping[str, Any], change: Change) -> None:
        body = json.dumps(self.payload(entry, change)).encode("utf-8")
        message_id = json.loads(body)["MessageId"]
        url = f"{entry['url']}{change.record['id']}"
        headers = {"content-type": "application/json", "x-content-signature": sign(body, self.signing_key)}
        delays = (0.0, *RETRY_DELAYS)
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                await self.sleep(delay * self.retry_scale)
            status, error = await self._post(url, body, headers)
            self._log(entry, url, message_id, change, attempt, status, error)
            if status is not None and 200 <= status < 300:
                self.failing_since.pop(entry["id"], None)
                return
            if status not in RETRY_STATUSES:
                break
        self._note_failure(entry["id"])

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        client = self.http or httpx.AsyncClient(verify=tls_context())
        try:
            response = await client.post(url, content=body, headers=headers, timeout=5.0)
            return response.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if self.http is None:
                await client.aclose()

    def _log(
        self,
        entry: Mapping[str, Any],
        url: str,
        message_id: str,
        change: Change,
        attempt: int,
        status: int | None,
        error: str | None,
    ) -> None:
        at = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.deliveries.append(
            Delivery(entry["id"], url, message_id, change.action, change.record["id"], attempt, status, error, at)
        )
        del self.deliveries[:-1000]

    def _note_failure(self, callback_id: int) -> None:
        first = self.failing_since.setdefault(callback_id, self.now())
        if self.now() - first >= DISABLE_AFTER:
            self.store.overlay.setdefault("callbacks", {})
            entry = self.store.get("callbacks", callback_id)
            if entry is not None:
                entry["inactiveFlag"] = True
                self.store.overlay["callbacks"][callback_id] = entry
