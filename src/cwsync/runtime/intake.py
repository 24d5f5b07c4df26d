"""Webhook intake: authenticate, parse and de-duplicate ConnectWise callbacks and HubSpot webhooks.

No web framework here: the server hands over the raw body and headers, answers `IntakeError.status` when one is
raised, and otherwise stores the event and answers 2xx at once (callbacks are hints: the record is re-fetched by id).

::

    IntakeError           status 400 (unreadable body), 401 (not authentic) or 404 (unknown endpoint, server's)

ConnectWise (api-notes §4.4): `x-content-signature` = base64(HMAC-SHA256(key=SHA256(signing_key), msg=body)), the
signing key served as `{"signing_key": ...}` at the body's `Metadata.key_url`. That URL comes from the unverified
body, so it is fetched only from allowed origins (default: the ConnectWise cloud hosts over https), without
following redirects. A verified callback still only proves that *some* ConnectWise site signed it: the server
should compare `CallbackEvent.company_id` with the tenant's company.

HubSpot (notes A10): `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(key=client secret,
msg=METHOD + URI + body + X-HubSpot-Request-Timestamp)), the timestamp in epoch ms and at most 5 minutes old.

Choices where the notes are silent or UNCONFIRMED: which characters of the URI are decoded is unknown, so both the
fully decoded URI (`unquote`, as one known implementation does) and the URI as given are accepted; a timestamp
more than the window in the *future* is refused too; `Entity` may be absent or null on any action; a key that cannot
be fetched refuses the callback with 401 (ConnectWise does not retry a 401, and polling is the backstop).

Events are logged as `intake.refused` with a reason; keys and signatures are never logged.

Hostile input (issue 20): bodies are bounded by the server before they get here; a signature that is not the
base64 of a SHA-256 digest is refused before the body is looked at; HubSpot bodies are parsed only once their
signature matches; a ConnectWise body is parsed before (its `Metadata.key_url` names the key), but with
`cwsync.core.safejson`'s limits (depth, finite numbers) and nothing in it is used until the signature matches.
Record ids must be positive and fit ConnectWise's 32-bit ids (`record_id`); `hubspot_object_id` checks HubSpot's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import structlog

from cwsync.core import safejson
from cwsync.runtime.loops import current_loop, on_loop

__all__ = [
    "CLOUD_KEY_HOSTS",
    "CallbackEvent",
    "Deduper",
    "IntakeError",
    "SigningKeys",
    "allow_origins",
    "callback_keys",
    "connectwise_cloud",
    "connectwise_signature",
    "hubspot_object_id",
    "hubspot_signature_v3",
    "parse_connectwise_callback",
    "verify_connectwise",
    "verify_hubspot_v3",
]

CLOUD_KEY_HOSTS = frozenset(
    f"{name}.myconnectwise.net"
    for name in ("api-au", "api-eu", "api-na", "sandbox-au", "sandbox-eu", "sandbox-na", "na", "eu", "au")
)
"""Hosts a `Metadata.key_url` may point at by default (api-notes §4.4, after Nango's hardening)."""

KEY_FETCH_TIMEOUT = 5.0
_MAX_CACHED_KEYS = 1024
MAX_CW_ID = 2**31 - 1
"""ConnectWise record ids are 32-bit (`recId`)."""
MAX_HS_ID = 2**63 - 1
"""HubSpot object ids are 64-bit."""
WEBHOOK_JSON_DEPTH = 32
"""Nesting a callback or webhook body may have (a ConnectWise record inline is about 5 levels deep)."""
_TIMESTAMP = re.compile(r"[0-9]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,20}")

_log = structlog.get_logger("cwsync.runtime.intake")


class IntakeError(Exception):
    """A delivery refused: `status` is what to answer (400, 401 or 404), `reason` a short code for logs."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _refuse(status: int, reason: str, **fields: Any) -> IntakeError:
    _log.warning("intake.refused", status=status, reason=reason, **fields)
    return IntakeError(status, reason)


# -- ConnectWise: parsing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackEvent:
    """What a ConnectWise callback says happened; `type` and `action` are lower case.

    `last_updated` is the record's `_info.lastUpdated` when the body carries the record (`Entity`).
    `company_id` is the body's `CompanyId` (the site's login company), for the server to check against the tenant.
    """

    message_id: str
    type: str
    action: str
    record_id: int
    last_updated: str | None
    entity: dict[str, Any] | None
    company_id: str | None = None


def parse_connectwise_callback(body: bytes) -> CallbackEvent:
    """Read a ConnectWise callback body (no authentication: see `verify_connectwise`).

    Raises:
        IntakeError: 400 when the body is not a JSON object, lacks `Action`, `Type` or an integer `ID`, or carries
            an `Entity` that is not a JSON object (as a string or inline).
    """
    return _event(_json_object(body))


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = safejson.loads(body, max_depth=WEBHOOK_JSON_DEPTH)
    except safejson.JSONRefused as exc:
        raise _refuse(400, "body_not_json", detail=exc.reason) from None
    if not isinstance(payload, dict):
        raise _refuse(400, "body_not_object")
    return payload


def _event(payload: dict[str, Any]) -> CallbackEvent:
    entity = _entity(payload.get("Entity"))
    info = entity.get("_info") if entity else None
    last_updated = info.get("lastUpdated") if isinstance(info, dict) else None
    company = payload.get("CompanyId")
    return CallbackEvent(
        message_id=str(payload.get("MessageId") or ""),
        type=_text(payload, "Type"),
        action=_text(payload, "Action"),
        record_id=_record_id(payload.get("ID")),
        last_updated=last_updated if isinstance(last_updated, str) else None,
        entity=entity,
        company_id=str(company) if company is not None else None,
    )


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _refuse(400, f"missing_{name.lower()}")
    return value.strip().lower()


def _record_id(value: Any) -> int:
    number = _positive_id(value, MAX_CW_ID)
    if number is None:
        raise _refuse(400, "missing_id")  # absent, not an integer, or out of range
    return number


def _positive_id(value: Any, highest: int) -> int | None:
    """An id given as a JSON integer or a string of ASCII digits, in 1..highest; else None."""
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= highest:
        return value
    return None


def hubspot_object_id(event: dict[str, Any]) -> int | None:
    """A HubSpot event's `objectId` when it is a valid object id (a positive 64-bit integer), else None."""
    return _positive_id(event.get("objectId"), MAX_HS_ID)


