"""Webhook deliveries, as HubSpot sends them (notes A10).

Changes to records (through the API or "by a user" through the admin endpoints) become events for the
subscription's event types. Events gather for a short window (`webhook_batch_ms`) and go out as a JSON array of at
most 100 events per POST, at most `webhook_max_concurrent` POSTs at a time. Each POST is signed:

- `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(key=client secret, msg=METHOD + URI + body + timestamp)), where URI is
  the full target URL (percent-escapes decoded) and timestamp is `X-HubSpot-Request-Timestamp` (epoch ms);
- `X-HubSpot-Signature` = sha256_hex(client secret + body) with `X-HubSpot-Signature-Version: v1` (legacy).

A failure (connection error, a timeout over 5 s, any 4xx/5xx) is retried up to 10 times with a growing delay that
stays within 24 hours; every retry carries the next `attemptNumber`. Sleeping is injectable so tests do not wait.

Choices where the notes are silent or UNCONFIRMED: creation events carry `changeFlag: "CREATED"` and are followed by
one propertyChange event per property set at creation; association events carry `fromObjectId`, `toObjectId`,
`associationType`, `associationTypeId` and `associationRemoved` and go to both sides; a sandbox subscription to
`X.propertyChange` covers every property that is not a system timestamp unless `property_names` narrows it (HubSpot
subscribes per property); the retry schedule; `X-HubSpot-Timeout-Millis: 5000`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cwsync_sandbox.hubspot.dataset import ASSOCIATION_TYPES, OBJECT_TYPES, SYSTEM_PROPERTIES, iso
from cwsync_sandbox.hubspot.settings import HubSpotSandboxSettings
from cwsync_sandbox.hubspot.state import API_SOURCE, Change
from cwsync_sandbox.tls import tls_context

MAX_EVENTS = 100
TIMEOUT_SECONDS = 5.0
# Ten retries, doubling from one minute and capped at 8 hours: about 17 hours in all, inside HubSpot's 24.
RETRY_DELAYS: tuple[float, ...] = (60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 28800)
KINDS = ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
PREFIXES = {name: t.singular for name, t in OBJECT_TYPES.items()}
EVENT_TYPES = frozenset(f"{prefix}.{kind}" for prefix in [*PREFIXES.values(), "object"] for kind in KINDS) | {
    "contact.privacyDeletion"
}
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - cwsync sandbox"


def sign_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The `X-HubSpot-Signature-v3` value of a request."""
    source = method.upper().encode() + unquote(uri).encode() + body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v1(client_secret: str, body: bytes) -> str:
    """The legacy `X-HubSpot-Signature` (v1) value of a request body."""
    return hashlib.sha256(client_secret.encode() + body).hexdigest()


class WebhookSubscription(BaseModel):
    """Where events go and which: `target_url`, `event_types` (e.g. `contact.propertyChange`), `property_names`."""

    model_config = ConfigDict(extra="forbid")

    target_url: str = Field(min_length=1)
    event_types: list[str] = Field(min_length=1)
    property_names: list[str] = Field(default_factory=list)

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        return list(dict.fromkeys(value))


@dataclass
class Delivery:
    """One POST of a batch of events (kept for `/_sandbox/webhooks/deliveries`)."""

    attempt: int
    url: str
    status: int | None
    error: str | None
    at: str
    event_ids: list[int]
    subscription_types: list[str]
    events: list[dict[str, Any]]


