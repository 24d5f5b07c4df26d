"""Webhook intake: ConnectWise callbacks as the emulator really sends them, HubSpot v3 signatures, de-duplication."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from cwsync.runtime.intake import (
    CallbackEvent,
    Deduper,
    IntakeError,
    SigningKeys,
    allow_origins,
    callback_keys,
    connectwise_cloud,
    parse_connectwise_callback,
    verify_connectwise,
    verify_hubspot_v3,
)
from cwsync_sandbox.connectwise.app import Sandbox, create_app
from cwsync_sandbox.hubspot.webhooks import sign_v3

HOOK = "http://receiver.test/hooks/connectwise/t/tok?id="
SANDBOX_ORIGIN = "http://sandbox.test"


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Captured:
    """The receiving end of the emulator's callback POSTs."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)

    def last(self) -> tuple[bytes, str | None]:
        request = self.requests[-1]
        return request.content, request.headers.get("x-content-signature")


@pytest.fixture
async def captured(sandbox: Sandbox, raw: httpx.AsyncClient) -> Captured:
    """A company callback registered in the emulator, its deliveries captured in-process."""
    capture = Captured()
    sandbox.callbacks.http = httpx.AsyncClient(transport=httpx.MockTransport(capture.handler))
    body = {"url": HOOK, "objectId": 1, "type": "company", "level": "owner", "description": "cwsync:t:company"}
    (await raw.post("system/callbacks", json=body)).raise_for_status()
    return capture


@pytest.fixture
def clock() -> Clock:
    """The key cache's clock."""
    return Clock()


@pytest.fixture
async def keys(sandbox: Sandbox, clock: Clock) -> AsyncIterator[SigningKeys]:
    """Signing keys fetched from the emulator in-process, its origin allowed."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as http:
        yield SigningKeys(http=http, allowed_hosts=allow_origins(SANDBOX_ORIGIN), clock=clock)


async def _rename(sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, name: str) -> tuple[bytes, str | None]:
    ops = [{"op": "replace", "path": "name", "value": name}]
    (await raw.patch("company/companies/2", json=ops)).raise_for_status()
    await sandbox.callbacks.drain()
    return captured.last()


def _refused(exc: pytest.ExceptionInfo[IntakeError], status: int, reason: str) -> None:
    assert (exc.value.status, exc.value.reason) == (status, reason)


# -- ConnectWise --------------------------------------------------------------------------------------------------


async def test_real_delivery_verifies(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys
) -> None:
    """A delivery the emulator signed verifies and parses to the record's type, action, id and lastUpdated."""
    body, signature = await _rename(sandbox, raw, captured, "Renamed Co")
    assert str(captured.requests[-1].url) == HOOK + "2"
    event = await verify_connectwise(body, signature, keys)
    entity = json.loads(json.loads(body)["Entity"])
    assert (event.type, event.action, event.record_id) == ("company", "updated", 2)
    assert event.last_updated == entity["_info"]["lastUpdated"]
    assert event.entity is not None
    assert event.entity["name"] == "Renamed Co"
    assert event.message_id == json.loads(body)["MessageId"]
    assert event.company_id == sandbox.settings.company_id


async def test_tampered_body_is_refused(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys
) -> None:
    """Changing one byte of a signed body fails verification with 401."""
    body, signature = await _rename(sandbox, raw, captured, "Renamed Co")
    with pytest.raises(IntakeError) as exc:
        await verify_connectwise(body.replace(b"Renamed Co", b"Renamed Cx"), signature, keys)
    _refused(exc, 401, "bad_signature")


async def test_missing_signature_is_refused(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys
) -> None:
    """Without x-content-signature the callback is refused with 401 and no key is fetched."""
    body, _ = await _rename(sandbox, raw, captured, "Renamed Co")
    for signature in (None, "", "  "):
        with pytest.raises(IntakeError) as exc:
            await verify_connectwise(body, signature, keys)
        _refused(exc, 401, "signature_missing")
    assert keys.fetches == 0