def _entity(value: Any) -> dict[str, Any] | None:
    """`Entity` is documented as a JSON string; Nango types it `string | object`, so both are read."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = safejson.loads(value, max_depth=WEBHOOK_JSON_DEPTH)
        except safejson.JSONRefused:
            raise _refuse(400, "entity_not_json") from None
    if not isinstance(value, dict):
        raise _refuse(400, "entity_not_object")
    return value


# -- ConnectWise: signing keys and verification --------------------------------------------------------------------


def connectwise_cloud(origin: str) -> bool:
    """The default key-URL rule: `https://` on one of `CLOUD_KEY_HOSTS`, default port."""
    scheme, _, host = origin.partition("://")
    return scheme == "https" and host in CLOUD_KEY_HOSTS


def allow_origins(*origins: str) -> Callable[[str], bool]:
    """A key-URL rule accepting exactly these origins (`scheme://host[:port]`), e.g. a local sandbox's."""
    allowed = frozenset(o.strip().rstrip("/").lower() for o in origins)
    return lambda origin: origin in allowed


@dataclass
class _CachedKey:
    key: str
    fetched_at: float


class SigningKeys:
    """ConnectWise signing keys, fetched from `Metadata.key_url` and cached per URL.

    Args:
        http: the I/O seam for key fetches.
        allowed_hosts: the rule a key URL's origin (`scheme://host[:port]`, lower case) must pass before it is
            fetched; default `connectwise_cloud` (the cloud hosts, https only). `allow_origins(...)` builds others.
        ttl: seconds a key stays cached.
        min_refresh: a forced re-fetch (key rotation) happens only once the cached key is this old, so forged
            signatures cannot make cwsync hammer the key endpoint.
        clock: monotonic seconds; tests inject one.

    `fetches` counts key requests made (for tests and diagnostics).
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        allowed_hosts: Callable[[str], bool] = connectwise_cloud,
        ttl: float = 3600,
        min_refresh: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._allowed = allowed_hosts
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._clock = clock
        self._cache: OrderedDict[str, _CachedKey] = OrderedDict()
        self._fetching: dict[str, asyncio.Future[str]] = {}
        self.fetches = 0
        self._origins: dict[str, str] = {}  # key URL -> its allowed origin (parsing a URL cost ~40 µs a callback)
        self.home: asyncio.AbstractEventLoop | None = None
        """The loop `http` belongs to (None: the caller's). A key asked for from another thread's loop (webhooks
        served on their own thread) is fetched and cached there; a cached key is read from anywhere."""

    def is_cached(self, key_url: str) -> bool:
        """Whether a key for this URL is cached and fresh."""
        cached = self._cache.get(key_url)
        return cached is not None and self._clock() - cached.fetched_at < self._ttl

    async def key_for(self, key_url: str, *, refresh: bool = False) -> str:
        """The signing key at `key_url`, from the cache unless stale (or `refresh` and old enough to re-fetch).

        Raises:
            IntakeError: 401 when the URL is not allowed or the key cannot be fetched.
        """
        origin = self._check_allowed(key_url)
        cached = self._cache.get(key_url)
        if cached is not None and self._usable(cached, refresh=refresh):
            return cached.key
        if self.home is not None and current_loop() is not self.home:
            return await on_loop(self.home, self.key_for(key_url, refresh=refresh))
        key = await self._fetch_once(key_url, origin)
        self._cache[key_url] = _CachedKey(key, self._clock())
        self._cache.move_to_end(key_url)
        while len(self._cache) > _MAX_CACHED_KEYS:
            self._cache.popitem(last=False)
        return key

    def _usable(self, cached: _CachedKey, *, refresh: bool) -> bool:
        age = self._clock() - cached.fetched_at
        return age < self._ttl and (not refresh or age < self._min_refresh)

    def _check_allowed(self, key_url: str) -> str:
        """The origin of an allowed key URL; a refusal (401) otherwise. Allowed ones are remembered (as many as
        keys are cached): a signed storm names one key URL ten thousand times."""
        origin = self._origins.get(key_url)
        if origin is None:
            origin = self._allowed_origin(key_url)
            if len(self._origins) >= _MAX_CACHED_KEYS:
                self._origins.clear()
            self._origins[key_url] = origin
        return origin

    def _allowed_origin(self, key_url: str) -> str:
        try:
            url = httpx.URL(key_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise _refuse(401, "key_url_invalid") from None
        if url.userinfo or not url.host:
            raise _refuse(401, "key_url_invalid")
        origin = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port is not None else "")
        if not self._allowed(origin.lower()):
            raise _refuse(401, "key_url_not_allowed", key_origin=origin)
        return origin

    async def _fetch_once(self, key_url: str, origin: str) -> str:
        """One fetch per URL at a time: the callbacks of a storm that all miss the cache share it."""
        running = self._fetching.get(key_url)
        if running is not None:
            return await asyncio.shield(running)
        fetch = asyncio.ensure_future(self._fetch(key_url, origin))
        self._fetching[key_url] = fetch
        fetch.add_done_callback(lambda _: self._fetching.pop(key_url, None))
        return await asyncio.shield(fetch)

    async def _fetch(self, key_url: str, origin: str) -> str:
        self.fetches += 1
        try:
            response = await self._http.get(key_url, follow_redirects=False, timeout=KEY_FETCH_TIMEOUT)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise _refuse(401, "signing_key_unavailable", key_origin=origin, error=type(exc).__name__) from None
        try:
            key = response.json()["signing_key"] if response.status_code == 200 else None
        except (ValueError, TypeError, KeyError):
            key = None
        if not isinstance(key, str) or not key:
            raise _refuse(401, "signing_key_unavailable", key_origin=origin, key_status=response.status_code)
        return key


def connectwise_signature(body: bytes, signing_key: str) -> str:
    """The `x-content-signature` ConnectWise sends for a body."""
    key = hashlib.sha256(signing_key.encode("utf-8")).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


async def verify_connectwise(body: bytes, signature: str | None, keys: SigningKeys) -> CallbackEvent:
    """Authenticate a ConnectWise callback by its `x-content-signature`, then parse it.

    A mismatch with a cached key re-fetches the key once (it may have been rotated).

    Raises:
        IntakeError: 401 when the signature is missing or wrong, or the key URL is missing, not allowed or
            unreachable; 400 when the body is not a JSON object or lacks what `parse_connectwise_callback` needs.
    """
    if not signature or not signature.strip():
        raise _refuse(401, "signature_missing")
    if not _is_sha256_signature(signature):
        raise _refuse(401, "bad_signature")
    payload = _json_object(body)  # bounded, only to find the key: nothing in it is used before the signature
    metadata = payload.get("Metadata")
    key_url = metadata.get("key_url") if isinstance(metadata, dict) else None
    if not isinstance(key_url, str) or not key_url:
        raise _refuse(401, "key_url_missing")
    was_cached = keys.is_cached(key_url)
    valid = _same_text(connectwise_signature(body, await keys.key_for(key_url)), signature)
    if not valid and was_cached:
        valid = _same_text(connectwise_signature(body, await keys.key_for(key_url, refresh=True)), signature)
    if not valid:
        raise _refuse(401, "bad_signature")
    return _event(payload)


def _same_text(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().encode("utf-8", errors="replace"))


def _is_sha256_signature(signature: str) -> bool:
    """Whether a signature header is the base64 of 32 bytes (what both ConnectWise and HubSpot send)."""
    text = signature.strip()
    if len(text) != 44 or not text.isascii():
        return False
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


# -- HubSpot ----------------------------------------------------------------------------------------------------


def hubspot_signature_v3(*, client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(client secret, METHOD + URI + body + timestamp)), the URI taken as given."""
    source = method.upper().encode("utf-8") + uri.encode("utf-8") + body + timestamp.encode("utf-8")
    digest = hmac.new(client_secret.encode("utf-8"), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_hubspot_v3(
    *,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    client_secret: str,
    now_ms: int,
    window_ms: int = 300_000,
) -> list[dict[str, Any]]:
    """Authenticate a HubSpot webhook POST by `X-HubSpot-Signature-v3`, then return its events.

    Args:
        uri: the full URL HubSpot called (scheme, host, path, query); percent-escapes are decoded before signing.
        timestamp: the `X-HubSpot-Request-Timestamp` header (epoch ms).
        now_ms: the current time in epoch ms (injected, so tests need no clock).

    Raises:
        ValueError: an empty client secret (a configuration fault, not the caller's).
        IntakeError: 401 for a missing or malformed header, a timestamp outside the window (replay) or a wrong
            signature; 400 when the body is not a JSON array of objects.
    """
    if not client_secret:
        raise ValueError("the HubSpot client secret is empty")
    if not signature or not timestamp:
        raise _refuse(401, "signature_missing" if not signature else "timestamp_missing")
    if not _is_sha256_signature(signature):
        raise _refuse(401, "bad_signature")
    sent = _epoch_ms(timestamp)
    if now_ms - sent > window_ms:
        raise _refuse(401, "timestamp_too_old", age_ms=now_ms - sent)
    if sent - now_ms > window_ms:
        raise _refuse(401, "timestamp_in_future", ahead_ms=sent - now_ms)
    candidates = dict.fromkeys([unquote(uri), uri])
    expected = [
        hubspot_signature_v3(client_secret=client_secret, method=method, uri=u, body=body, timestamp=timestamp)
        for u in candidates
    ]
    if not any([_same_text(e, signature) for e in expected]):  # a list: every candidate is compared, no short cut
        raise _refuse(401, "bad_signature")
    return _events(body)


def _epoch_ms(timestamp: str) -> int:
    text = timestamp.strip()
    if not _TIMESTAMP.fullmatch(text):  # ASCII digits, at most 16 (epoch ms has 13): int() never sees 5,000
        raise _refuse(401, "bad_timestamp")
    return int(text)


def _events(body: bytes) -> list[dict[str, Any]]:
    try:
        events = safejson.loads(body, max_depth=WEBHOOK_JSON_DEPTH)
    except safejson.JSONRefused as exc:
        raise _refuse(400, "body_not_json", detail=exc.reason) from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _refuse(400, "body_not_event_array")
    return events


# -- de-duplication -------------------------------------------------------------------------------------------


class Deduper:
    """A bounded, time-limited memory of delivery keys already seen (at-least-once delivery makes repeats normal).

    Args:
        max_entries: keys kept at most; the oldest go first.
        ttl: seconds a key is remembered.
        clock: monotonic seconds; tests inject one.
    """

    def __init__(
        self, *, max_entries: int = 100_000, ttl: float = 86_400, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1 or ttl <= 0:
            raise ValueError("max_entries and ttl must be positive")
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when recorded; oldest first
        self._lock = threading.Lock()  # webhooks may be served on another thread than the API's (server/intake)

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, *keys: str) -> bool:
        """True if any key was seen before (nothing is recorded then); else records every key and returns False."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if any(key in self._seen for key in keys):
                return True
            for key in keys:
                self._seen[key] = now
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return False

    def forget(self, *keys: str) -> None:
        """Forget keys recorded by `seen` (their delivery failed after all: a re-send must not count as a repeat)."""
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _expire(self, now: float) -> None:
        # One ttl for all and a monotonic clock: insertion order is expiry order, so only the front can be stale.
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if now - oldest < self._ttl:
                return
            self._seen.popitem(last=False)


def callback_keys(event: CallbackEvent) -> tuple[str, ...]:
    """The de-duplication keys of a callback: its MessageId, and the record version when `lastUpdated` is known."""
    keys = [f"msg:{event.message_id}"] if event.message_id else []
    if event.last_updated is not None:
        keys.append(f"rec:{event.type}:{event.record_id}:{event.last_updated}")
    return tuple(keys)