@dataclass
class WebhookDispatcher:
    """Turns state changes into batched, signed webhook POSTs, in the background."""

    settings: Callable[[], HubSpotSandboxSettings]
    http: httpx.AsyncClient | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    ui_user_id: int = 1
    subscription: WebhookSubscription | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    next_event_id: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _timer: asyncio.Task[None] | None = None
    _slots: asyncio.Semaphore | None = None

    def __post_init__(self) -> None:
        if not self.next_event_id:
            self.next_event_id = random.Random(f"hubspot-events:{self.settings().seed}").randrange(10**9, 4 * 10**9)

    # -- subscription --------------------------------------------------------------------------------------------

    def subscribe(self, subscription: WebhookSubscription | None) -> None:
        """Set (or with None, remove) the subscription; removing it drops events not yet sent."""
        self.subscription = subscription
        if subscription is None:
            self.pending.clear()

    def subscription_ids(self) -> dict[str, int]:
        """A deterministic subscription id per subscribed event type."""
        if self.subscription is None:
            return {}
        base = 600_000 + (self.settings().seed % 1000) * 1000
        return {name: base + index for index, name in enumerate(self.subscription.event_types)}

    def describe(self) -> dict[str, Any] | None:
        """The subscription as `/_sandbox/webhooks/subscription` shows it."""
        if self.subscription is None:
            return None
        return {**self.subscription.model_dump(), "subscription_ids": self.subscription_ids()}

    def reset(self) -> None:
        """Forget the subscription, pending events and the delivery log; stop background work."""
        for task in [*self._tasks, *([self._timer] if self._timer else [])]:
            task.cancel()
        self._tasks.clear()
        self._timer = None
        self.pending.clear()
        self.deliveries.clear()
        self.subscription = None

    # -- events --------------------------------------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """State listener: queue the events this change makes for the subscription, and schedule a delivery."""
        if self.subscription is None:
            return
        events = self.events_for(change)
        if events:
            self.pending.extend(events)
            self._schedule()

    def events_for(self, change: Change) -> list[dict[str, Any]]:
        """The events a change makes for the current subscription (generic `object.*` ones included)."""
        out: list[dict[str, Any]] = []
        for kind, object_type, object_id, fields in self._shapes(change):
            for prefix in (PREFIXES[object_type], "object"):
                event = self._event(f"{prefix}.{kind}", object_id, change.source, fields)
                if event is not None:
                    if prefix == "object":
                        event["objectTypeId"] = OBJECT_TYPES[object_type].type_id
                    out.append(event)
        return out

    def _shapes(self, change: Change) -> list[tuple[str, str, int, dict[str, Any]]]:
        """(kind, object type, object id, kind-specific fields) for each event a change implies."""
        t, oid = change.object_type, change.object_id
        if change.kind == "creation":
            return [("creation", t, oid, {"changeFlag": "CREATED"}), *self._property_shapes(change)]
        if change.kind == "propertyChange":
            return self._property_shapes(change)
        if change.kind == "deletion":
            return [("deletion", t, oid, {"changeFlag": "DELETED"})]
        if change.kind == "merge":
            fields = {**change.extra, "newObjectId": oid}
            return [("merge", t, oid, fields)]
        if change.kind == "associationChange":
            return self._association_shapes(change)
        return []

    def _property_shapes(self, change: Change) -> list[tuple[str, str, int, dict[str, Any]]]:
        wanted = set(self.subscription.property_names) if self.subscription else set()

        def covered(name: str) -> bool:
            return name in wanted if wanted else name not in SYSTEM_PROPERTIES

        return [
            ("propertyChange", change.object_type, change.object_id, {"propertyName": name, "propertyValue": value})
            for name, value in change.properties.items()
            if covered(name)
        ]

    def _association_shapes(self, change: Change) -> list[tuple[str, str, int, dict[str, Any]]]:
        extra = change.extra
        type_id = int(extra["associationTypeIds"][0])
        assoc = ASSOCIATION_TYPES[type_id]
        inverse = ASSOCIATION_TYPES[assoc.inverse]
        removed = bool(extra["associationRemoved"])
        from_id, to_id = int(extra["fromObjectId"]), int(extra["toObjectId"])

        def fields(kind: str, tid: int, a: int, b: int) -> dict[str, Any]:
            return {
                "associationType": kind,
                "associationTypeId": tid,
                "fromObjectId": a,
                "toObjectId": b,
                "associationRemoved": removed,
                "isPrimaryAssociation": ASSOCIATION_TYPES[tid].label == "Primary",
            }

        forward_name = assoc.v3_name.removesuffix("_unlabeled").upper()
        backward_name = inverse.v3_name.removesuffix("_unlabeled").upper()
        return [
            ("associationChange", change.object_type, from_id, fields(forward_name, type_id, from_id, to_id)),
            ("associationChange", assoc.to_type, to_id, fields(backward_name, inverse.type_id, to_id, from_id)),
        ]

    def _event(
        self, subscription_type: str, object_id: int, source: str, fields: dict[str, Any]
    ) -> dict[str, Any] | None:
        subscription_id = self.subscription_ids().get(subscription_type)
        if subscription_id is None:
            return None
        settings = self.settings()
        self.next_event_id += 1
        event: dict[str, Any] = {
            "eventId": self.next_event_id,
            "subscriptionId": subscription_id,
            "portalId": settings.portal_id,
            "appId": settings.app_id,
            "occurredAt": self.now_ms(),
            "subscriptionType": subscription_type,
            "attemptNumber": 0,
            "objectId": object_id,
            **fields,
            "changeSource": source,
            "sourceId": str(settings.app_id) if source == API_SOURCE else f"userId:{self.ui_user_id}",
        }
        return event

    # -- batching ------------------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a change made outside any loop waits for the next flush or drain
            return
        while len(self.pending) >= MAX_EVENTS:
            self._spawn(self._deliver(self._take()))
        if self.pending and self._timer is None:
            self._timer = loop.create_task(self._flush_later())

    def _take(self) -> list[dict[str, Any]]:
        batch, self.pending[:] = self.pending[:MAX_EVENTS], self.pending[MAX_EVENTS:]
        return batch

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.settings().webhook_batch_ms / 1000)
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Send whatever is pending now, without waiting for the batch window."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self.pending and self.subscription is not None:
            self._spawn(self._deliver(self._take()))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Send what is pending and wait until every delivery (with its retries) is done."""
        self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- delivery ------------------------------------------------------------------------------------------------

    async def _deliver(self, events: list[dict[str, Any]]) -> None:
        if self.subscription is None:
            return
        url = self.subscription.target_url
        for attempt in range(len(self.retry_delays) + 1):
            if attempt:
                await self.sleep(self.retry_delays[attempt - 1])
            for event in events:
                event["attemptNumber"] = attempt
            status = await self._post_once(url, events)
            if status is not None and 200 <= status < 300:
                return

    async def _post_once(self, url: str, events: list[dict[str, Any]]) -> int | None:
        body = json.dumps(events, separators=(",", ":")).encode()
        timestamp = str(self.now_ms())
        secret = self.settings().client_secret
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, timestamp),
            "X-HubSpot-Signature": sign_v1(secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Timeout-Millis": str(int(TIMEOUT_SECONDS * 1000)),
        }
        async with self._slot():
            status, error = await self._post(url, body, headers)
        self._log(url, events, status, error)
        return status

    def _slot(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings().webhook_max_concurrent)
        return self._slots

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        client = self.http or httpx.AsyncClient(verify=tls_context())
        try:
            response = await client.post(url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
            return response.status_code, None
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if self.http is None:
                await client.aclose()

    def _log(self, url: str, events: list[dict[str, Any]], status: int | None, error: str | None) -> None:
        snapshot = json.loads(json.dumps(events))
        self.deliveries.append(
            Delivery(
                attempt=int(events[0]["attemptNumber"]) if events else 0,
                url=url,
                status=status,
                error=error,
                at=iso(datetime.now(UTC)),
                event_ids=[int(e["eventId"]) for e in events],
                subscription_types=sorted({str(e["subscriptionType"]) for e in events}),
                events=snapshot,
            )
        )
        del self.deliveries[:-1000]

    def delivery_log(self) -> list[dict[str, Any]]:
        """The delivery log as JSON-ready dicts, oldest first."""
        return [asdict(d) for d in self.deliveries]