async def test_key_url_on_disallowed_host_is_refused(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured
) -> None:
    """With the default rule (ConnectWise cloud, https) the sandbox's http key URL is never fetched: 401."""
    body, signature = await _rename(sandbox, raw, captured, "Renamed Co")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as http:
        strict = SigningKeys(http=http)
        with capture_logs() as logs, pytest.raises(IntakeError) as exc:
            await verify_connectwise(body, signature, strict)
    _refused(exc, 401, "key_url_not_allowed")
    assert strict.fetches == 0
    assert [(e["event"], e["reason"]) for e in logs] == [("intake.refused", "key_url_not_allowed")]
    assert signature is not None
    assert signature not in repr(logs)
    assert sandbox.callbacks.signing_key not in repr(logs)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://api-na.myconnectwise.net", True),
        ("https://sandbox-eu.myconnectwise.net", True),
        ("http://api-na.myconnectwise.net", False),
        ("https://api-na.myconnectwise.net:8443", False),
        ("https://evil.myconnectwise.net", False),
        ("https://api-na.myconnectwise.net.evil.test", False),
    ],
)
def test_default_rule_is_cloud_hosts_over_https(origin: str, allowed: bool) -> None:
    """The default key-URL rule accepts only the listed ConnectWise cloud hosts, over https, on the default port."""
    assert connectwise_cloud(origin) is allowed


@pytest.mark.parametrize(
    "key_url",
    [
        "https://api-na.myconnectwise.net@evil.test/key?id=1",
        "https://evil.test/v4_6_release/system/callbackkey/index.rails?id=1",
        "not a url",
    ],
)
async def test_key_urls_outside_the_rule_are_never_fetched(key_url: str) -> None:
    """User-info tricks, other hosts and junk are refused with 401 before any request."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"signing_key": "k"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(IntakeError) as exc:
            await SigningKeys(http=http).key_for(key_url)
    assert exc.value.status == 401
    assert requests == []


async def test_rotated_key_verifies_after_one_refetch(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys, clock: Clock
) -> None:
    """After the site rotates its key, a callback signed with the new key verifies with exactly one re-fetch."""
    await verify_connectwise(*(await _rename(sandbox, raw, captured, "First")), keys)
    assert keys.fetches == 1
    sandbox.callbacks.signing_key = "rotated-signing-key"
    body, signature = await _rename(sandbox, raw, captured, "Second")
    clock.now += 60
    event = await verify_connectwise(body, signature, keys)
    assert event.entity is not None
    assert event.entity["name"] == "Second"
    assert keys.fetches == 2


async def test_forged_signatures_do_not_hammer_the_key_endpoint(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys
) -> None:
    """Bad signatures right after a fetch do not re-fetch the key (the refresh waits min_refresh)."""
    body, signature = await _rename(sandbox, raw, captured, "First")
    await verify_connectwise(body, signature, keys)
    for _ in range(3):
        with pytest.raises(IntakeError):
            await verify_connectwise(body, "AAAA" + (signature or ""), keys)
    assert keys.fetches == 1


async def test_key_is_cached_for_its_ttl(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys, clock: Clock
) -> None:
    """Within the TTL the cached key serves every callback; after it, the key is fetched again."""
    for name in ("A", "B", "C"):
        await verify_connectwise(*(await _rename(sandbox, raw, captured, name)), keys)
    assert keys.fetches == 1
    clock.now += 3600
    await verify_connectwise(*(await _rename(sandbox, raw, captured, "D")), keys)
    assert keys.fetches == 2


async def test_unknown_key_id_is_refused(
    sandbox: Sandbox, raw: httpx.AsyncClient, captured: Captured, keys: SigningKeys
) -> None:
    """A key URL the site does not serve (404) refuses the callback with 401 and caches nothing."""
    body, signature = await _rename(sandbox, raw, captured, "Renamed Co")
    key_url = json.loads(body)["Metadata"]["key_url"]
    forged = body.replace(key_url.encode(), key_url.encode() + b"0")
    with pytest.raises(IntakeError) as exc:
        await verify_connectwise(forged, signature, keys)
    _refused(exc, 401, "signing_key_unavailable")
    assert not keys.is_cached(key_url + "0")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "body_not_json"),
        (b"[1, 2]", 400, "body_not_object"),
        (b'{"Action": "updated"}', 401, "key_url_missing"),
    ],
)
async def test_unreadable_bodies(keys: SigningKeys, body: bytes, status: int, reason: str) -> None:
    """Malformed JSON is 400; a body without Metadata.key_url cannot be authenticated: 401 (the signature is
    well-formed but wrong: one that is not the base64 of a SHA-256 digest is refused before the body is read)."""
    with pytest.raises(IntakeError) as exc:
        await verify_connectwise(body, base64.b64encode(bytes(32)).decode(), keys)
    _refused(exc, status, reason)


def _payload(**changes: Any) -> bytes:
    body: dict[str, Any] = {
        "MessageId": "m-1",
        "Action": "updated",
        "Type": "ticket",
        "ID": 7,
        "Entity": json.dumps({"id": 7, "_info": {"lastUpdated": "2026-01-02T03:04:05Z"}}),
        **changes,
    }
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_parse_reads_the_documented_payload() -> None:
    """Type and Action are lower-cased; lastUpdated comes from the Entity string; a numeric string ID is read."""
    event = parse_connectwise_callback(_payload(Type="Ticket", ID="7"))
    assert event == CallbackEvent(
        message_id="m-1",
        type="ticket",
        action="updated",
        record_id=7,
        last_updated="2026-01-02T03:04:05Z",
        entity={"id": 7, "_info": {"lastUpdated": "2026-01-02T03:04:05Z"}},
    )


@pytest.mark.parametrize("entity", [..., None])
def test_parse_deleted_without_entity(entity: Any) -> None:
    """A deleted callback may carry no Entity or a null one; it parses with no entity and no lastUpdated."""
    event = parse_connectwise_callback(_payload(Action="deleted", Entity=entity))
    assert (event.action, event.entity, event.last_updated) == ("deleted", None, None)


def test_parse_accepts_inline_entity_object() -> None:
    """An Entity sent as an object rather than a string is read too."""
    event = parse_connectwise_callback(_payload(Entity={"id": 7}))
    assert event.entity == {"id": 7}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Action": ...}, "missing_action"),
        ({"Type": ""}, "missing_type"),
        ({"ID": ...}, "missing_id"),
        ({"ID": True}, "missing_id"),
        ({"Entity": "{broken"}, "entity_not_json"),
        ({"Entity": "[1]"}, "entity_not_object"),
    ],
)
def test_parse_refuses_incomplete_payloads(changes: dict[str, Any], reason: str) -> None:
    """Missing Action/Type/ID or an Entity that is not a JSON object is a 400."""
    with pytest.raises(IntakeError) as exc:
        parse_connectwise_callback(_payload(**changes))
    _refused(exc, 400, reason)


# -- HubSpot ----------------------------------------------------------------------------------------------------

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://cwsync.example/hooks/hubspot/t/tok"
NOW = 1_715_203_101_896
EVENTS = [{"eventId": 1, "subscriptionType": "contact.creation", "objectId": 123, "occurredAt": NOW - 1000}]
BODY = json.dumps(EVENTS).encode()


def _v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature computed here, independently, as notes A10 define it."""
    source = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def _verify(**changes: Any) -> list[dict[str, Any]]:
    timestamp = str(NOW - 2000)
    args: dict[str, Any] = {
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": timestamp,
        "signature": _v3(SECRET, "POST", URI, BODY, timestamp),
        "client_secret": SECRET,
        "now_ms": NOW,
        **changes,
    }
    return verify_hubspot_v3(**args)


