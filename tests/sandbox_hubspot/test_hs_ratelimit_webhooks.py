"""HubSpot emulator: rate limits and headers (notes A5, A6), faults, webhooks (A10), and serving over loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from cwsync_sandbox.hubspot.webhooks import sign_v1
from cwsync_sandbox.server import base_url_of, bind, make_server

BASE = "http://hubspot.test"
HOOK = "https://hooks.example/hubspot?tenant=1"
SECRET = "sandbox-app-secret"


class Clock:
    """A monotonic clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Receiver:
    """A webhook endpoint: records requests, answers with the given outcomes (status or exception), then 204."""

    def __init__(self, outcomes: list[int | Exception] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.outcomes = list(outcomes or [])

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0) if self.outcomes else 204
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome)

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order."""
        return [e for r in self.requests for e in json.loads(r.content)]


@pytest.fixture
def receiver() -> Receiver:
    """A webhook receiver that accepts everything."""
    return Receiver()


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the webhook dispatcher asked to sleep (it never really sleeps)."""
    return []


@pytest.fixture
def box(receiver: Receiver, sleeps: list[float]) -> HubSpotSandbox:
    """An empty portal with a hand-moved clock and webhooks delivered in-process to `receiver`."""
    box = build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, seed=4))
    box.limits.clock = Clock()
    box.webhooks.http = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handler))

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    box.webhooks.sleep = no_sleep
    return box


def tick(box: HubSpotSandbox, seconds: float) -> None:
    """Move the rate-limit clock."""
    clock = box.limits.clock
    assert isinstance(clock, Clock)
    clock.now += seconds


def limit_headers(response: httpx.Response) -> dict[str, str]:
    """The X-HubSpot-RateLimit-* headers of a response, by their documented names."""
    names = ("Max", "Remaining", "Interval-Milliseconds", "Daily", "Daily-Remaining")
    return {
        n: response.headers[f"X-HubSpot-RateLimit-{n}"] for n in names if f"X-HubSpot-RateLimit-{n}" in response.headers
    }