def test_hubspot_v3_accepts_a_good_signature() -> None:
    """A request signed as the notes define (secret, METHOD+URI+body+timestamp) is accepted and its events returned."""
    assert _verify() == EVENTS


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"body": BODY.replace(b"123", b"124")}, "bad_signature"),
        ({"client_secret": "another-secret"}, "bad_signature"),
        ({"method": "PUT"}, "bad_signature"),
        ({"uri": URI + "?x=1"}, "bad_signature"),
        ({"signature": None}, "signature_missing"),
        ({"timestamp": None}, "timestamp_missing"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"now_ms": NOW + 300_000}, "timestamp_too_old"),
        ({"now_ms": NOW - 400_000}, "timestamp_in_future"),
    ],
)
def test_hubspot_v3_refusals(changes: dict[str, Any], reason: str) -> None:
    """Tampering, a wrong secret, missing headers and a timestamp outside the 5-minute window are all 401."""
    with pytest.raises(IntakeError) as exc:
        _verify(**changes)
    _refused(exc, 401, reason)


def test_hubspot_v3_window_edge() -> None:
    """A timestamp exactly 5 minutes old is still accepted (older is a replay)."""
    assert _verify(now_ms=NOW - 2000 + 300_000) == EVENTS


@pytest.mark.parametrize("body", [b'{"eventId": 1}', b"not json", b"[1, 2]"])
def test_hubspot_v3_non_array_body_is_400(body: bytes) -> None:
    """A correctly signed body that is not a JSON array of event objects is a 400."""
    timestamp = str(NOW)
    with pytest.raises(IntakeError) as exc:
        _verify(body=body, timestamp=timestamp, signature=_v3(SECRET, "POST", URI, body, timestamp))
    assert exc.value.status == 400


@pytest.mark.parametrize("uri", [URI, "https://cwsync.example/hooks/hubspot/t%20x/tok?name=a%2Fb"])
def test_hubspot_v3_accepts_what_the_emulator_signs(uri: str) -> None:
    """Cross-check: the HubSpot emulator's sign_v3 (URI percent-decoded) passes the verifier."""
    timestamp = str(NOW)
    signature = sign_v3(SECRET, "POST", uri, BODY, timestamp)
    assert _verify(uri=uri, timestamp=timestamp, signature=signature) == EVENTS


def test_hubspot_v3_accepts_the_undecoded_uri_too() -> None:
    """Which escapes HubSpot decodes is UNCONFIRMED, so a signature over the URI as called is accepted as well."""
    uri = "https://cwsync.example/hooks/hubspot/t%20x/tok"
    timestamp = str(NOW)
    assert _verify(uri=uri, timestamp=timestamp, signature=_v3(SECRET, "POST", uri, BODY, timestamp)) == EVENTS


# -- de-duplication -------------------------------------------------------------------------------------------


def _event(message_id: str, last_updated: str | None = "2026-01-02T03:04:05Z") -> CallbackEvent:
    return CallbackEvent(message_id, "ticket", "updated", 7, last_updated, None)


def test_callback_keys() -> None:
    """Keys are the MessageId and, when lastUpdated is known, the record version."""
    assert callback_keys(_event("m-1")) == ("msg:m-1", "rec:ticket:7:2026-01-02T03:04:05Z")
    assert callback_keys(_event("m-1", None)) == ("msg:m-1",)


def test_repeated_message_id_is_seen() -> None:
    """The same MessageId twice: the second is a duplicate."""
    dedup = Deduper()
    assert dedup.seen(*callback_keys(_event("m-1", None))) is False
    assert dedup.seen(*callback_keys(_event("m-1", None))) is True


def test_same_record_version_with_new_message_id_is_seen() -> None:
    """A new MessageId for the same (type, id, lastUpdated) is a duplicate; a new lastUpdated is not."""
    dedup = Deduper()
    assert dedup.seen(*callback_keys(_event("m-1"))) is False
    assert dedup.seen(*callback_keys(_event("m-2"))) is True
    assert dedup.seen(*callback_keys(_event("m-3", "2026-01-02T03:04:06Z"))) is False


def test_a_duplicate_records_nothing_new() -> None:
    """When one key was seen, the other keys of that call are not recorded."""
    dedup = Deduper()
    dedup.seen("a")
    assert dedup.seen("a", "b") is True
    assert dedup.seen("b") is False


def test_keys_expire_after_ttl() -> None:
    """A key is remembered for the TTL and forgotten after it."""
    clock = Clock()
    dedup = Deduper(ttl=100, clock=clock)
    dedup.seen("a")
    clock.now += 99
    assert dedup.seen("a") is True
    clock.now += 1
    assert dedup.seen("a") is False
    assert len(dedup) == 1


def test_oldest_keys_are_evicted_beyond_max_entries() -> None:
    """Past max_entries the oldest keys are forgotten first."""
    dedup = Deduper(max_entries=3)
    for key in ("a", "b", "c", "d"):
        dedup.seen(key)
    assert len(dedup) == 3
    assert dedup.seen("b") is True
    assert dedup.seen("a") is False


async def test_a_storm_of_cache_misses_fetches_the_key_once() -> None:
    """Fifty callbacks that all miss the cache at once share one key fetch (a storm must not hammer the site)."""
    requests: list[httpx.Request] = []
    release, arrived = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        arrived.set()
        await release.wait()
        return httpx.Response(200, json={"signing_key": "k"})

    key_url = "https://api-na.myconnectwise.net/key"
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        keys = SigningKeys(http=http)
        waiting = [asyncio.create_task(keys.key_for(key_url)) for _ in range(50)]
        await asyncio.wait_for(arrived.wait(), 5)  # the first fetch is in flight; every other miss joins it
        for _ in range(5):
            await asyncio.sleep(0)  # every task has reached the cache miss
        release.set()
        assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == ["k"] * 50
    assert len(requests) == 1
    assert keys.fetches == 1


def test_forgotten_keys_are_new_again() -> None:
    """A delivery whose job could not be queued is forgotten, so the sender's next try is not taken for a repeat."""
    deduper = Deduper()
    assert deduper.seen("msg:1", "rec:contact:7:t") is False
    assert deduper.seen("msg:1") is True
    deduper.forget("msg:1", "rec:contact:7:t")
    assert deduper.seen("msg:1", "rec:contact:7:t") is False
    assert len(deduper) == 2