def expected_v3(method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Signature v3 recomputed from the notes: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    digest = hmac.new(SECRET.encode(), method.encode() + uri.encode() + body + timestamp.encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


async def subscribe(hs: httpx.AsyncClient, *event_types: str, url: str = HOOK, **extra: Any) -> dict[str, Any]:
    """PUT the webhook subscription."""
    body = {"target_url": url, "event_types": list(event_types), **extra}
    response = await hs.put("/_sandbox/webhooks/subscription", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_contact(hs: httpx.AsyncClient, **props: str) -> str:
    """POST a contact and return its id."""
    response = await hs.post("/crm/v3/objects/contacts", json={"properties": props})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- rate limits -------------------------------------------------------------------------------------------------


async def test_every_api_response_carries_rate_limit_headers(hs: httpx.AsyncClient) -> None:
    """Normal responses (errors too) carry Max, Remaining, Interval-Milliseconds, Daily and Daily-Remaining."""
    first = await hs.get("/crm/v3/objects/contacts")
    assert limit_headers(first) == {
        "Max": "190",
        "Remaining": "189",
        "Interval-Milliseconds": "10000",
        "Daily": "1000000",
        "Daily-Remaining": "999999",
    }
    missing = await hs.get("/crm/v3/objects/contacts/123")
    assert missing.status_code == 404
    assert limit_headers(missing)["Remaining"] == "188"
    assert limit_headers(missing)["Daily-Remaining"] == "999998"


async def test_window_overflow_is_429_ten_secondly_rolling(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Above the per-10-second limit the API answers 429 with policyName TEN_SECONDLY_ROLLING until the window rolls."""
    assert (await hs.put("/_sandbox/limits", json={"rate_limit_per_10s": 3})).status_code == 200
    for _ in range(3):
        assert (await hs.get("/crm/v3/objects/companies")).status_code == 200
    limited = await hs.get("/crm/v3/objects/companies")
    assert limited.status_code == 429
    body = limited.json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["groupName"].endswith(f":{box.settings.app_id}:{box.settings.portal_id}")
    uuid.UUID(body["correlationId"])
    assert limit_headers(limited)["Remaining"] == "0"
    tick(box, 9.9)
    assert (await hs.get("/crm/v3/objects/companies")).status_code == 429
    tick(box, 0.2)
    assert (await hs.get("/crm/v3/objects/companies")).status_code == 200


async def test_window_is_per_token_and_the_daily_count_per_account(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Each token has its own 10-second window; the daily limit is shared and answers policyName DAILY."""
    await hs.post("/_sandbox/tokens", json={"token": "pat-na1-other", "scopes": None})
    await hs.put("/_sandbox/limits", json={"rate_limit_per_10s": 2, "daily_limit": 5})
    other = {"Authorization": "Bearer pat-na1-other"}
    assert [(await hs.get("/crm/v3/objects/deals")).status_code for _ in range(3)] == [200, 200, 429]
    assert (await hs.get("/crm/v3/objects/deals", headers=other)).status_code == 200
    tick(box, 11)
    assert (await hs.get("/crm/v3/objects/deals", headers=other)).status_code == 200
    assert (await hs.get("/crm/v3/objects/deals")).status_code == 200
    daily = await hs.get("/crm/v3/objects/deals", headers=other)
    assert daily.status_code == 429
    assert daily.json()["policyName"] == "DAILY"
    assert daily.json()["message"] == "You have reached your daily limit."
    assert limit_headers(daily)["Daily-Remaining"] == "0"
    tick(box, 86_400)
    assert (await hs.get("/crm/v3/objects/deals")).status_code == 200


async def test_admin_calls_and_user_changes_do_not_count(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """`/_sandbox` endpoints, including changes made as a HubSpot user, use no API quota."""
    contact = await new_contact(hs, email="quota@example.com")
    before = (await hs.get("/_sandbox/limits")).json()["usage"]["daily_used"]
    await hs.patch(f"/_sandbox/objects/contacts/{contact}", json={"properties": {"firstname": "User"}})
    await hs.get("/_sandbox")
    assert (await hs.get("/_sandbox/limits")).json()["usage"]["daily_used"] == before == 1


async def test_limits_endpoint_validates(hs: httpx.AsyncClient) -> None:
    """PUT /_sandbox/limits refuses unknown names and invalid values (422) and resets usage on request."""
    assert (await hs.put("/_sandbox/limits", json={"burst": 3})).status_code == 422
    assert (await hs.put("/_sandbox/limits", json={"rate_limit_per_10s": 0})).status_code == 422
    await hs.get("/crm/v3/objects/deals")
    assert (await hs.post("/_sandbox/limits/reset")).json()["usage"]["daily_used"] == 0


# -- faults ------------------------------------------------------------------------------------------------------


async def test_faults_answer_with_hubspot_shaped_bodies(hs: httpx.AsyncClient) -> None:
    """Injected 5xx and 429 faults carry HubSpot error bodies; admin endpoints stay healthy."""
    await hs.put("/_sandbox/faults", json={"error_share": 1.0, "error_statuses": [502]})
    failed = await hs.get("/crm/v3/objects/contacts")
    assert failed.status_code == 502
    assert failed.json()["status"] == "error"
    uuid.UUID(failed.json()["correlationId"])
    assert (await hs.get("/_sandbox")).status_code == 200
    await hs.put("/_sandbox/faults", json={"rate_limit_share": 1.0})
    throttled = await hs.get("/crm/objects/2026-03/contacts")
    assert throttled.status_code == 429
    assert throttled.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    counters = (await hs.put("/_sandbox/faults", json={})).json()["counters"]
    assert counters["errors"] == 1
    assert counters["rate_limited"] == 1
    assert (await hs.get("/crm/v3/objects/contacts")).status_code == 200


# -- webhooks ----------------------------------------------------------------------------------------------------


async def test_creation_is_delivered_signed_v3(box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver) -> None:
    """An API create sends a JSON array (creation + propertyChange events) signed v3 with a ms timestamp."""
    subs = await subscribe(hs, "contact.creation", "contact.propertyChange")
    contact = await new_contact(hs, email="hook@example.com", firstname="Hook")
    await box.webhooks.drain()
    (request,) = receiver.requests
    assert request.method == "POST"
    assert str(request.url) == HOOK
    timestamp = request.headers["X-HubSpot-Request-Timestamp"]
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    assert request.headers["X-HubSpot-Signature-v3"] == expected_v3("POST", HOOK, request.content, timestamp)
    assert request.headers["X-HubSpot-Signature"] == hashlib.sha256(SECRET.encode() + request.content).hexdigest()
    assert request.headers["Content-Type"] == "application/json"
    events = json.loads(request.content)
    assert [e["subscriptionType"] for e in events] == ["contact.creation"] + ["contact.propertyChange"] * 2
    creation = events[0]
    assert creation["objectId"] == int(contact)
    assert creation["changeFlag"] == "CREATED"
    assert creation["portalId"] == box.settings.portal_id
    assert creation["appId"] == box.settings.app_id
    assert creation["subscriptionId"] == subs["subscription_ids"]["contact.creation"]
    assert creation["attemptNumber"] == 0
    assert creation["changeSource"] == "INTEGRATION"
    assert isinstance(creation["eventId"], int)
    assert isinstance(creation["occurredAt"], int)
    changes = {e["propertyName"]: e["propertyValue"] for e in events[1:]}
    assert changes == {"email": "hook@example.com", "firstname": "Hook"}


async def test_user_change_is_delivered_as_crm_ui(
    box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A change made through PATCH /_sandbox/objects arrives as a propertyChange with changeSource CRM_UI."""
    contact = await new_contact(hs, email="ui@example.com")
    await subscribe(hs, "contact.propertyChange")
    response = await hs.patch(f"/_sandbox/objects/contacts/{contact}", json={"properties": {"jobtitle": "CEO"}})
    assert response.json()["properties"]["jobtitle"] == "CEO"
    await box.webhooks.drain()
    (event,) = receiver.events()
    assert (event["propertyName"], event["propertyValue"], event["changeSource"]) == ("jobtitle", "CEO", "CRM_UI")
    assert event["sourceId"].startswith("userId:")
    read = await hs.get(f"/crm/v3/objects/contacts/{contact}", params={"properties": "jobtitle"})
    assert read.json()["properties"]["jobtitle"] == "CEO"


async def test_unchanged_values_send_nothing(box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver) -> None:
    """Writing a value a record already has is no change: no event."""
    contact = await new_contact(hs, email="same@example.com", firstname="Same")
    await subscribe(hs, "contact.propertyChange")
    await hs.patch(f"/crm/v3/objects/contacts/{contact}", json={"properties": {"firstname": "Same"}})
    await box.webhooks.drain()
    assert receiver.requests == []


async def test_events_are_batched_up_to_100(box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver) -> None:
    """Events within the batch window share one POST; more than 100 are split into POSTs of at most 100."""
    await subscribe(hs, "company.creation")
    for index in range(3):
        await hs.post("/crm/v3/objects/companies", json={"properties": {"name": f"C{index}"}})
    await box.webhooks.drain()
    assert [len(json.loads(r.content)) for r in receiver.requests] == [3]
    receiver.requests.clear()
    inputs = [{"properties": {"name": f"Bulk {i}"}} for i in range(100)]
    await hs.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs})
    await hs.post("/crm/v3/objects/companies/batch/create", json={"inputs": inputs[:50]})
    await box.webhooks.drain()
    assert sorted(len(json.loads(r.content)) for r in receiver.requests) == [50, 100]


async def test_failed_deliveries_are_retried_with_attempt_numbers(
    box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver, sleeps: list[float]
) -> None:
    """A 5xx, a timeout and a 4xx are each retried, with attemptNumber rising and a fresh signature each time."""
    receiver.outcomes = [500, httpx.ReadTimeout("slow"), 404]
    await subscribe(hs, "deal.creation")
    await hs.post("/crm/v3/objects/deals", json={"properties": {"dealname": "Retry"}})
    await box.webhooks.drain()
    attempts = [json.loads(r.content)[0]["attemptNumber"] for r in receiver.requests]
    assert attempts == [0, 1, 2, 3]
    assert len({json.loads(r.content)[0]["eventId"] for r in receiver.requests}) == 1
    for request in receiver.requests:
        stamp = request.headers["X-HubSpot-Request-Timestamp"]
        assert request.headers["X-HubSpot-Signature-v3"] == expected_v3("POST", HOOK, request.content, stamp)
    assert sleeps == sorted(sleeps)
    assert len(sleeps) == 3
    log = (await hs.get("/_sandbox/webhooks/deliveries")).json()
    assert [(d["attempt"], d["status"]) for d in log] == [(0, 500), (1, None), (2, 404), (3, 204)]
    assert log[1]["error"].startswith("ReadTimeout")


async def test_delivery_gives_up_after_ten_retries_within_a_day(
    box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver, sleeps: list[float]
) -> None:
    """A receiver that always fails gets the first try and 10 retries, spread over less than 24 hours."""
    receiver.outcomes = [503] * 20
    await subscribe(hs, "contact.creation")
    await new_contact(hs, email="down@example.com")
    await box.webhooks.drain()
    assert len(receiver.requests) == 11
    assert sum(sleeps) < 24 * 3600


async def test_deletion_and_association_events(box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver) -> None:
    """Associating and dissociating send `associationChange` to both sides; archiving sends `deletion`."""
    company = (await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "A"}})).json()["id"]
    contact = await new_contact(hs, email="assoc@example.com")
    await subscribe(hs, "contact.associationChange", "company.associationChange", "contact.deletion")
    await hs.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")
    await hs.delete(f"/crm/v4/objects/contacts/{contact}/associations/companies/{company}")
    await hs.delete(f"/crm/v3/objects/contacts/{contact}")
    await box.webhooks.drain()
    events = receiver.events()
    kinds = [(e["subscriptionType"], e.get("associationRemoved")) for e in events]
    assert kinds == [
        ("contact.associationChange", False),
        ("company.associationChange", False),
        ("contact.associationChange", True),
        ("company.associationChange", True),
        ("contact.deletion", None),
    ]
    assert (events[0]["fromObjectId"], events[0]["toObjectId"]) == (int(contact), int(company))
    assert events[0]["associationType"] == "CONTACT_TO_COMPANY"
    assert events[1]["associationType"] == "COMPANY_TO_CONTACT"


async def test_subscription_filters_types_and_properties(
    box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Only subscribed event types are sent; `property_names` narrows propertyChange to those properties."""
    await subscribe(hs, "contact.propertyChange", property_names=["lifecyclestage"])
    contact = await new_contact(hs, email="f@example.com")
    await hs.patch(f"/crm/v3/objects/contacts/{contact}", json={"properties": {"firstname": "F"}})
    await hs.patch(f"/crm/v3/objects/contacts/{contact}", json={"properties": {"lifecyclestage": "customer"}})
    await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "Unwatched"}})
    await box.webhooks.drain()
    assert [(e["propertyName"], e["propertyValue"]) for e in receiver.events()] == [("lifecyclestage", "customer")]


async def test_generic_object_events_carry_the_object_type_id(
    box: HubSpotSandbox, hs: httpx.AsyncClient, receiver: Receiver
) -> None:
    """`object.creation` events carry `objectTypeId` (e.g. 0-3 for deals)."""
    await subscribe(hs, "object.creation")
    await hs.post("/crm/v3/objects/deals", json={"properties": {"dealname": "Generic"}})
    await box.webhooks.drain()
    (event,) = receiver.events()
    assert (event["subscriptionType"], event["objectTypeId"]) == ("object.creation", "0-3")


async def test_subscription_endpoint_validates_and_deletes(hs: httpx.AsyncClient) -> None:
    """Unknown event types are refused (422); GET shows the subscription; DELETE removes it."""
    bad = await hs.put("/_sandbox/webhooks/subscription", json={"target_url": HOOK, "event_types": ["contact.poke"]})
    assert bad.status_code == 422
    await subscribe(hs, "deal.deletion")
    shown = (await hs.get("/_sandbox/webhooks/subscription")).json()
    assert shown["event_types"] == ["deal.deletion"]
    assert (await hs.delete("/_sandbox/webhooks/subscription")).json() is None


def test_v1_signature_matches_the_documented_test_vector() -> None:
    """The legacy v1 signature reproduces HubSpot's published example."""
    body = (
        b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
        b'"changeFlag":"NEW","appId":54321}]'
    )
    expected = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    assert sign_v1("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", body) == expected


# -- over loopback -----------------------------------------------------------------------------------------------


@contextmanager
def served(app: Starlette) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield base_url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class LoopbackReceiver:
    """A webhook endpoint served over HTTP that checks the v3 signature against the URL it was called on."""

    def __init__(self) -> None:
        self.verdicts: list[bool] = []
        self.events: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/hooks", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers["x-hubspot-request-timestamp"]
        signature = request.headers["x-hubspot-signature-v3"]
        self.verdicts.append(hmac.compare_digest(signature, expected_v3("POST", str(request.url), body, stamp)))
        self.events += json.loads(body)
        return Response(status_code=204)


@pytest.mark.loopback
async def test_served_over_loopback_with_signed_webhooks() -> None:
    """Over real HTTP under /hubspot: auth, headers, versioned paths, and a webhook whose signature verifies."""
    receiver = LoopbackReceiver()
    box = build_hubspot_sandbox(HubSpotSandboxSettings(companies=3, contacts=5))
    outer = Starlette(routes=[Route("/", lambda r: Response("ok"))])
    outer.mount("/hubspot", create_hubspot_app(box))
    with served(receiver.app) as hooks_url, served(outer) as url:
        headers = {"Authorization": f"Bearer {box.settings.token}"}
        async with httpx.AsyncClient(base_url=url + "/hubspot", headers=headers, timeout=10) as client:
            await client.put(
                "/_sandbox/webhooks/subscription",
                json={"target_url": f"{hooks_url}/hooks?portal=4000001", "event_types": ["contact.creation"]},
            )
            listed = await client.get("/crm/objects/2026-03/contacts", params={"limit": "2"})
            assert listed.status_code == 200
            assert listed.headers["X-HubSpot-RateLimit-Max"] == "190"
            assert len(listed.json()["results"]) == 2
            created = await client.post("/crm/v3/objects/contacts", json={"properties": {"email": "lo@example.com"}})
            assert created.status_code == 201
            assert (await client.post("/_sandbox/webhooks/drain")).json()["deliveries"] == 1
            assert (await client.get("/crm/v3/objects/contacts", headers={"Authorization": ""})).status_code == 401
    assert receiver.verdicts == [True]
    assert [e["objectId"] for e in receiver.events] == [int(created.json()["id"])]
